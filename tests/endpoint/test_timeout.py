"""A runaway query is stopped at its budget while other queries keep answering."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from endpoint.server import create_app
from gongkai.config import DataDir

BUDGET = 1.5
# 14 independent triple patterns over 5 triples: 5**14 ≈ 6e9 solutions to count.
RUNAWAY = (
    "SELECT (COUNT(*) AS ?n) WHERE { " + " ".join(f"?s{i} ?p{i} ?o{i} ." for i in range(14)) + " }"
)
SIMPLE = "SELECT ?o WHERE { <http://example.org/id/b1> ?p ?o }"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tight(published: DataDir) -> Iterator[TestClient]:
    app = create_app(published, query_timeout=BUDGET, workers=2)
    with TestClient(app) as c:
        yield c


def test_runaway_gets_503_while_others_answer(tight: TestClient) -> None:
    outcome: dict = {}

    def runaway() -> None:
        started = time.monotonic()
        r = tight.get("/sparql", params={"query": RUNAWAY})
        outcome["elapsed"] = time.monotonic() - started
        outcome["response"] = r

    t = threading.Thread(target=runaway)
    t.start()
    time.sleep(0.3)  # the runaway now occupies one worker
    started = time.monotonic()
    r = tight.get("/sparql", params={"query": SIMPLE})
    simple_elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.json()["results"]["bindings"][0]["o"]["value"] == "beta"
    # answered while the runaway still held its worker, not after it was killed
    assert t.is_alive()
    assert simple_elapsed < BUDGET
    t.join(30)

    r = outcome["response"]
    assert r.status_code == 503
    assert f"query exceeded its time budget of {BUDGET:g} s" in r.text
    assert BUDGET <= outcome["elapsed"] < BUDGET + 3

    # the killed worker is replaced: soon both workers are back and answering
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        health = tight.get("/health").json()
        if health["workers"] == 2:
            break
        time.sleep(0.2)
    assert health["workers"] == 2 and health["killed_queries"] >= 1
    for _ in range(4):
        assert tight.get("/sparql", params={"query": SIMPLE}).status_code == 200


def test_two_runaways_do_not_block_later_queries(tight: TestClient) -> None:
    """Both workers busy: a third query waits for one to free up rather than failing."""
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(
                tight.get("/sparql", params={"query": RUNAWAY}).status_code
            )
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    time.sleep(0.3)
    started = time.monotonic()
    r = tight.get("/sparql", params={"query": SIMPLE})
    assert r.status_code == 200
    assert time.monotonic() - started < BUDGET + 15  # a kill plus a fresh worker's start
    for t in threads:
        t.join(30)
    assert results == [503, 503]
