"""Full-text search: the FTS5 trigram index, its filters, and the /search routes."""

from __future__ import annotations

import os
import random
import sqlite3
from pathlib import Path

import pytest
from feature_data import RUN_ID, write_run
from starlette.applications import Starlette
from starlette.testclient import TestClient

from endpoint import building
from endpoint.search import (
    MARK_END,
    MARK_START,
    SearchInputError,
    build_index,
    fts_phrase,
    gram_token,
    routes,
    search,
    term_tokens,
    write_index,
)
from gongkai.config import DataDir
from ontology.namespaces import BASE, notice_iri


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return write_run(tmp_path_factory.mktemp("search"))


@pytest.fixture(scope="module")
def index(data: DataDir) -> Path:
    return build_index(data, RUN_ID)


def test_index_is_written_under_the_data_dir(data: DataDir, index: Path) -> None:
    assert index == data.root / "search" / "index.sqlite"
    assert not list(index.parent.glob(".index-*"))


def test_index_holds_every_item_of_every_source(index: Path) -> None:
    con = sqlite3.connect(index)
    assert con.execute("SELECT count(*) FROM docs").fetchone()[0] == 4


def test_chinese_substring_is_found_without_segmentation(index: Path) -> None:
    res = search(index, "保质期")
    assert res.mode == "match"
    assert [h.title for h in res.hits] == [
        "重庆市市场监督管理局行政处罚决定书（渝市监处罚〔2024〕12号）"
    ]


def test_hit_carries_the_published_notice_iri(index: Path) -> None:
    hit = search(index, "保质期").hits[0]
    assert hit.iri == notice_iri("scjgj", "11500000MB1502365L_2024-00012")
    assert (hit.published, hit.source) == ("2024-03-05", "scjgj")


def test_snippet_marks_the_match(index: Path) -> None:
    hit = search(index, "保质期").hits[0]
    assert f"{MARK_START}保质期{MARK_END}" in hit.snippet


def test_snippet_html_escapes_harvested_text(index: Path) -> None:
    hit = search(index, "alert").hits[0]
    html = str(hit.snippet_html())
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_two_character_query_uses_the_gram_index(index: Path) -> None:
    res = search(index, "罚款")
    assert res.mode == "like"
    assert res.total == 1
    assert f"{MARK_START}罚款{MARK_END}" in res.hits[0].snippet


def test_like_wildcards_in_user_text_are_literal(index: Path) -> None:
    assert search(index, "0%").total == 1  # "100%完成"
    assert search(index, "%").total == 1  # only the notice that has a percent sign


def test_fts_syntax_in_user_text_is_a_phrase(index: Path) -> None:
    assert fts_phrase('a"b') == '"a""b"'
    # FTS5 operators and quotes are searched as text, never parsed.
    assert search(index, 'OR "引号" NEAR(').total == 0
    assert search(index, '"引号"').total == 1


def test_attachment_file_names_are_searchable(index: Path) -> None:
    assert [h.source for h in search(index, "处罚决定书.pdf").hits] == ["scjgj"]


def test_terms_are_anded(index: Path) -> None:
    assert search(index, "行政处罚 保质期").total == 1
    assert search(index, "行政处罚").total == 2


def test_filter_by_source(index: Path) -> None:
    assert [h.source for h in search(index, "行政处罚", source="yuzhong").hits] == ["yuzhong"]


def test_filter_by_division_uses_the_registry(index: Path) -> None:
    assert search(index, "中标结果", division="500103").total == 1
    assert search(index, "中标结果", division="500105").total == 0


def test_filter_by_area_uses_the_classifier_and_categories(index: Path) -> None:
    assert [h.source for h in search(index, "有限公司", area=9).hits] == ["yuzhong"]


def test_filter_by_dates(index: Path) -> None:
    res = search(index, "行政处罚", date_from="2024-01-01", date_to="2024-12-31")
    assert [h.published for h in res.hits] == ["2024-03-05"]


def test_bad_filter_values_are_refused(index: Path) -> None:
    with pytest.raises(SearchInputError):
        search(index, "行政处罚", area=21)
    with pytest.raises(SearchInputError):
        search(index, "行政处罚", date_from="2024-13-01")
    with pytest.raises(SearchInputError):
        search(index, "行政处罚", division="5001' OR 1=1")


def test_empty_query_returns_nothing(index: Path) -> None:
    res = search(index, "   ")
    assert (res.mode, res.total, res.hits) == ("none", 0, [])


