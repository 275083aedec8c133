"""Publishing to real stores: a private Oxigraph server and a private Virtuoso on loopback.

Counts per graph equal the embedded store's; a second publish replaces a graph atomically
(a reader polling during the swap sees the old count or the new, nothing else); a store killed
mid-publish keeps the old graph and the client says so.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from oxigraph_server import OxigraphServer  # noqa: E402
from oxigraph_server import available as oxigraph_available  # noqa: E402
from service_fixtures import oxigraph_server, require_service, virtuoso_server  # noqa: E402, F401
from virtuoso_server import VirtuosoServer  # noqa: E402
from virtuoso_server import available as virtuoso_available  # noqa: E402

from endpoint.remote import (  # noqa: E402
    RemoteStore,
    RemoteStoreError,
    StoreUnavailableError,
    publish_remote,
    tmp_graph,
)
from endpoint.store import graph_counts, publish  # noqa: E402
from gongkai.config import DataDir  # noqa: E402
from gongkai.reference import ontology_files, turtle_files_to_ntriples  # noqa: E402

pytestmark = [pytest.mark.services, pytest.mark.slow]

GK = "https://gongkai.example.org/"
G_SOURCE = GK + "graph/testsource"
G_ONTOLOGY = GK + "graph/ontology"


def notices(n: int, version: str) -> str:
    """N-Triples shaped like the pipeline's: Chinese lang strings, dates, IRIs, integers."""
    out = []
    for i in range(n):
        s = f"<{GK}id/notice/testsource/n{i:06d}>"
        out.append(
            f"{s} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{GK}def/gongkai#Notice> .\n"
        )
        out.append(f'{s} <http://purl.org/dc/terms/title> "通知 {i} {version}"@zh .\n')
        out.append(f"{s} <http://purl.org/dc/terms/publisher> <{GK}id/agency/a{i % 7}> .\n")
        day = 1 + i % 28
        out.append(
            f'{s} <http://purl.org/dc/terms/issued> "2024-03-{day:02d}"^^<http://www.w3.org/2001/XMLSchema#date> .\n'
        )
        out.append(f'{s} <{GK}def/gongkai#version> "{version}" .\n')
    return "".join(out)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(params=["oxigraph", "virtuoso"])
def store(request) -> RemoteStore:
    if request.param == "oxigraph":
        server = request.getfixturevalue("oxigraph_server")
        return RemoteStore(server.url, "sparql11", chunk_triples=2_000)
    server = request.getfixturevalue("virtuoso_server")
    return RemoteStore(
        server.url, "virtuoso", user="dba", password=server.password, chunk_triples=2_000
    )


def test_published_counts_equal_the_embedded_store(store: RemoteStore, tmp_path: Path) -> None:
    graphs = {
        G_SOURCE: write(tmp_path / "src.nt", notices(1_500, "v1")),  # chunked: 4 requests
        G_ONTOLOGY: turtle_files_to_ntriples(ontology_files(), tmp_path / "ontology.nt"),
    }
    local = graph_counts(publish(DataDir(tmp_path / "local"), graphs, run_id="20260101T000000Z"))
    result = publish_remote(store, graphs, run_id="20260101T000000Z")
    remote = store.graph_counts()
    assert {g: remote.get(g) for g in graphs} == local
    assert {g.graph: g.triples for g in result.graphs} == local
    assert not store.ask(f"ASK {{ GRAPH <{tmp_graph(G_SOURCE)}> {{ ?s ?p ?o }} }}")
    title = store.select(
        f"SELECT ?t WHERE {{ GRAPH <{G_SOURCE}> {{ <{GK}id/notice/testsource/n000007> "
        "<http://purl.org/dc/terms/title> ?t } }"
    )
    assert title == [{"t": "通知 7 v1"}]


