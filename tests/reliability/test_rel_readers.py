"""Readers during publishes: every answer comes from one whole generation, never half of one.

Each publish replaces two graphs at once with version i of their content (every triple of both
graphs carries "v{i}"). Readers query in a loop while publishes happen, through the HTTP
endpoint (worker processes following CURRENT) and by opening CURRENT directly; every answer
must show a single version, with both graphs complete.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyoxigraph as ox
import pytest
from starlette.testclient import TestClient

from endpoint.server import create_app
from endpoint.store import open_read_only, publish
from gongkai.config import DataDir

pytestmark = pytest.mark.slow

EX = "http://example.org/"
GRAPHS = (EX + "graph/one", EX + "graph/two")
PER_GRAPH = 400
PUBLISHES = 12
QUERY = "SELECT ?g ?o (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g ?o"


def _files(tmp: Path, version: int) -> dict[str, Path]:
    out = {}
    for k, g in enumerate(GRAPHS):
        path = tmp / f"v{version}-{k}.nt"
        path.write_text(
            "".join(f'<{EX}s{k}-{i}> <{EX}p> "v{version}" .\n' for i in range(PER_GRAPH)),
            encoding="utf-8",
        )
        out[g] = path
    return out


def _check(rows: list[tuple[str, str, int]], seen: list[str]) -> None:
    versions = {o for _, o, _ in rows}
    assert len(versions) == 1, f"an answer mixes generations: {rows}"
    assert sorted((g, n) for g, _, n in rows) == [(g, PER_GRAPH) for g in GRAPHS], rows
    seen.append(versions.pop())


def test_readers_see_one_whole_generation(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    publish(data, _files(tmp_path, 0), run_id="v0")
    stop = threading.Event()
    errors: list[BaseException] = []
    http_seen: list[str] = []
    direct_seen: list[str] = []

    def http_reader(client: TestClient) -> None:
        try:
            while not stop.is_set():
                r = client.get(
                    "/sparql",
                    params={"query": QUERY},
                    headers={"Accept": "application/sparql-results+json"},
                )
                assert r.status_code == 200, r.text
                rows = [
                    (b["g"]["value"], b["o"]["value"], int(b["n"]["value"]))
                    for b in r.json()["results"]["bindings"]
                ]
                _check(rows, http_seen)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def direct_reader() -> None:
        try:
            while not stop.is_set():
                store = open_read_only(data)
                rows = [(s["g"].value, s["o"].value, int(s["n"].value)) for s in store.query(QUERY)]
                del store
                _check(rows, direct_seen)
        except BaseException as exc:
            errors.append(exc)

    with TestClient(create_app(data, workers=2, query_timeout=20)) as client:
        threads = [threading.Thread(target=http_reader, args=(client,)) for _ in range(2)]
        threads.append(threading.Thread(target=direct_reader))
        for t in threads:
            t.start()
        try:
            for version in range(1, PUBLISHES + 1):
                publish(data, _files(tmp_path, version), run_id=f"v{version}")
                time.sleep(0.05)
        finally:
            time.sleep(0.3)
            stop.set()
            for t in threads:
                t.join(30)
    assert not errors, errors[0]
    # the readers really did read across publishes
    assert len(set(http_seen)) >= 3 and len(set(direct_seen)) >= 3, (
        sorted(set(http_seen)),
        sorted(set(direct_seen)),
    )
    final = ox.Store.read_only(str(data.store / (data.store / "CURRENT").read_text().strip()))
    assert {s["o"].value for s in final.query(QUERY)} == {f"v{PUBLISHES}"}