def test_rebuild_replaces_the_index_atomically(tmp_path: Path) -> None:
    data = write_run(tmp_path)
    first = build_index(data, RUN_ID)
    inode = first.stat().st_ino
    build_index(data, RUN_ID)
    assert first.stat().st_ino != inode
    assert search(first, "保质期").total == 1


@pytest.fixture(scope="module")
def client(data: DataDir, index: Path) -> TestClient:
    return TestClient(Starlette(routes=routes(data)))


def test_search_json_answers_hits(client: TestClient) -> None:
    r = client.get("/search.json", params={"q": "中标结果"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 1
    assert body["hits"][0]["snippet_html"].count("<mark>") >= 1


def test_search_json_bad_area_is_400(client: TestClient) -> None:
    assert client.get("/search.json", params={"q": "中标", "area": "99"}).status_code == 400


def test_search_page_escapes_titles(client: TestClient) -> None:
    r = client.get("/search", params={"q": "alert"})
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_search_page_escapes_the_query(client: TestClient) -> None:
    r = client.get("/search", params={"q": '"><img src=x onerror=alert(1)>'})
    assert "<img src=x" not in r.text


def test_search_without_index_is_503(tmp_path: Path) -> None:
    c = TestClient(Starlette(routes=routes(DataDir(tmp_path))))
    assert c.get("/search.json", params={"q": "行政处罚"}).status_code == 503


# -- the character-gram index (terms of one or two characters), filters, ranking -------------
VOCAB = "预算处罚罚款采购公告税标中A%_b\\\"'*的了"
WORDS = ["行政处罚", "采购公告", "预算公开"]
SOURCES = [("s-1", "500103", ",2,"), ("s-2", "500105", ",3,9,"), ("s-3", None, ",")]


def _text(rng: random.Random, n: int) -> str:
    return "".join(
        rng.choice(WORDS) if rng.random() < 0.1 else rng.choice(VOCAB + " \n") for _ in range(n)
    )


def _corpus(n: int = 600) -> list[tuple]:
    rng = random.Random(5)
    rows = []
    for i in range(n):
        source, division, areas = SOURCES[i % 3]
        published = None if i < 30 else f"{2015 + i * 10 // n}-{1 + i % 12:02d}-{1 + i % 28:02d}"
        title, body, att = _text(rng, 8), _text(rng, 30), _text(rng, 5) if i % 4 == 0 else ""
        rows.append(
            (f"urn:n:{i}", source, None, division, areas, published, None, title, body, att)
        )
    return sorted(rows, key=lambda r: (r[5] or "", r[0]))


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple]]:
    """600 notices in trigram tables of 64 (so every search crosses shards)."""
    import endpoint.search as module

    rows = _corpus()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(module, "SHARD_ROWS", 64)
        path = write_index(rows, tmp_path_factory.mktemp("grams") / "index.sqlite", "r")
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM meta WHERE key = 'shard_rows'").fetchone() == ("64",)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE name GLOB 'fts_*'").fetchone()[0]
    return path, rows


def _expected(rows: list[tuple], terms: list[str], **f) -> list[str]:
    """The notices a brute-force scan finds: every term inside one field, case-insensitively."""
    out = []
    for iri, source, _agency, division, areas, published, _url, *texts in rows:
        fields = [t.lower() for t in texts]
        if not all(any(t.lower() in x for x in fields) for t in terms):
            continue
        if f.get("source") and source != f["source"]:
            continue
        if f.get("division") and division != f["division"]:
            continue
        if f.get("area") and f",{f['area']}," not in areas:
            continue
        if f.get("date_from") and not (published and published >= f["date_from"]):
            continue
        if f.get("date_to") and not (published and published <= f["date_to"]):
            continue
        out.append(iri)
    return out


def _found(path: Path, q: str, **f) -> list[str]:
    iris: list[str] = []
    while True:
        res = search(path, q, limit=100, offset=len(iris), **f)
        assert not res.total_is_lower_bound
        iris += [h.iri for h in res.hits]
        if len(res.hits) < 100:
            assert len(iris) == res.total
            return iris


@pytest.mark.parametrize(
    "q", ["税", "罚款", "处罚", "a", "Ab", "%", "%_", "\\", '"', "'*", "的了", "款预", "AND", "OR"]
)
def test_short_terms_find_exactly_the_notices_containing_them(corpus_index, q) -> None:
    path, rows = corpus_index
    want = _expected(rows, q.split())
    assert 0 < len(want) <= 1000 or q in ("AND", "OR")
    got = _found(path, q)
    assert sorted(got) == sorted(want)
    order = {iri: i for i, iri in enumerate(r[0] for r in rows)}
    assert [order[i] for i in got] == sorted((order[i] for i in got), reverse=True)  # newest first


