"""Workers follow CURRENT: a publish while serving is picked up by the next query."""

from __future__ import annotations

from pathlib import Path

from endpoint_data import EX, GRAPH_B, NT_B, write
from starlette.testclient import TestClient

from endpoint.server import NoDataError, check_data, create_app
from endpoint.store import publish
from gongkai.config import DataDir

Q = f"SELECT ?o WHERE {{ <{EX}id/b1> <{EX}p> ?o }}"


def test_publish_while_serving(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "var")
    publish(data, {GRAPH_B: write(tmp_path / "b.nt", NT_B)}, run_id="r1")
    with TestClient(create_app(data, workers=1, query_timeout=10)) as client:
        r = client.get("/sparql", params={"query": Q})
        assert r.json()["results"]["bindings"][0]["o"]["value"] == "beta"
        assert r.headers["x-gongkai-generation"] == "gen-000001"
        for i in range(2, 6):  # several publishes: old generations are pruned under the worker
            nt = f'<{EX}id/b1> <{EX}p> "beta {i}" .\n'
            publish(data, {GRAPH_B: write(tmp_path / f"b{i}.nt", nt)}, run_id=f"r{i}")
            r = client.get("/sparql", params={"query": Q})
            assert r.json()["results"]["bindings"][0]["o"]["value"] == f"beta {i}"
            assert r.headers["x-gongkai-generation"] == f"gen-{i:06d}"
        assert client.get("/health").json()["run_id"] == "r5"


def test_no_data(tmp_path: Path) -> None:
    for data in (DataDir(tmp_path / "missing"), DataDir(tmp_path)):
        try:
            check_data(data)
        except NoDataError as exc:
            assert "\n" not in str(exc) and "publish" in str(exc)
        else:
            raise AssertionError("expected NoDataError")


def test_app_without_data_answers_503(tmp_path: Path) -> None:
    data = DataDir(tmp_path)
    with TestClient(create_app(data, workers=1)) as client:
        assert client.get("/health").status_code == 503
        r = client.get("/sparql", params={"query": "ASK {}"})
        assert r.status_code == 503
        assert client.get("/").status_code == 200
