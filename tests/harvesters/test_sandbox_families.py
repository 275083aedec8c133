"""The sandbox serves each source in its family's markup, and what it serves round-trips through
extraction to exactly the ground truth; faults and epochs behave as the truth says."""

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from harvesters.extract import extract
from harvesters.registry import load_sources
from harvesters.sandbox.faults import variant
from harvesters.sandbox.server import Sandbox, SandboxConfig, hanweb_column, hanweb_unit

SOURCES = {s.id: s for s in load_sources()}
FIELDS = ("title", "index_no", "doc_no", "publisher", "written", "published", "topic", "genre")
FIELDS += ("validity", "keywords")
# one source per (family, layout variant)
BY_LAYOUT = {}
for _s in SOURCES.values():
    BY_LAYOUT.setdefault((_s.family, variant(_s)), _s)


def fetch(sandbox, requests):
    """[(method, path, kwargs)] → [(status, headers, body)] against the sandbox app."""

    async def go():
        out = []
        async with TestClient(TestServer(sandbox.app())) as client:
            for method, path, kw in requests:
                response = await client.request(method, path, **kw)
                headers = {k.lower(): v for k, v in response.headers.items()}
                out.append((response.status, headers, await response.read()))
        return out

    return asyncio.run(go())


def test_every_family_and_layout_is_served():
    assert {f for f, _ in BY_LAYOUT} == {"trs", "trs2017", "hanweb", "generic"}
    assert {v for _, v in BY_LAYOUT} >= {"standard", "mangled", "dl", "thtd", "span", "gbk"}


@pytest.mark.parametrize("key", sorted(BY_LAYOUT), ids=lambda k: "-".join(k))
def test_detail_pages_round_trip_to_the_truth(key):
    source = BY_LAYOUT[key]
    sandbox = Sandbox(SandboxConfig((source,), per_source=60))
    records = list(sandbox.truth_records("http://x"))
    answers = fetch(sandbox, [("GET", r["url"].removeprefix("http://x"), {}) for r in records])
    for record, (status, headers, body) in zip(records, answers, strict=True):
        assert status == 200
        item = extract(
            body, record["url"], {"content-type": headers["content-type"]}, source.family
        )
        assert {f: item[f] for f in FIELDS} == {f: record[f] for f in FIELDS}


def test_gbk_layout_has_no_charset_header():
    source = BY_LAYOUT[("trs", "gbk")]
    sandbox = Sandbox(SandboxConfig((source,), per_source=3))
    record = next(sandbox.truth_records("http://x"))
    ((status, headers, body),) = fetch(sandbox, [("GET", record["url"][8:], {})])
    assert headers["content-type"] == "text/html" and b"charset=gb2312" in body


def test_hanweb_lists_come_from_dataproxy_xml():
    source = SOURCES["dianjiang"]
    sandbox = Sandbox(SandboxConfig((source,), per_source=70))
    col, unit = hanweb_column(source), hanweb_unit(source)
    proxy = "/dianjiang/module/web/jpage/dataproxy.jsp?startrecord=61&endrecord=120&perpage=20"
    form = {"columnid": str(col), "unitid": str(unit)}
    (home, column, records) = fetch(
        sandbox,
        [
            ("GET", f"/dianjiang{source.live_path}", {}),
            ("GET", f"/dianjiang/col/col{col}/index.html", {}),
            ("POST", proxy, {"data": form}),
        ],
    )
    assert f"/col/col{col}/index.html".encode() in home[2]
    assert f"columnid: {col}".encode() in column[2] and b"dataproxy.jsp" in column[2]
    assert records[2].count(b"<record>") == 10 and b"<totalrecord>70</totalrecord>" in records[2]


def test_conditional_request_answers_304():
    source = SOURCES["czj"]
    sandbox = Sandbox(SandboxConfig((source,), per_source=3))
    path = next(sandbox.truth_records("http://x"))["url"][8:]
    ((_, headers, _),) = fetch(sandbox, [("GET", path, {})])
    ((status, _, body),) = fetch(
        sandbox, [("GET", path, {"headers": {"If-None-Match": headers["etag"]}})]
    )
    assert status == 304 and body == b""


def test_epoch_two_edits_withdraws_and_adds():
    source = SOURCES["czj"]
    one = {r["doc_id"]: r for r in Sandbox(SandboxConfig((source,), 60)).truth_records("h")}
    two = {
        r["doc_id"]: r for r in Sandbox(SandboxConfig((source,), 60, epoch=2)).truth_records("h")
    }
    assert len(two) == len(one) + 2
    assert [r["expect"] for r in two.values()].count("withdrawn") == 3
    edited = [k for k in one if one[k]["title"] and one[k]["title"] != two[k]["title"]]
    assert edited and all(two[k]["version"] == 2 for k in edited)


def test_realistic_faults_are_in_the_truth():
    sandbox = Sandbox(SandboxConfig(tuple(SOURCES.values()), per_source=60, faults="realistic"))
    expects = {r["expect"] for r in sandbox.truth_records("h")}
    assert {"reported:HTTP 500", "reported:truncated page", "reported:bot challenge"} <= expects
    assert "reported:disallowed by robots.txt" in expects


def test_bot_challenge_and_robots():
    sources = (SOURCES["dazu"], SOURCES["jiangbei"])
    sandbox = Sandbox(SandboxConfig(sources, per_source=5, faults="realistic"))
    (challenge, robots) = fetch(
        sandbox, [("GET", f"/dazu{SOURCES['dazu'].live_path}", {}), ("GET", "/robots.txt", {})]
    )
    assert challenge[0] == 521 and b"document.cookie" in challenge[2]
    assert f"Disallow: /jiangbei{SOURCES['jiangbei'].live_path}nbgl/".encode() in robots[2]


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown fault profile"):
        Sandbox(SandboxConfig((SOURCES["czj"],), faults="chaos"))
