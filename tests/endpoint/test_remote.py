"""endpoint.remote without a real store: chunks, ASK tables, retries, credentials, `oxigraph:DIR`."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from endpoint import remote
from endpoint.remote import (
    RemoteStore,
    RemoteStoreError,
    StoreUnavailableError,
    ask_value,
    count_ntriples,
    iter_chunks,
    publish_remote,
    publish_to,
    redact,
)
from endpoint.store import current_generation, graph_counts
from gongkai.config import DataDir

SECRET = "pw-Zq8sentinel-4711"
G = "https://gongkai.example.org/graph/test"


def nt(n: int, tag: str = "v") -> str:
    return "".join(f'<urn:s:{i}> <urn:p:{i % 3}> "{tag} {i} 中文"@zh .\n' for i in range(n))


@pytest.fixture
def nt_file(tmp_path: Path) -> Path:
    path = tmp_path / "g.nt"
    path.write_text(nt(25), encoding="utf-8")
    return path


class FakeStore(BaseHTTPRequestHandler):
    """A GSP/SPARQL stand-in: answers from `script` (status list), records what it got."""

    script: list[int] = []
    seen: list[tuple[str, str, dict]] = []
    lock = threading.Lock()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.lock:
            self.seen.append((self.command, self.path, dict(self.headers), body))
            status = self.script.pop(0) if self.script else 200
        payload = b""
        if status == 200 and self.path.startswith("/query"):
            payload = json.dumps(
                {"head": {"vars": ["n"]}, "results": {"bindings": [{"n": {"value": "25"}}]}}
            ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/sparql-results+json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="store"')
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[tuple[str, type[FakeStore]]]:
    handler = type("Handler", (FakeStore,), {"script": [], "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_chunks_split_by_lines_and_bytes_but_never_blank_nodes(tmp_path: Path) -> None:
    path = tmp_path / "a.nt"
    path.write_text(nt(10) + "\n", encoding="utf-8")
    chunks = list(iter_chunks(path, 4))
    assert [c.count(b"\n") for c in chunks] == [4, 4, 2]
    assert b"".join(chunks).decode() == nt(10)
    by_bytes = list(iter_chunks(path, 1000, max_bytes=100))
    assert all(len(c) <= 100 for c in by_bytes) and b"".join(by_bytes).decode() == nt(10)
    bnodes = tmp_path / "b.nt"
    bnodes.write_text(nt(10) + "_:b1 <urn:p> <urn:o> .\n<urn:s> <urn:p> _:b1 .\n")
    assert len(list(iter_chunks(bnodes, 4))) == 1
    assert count_ntriples(bnodes) == 12


def test_ask_answered_as_a_table_or_a_boolean() -> None:
    assert ask_value({"head": {}, "boolean": True}) is True
    assert ask_value({"head": {}, "boolean": False}) is False
    table = {"head": {"vars": ["__ask_retval"]}, "results": {"bindings": []}}
    assert ask_value(table) is False
    table["results"]["bindings"] = [{"__ask_retval": {"type": "literal", "value": "1"}}]
    assert ask_value(table) is True
    table["results"]["bindings"] = [{"b": {"type": "literal", "value": "0"}}]
    assert ask_value(json.dumps(table)) is False


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(RemoteStoreError) as err:
        RemoteStore(f"http://dba:{SECRET}@127.0.0.1:1/", "sparql11")
    assert SECRET not in str(err.value)
    assert "GONGKAI_STORE_PASSWORD" in str(err.value)
    assert redact(f"http://dba:{SECRET}@host:8890/sparql") == "http://host:8890/sparql"


def test_transient_failures_are_retried_with_backoff(fake, nt_file: Path) -> None:
    url, handler = fake
    handler.script = [503, 503]  # the first PUT twice, then everything succeeds
    sleeps: list[float] = []
    store = RemoteStore(url, "sparql11", retries=3, backoff=0.5, sleep=sleeps.append)
    result = publish_remote(store, {G: nt_file})
    assert result.triples == 25
    assert sleeps == [0.5, 1.0]
    methods = [(m, p.split("?")[0]) for m, p, _h, _b in handler.seen]
    assert methods[:3] == [("PUT", "/store")] * 3
    assert ("POST", "/update") in methods
    move = [b for m, p, _h, b in handler.seen if p.startswith("/update")][-1]
    assert b"MOVE" in move and b"urn%3Agongkai%3Apublishing" in move


def test_a_store_that_stays_down_is_reported_and_nothing_moved(nt_file: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"  # nothing listens there
    sleeps: list[float] = []
    store = RemoteStore(url, "sparql11", retries=2, backoff=0.1, sleep=sleeps.append)
    with pytest.raises(StoreUnavailableError) as err:
        publish_remote(store, {G: nt_file}, run_id="20260101T000000Z")
    message = str(err.value)
    assert f"<{G}>" in message and "previous content is kept" in message
    assert "unavailable after 3 attempts" in message and url in message
    assert sleeps == [0.1, 0.2]


def test_credentials_never_reach_messages_or_logs(
    fake, nt_file: Path, monkeypatch, caplog, capsys
) -> None:
    url, handler = fake
    monkeypatch.setenv(remote.ENV_USER, "dba")
    monkeypatch.setenv(remote.ENV_PASSWORD, SECRET)
    caplog.set_level(logging.DEBUG)
    handler.script = [503, 401]
    store = RemoteStore(url, "sparql11", retries=2, backoff=0, sleep=lambda s: None)
    assert SECRET not in repr(store)
    with pytest.raises(RemoteStoreError) as err:
        publish_remote(store, {G: nt_file})
    assert "refused the credentials" in str(err.value)
    # Sent (basic auth, as this profile asks) but never printed.
    assert any("Authorization" in h for _m, _p, h, _b in handler.seen)
    # The CLI path too: one line on stderr, exit 1, no secret.
    from gongkai.cli import main

    handler.script = [401] * 10
    data = DataDir(nt_file.parent / "data")
    monkeypatch.setattr("gongkai.pipeline.map_validate", lambda *a, **k: {}, raising=True)
    monkeypatch.setattr("gongkai.cli._run_sources", lambda *a, **k: [], raising=False)
    monkeypatch.setattr("gongkai.cli._latest_run", lambda data: "20260101T000000Z")
    monkeypatch.setattr(
        "gongkai.pipeline.completeness_graph", lambda *a, **k: nt_file, raising=False
    )
    code = main(
        ["publish", "--data-dir", str(data.root), "--to", url, "--store-profile", "sparql11"]
    )
    out = capsys.readouterr()
    assert code == 1
    assert "refused the credentials" in out.err
    for text in (str(err.value), caplog.text, out.out, out.err):
        assert SECRET not in text


def test_publish_to_an_embedded_store_dir(tmp_path: Path, nt_file: Path) -> None:
    result = publish_to(f"oxigraph:{tmp_path / 'emb'}", {G: nt_file}, run_id="20260101T000000Z")
    gen = current_generation(DataDir(tmp_path / "emb"))
    assert gen is not None and result.generation == gen.name
    assert graph_counts(gen) == {G: 25} and result.triples == 25
