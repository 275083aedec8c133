"""Annual reports end to end: the sandbox publishes one 政府信息公开工作年度报告 a year per source,
the crawl keeps its body HTML, publish writes its tables as qb:Observations in
graph/annual-reports and serves them as /annual-reports.csv, listed on /completeness."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

SOURCES = ["czj", "yuzhong"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--no-serve", "--data-dir", str(root)]
    cmd += ["--per-source", "60"]
    for sid in SOURCES:
        cmd += ["--only", sid]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def client(data):
    from starlette.testclient import TestClient

    from endpoint.server import create_app
    from gongkai.config import DataDir

    with TestClient(create_app(DataDir(data))) as c:
        yield c


def test_graph_holds_observations_for_both_sources(client):
    query = """
        PREFIX qb: <http://purl.org/linked-data/cube#>
        PREFIX dcterms: <http://purl.org/dc/terms/>
        SELECT ?agency (COUNT(?o) AS ?n) WHERE {
          GRAPH <https://gongkai.example.org/graph/annual-reports> {
            ?o a qb:Observation ; qb:dataSet ?ds . ?ds dcterms:publisher ?agency }
        } GROUP BY ?agency
    """
    response = client.get(
        "/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+json"}
    )
    assert response.status_code == 200
    counts = {
        b["agency"]["value"].rsplit("/", 1)[1]: int(b["n"]["value"])
        for b in response.json()["results"]["bindings"]
    }
    assert set(counts) == set(SOURCES)
    assert all(n >= 200 for n in counts.values())  # a full report has 200 figures


def test_csv_has_bom_and_both_agencies(client):
    response = client.get("/annual-reports.csv")
    assert response.status_code == 200
    assert response.content.startswith("\ufeff".encode())
    text = response.content.decode("utf-8-sig")
    agencies = {line.split(",", 1)[0] for line in text.splitlines()[1:]}
    assert agencies == set(SOURCES)
    assert ",requests-new,本年新收政府信息公开申请数量,natural-person," in text


def test_completeness_page_links_the_csv(client):
    response = client.get("/completeness")
    assert response.status_code == 200
    assert "annual-reports.csv" in response.text
    assert "重庆市财政局" in response.text


def test_csv_404_before_a_build(tmp_path):
    from starlette.testclient import TestClient

    from endpoint.server import create_app
    from gongkai.config import DataDir

    with TestClient(create_app(DataDir(tmp_path))) as c:
        response = c.get("/annual-reports.csv")
    assert response.status_code == 404
    assert "no annual reports" in response.text
