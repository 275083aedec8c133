"""Full-text search: the FTS5 trigram index, its filters, and the /search routes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from feature_data import RUN_ID, write_run
from starlette.applications import Starlette
from starlette.testclient import TestClient

from endpoint.search import (
    MARK_END,
    MARK_START,
    SearchInputError,
    build_index,
    fts_phrase,
    like_pattern,
    routes,
    search,
)
from gongkai.config import DataDir
from ontology.namespaces import notice_iri


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


def test_two_character_query_falls_back_to_like(index: Path) -> None:
    res = search(index, "罚款")
    assert res.mode == "like"
    assert res.total == 1
    assert f"{MARK_START}罚款{MARK_END}" in res.hits[0].snippet


def test_like_wildcards_in_user_text_are_literal(index: Path) -> None:
    assert search(index, "0%").total == 1  # "100%完成"
    assert search(index, "%").total == 1  # only the notice that has a percent sign
    assert like_pattern("a%_\\") == "%a\\%\\_\\\\%"


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
