"""A scenario through the whole pipeline: the report flags exactly the scenario's failures, and
every cell's numbers equal a direct SPARQL count over the published store."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
SOURCES = ["czj", "sthjj", "zfcxjw", "scjgj", "yuzhong", "banan"]
PER_SOURCE = 120
YEARS = range(2015, 2027)
AGENCY = "https://gongkai.example.org/id/agency/"
DIVISION = "https://gongkai.example.org/id/division/"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("completeness")
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--no-serve", "--data-dir", str(root)]
    cmd += ["--per-source", str(PER_SOURCE), "--scenario", str(HERE / "scenario.yml")]
    for sid in SOURCES:
        cmd += ["--only", sid]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def cube(data):
    (run,) = [p for p in (data / "completeness").iterdir() if p.name != "sources"]
    index = json.loads((run / "index.json").read_text(encoding="utf-8"))
    periods = {
        p: json.loads((run / f"{p}.json").read_text(encoding="utf-8")) for p in index["periods"]
    }
    return index, periods


@pytest.fixture(scope="module")
def store(data):
    import pyoxigraph

    name = (data / "store" / "CURRENT").read_text().strip()
    return pyoxigraph.Store.read_only(str(data / "store" / name))


def _q(store, query):
    return list(store.query(query, use_default_graph_as_union=True))


def _slug(iri):
    return iri.rsplit("/", 1)[-1]


def _broken(doc, rule):
    return {
        (_slug(c["body"]), c["area"])
        for c in doc["cells"]
        for r in c["rules"]
        if r["rule"] == rule and r["status"] == "broken"
    }


def test_published_graphs_aggregate_from_bytes_as_line_by_line(data):
    """Every graph the run wrote aggregates as aggregate_lines has it; the sources' graphs (the
    ones aggregated) without falling back to it."""
    from gongkai import completeness as C

    graphs = sorted((data / "runs").glob("*/graphs/*.nt"))
    assert {p.stem for p in graphs} >= set(SOURCES)
    for path in graphs:
        with open(path, encoding="utf-8") as f:
            expected = C.aggregate_lines(f)
        got = C._aggregate_bytes(path) if path.stem in SOURCES else C.aggregate_source(path)
        assert got == expected, path.name
        assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def test_late_budgets_are_exactly_czj(cube):
    _, periods = cube
    for y in YEARS:
        doc = periods[str(y)]
        czj = next(c for c in doc["cells"] if c["body"] == AGENCY + "czj" and c["area"] == 3)
        budgets = next(r for r in czj["rules"] if r["rule"] == "BudgetInFirstHalf")
        expected = {("czj", 3)} if budgets["checked"] else set()
        assert _broken(doc, "BudgetInFirstHalf") == expected, y
        assert {(_slug(c["body"]), c["area"]) for c in doc["cells"] if c["status"] == "late"} == (
            expected
        ), y


def test_early_final_accounts_are_exactly_banan(cube):
    _, periods = cube
    for y in YEARS:
        doc = periods[str(y)]
        cell = next(c for c in doc["cells"] if c["body"] == DIVISION + "500113" and c["area"] == 3)
        finals = next(r for r in cell["rules"] if r["rule"] == "FinalAccountsInSecondHalf")
        expected = {("500113", 3)} if finals["checked"] else set()
        assert _broken(doc, "FinalAccountsInSecondHalf") == expected, y


def test_omitted_area_is_missing_every_year(cube):
    _, periods = cube
    for y in YEARS:
        body = AGENCY + ("sthjj" if y >= 2018 else "hbj")
        cell = next(c for c in periods[str(y)]["cells"] if c["body"] == body and c["area"] == 14)
        assert cell["count"] == 0 and cell["status"] == "missing", y


def test_rules_that_need_published_facts(cube):
    """Bid publicity and penalty fields: flagged exactly for the scenario's sources when the
    published data carries the facts, else 'not checkable' everywhere."""
    index, periods = cube
    for rule, fact, who in (
        ("BidPublicityThreeDays", "publicity", {"zfcxjw", "cxjw"}),
        ("PenaltyCaseFields", "penalty", {"scjgj"}),
    ):
        flagged = set()
        for y in YEARS:
            doc = periods[str(y)]
            checks = [r for c in doc["cells"] for r in c["rules"] if r["rule"] == rule]
            if not index["facts"][fact]:
                assert {r["status"] for r in checks} == {"not-checkable"}
                continue
            flagged |= {body for body, _ in _broken(doc, rule)}
        if index["facts"][fact]:
            assert flagged and flagged <= who, (rule, flagged)


def test_every_cell_count_equals_sparql_over_the_store(cube, store):
    """One GROUP BY per year reproduces every cell; the cell's own query on a sample."""
    from endpoint.completeness_routes import count_query
    from gongkai.completeness import Period

    _, periods = cube
    for key in [str(y) for y in YEARS] + ["2024-H1", "2024-H2"]:
        period = Period.parse(key)
        rows = _q(
            store,
            f"""PREFIX gk: <https://gongkai.example.org/def/gongkai#>
            PREFIX dcterms: <http://purl.org/dc/terms/>
            PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
            SELECT ?area ?publisher ?division (COUNT(DISTINCT ?n) AS ?count) WHERE {{
              ?n gk:area ?area ; dcterms:publisher ?publisher ; dcterms:issued ?d .
              OPTIONAL {{ ?publisher gk:division ?division }}
              FILTER (?d >= "{period.start}"^^xsd:date && ?d <= "{period.end}"^^xsd:date)
            }} GROUP BY ?area ?publisher ?division""",
        )
        by_pub, by_div = {}, {}
        for r in rows:
            area = int(_slug(r["area"].value))
            n = int(r["count"].value)
            by_pub[(area, r["publisher"].value)] = n
            if r["division"] is not None:
                k = (area, r["division"].value)
                by_div[k] = by_div.get(k, 0) + n
        cells = periods[key]["cells"]
        for c in cells:
            if c["kind"] == "division":
                expected = by_div.get((c["area"], c["body"]), 0)
            else:
                expected = sum(by_pub.get((c["area"], p), 0) for p in c["publishers"])
            assert c["count"] == expected, (key, c["area"], c["body"])
        sample = [c for c in cells if c["count"]][:15] + [c for c in cells if not c["count"]][:5]
        for c in sample:
            (r,) = _q(store, count_query(c, period))
            assert int(r["count"].value) == c["count"]
            assert (r["first"].value if r["first"] else None) == c["first"]
            assert (r["last"].value if r["last"] else None) == c["last"]


