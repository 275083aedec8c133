"""End to end: sandbox → harvest → map → validate → publish → SPARQL over HTTP.

One pipeline run per module (a crawl costs seconds), then one behaviour per test.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SOURCES = ["yuzhong", "czj", "sthjj", "liangjiang"]
PER_SOURCE = 60


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--no-serve", "--data-dir", str(data)]
    cmd += ["--per-source", str(PER_SOURCE)]
    for sid in SOURCES:
        cmd += ["--only", sid]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return data, done


def truth(data: Path) -> list[dict]:
    lines = (data / "sandbox" / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["source"] in SOURCES]


def report(data: Path) -> dict:
    (path,) = (data / "runs").glob("*/report.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_run_exits_zero(run):
    data, done = run
    assert done.returncode == 0, done.stderr[-2000:]


def test_last_line_is_the_total(run):
    _, done = run
    served = len(SOURCES) * PER_SOURCE
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith(f"total: {served} served, ")
    assert last.endswith(" 0 unaccounted")


def test_one_line_per_source(run):
    _, done = run
    lines = done.stdout.strip().splitlines()[:-1]
    assert sorted(line.split(":")[0] for line in lines) == sorted(SOURCES)


def test_published_plus_quarantined_equals_served(run):
    data, _ = run
    totals = report(data)["totals"]
    assert totals["published"] + totals["quarantined"] + totals["reported"] == totals["served"]
    assert totals["reported"] == 0


def test_quarantine_holds_exactly_the_untitled_notices(run):
    data, _ = run
    expected = sorted(r["url"] for r in truth(data) if r["expect"] == "quarantined")
    kept = []
    for sid in SOURCES:
        path = data / "quarantine" / f"{sid}.jsonl"
        kept += [json.loads(line)["item"]["url"] for line in path.read_text().splitlines()]
    assert sorted(kept) == expected


def test_quarantined_notice_keeps_its_shacl_report(run):
    data, _ = run
    records = [
        json.loads(line)
        for sid in SOURCES
        for line in (data / "quarantine" / f"{sid}.jsonl").read_text().splitlines()
    ]
    assert records and all(
        "title" in r["report_text"].lower() or "标题" in r["report_text"] for r in records
    )


def test_sparql_over_http_counts_notices_per_graph(run):
    from starlette.testclient import TestClient

    from endpoint.server import create_app
    from gongkai.config import DataDir

    data, _ = run
    query = """
        PREFIX gk: <https://gongkai.example.org/def/gongkai#>
        SELECT ?g (COUNT(?n) AS ?c) WHERE { GRAPH ?g { ?n a gk:Notice } } GROUP BY ?g
    """
    with TestClient(create_app(DataDir(data))) as client:
        response = client.get(
            "/sparql",
            params={"query": query},
            headers={"Accept": "application/sparql-results+json"},
        )
    assert response.status_code == 200
    counts = {
        b["g"]["value"].rsplit("/", 1)[1]: int(b["c"]["value"])
        for b in response.json()["results"]["bindings"]
    }
    published = {sid: row["published"] for sid, row in report(data)["sources"].items()}
    assert counts == published