@pytest.mark.parametrize(
    ("q", "f"),
    [
        ("罚款", {"source": "s-2"}),
        ("税", {"division": "500103"}),
        ("公告", {"area": 9}),
        ("标", {"date_from": "2017-01-01", "date_to": "2019-06-30"}),
        ("采购", {"date_to": "2016-12-31"}),
        ("税 罚款", {"date_from": "2020-01-01"}),
        ("行政处罚", {"source": "s-1"}),  # a phrase with a filter: grams drive, fts checks
        ("税 采购公告", {}),  # a phrase with a short term
        ("处罚罚", {"area": 2}),
        ("罚款 采购公告", {"division": "500105", "area": 3}),
    ],
)
def test_filters_and_mixed_terms_match_a_brute_force_scan(corpus_index, q, f) -> None:
    path, rows = corpus_index
    want = _expected(rows, q.split(), **f)
    assert want
    assert sorted(_found(path, q, **f)) == sorted(want)


def test_undated_notices_are_outside_any_date_range(corpus_index) -> None:
    path, rows = corpus_index
    undated = {r[0] for r in rows if r[5] is None}
    assert undated & set(_found(path, "的"))
    assert not undated & set(_found(path, "的", date_to="2030-01-01"))
    assert search(path, "的", date_from="2031-01-01").total == 0


def test_character_pairs_never_span_whitespace_or_fields(tmp_path: Path) -> None:
    rows = [
        ("urn:a", "s", None, None, ",", "2024-01-01", None, "通知罚", "款项 罚\n款", ""),
        ("urn:b", "s", None, None, ",", "2024-01-02", None, "标题", "缴纳罚款", ""),
    ]
    path = write_index(rows, tmp_path / "i.sqlite", "r")
    assert [h.iri for h in search(path, "罚款").hits] == ["urn:b"]
    assert search(path, "通知").total == 1


def test_gram_tokens_are_plain_ascii_words() -> None:
    assert gram_token("税") == "u7a0e"
    assert gram_token("罚款") == "b7f5ax6b3e"
    assert term_tokens("AB") == ["b61x62"]
    assert all(t.isalnum() and t.isascii() for t in term_tokens('"OR" NEAR(*)'))


def test_filtered_phrase_is_ranked_title_matches_first(tmp_path: Path) -> None:
    rows = [
        (
            "urn:body",
            "s",
            None,
            "500103",
            ",",
            "2024-01-02",
            None,
            "通知",
            "有关行政处罚的事项",
            "",
        ),
        ("urn:title", "s", None, "500103", ",", "2024-01-01", None, "行政处罚决定", "见附件", ""),
        ("urn:other", "t", None, "500105", ",", "2024-01-03", None, "行政处罚决定", "", ""),
    ]
    path = write_index(rows, tmp_path / "i.sqlite", "r")
    res = search(path, "行政处罚", division="500103")
    assert res.order == "rank"
    assert [h.iri for h in res.hits] == ["urn:title", "urn:body"]
    assert MARK_START in res.hits[0].snippet


def test_common_term_pages_newest_first_with_a_bounded_count(tmp_path: Path) -> None:
    rows = [
        (f"urn:{i:04d}", "s", None, None, ",", f"2024-01-{1 + i % 28:02d}", None, "公告", "", "")
        for i in range(1500)
    ]
    rows.sort(key=lambda r: (r[5], r[0]))
    path = write_index(rows, tmp_path / "i.sqlite", "r")
    for q in ("公告", "公"):
        res = search(path, q, source="s", offset=980, limit=20)
        assert (res.total, res.total_is_lower_bound, res.order) == (1000, True, "date")
        assert [h.iri for h in res.hits] == [r[0] for r in rows[::-1][980:1000]]


def test_scan_past_its_budget_returns_the_newest_matches_flagged_incomplete(
    corpus_index,
) -> None:
    path, rows = corpus_index
    found = set(_found(path, "行政处罚"))  # ranked: all of them
    full = [r[0] for r in reversed(rows) if r[0] in found]  # newest first
    assert len(full) > 20
    res = search(path, "行政处罚", budget=0, limit=100)  # stops after the newest shard
    assert not res.complete and res.total_is_lower_bound and res.order == "date"
    assert 0 < len(res.hits) < len(full)
    assert [h.iri for h in res.hits] == full[: len(res.hits)]  # the newest ones, in order
    unbounded = search(path, "行政处罚", budget=None, limit=100)
    assert unbounded.complete and unbounded.total == len(full)