def test_second_publish_replaces_the_graph_atomically(store: RemoteStore, tmp_path: Path) -> None:
    g = GK + "graph/atomic"
    v1 = write(tmp_path / "v1.nt", notices(3_000, "v1"))  # 15,000 triples
    v2 = write(tmp_path / "v2.nt", notices(4_000, "v2"))  # 20,000 triples
    publish_remote(store, {g: v1})
    assert store.count(g) == 15_000
    seen: list[int] = []
    stop = threading.Event()
    reader = RemoteStore(store.base, store.profile)

    def poll() -> None:
        while not stop.is_set():
            seen.append(reader.count(g))

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        publish_remote(store, {g: v2})
    finally:
        stop.set()
        thread.join(60)
    assert store.count(g) == 20_000
    versions = store.select(
        f"SELECT DISTINCT ?v WHERE {{ GRAPH <{g}> {{ ?s <{GK}def/gongkai#version> ?v }} }}"
    )
    assert versions == [{"v": "v2"}]
    assert seen and set(seen) <= {15_000, 20_000}, sorted(set(seen))


@pytest.fixture(params=["oxigraph", "virtuoso"])
def killable(request, tmp_path: Path) -> Iterator[tuple[str, object]]:
    """A server of our own (the session ones must survive), killed by the test."""
    if request.param == "oxigraph":
        ok, why = oxigraph_available()
        require_service("Oxigraph server", ok, why)
        server = OxigraphServer(tmp_path / "ox").start()
    else:
        ok, why = virtuoso_available()
        require_service("Virtuoso", ok, why)
        server = VirtuosoServer(tmp_path / "vt").start()
    try:
        yield request.param, server
    finally:
        server.stop()


def test_store_killed_mid_publish_keeps_the_old_graph(
    killable, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kind, server = killable
    password = getattr(server, "password", None)

    def client() -> RemoteStore:
        profile = "sparql11" if kind == "oxigraph" else "virtuoso"
        return RemoteStore(
            server.url, profile, user="dba" if password else None, password=password,
            chunk_triples=2_000, retries=2, backoff=0.05,
        )  # fmt: skip

    g = GK + "graph/killed"
    publish_remote(client(), {g: write(tmp_path / "v1.nt", notices(1_000, "v1"))})
    store = client()
    real_post = store.post
    calls = 0

    def post_then_die(graph: str, body: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            server.kill()  # the store dies between two chunks of the new version
        real_post(graph, body)

    store.post = post_then_die  # type: ignore[method-assign]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(StoreUnavailableError) as err:
        publish_remote(store, {g: write(tmp_path / "v2.nt", notices(2_000, "v2"))}, run_id="R2")
    message = str(err.value)
    assert f"publishing <{g}> failed, its previous content is kept" in message
    assert "unavailable after 3 attempts" in message and "run R2" in message
    if password:
        assert password not in message + caplog.text

    if kind == "oxigraph":
        server.start(same_port=True)
    else:
        server.start()
    after = client()
    assert after.count(g) == 5_000
    assert after.select(
        f"SELECT DISTINCT ?v WHERE {{ GRAPH <{g}> {{ ?s <{GK}def/gongkai#version> ?v }} }}"
    ) == [{"v": "v1"}]
    # The next publish goes through and leaves no temporary graph behind.
    publish_remote(after, {g: tmp_path / "v2.nt"})
    assert after.count(g) == 10_000
    assert not after.ask(f"ASK {{ GRAPH <{tmp_graph(g)}> {{ ?s ?p ?o }} }}")


def test_virtuoso_wrong_password_is_reported_without_it(
    request, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vt = request.getfixturevalue("virtuoso_server")
    caplog.set_level(logging.DEBUG)
    wrong = "not" + vt.password
    store = RemoteStore(vt.url, "virtuoso", user="dba", password=wrong, retries=0)
    with pytest.raises(RemoteStoreError) as err:
        publish_remote(store, {GK + "graph/x": write(tmp_path / "x.nt", notices(3, "v"))})
    assert "refused the credentials (HTTP 401)" in str(err.value)
    for text in (str(err.value), caplog.text):
        assert wrong not in text and vt.password not in text
