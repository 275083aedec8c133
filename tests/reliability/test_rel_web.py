"""Hostile data and hostile requests against the HTTP endpoint (server side).

- Harvested text is escaped on every page: a notice whose title, publisher, keywords and body
  carry markup is published through the real stages, then every page that can show it is
  fetched; no unescaped markup from the data appears.
- No user input changes a query: every route that takes path segments or parameters gets
  injection payloads; the answer is 2xx/3xx/4xx (never 5xx), and every SPARQL query the
  routes run is recorded, parses, and holds no payload verbatim.
- Downloads never read outside their folder (`..`, encoded, absolute, NUL).
- Oversized request bodies get 413.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pyoxigraph as ox
import pytest
from rel_helpers import REPO, env
from starlette.testclient import TestClient

from endpoint.server import create_app
from gongkai.config import DataDir

pytestmark = pytest.mark.slow

XSS = '<script>alert("gk-xss")</script><img src=x onerror=alert(1)>'
TITLE = f"{XSS}关于印发重庆市的通知"
RAW_MARKERS = ("<script>alert(", "<img src=x onerror")
PAYLOADS = [
    "> } DROP ALL ; #",
    '" } ; DROP GRAPH <x> ; SELECT * { "',
    "x\n} DELETE WHERE { ?s ?p ?o }",
    "\\u003e } INSERT DATA { <a> <b> <c> }",
    "%3E%20%7D%20DROP%20ALL",
    "' OR '1'='1",
    "<http://evil.example/>",
    "\u202e\u0000\ufffd",
    "a" * 5000,
]


@pytest.fixture(scope="module")
def hostile(clean_run: Path, tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """The clean run with one czj notice rewritten to carry markup, re-published for real
    (`gongkai publish`: map, validate, publish, dumps, search index)."""
    root = tmp_path_factory.mktemp("hostile") / "data"
    shutil.copytree(clean_run, root, symlinks=True)
    run = sorted((root / "runs").glob("*T*Z"))[-1]
    items = run / "items" / "czj.jsonl"
    rows = [json.loads(line) for line in items.read_text(encoding="utf-8").splitlines()]
    rows[0] |= {
        "title": TITLE,
        "genre": XSS,
        "keywords": [XSS, "预算"],
        "body_text": f"{TITLE}\n{XSS}\n根据规定公开。",
        "topic": XSS,
    }
    items.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    cmd = [sys.executable, "-m", "gongkai.cli", "publish", "--data-dir", str(root)]
    cmd += ["--only", "czj", "--only", "yuzhong"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env(), cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return DataDir(root)


@pytest.fixture(scope="module")
def client(hostile: DataDir) -> Iterator[TestClient]:
    app = create_app(hostile, workers=2, query_timeout=20)
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def notice_path(client: TestClient) -> str:
    """`notice/czj/{key}` of the hostile notice, found through SPARQL."""
    q = 'SELECT ?n WHERE { ?n <http://purl.org/dc/terms/title> ?t FILTER(CONTAINS(?t, "gk-xss")) }'
    r = client.get("/sparql", params={"query": q}, headers={"Accept": "application/json"})
    (binding,) = r.json()["results"]["bindings"]
    return binding["n"]["value"].split("/id/", 1)[1]


def _assert_escaped(body: str, where: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in body, (
            f"unescaped data in {where}: …{body[body.find(marker) - 80 :][:200]}"
        )


def test_hostile_notice_is_published(client: TestClient, notice_path: str) -> None:
    assert notice_path.startswith("notice/czj/")


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/query",
        "/search?q=gk-xss",
        "/search?q=%E9%80%9A%E7%9F%A5",
        "/search.json?q=gk-xss",
        "/downloads",
        "/completeness",
        "/feeds/all.atom",
        "/feeds/agency/czj.atom",
        "/doc/{notice}",
        "/doc/agency/czj",
        "/doc/source/czj",
        "/id/{notice}",
    ],
)
def test_pages_escape_harvested_text(client: TestClient, notice_path: str, path: str) -> None:
    r = client.get(path.format(notice=notice_path), headers={"Accept": "text/html"})
    assert r.status_code < 500, r.text[:500]
    if r.headers.get("content-type", "").startswith("application/json"):
        # JSON carries the data as data (the client escapes); never served as a page
        assert "<script" not in r.headers["content-type"]
        assert json.loads(r.text)
        return
    _assert_escaped(r.text, path)


def test_notice_page_shows_the_title_escaped(client: TestClient, notice_path: str) -> None:
    r = client.get(f"/doc/{notice_path}")
    assert r.status_code == 200
    assert "&lt;script&gt;alert(" in r.text  # the data is there, as text
    _assert_escaped(r.text, "notice page")


def test_query_page_escapes_a_reflected_query(client: TestClient) -> None:
    r = client.get("/query", params={"query": f"SELECT * WHERE {{ ?s ?p '{XSS}' }}"})
    assert r.status_code < 500
    _assert_escaped(r.text, "/query?query=")


# --- injection --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recorded(client: TestClient) -> list[str]:
    """Every SPARQL query the app hands its workers, recorded."""
    pool = client.app.state.pool
    seen: list[str] = []
    original = pool.execute

    async def spy(req, *a, **kw):
        seen.append(req.query)
        return await original(req, *a, **kw)

    pool.execute = spy
    return seen


ROUTES = [
    "/doc/{p}",
    "/doc/notice/czj/{p}",
    "/doc/agency/{p}",
    "/doc/division/{p}",
    "/id/notice/{p}/x",
    "/def/category/{p}",
    "/feeds/agency/{p}.atom",
    "/feeds/division/{p}.atom",
    "/feeds/area/{p}.atom",
    "/downloads/{p}",
    "/downloads/{p}/{p}",
    "/downloads/catalog.{p}",
    "/search?q={p}",
    "/search.json?q={p}&page={p}&source={p}&area={p}&from={p}&to={p}",
    "/completeness?year={p}&half={p}&area={p}&agency={p}&district={p}",
    "/completeness.json?year={p}&area={p}",
    "/completeness/notices?period={p}&area={p}&body={p}",
    "/sparql?query=ASK%7B%7D&default-graph-uri={p}",
    "/sparql?query=ASK%7B%7D&format={p}",
    "/query?query={p}",
]


@pytest.mark.parametrize("route", ROUTES)
def test_injection_payloads_never_break_a_route(
    client: TestClient, recorded: list[str], route: str
) -> None:
    empty = ox.Store()
    for payload in PAYLOADS:
        recorded.clear()
        url = route.replace("{p}", quote(payload, safe=""))
        r = client.get(url, headers={"Accept": "text/html"})
        assert r.status_code < 500, (payload, r.status_code, r.text[:300])
        _assert_escaped(r.text, url)
        for query in recorded:
            if "ASK{}" in query.replace(" ", ""):
                continue  # the user's own query through /sparql
            try:
                empty.query(query)
            except SyntaxError as exc:  # a payload that broke the query's syntax
                raise AssertionError(f"{url} built an invalid query: {exc}\n{query}") from None
            for needle in ("DROP", "DELETE", "INSERT"):
                assert needle not in query or needle not in payload, (url, query)


# --- downloads: path traversal ----------------------------------------------------------------


def _asgi_get(app, raw_path: bytes) -> tuple[int, bytes]:
    """GET with the path exactly as given (HTTP clients normalise `..` away; servers don't)."""
    out: dict = {"status": 0, "body": b""}

    async def run() -> None:
        sent = False

        async def receive():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(3600)

        async def send(message):
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            elif message["type"] == "http.response.body":
                out["body"] += message.get("body", b"")

        path, _, query = raw_path.partition(b"?")
        from urllib.parse import unquote_to_bytes

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": unquote_to_bytes(path).decode("utf-8", "surrogateescape"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)

    asyncio.run(run())
    return out["status"], out["body"]


TRAVERSALS = [
    b"/downloads/../../etc/passwd",
    b"/downloads/latest/../../../etc/passwd",
    b"/downloads/latest/..%2f..%2f..%2fetc%2fpasswd",
    b"/downloads/%2e%2e/%2e%2e/etc/passwd",
    b"/downloads/%2e%2e%2f%2e%2e%2fetc%2fpasswd/x",
    b"/downloads/latest/%2fetc%2fpasswd",
    b"/downloads//etc/passwd",
    b"/downloads/latest//etc/passwd",
    b"/downloads/latest/%2e%2e%5c%2e%2e%5cetc%5cpasswd",
    b"/downloads/latest/..%252f..%252fetc%252fpasswd",
    b"/downloads/latest/MANIFEST.json%00.nt",
    b"/downloads/..%2f..%2fstore/CURRENT",
    b"/downloads/latest/..%2f..%2fstore%2fCURRENT",
    b"/static/..%2f..%2fserver.py",
    b"/static/../../pyproject.toml",
]


@pytest.mark.parametrize("raw", TRAVERSALS, ids=lambda b: b.decode())
def test_downloads_cannot_leave_their_folder(hostile: DataDir, raw: bytes) -> None:
    app = create_app(hostile, workers=1)
    status, body = _asgi_get(app, raw)
    assert status in (301, 302, 307, 308, 400, 403, 404, 405), (raw, status)
    assert b"root:x:0:0" not in body
    assert b"[build-system]" not in body and b"gen-0000" not in body


def test_downloads_route_exists(hostile: DataDir) -> None:
    status, body = _asgi_get(create_app(hostile, workers=1), b"/downloads")
    assert status == 200, "no /downloads route: the traversal tests prove nothing"
    links = re.findall(rb'href="(/downloads/latest/[^"]+)"', body)
    assert links, "the downloads page lists no file"
    status, _ = _asgi_get(create_app(hostile, workers=1), links[0])
    assert status == 200


# --- request size -----------------------------------------------------------------------------


def test_oversized_post_gets_413(hostile: DataDir) -> None:
    app = create_app(hostile, workers=1, max_body=64 * 1024)
    big = "SELECT * WHERE { ?s ?p ?o } #" + "x" * (80 * 1024)
    with TestClient(app) as c:
        r = c.post("/sparql", content=big, headers={"Content-Type": "application/sparql-query"})
        assert r.status_code == 413
        r = c.post(
            "/sparql",
            content=("query=" + quote(big)).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413

        def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(100):
                yield b"#" + b"y" * 4095

        r = c.post(
            "/sparql", content=chunks(), headers={"Content-Type": "application/sparql-query"}
        )
        assert r.status_code == 413
        small = c.post(
            "/sparql",
            content="ASK {}",
            headers={"Content-Type": "application/sparql-query", "Accept": "application/json"},
        )
        assert small.status_code == 200
