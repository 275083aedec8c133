"""The SPARQL 1.1 Protocol over a small published store."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pyoxigraph as ox
import pytest
import rdflib
from endpoint_data import EX, GRAPH_A, GRAPH_B
from starlette.testclient import TestClient

from endpoint.sparql import (
    RESULTS_FORMATS,
    choose_formats,
    has_dataset_clause,
    is_update,
    negotiate,
)

SELECT_P = f"SELECT ?s ?o WHERE {{ ?s <{EX}p> ?o }} ORDER BY ?s"
SRJ = "application/sparql-results+json; charset=utf-8"


def bindings(resp) -> list[dict[str, str]]:
    return [{k: v["value"] for k, v in b.items()} for b in resp.json()["results"]["bindings"]]


def objects(resp) -> set[str]:
    return {b["o"] for b in bindings(resp)}


# --- the three ways to send a query ----------------------------------------------------------


def test_get(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": SELECT_P})
    assert r.status_code == 200
    assert r.headers["content-type"] == SRJ
    assert r.headers["vary"] == "Accept"
    assert r.headers["access-control-allow-origin"] == "*"
    assert objects(r) == {"alpha", 'comma, "quote"\nnewline', "重庆市人民政府", "beta"}


def test_post_form(client: TestClient) -> None:
    r = client.post("/sparql", data={"query": SELECT_P})
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == "*"
    assert "beta" in objects(r)


def test_post_direct(client: TestClient) -> None:
    r = client.post(
        "/sparql",
        content=SELECT_P.encode(),
        headers={"Content-Type": "application/sparql-query; charset=utf-8"},
    )
    assert r.status_code == 200, r.text
    assert "alpha" in objects(r)


def test_options_preflight(client: TestClient) -> None:
    r = client.options("/sparql")
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "POST" in r.headers["access-control-allow-methods"]


# --- dataset ---------------------------------------------------------------------------------


def test_default_graph_is_union_of_named_graphs(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": f"SELECT ?o {{ <{EX}id/b1> ?p ?o }}"})
    assert objects(r) == {"beta"}
    r = client.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"})
    assert bindings(r) == [{"n": "5"}]


def test_default_graph_uri(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": SELECT_P, "default-graph-uri": GRAPH_B})
    assert objects(r) == {"beta"}
    r = client.get(
        "/sparql",
        params=[
            ("query", SELECT_P),
            ("default-graph-uri", GRAPH_A),
            ("default-graph-uri", GRAPH_B),
        ],
    )
    assert len(objects(r)) == 4


def test_named_graph_uri(client: TestClient) -> None:
    q = "SELECT ?g ?o { GRAPH ?g { ?s ?p ?o } }"
    r = client.get("/sparql", params={"query": q, "named-graph-uri": GRAPH_B})
    assert {(b["g"], b["o"]) for b in bindings(r)} == {(GRAPH_B, "beta")}
    # only named graphs given: the default graph is empty
    r = client.get("/sparql", params={"query": SELECT_P, "named-graph-uri": GRAPH_B})
    assert bindings(r) == []


def test_from_in_query_is_honoured(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": f"SELECT ?o FROM <{GRAPH_B}> {{ ?s ?p ?o }}"})
    assert objects(r) == {"beta"}
    # the protocol's dataset overrides the query's
    r = client.get(
        "/sparql",
        params={
            "query": f"SELECT ?o FROM <{GRAPH_B}> {{ ?s <{EX}n> ?o }}",
            "default-graph-uri": GRAPH_A,
        },
    )
    assert objects(r) == {"1"}


def test_relative_iris_resolve_against_endpoint(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT ?x { BIND(<foo> AS ?x) }"})
    assert bindings(r) == [{"x": "http://testserver/foo"}]


# --- result formats --------------------------------------------------------------------------


def test_json_is_default(client: TestClient) -> None:
    for accept in (None, "*/*", "application/*", "application/json"):
        headers = {"Accept": accept} if accept else {}
        r = client.get("/sparql", params={"query": SELECT_P}, headers=headers)
        assert r.headers["content-type"] == SRJ, accept


def test_xml(client: TestClient) -> None:
    r = client.get(
        "/sparql", params={"query": SELECT_P}, headers={"Accept": "application/sparql-results+xml"}
    )
    assert r.headers["content-type"] == "application/sparql-results+xml; charset=utf-8"
    ns = {"r": "http://www.w3.org/2005/sparql-results#"}
    root = ET.fromstring(r.content)
    literals = {e.text for e in root.findall(".//r:binding[@name='o']/r:literal", ns)}
    assert "重庆市人民政府" in literals


def test_csv_crlf(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": SELECT_P}, headers={"Accept": "text/csv"})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"s,o\r\n")
    assert r.content.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8"), newline="")))
    assert rows[0] == ["s", "o"]
    assert [f"{EX}id/a2", 'comma, "quote"\nnewline'] in rows


def test_tsv_header(client: TestClient) -> None:
    r = client.get(
        "/sparql", params={"query": SELECT_P}, headers={"Accept": "text/tab-separated-values"}
    )
    assert r.headers["content-type"] == "text/tab-separated-values; charset=utf-8"
    lines = r.content.decode().split("\n")
    assert lines[0] == "?s\t?o"
    assert f'<{EX}id/a3>\t"重庆市人民政府"@zh' in lines


def test_ask(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": f"ASK {{ ?s <{EX}p> 'beta' }}"})
    assert r.headers["content-type"] == SRJ
    assert r.json()["boolean"] is True
    r = client.get(
        "/sparql",
        params={"query": "ASK { ?s ?p 'nothing' }"},
        headers={"Accept": "application/sparql-results+xml"},
    )
    assert b"<boolean>false</boolean>" in r.content


def test_format_parameter(client: TestClient) -> None:
    r = client.get(
        "/sparql",
        params={"query": SELECT_P, "format": "csv"},
        headers={"Accept": "application/sparql-results+json"},
    )
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    r = client.get("/sparql", params={"query": SELECT_P, "output": "tsv"})
    assert r.headers["content-type"] == "text/tab-separated-values; charset=utf-8"
    r = client.get("/sparql", params={"query": SELECT_P, "format": "nonsense"})
    assert r.status_code == 400


def test_q_values(client: TestClient) -> None:
    accept = "application/sparql-results+json;q=0.5, text/csv;q=0.9, */*;q=0.1"
    r = client.get("/sparql", params={"query": SELECT_P}, headers={"Accept": accept})
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    # q=0 excludes JSON even though */* would allow it; the next in server order is XML
    r = client.get(
        "/sparql",
        params={"query": SELECT_P},
        headers={"Accept": "application/sparql-results+json;q=0, */*"},
    )
    assert r.headers["content-type"] == "application/sparql-results+xml; charset=utf-8"


def test_construct_turtle_by_default(client: TestClient) -> None:
    q = f"CONSTRUCT {{ ?s <{EX}p> ?o }} WHERE {{ ?s <{EX}p> ?o }}"
    for accept in (None, "*/*"):
        r = client.get("/sparql", params={"query": q}, headers={"Accept": accept} if accept else {})
        assert r.headers["content-type"] == "text/turtle; charset=utf-8"
        g = rdflib.Graph().parse(data=r.text, format="turtle")
        assert len(g) == 4
        assert (rdflib.URIRef(f"{EX}id/b1"), rdflib.URIRef(f"{EX}p"), rdflib.Literal("beta")) in g


@pytest.mark.parametrize(
    ("accept", "rdflib_format"),
    [
        ("application/n-triples", "nt"),
        ("application/rdf+xml", "xml"),
        ("application/ld+json", "json-ld"),
    ],
)
def test_construct_formats(client: TestClient, accept: str, rdflib_format: str) -> None:
    r = client.get("/sparql", params={"query": f"DESCRIBE <{EX}id/a1>"}, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == f"{accept}; charset=utf-8"
    g = rdflib.Graph().parse(data=r.content, format=rdflib_format)
    assert (rdflib.URIRef(f"{EX}id/a1"), rdflib.URIRef(f"{EX}p"), rdflib.Literal("alpha")) in g


def test_nquads_only_when_asked(client: TestClient) -> None:
    q = f"CONSTRUCT WHERE {{ <{EX}id/b1> ?p ?o }}"
    r = client.get("/sparql", params={"query": q}, headers={"Accept": "application/*"})
    assert r.headers["content-type"] == "application/n-triples; charset=utf-8"
    r = client.get("/sparql", params={"query": q}, headers={"Accept": "application/n-quads"})
    assert r.headers["content-type"] == "application/n-quads; charset=utf-8"
    assert r.text == f'<{EX}id/b1> <{EX}p> "beta" .\n'


def test_406(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": SELECT_P}, headers={"Accept": "image/png"})
    assert r.status_code == 406
    # a graph format for a SELECT is not acceptable either (known only once it runs)
    r = client.get("/sparql", params={"query": SELECT_P}, headers={"Accept": "text/turtle"})
    assert r.status_code == 406
    r = client.get(
        "/sparql",
        params={"query": f"CONSTRUCT WHERE {{ ?s <{EX}p> ?o }}"},
        headers={"Accept": "text/csv"},
    )
    assert r.status_code == 406


# --- errors ----------------------------------------------------------------------------------


def test_syntax_error_400_with_message(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "SELECT * WHERE { ?s ?p }"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert "syntax error" in r.text and "1:" in r.text


def test_missing_and_repeated_query(client: TestClient) -> None:
    assert client.post("/sparql", data={"default-graph-uri": GRAPH_A}).status_code == 400
    assert client.get("/sparql", params={"default-graph-uri": GRAPH_A}).status_code == 400
    r = client.get("/sparql", params=[("query", "ASK {}"), ("query", "ASK {}")])
    assert r.status_code == 400 and "more than once" in r.text
    r = client.post(
        "/sparql?query=ASK%20%7B%7D",
        content=b"ASK {}",
        headers={"Content-Type": "application/sparql-query"},
    )
    assert r.status_code == 400


def test_bad_graph_iri(client: TestClient) -> None:
    r = client.get("/sparql", params={"query": "ASK {}", "default-graph-uri": "not an iri"})
    assert r.status_code == 400


def test_wrong_media_type_415(client: TestClient) -> None:
    r = client.post("/sparql", content=b"ASK {}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/sparql", content=b"ASK {}")
    assert r.status_code == 415


@pytest.mark.parametrize(
    "kwargs",
    [
        {"params": {"update": "INSERT DATA { <http://a> <http://b> <http://c> }"}},
        {"data": {"update": "CLEAR ALL"}},
        {"content": b"DROP ALL", "headers": {"Content-Type": "application/sparql-update"}},
        {"params": {"query": "PREFIX ex: <http://a/> # comment\nINSERT DATA { ex:a ex:b ex:c }"}},
        {"data": {"query": "DELETE WHERE { ?s ?p ?o }"}},
    ],
)
def test_updates_refused(client: TestClient, kwargs: dict) -> None:
    method = client.get if "params" in kwargs else client.post
    r = method("/sparql", **kwargs)
    assert r.status_code == 403
    assert "read-only" in r.text
    # and nothing changed
    r = client.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"})
    assert bindings(r) == [{"n": "5"}]


def test_oversized_body_413(client: TestClient) -> None:
    body = b"# " + b"x" * (1024 * 1024 + 10) + b"\nASK {}"
    r = client.post("/sparql", content=body, headers={"Content-Type": "application/sparql-query"})
    assert r.status_code == 413


def test_result_row_cap_413(client: TestClient) -> None:
    # the fixture's app caps results at 50 rows
    q = "SELECT ?i { VALUES ?x { 0 1 2 3 4 5 6 7 } VALUES ?y { 0 1 2 3 4 5 6 7 } BIND(?x * 8 + ?y AS ?i) }"
    r = client.get("/sparql", params={"query": q})
    assert r.status_code == 413
    assert "LIMIT" in r.text
    r = client.get("/sparql", params={"query": q + " LIMIT 50"})
    assert r.status_code == 200 and len(bindings(r)) == 50


# --- service description, home, health -----------------------------------------------------


def test_service_description(client: TestClient) -> None:
    r = client.get("/sparql")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/turtle; charset=utf-8"
    g = rdflib.Graph().parse(data=r.text, format="turtle")
    sd = rdflib.Namespace("http://www.w3.org/ns/sparql-service-description#")
    endpoint = rdflib.URIRef("http://testserver/sparql")
    assert (endpoint, rdflib.RDF.type, sd.Service) in g
    assert (endpoint, sd.endpoint, endpoint) in g
    assert (endpoint, sd.supportedLanguage, sd.SPARQL11Query) in g
    assert (endpoint, sd.feature, sd.UnionDefaultGraph) in g
    assert set(g.objects(None, sd.name)) == {rdflib.URIRef(GRAPH_A), rdflib.URIRef(GRAPH_B)}
    assert len(set(g.objects(endpoint, sd.resultFormat))) == 9


@pytest.mark.parametrize(
    ("accept", "fmt"), [("application/rdf+xml", "xml"), ("application/ld+json", "json-ld")]
)
def test_service_description_negotiated(client: TestClient, accept: str, fmt: str) -> None:
    r = client.get("/sparql", headers={"Accept": accept})
    assert r.headers["content-type"] == f"{accept}; charset=utf-8"
    g = rdflib.Graph().parse(data=r.content, format=fmt)
    assert (rdflib.URIRef("http://testserver/sparql"), None, None) in g


def test_home_page(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert GRAPH_A in r.text and "20250101T000000Z" in r.text
    assert 'action="/sparql"' in r.text


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert (
        body["ok"] is True
        and body["generation"] == "gen-000001"
        and body["run_id"] == "20250101T000000Z"
    )


# --- pure helpers ----------------------------------------------------------------------------


def test_negotiate_specificity() -> None:
    # text/* at q=1 loses to the more specific text/csv at q=0.2 for CSV itself
    assert negotiate(RESULTS_FORMATS, "text/*, text/csv;q=0.2") == "text/tab-separated-values"
    assert negotiate(RESULTS_FORMATS, "") == "application/sparql-results+json"
    assert negotiate(RESULTS_FORMATS, "text/html") is None
    assert choose_formats(
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", None
    ) == (
        "application/sparql-results+json",
        "text/turtle",
    )


def test_query_text_checks() -> None:
    assert is_update("BASE <http://a/> PREFIX : <x#>\n# SELECT\n  insert data { :a :b :c }")
    assert not is_update('SELECT * { ?s ?p "INSERT DATA" }')
    assert not is_update("PREFIX delete: <http://a/> SELECT * { ?s delete:x ?o }")
    assert has_dataset_clause("SELECT * FROM <http://g> { ?s ?p ?o }")
    assert not has_dataset_clause('SELECT * { ?s ?p "from here" } # FROM')
    assert not has_dataset_clause("SELECT * { ?s <http://ex/from> ?o }")
    assert not has_dataset_clause(
        "PREFIX ex: <http://e/> SELECT ?from { ?s ex:from $from ; ex:a-from ?x }"
    )
    assert has_dataset_clause("select*from<http://g>{?s ?p ?o}")


def test_tsv_round_trip_keeps_terms() -> None:
    """Rows are counted on TSV and converted; check that conversion loses nothing."""
    from endpoint.workers import QueryRequest, run_query

    s = ox.Store()
    tricky = ox.Literal('tab\there\nline \\ "q" 中文', language="zh-hans")
    s.add(ox.Quad(ox.BlankNode("b1"), ox.NamedNode("http://e/p"), tricky))
    s.add(
        ox.Quad(
            ox.NamedNode("http://e/s"),
            ox.NamedNode("http://e/p"),
            ox.Literal("2.5", datatype=ox.NamedNode("http://www.w3.org/2001/XMLSchema#decimal")),
        )
    )
    req = QueryRequest("SELECT * { ?s ?p ?o }")
    out = run_query(s, req, max_rows=10, max_bytes=10**6)
    direct = s.query("SELECT * { ?s ?p ?o }").serialize(format=ox.QueryResultsFormat.JSON)
    assert out.status == 200
    assert json.loads(out.body) == json.loads(direct)
