"""The result cache: exact within a generation, never across a publish."""

import pytest
from endpoint_data import GRAPH_A, NT_A, write
from starlette.testclient import TestClient

from endpoint.server import create_app
from endpoint.store import publish
from gongkai.config import DataDir

QUERY = "SELECT ?o WHERE { ?s <http://example.org/p> ?o } ORDER BY ?o"
JSON = {"Accept": "application/sparql-results+json"}


@pytest.fixture
def data(tmp_path) -> DataDir:
    data = DataDir(tmp_path)
    publish(data, {GRAPH_A: write(tmp_path / "in" / "a.nt", NT_A)}, run_id="20250101T000000Z")
    return data


def values(response) -> list[str]:
    return [b["o"]["value"] for b in response.json()["results"]["bindings"]]


def test_the_same_query_is_answered_from_the_cache(data):
    with TestClient(create_app(data, workers=1)) as client:
        first = client.get("/sparql", params={"query": QUERY}, headers=JSON)
        second = client.get("/sparql", params={"query": QUERY}, headers=JSON)
    assert "x-gongkai-cache" not in first.headers
    assert second.headers["x-gongkai-cache"] == "hit"
    assert second.content == first.content


def test_another_format_is_another_entry(data):
    with TestClient(create_app(data, workers=1)) as client:
        client.get("/sparql", params={"query": QUERY}, headers=JSON)
        csv = client.get("/sparql", params={"query": QUERY}, headers={"Accept": "text/csv"})
    assert "x-gongkai-cache" not in csv.headers
    assert csv.headers["content-type"].startswith("text/csv")


def test_a_publish_makes_cached_answers_unreachable(data, tmp_path):
    with TestClient(create_app(data, workers=1)) as client:
        before = values(client.get("/sparql", params={"query": QUERY}, headers=JSON))
        extra = write(
            tmp_path / "in" / "a2.nt",
            NT_A + '<http://example.org/id/a9> <http://example.org/p> "omega" .\n',
        )
        publish(data, {GRAPH_A: extra}, run_id="20250102T000000Z")
        after = client.get("/sparql", params={"query": QUERY}, headers=JSON)
    assert "x-gongkai-cache" not in after.headers
    assert values(after) == sorted([*before, "omega"])


def test_errors_are_not_cached(data):
    with TestClient(create_app(data, workers=1)) as client:
        client.get("/sparql", params={"query": "SELECT WHERE {"}, headers=JSON)
        again = client.get("/sparql", params={"query": "SELECT WHERE {"}, headers=JSON)
    assert again.status_code == 400 and "x-gongkai-cache" not in again.headers


def test_a_zero_size_cache_is_off(data):
    with TestClient(create_app(data, workers=1, cache_bytes=0)) as client:
        client.get("/sparql", params={"query": QUERY}, headers=JSON)
        second = client.get("/sparql", params={"query": QUERY}, headers=JSON)
    assert "x-gongkai-cache" not in second.headers
