"""Point in time (gongkai/history.py), dcterms:modified of changed notices, the changed feed."""

from __future__ import annotations

from pathlib import Path

from gongkai.config import DataDir
from gongkai.history import (
    notice_versions,
    published_on,
    run_datetime,
    run_day,
    version_runs,
    versions_of,
)
from harvesters.state import SourceState

URL = "https://www.cqyz.gov.cn/zwgk_229/202403/t20240305_{}.html"
# UTC run ids; their China Standard Time days are 2024-03-06, 2024-03-10, 2024-03-20.
R1, R2, R3 = "20240305T170000Z", "20240310T020000Z", "20240320T020000Z"


def item(n: int, title: str, sha: str) -> dict:
    return {"url": URL.format(n), "title": title, "published": "2024-03-05", "sha256": sha * 64,
            "index_no": f"11500103/2024-{n:05d}"}  # fmt: skip


def build(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path)
    state = SourceState.open(data.state, "yuzhong")
    kw = {"etag": None, "last_modified": None, "list_sig": None}
    state.record_item("1", item(1, "通知", "a"), run_id=R1, **kw)
    state.record_item("2", item(2, "公告", "b"), run_id=R1, **kw)
    state.record_item("1", item(1, "通知（修订）", "c"), run_id=R2, **kw)  # edited
    state.record_item("3", item(3, "新公告", "d"), run_id=R2, **kw)
    state.record_withdrawn("2", "2024-03-15")
    state.close()
    return data


def test_run_days_are_china_standard_time():
    assert run_day(R1) == "2024-03-06"  # 17:00 UTC is the next morning in Chongqing
    assert run_datetime(R2) == "2024-03-10T10:00:00+08:00"


def test_published_on_a_day(tmp_path):
    data = build(tmp_path)
    assert published_on(data, "2024-03-05") == []  # before the first harvest: nothing known
    day1 = {r["doc_id"]: r for r in published_on(data, "2024-03-06")}
    assert set(day1) == {"1", "2"}
    assert (day1["1"]["version"], day1["1"]["title"]) == (1, "通知")
    assert day1["1"]["iri"] == "https://gongkai.example.org/id/notice/yuzhong/11500103_2024-00001"
    day2 = {r["doc_id"]: r for r in published_on(data, "2024-03-12")}
    assert set(day2) == {"1", "2", "3"}
    assert (day2["1"]["version"], day2["1"]["title"]) == (2, "通知（修订）")
    assert day2["2"]["withdrawn"] == "2024-03-15"  # withdrawn later: still there on the 12th
    later = {r["doc_id"] for r in published_on(data, "2024-03-16")}
    assert later == {"1", "3"}
    assert published_on(data, "2024-03-16", source="other") == []


def test_versions_of_a_notice(tmp_path):
    data = build(tmp_path)
    versions = versions_of(data, "yuzhong", "1")
    assert [(v["version"], v["seen"], v["title"]) for v in versions] == [
        (1, "2024-03-06", "通知"),
        (2, "2024-03-10", "通知（修订）"),
    ]
    assert version_runs(data, "yuzhong")[("1", 2)] == R2
    iri = "https://gongkai.example.org/id/notice/yuzhong/11500103_2024-00002"
    found = notice_versions(data, iri, URL.format(2))
    assert found["withdrawn"] == "2024-03-15" and len(found["versions"]) == 1
    assert notice_versions(data, iri, "https://x.example/unknown.html") is None


def test_changed_notice_gets_dcterms_modified_and_is_in_the_changed_feed():
    from endpoint.feeds import feed_query, spec_changed
    from harvesters.registry import load_sources
    from ontology.mapping import item_to_ntriples

    source = next(s for s in load_sources() if s.id == "yuzhong")
    changed = item(1, "通知（修订）", "c") | {"version": 2, "previous_sha256": "a" * 64}
    changed["modified"] = run_datetime(R2)
    nt = item_to_ntriples(changed, R3, None, source).ntriples
    assert (
        '<http://purl.org/dc/terms/modified> "2024-03-10T10:00:00+08:00"'
        "^^<http://www.w3.org/2001/XMLSchema#dateTime>" in nt
    )
    first = item(1, "通知", "a") | {"version": 1, "modified": run_datetime(R1)}
    assert "terms/modified" not in item_to_ntriples(first, R3, None, source).ntriples
    query = feed_query(spec_changed())
    assert "ORDER BY DESC(?m)" in query and "gk:previousVersion" in query