def test_result_links_are_local_paths_that_dereference():
    from endpoint.search import local_path

    iri = "https://gongkai.example.org/id/notice/czj/115_2021-00001"
    assert local_path(iri) == "/id/notice/czj/115_2021-00001"
    assert local_path("https://elsewhere.example/x") == "https://elsewhere.example/x"


def _docs(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute("SELECT * FROM docs ORDER BY id").fetchall()
    finally:
        con.close()


def test_parallel_build_writes_the_same_rows(data: DataDir, index: Path, tmp_path: Path) -> None:
    one = build_index(data, RUN_ID, tmp_path / "one.sqlite", workers=1)
    two = build_index(data, RUN_ID, tmp_path / "two.sqlite", workers=2)
    assert _docs(one) == _docs(two) == _docs(index)
    assert len(_docs(one)) == 4
    assert not list(tmp_path.glob(".stage-*")) and not list(tmp_path.glob(".index-*"))
    assert search(two, "保质期").total == 1 and search(two, "罚款").total == 1


def test_areas_come_from_the_published_graph(tmp_path: Path) -> None:
    """A published notice is filtered by the areas of its graph; an unpublished one (no line in
    the graph: quarantined) is classified as the mapping would."""
    data = write_run(tmp_path)
    plain = {r[1]: r[5] for r in _docs(build_index(data, RUN_ID, tmp_path / "plain.sqlite"))}
    published = notice_iri("scjgj", "11500000MB1502365L_2024-00012")
    assert plain[published] != ",17,"
    gk = BASE + "def/gongkai#"
    graph = data.graph(RUN_ID, "scjgj")
    graph.parent.mkdir(parents=True, exist_ok=True)
    graph.write_text(
        f"<{published}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{gk}Notice> .\n"
        f"<{published}> <{gk}area> <{BASE}def/category/17> .\n"
        f"<{published}#area-3> <{gk}area> <{BASE}def/category/3> .\n",  # not the notice's
        encoding="utf-8",
    )
    areas = {r[1]: r[5] for r in _docs(build_index(data, RUN_ID, tmp_path / "graph.sqlite"))}
    assert areas[published] == ",17,"
    assert {k: v for k, v in areas.items() if k != published} == {
        k: v for k, v in plain.items() if k != published
    }
    assert search(tmp_path / "graph.sqlite", "保质期", area=17).total == 1


# -- while `gongkai run` builds the index of the generation it serves (endpoint/building.py) --
NEW_RUN = "20250302T000000Z"


def _mark(data: DataDir) -> None:
    building.write(
        data,
        building.Building(NEW_RUN, "gen-000002", "2025-03-02T00:10:00Z", os.getpid(), ("search",)),
    )


def test_search_json_says_the_first_index_is_being_prepared(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    _mark(data)
    c = TestClient(Starlette(routes=routes(data)))
    r = c.get("/search.json", params={"q": "行政处罚"})
    assert r.status_code == 503
    assert r.headers["retry-after"] == building.RETRY_AFTER
    body = r.json()
    assert f"the search index of run {NEW_RUN}" in body["error"]
    assert body["preparing"] == {
        "run_id": NEW_RUN,
        "generation": "gen-000002",
        "since": "2025-03-02T00:10:00Z",
        "index_run_id": None,
    }


def test_search_page_says_the_first_index_is_being_prepared(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    _mark(data)
    r = TestClient(Starlette(routes=routes(data))).get("/search", params={"q": "行政处罚"})
    assert r.status_code == 503
    assert f"the search index of run {NEW_RUN} (store generation gen-000002)" in r.text


def test_previous_index_answers_and_says_a_new_one_is_prepared(
    data: DataDir, index: Path, client: TestClient
) -> None:
    _mark(data)
    try:
        api = client.get("/search.json", params={"q": "中标结果"})
        page = client.get("/search", params={"q": "中标结果"})
    finally:
        building.clear(data)
    assert api.status_code == 200 and api.json()["total"] == 1
    assert api.json()["preparing"]["index_run_id"] == RUN_ID
    assert "retry-after" not in api.headers
    assert page.status_code == 200
    assert f"these results come from the previous index (run {RUN_ID})" in page.text


def test_marker_of_the_index_already_switched_in_is_not_shown(
    data: DataDir, index: Path, client: TestClient
) -> None:
    building.write(data, building.Building(RUN_ID, "gen-000001", "t", os.getpid(), ("search",)))
    try:
        body = client.get("/search.json", params={"q": "中标结果"}).json()
    finally:
        building.clear(data)
    assert "preparing" not in body
