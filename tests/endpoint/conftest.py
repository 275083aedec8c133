"""A small published store and an app serving it, shared by the endpoint tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from endpoint_data import GRAPH_A, GRAPH_B, NT_A, NT_B, write
from starlette.testclient import TestClient

from endpoint.server import create_app
from endpoint.store import publish
from gongkai.config import DataDir


@pytest.fixture(scope="session")
def published(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    root = tmp_path_factory.mktemp("data")
    data = DataDir(root)
    graphs = {
        GRAPH_A: write(root / "in" / "a.nt", NT_A),
        GRAPH_B: write(root / "in" / "b.nt", NT_B),
    }
    publish(data, graphs, run_id="20250101T000000Z")
    return data


@pytest.fixture(scope="module")
def client(published: DataDir) -> Iterator[TestClient]:
    app = create_app(published, query_timeout=20, max_rows=50, workers=2)
    with TestClient(app, base_url="http://testserver") as c:
        yield c
