"""Linked Data: /id → 303, /doc pages and RDF, the vocabulary, the query page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import unquote

import pyoxigraph as ox
import pytest
from ld_data import AGENCY, DIVISION, HOSTILE, HOSTILE_NOTICE, NOTICE, QUARANTINED, build
from starlette.testclient import TestClient

from endpoint import pages
from endpoint.linked_data import doc_path_of, split_extension, thing_iri
from endpoint.server import create_app
from gongkai.config import DataDir
from ontology.namespaces import BASE


@pytest.fixture(scope="module")
def ld_data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return build(tmp_path_factory.mktemp("ld"), dumps=False)


@pytest.fixture(scope="module")
def ld(ld_data: DataDir) -> Iterator[TestClient]:
    app = create_app(ld_data, query_timeout=20, workers=2)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def local(iri: str) -> str:
    return "/doc/" + iri[len(BASE) + 3 :]


# --- paths ↔ IRIs ----------------------------------------------------------------------------


def test_path_mapping() -> None:
    assert thing_iri(BASE, "agency/yuzhong") == AGENCY
    assert thing_iri(BASE, "def/category/3") == BASE + "def/category/3"
    for bad in (
        "",
        "..",
        "a/../b",
        "a//b",
        "a/b c",
        "a/<x>",
        "a/%2e%2e",
        "a/b\n",
        "a/" + "x" * 300,
        "def",
    ):
        assert thing_iri(BASE, bad) is None, bad
    assert doc_path_of(BASE, AGENCY) == "/doc/agency/yuzhong"
    assert doc_path_of(BASE, NOTICE + "#area-2").endswith("#area-2")
    assert doc_path_of(BASE, BASE + "def/gongkai#Notice") == "/def/gongkai#Notice"
    assert doc_path_of(BASE, "http://example.org/x") is None
    assert split_extension("agency/yuzhong.ttl") == ("agency/yuzhong", "ttl")
    assert split_extension("agency/yuzhong") == ("agency/yuzhong", None)


# --- 303s ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "location"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "/doc/agency/yuzhong"),
        (None, "/doc/agency/yuzhong"),
        ("text/turtle", "/doc/agency/yuzhong.ttl"),
        ("application/ld+json", "/doc/agency/yuzhong.jsonld"),
        ("application/n-triples", "/doc/agency/yuzhong.nt"),
        ("application/rdf+xml", "/doc/agency/yuzhong.rdf"),
        ("text/turtle;q=0.5, text/html;q=0.9", "/doc/agency/yuzhong"),
    ],
)
def test_id_redirects(ld: TestClient, accept: str | None, location: str) -> None:
    headers = {"Accept": accept} if accept else {}
    r = ld.get("/id/agency/yuzhong", headers=headers)
    assert r.status_code == 303
    assert r.headers["location"] == location
    assert "accept" in r.headers["vary"].lower()


def test_def_category_redirects(ld: TestClient) -> None:
    r = ld.get("/def/category/2", headers={"Accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/doc/def/category/2"
    r = ld.get("/def/category/2", headers={"Accept": "text/turtle"})
    assert r.headers["location"] == "/doc/def/category/2.ttl"


def test_not_acceptable(ld: TestClient) -> None:
    assert ld.get("/id/agency/yuzhong", headers={"Accept": "image/png"}).status_code == 406


# --- pages -----------------------------------------------------------------------------------


def test_notice_page(ld: TestClient) -> None:
    r = ld.get(local(NOTICE))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    body = r.text
    assert "渝中区2024年第1期行政处罚案件信息公开" in body
    assert "11500054B8891CFDDX/2024-00001" in body
    assert 'href="/doc/agency/yuzhong"' in body and "重庆市渝中区人民政府" in body  # labelled link
    assert 'href="/doc/def/category/2"' in body and "行政处罚信息公开" in body
    assert "2025-03-01 10:00:00 (+08:00)" in body  # dateTime formatted
    assert 'id="area-2"' in body  # the classification node, on the same page
    assert 'href="/doc/notice/yuzhong/11500054B8891CFDDX_2024-00001.ttl"' in body
    assert 'href="https://www.cqyz.gov.cn/zwgk_229/t20240305_1.html"' in body


def test_hostile_text_is_escaped(ld: TestClient) -> None:
    r = ld.get(local(HOSTILE_NOTICE))
    assert r.status_code == 200
    assert HOSTILE not in r.text
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in r.text
    assert "<img src=x" not in r.text
    assert 'href="javascript:' not in r.text  # a harvested javascript: IRI is never a link
    assert "javascript:alert(1)" in r.text  # but is shown


def test_agency_page_lists_notices_and_links_a_query(ld: TestClient) -> None:
    body = ld.get(local(AGENCY)).text
    assert "Newest notices whose publisher is this" in body
    assert body.index("2024-04-01") < body.index("2024-03-05") < body.index("2023-12-01")
    m = re.search(r'href="/query#query=([^"]+)"', body)
    assert m
    query = unquote(m.group(1).replace("&amp;", "&"))
    assert f"<{AGENCY}>" in query


def test_division_page_lists_agencies(ld: TestClient) -> None:
    body = ld.get(local(DIVISION)).text
    assert "渝中区" in body
    assert 'href="/doc/agency/yuzhong"' in body
    assert 'href="/doc/division/500000"' in body  # part of Chongqing


def test_area_page(ld: TestClient) -> None:
    r = ld.get("/doc/def/category/2")
    assert r.status_code == 200
    body = r.text
    assert "行政处罚信息公开" in body
    assert 'href="/doc/def/obligation/2a"' in body  # its obligations
    assert "Notices per year" in body


def test_quarantined_notice_shows_why(ld: TestClient) -> None:
    r = ld.get(local(QUARANTINED))
    assert r.status_code == 200
    assert "Validation results" in r.text
    assert "exactly one non-empty title &lt;b&gt;bold&lt;/b&gt;" in r.text


def test_unknown_and_invalid_paths(ld: TestClient) -> None:
    for path in (
        "/doc/agency/nobody",
        "/doc/agency/a%20b",
        "/doc/agency/%3Cx%3E",
        "/doc/..%2F..%2Fetc/passwd",
        "/id/agency/a%22%3E",
        "/doc/agency/yuzhong%7D%20%3Fs%20%3Fp%20%3Fo%20%7B",
    ):
        r = ld.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "<script" not in r.text.lower().replace('<script src="/static', "")


# --- RDF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ext", "media_type", "fmt"),
    [
        ("ttl", "text/turtle", ox.RdfFormat.TURTLE),
        ("nt", "application/n-triples", ox.RdfFormat.N_TRIPLES),
        ("jsonld", "application/ld+json", ox.RdfFormat.JSON_LD),
        ("rdf", "application/rdf+xml", ox.RdfFormat.RDF_XML),
    ],
)
def test_rdf_documents(ld: TestClient, ext: str, media_type: str, fmt: ox.RdfFormat) -> None:
    r = ld.get(local(NOTICE) + "." + ext)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(media_type)
    quads = list(ox.parse(r.content, format=fmt))
    subjects = {q.subject.value for q in quads}
    assert NOTICE in subjects and NOTICE + "#area-2" in subjects
    titles = [q.object.value for q in quads if q.predicate.value.endswith("/title")]
    assert titles == ["渝中区2024年第1期行政处罚案件信息公开"]


def test_rdf_document_of_unknown_thing(ld: TestClient) -> None:
    assert ld.get("/doc/agency/nobody.ttl").status_code == 404


# --- vocabulary ------------------------------------------------------------------------------


@pytest.mark.slow
def test_vocabulary(ld: TestClient, ld_data: DataDir) -> None:
    r = ld.get("/def/gongkai", headers={"Accept": "text/html"})
    assert r.status_code == 200
    assert "Notice" in r.text and "<html" in r.text.lower()
    assert "script-src" not in r.headers["content-security-policy"]
    assert list((ld_data.root / "cache").glob("vocabulary-*.html"))
    r = ld.get("/def/gongkai", headers={"Accept": "text/turtle"})
    assert r.headers["content-type"].startswith("text/turtle")
    assert list(ox.parse(r.content, format=ox.RdfFormat.TURTLE))
    r = ld.get("/def/gongkai.jsonld")
    assert r.status_code == 200 and json.loads(r.content)


# --- query page ------------------------------------------------------------------------------


def test_examples_are_many_and_valid(ld: TestClient) -> None:
    examples = pages.load_examples()
    assert len(examples) >= 10
    for e in examples:
        assert e.title and e.description, e.slug
        r = ld.post(
            "/sparql",
            data={"query": e.query},
            headers={"Accept": "application/sparql-results+json"},
        )
        assert r.status_code == 200, (e.slug, r.text)


def test_query_page(ld: TestClient) -> None:
    r = ld.get("/query")
    assert r.status_code == 200
    assert "connect-src 'self'" in r.headers["content-security-policy"]
    for e in pages.load_examples():
        assert e.title.replace("<", "&lt;") in r.text or e.title in r.text
        assert "/query#query=" in r.text
    if pages.assets_built():
        assert '<script src="/static/vendor/yasgui/yasgui.min.js">' in r.text
        assert ld.get("/static/vendor/yasgui/yasgui.min.js").status_code == 200
        assert ld.get("/static/query.js").status_code == 200
    for src in re.findall(r'<script[^>]*src="([^"]+)"', r.text) + re.findall(
        r'<link[^>]*href="([^"]+)"', r.text
    ):
        assert src.startswith(("/", "data:")), src  # nothing from another site


def test_query_page_without_assets(
    ld: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setattr(pages, "VENDOR", tmp_path / "missing")
    r = ld.get("/query")
    assert r.status_code == 200
    assert "make assets" in r.text
    assert "yasgui.min.js" not in r.text