def test_cube_graph_is_published_as_qb_observations(cube, store):
    _, periods = cube
    (r,) = _q(
        store,
        """PREFIX qb: <http://purl.org/linked-data/cube#>
        SELECT (COUNT(?o) AS ?n) WHERE {
          GRAPH <https://gongkai.example.org/graph/completeness> {
            ?o a qb:Observation ; qb:dataSet ?ds . ?ds qb:structure ?dsd . } }""",
    )
    assert int(r["n"].value) == sum(len(p["cells"]) for p in periods.values())


def test_report_without_a_server_csv_json_html(data, tmp_path, cube):
    _, periods = cube
    out = tmp_path / "r.csv"
    cli = [sys.executable, "-m", "gongkai.cli", "report", "completeness", "--data-dir", str(data)]
    done = subprocess.run(cli + ["--year", "2024", "--format", "csv", "--out", str(out)])
    assert done.returncode == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == len(periods["2024"]["cells"])
    assert sum(int(r["count"]) for r in rows) == sum(c["count"] for c in periods["2024"]["cells"])
    done = subprocess.run(
        cli + ["--year", "2024", "--half", "1", "--format", "json"], capture_output=True, text=True
    )
    doc = json.loads(done.stdout)
    assert doc["period"] == "2024-H1" and len(doc["cells"]) == len(periods["2024-H1"]["cells"])
    done = subprocess.run(
        cli + ["--year", "2024", "--format", "html"], capture_output=True, text=True
    )
    assert "政府信息公开完整性报告" in done.stdout and "<details>" in done.stdout
    done = subprocess.run(cli + ["--year", "1990"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
