"""SPARQL queries run in worker processes, each with a time budget.

pyoxigraph cannot cancel a query, so the only way to stop a runaway is to kill the process
running it. Each worker holds the current store generation open read-only and moves to a new
one when `CURRENT` changes; the server process never opens the store. A query over budget
kills its worker (a fresh one replaces it) and the client gets 503; the other workers keep
answering meanwhile.

Result caps: more than `max_rows` solutions (or triples), or more than `max_bytes` of
serialized output, gives 413 with a message saying to add a LIMIT. (413 is for a too-large
request body in RFC 9110; we reuse it because the fix is on the client's side and the
endpoint never sends a truncated result with 200.)

This module imports only the standard library and pyoxigraph, so workers start quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_ROWS = 100_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class QueryRequest:
    """One query as the worker needs it; formats are already negotiated by the server.

    `results_type` answers SELECT/ASK and `graph_type` CONSTRUCT/DESCRIBE (None: the client
    accepts no format for that query form → 406 once the form is known).
    """

    query: str
    results_type: str | None = "application/sparql-results+json"
    graph_type: str | None = "text/turtle"
    default_graph_uris: tuple[str, ...] = ()
    named_graph_uris: tuple[str, ...] = ()
    union_default_graph: bool = True
    base_iri: str | None = None
    prefixes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryResult:
    """Either a serialized result (status 200) or an error with a one-paragraph message."""

    status: int
    content_type: str
    body: bytes
    generation: str | None = None

    @classmethod
    def error(cls, status: int, message: str, generation: str | None = None) -> QueryResult:
        return cls(status, "text/plain; charset=utf-8", message.encode("utf-8"), generation)


# ---------------------------------------------------------------------------------------------
# Worker process side


class _TooLarge(Exception):
    pass


class _CappedWriter(io.RawIOBase):
    """A bytes sink that aborts the serializer when the result exceeds its caps."""

    def __init__(self, max_bytes: int, max_lines: int | None = None) -> None:
        self.buf = bytearray()
        self.max_bytes = max_bytes
        self.max_lines = max_lines
        self.lines = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.buf += b
        if self.max_lines is not None:
            self.lines += bytes(b).count(b"\n")
            if self.lines > self.max_lines:
                raise _TooLarge(f"more than {self.max_lines - 1:,} rows")
        if len(self.buf) > self.max_bytes:
            raise _TooLarge(f"more than {self.max_bytes:,} bytes")
        return len(b)


def results_format(media_type: str):
    import pyoxigraph as ox

    return {
        "application/sparql-results+json": ox.QueryResultsFormat.JSON,
        "application/sparql-results+xml": ox.QueryResultsFormat.XML,
        "text/csv": ox.QueryResultsFormat.CSV,
        "text/tab-separated-values": ox.QueryResultsFormat.TSV,
    }[media_type]


def rdf_format(media_type: str):
    import pyoxigraph as ox

    return {
        "text/turtle": ox.RdfFormat.TURTLE,
        "application/n-triples": ox.RdfFormat.N_TRIPLES,
        "application/rdf+xml": ox.RdfFormat.RDF_XML,
        "application/ld+json": ox.RdfFormat.JSON_LD,
        "application/n-quads": ox.RdfFormat.N_QUADS,
    }[media_type]


def run_query(store: Any, req: QueryRequest, *, max_rows: int, max_bytes: int) -> QueryResult:
    """Execute and serialize one query against an open store (runs inside a worker)."""
    import pyoxigraph as ox

    kwargs: dict[str, Any] = {"base_iri": req.base_iri}
    if req.default_graph_uris or req.named_graph_uris:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in req.default_graph_uris]
        if req.named_graph_uris:
            kwargs["named_graphs"] = [ox.NamedNode(g) for g in req.named_graph_uris]
    elif req.union_default_graph:
        kwargs["use_default_graph_as_union"] = True
    try:
        result = store.query(req.query, **kwargs)
    except SyntaxError as exc:
        return QueryResult.error(400, f"SPARQL syntax error: {exc}")

    too_large = (
        "result too large ({}): the cap is {:,} rows and {:,} bytes; "
        "add a LIMIT or narrow the query"
    )
    if isinstance(result, ox.QuerySolutions | ox.QueryBoolean):
        if req.results_type is None:
            return QueryResult.error(406, _not_acceptable("SELECT/ASK"))
        fmt = results_format(req.results_type)
        if isinstance(result, ox.QueryBoolean):
            return QueryResult(200, req.results_type, result.serialize(format=fmt))
        # TSV has exactly one line per solution (newlines in values are escaped), so it is
        # where rows are counted; it then converts losslessly to the requested format.
        sink = _CappedWriter(max_bytes, max_lines=max_rows + 1)
        try:
            result.serialize(sink, format=ox.QueryResultsFormat.TSV)
        except _TooLarge as exc:
            return QueryResult.error(413, too_large.format(exc, max_rows, max_bytes))
        tsv = bytes(sink.buf)
        if fmt == ox.QueryResultsFormat.TSV:
            return QueryResult(200, req.results_type, tsv)
        parsed = ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV)
        out = _CappedWriter(max_bytes)
        try:
            parsed.serialize(out, format=fmt)
        except _TooLarge as exc:
            return QueryResult.error(413, too_large.format(exc, max_rows, max_bytes))
        return QueryResult(200, req.results_type, bytes(out.buf))

    if req.graph_type is None:
        return QueryResult.error(406, _not_acceptable("CONSTRUCT/DESCRIBE"))
    triples = []
    for triple in result:
        triples.append(triple)
        if len(triples) > max_rows:
            return QueryResult.error(
                413, too_large.format(f"more than {max_rows:,} triples", max_rows, max_bytes)
            )
    fmt = rdf_format(req.graph_type)
    if fmt == ox.RdfFormat.N_QUADS:
        triples = [ox.Quad(t.subject, t.predicate, t.object) for t in triples]
    prefixes = req.prefixes if fmt in (ox.RdfFormat.TURTLE, ox.RdfFormat.RDF_XML) else None
    out = _CappedWriter(max_bytes)
    try:
        ox.serialize(triples, out, fmt, prefixes=prefixes or None)
    except _TooLarge as exc:
        return QueryResult.error(413, too_large.format(exc, max_rows, max_bytes))
    return QueryResult(200, req.graph_type, bytes(out.buf))


def _not_acceptable(form: str) -> str:
    return f"none of the media types in Accept (or format=) can express a {form} result"


def _read_current(store_root: Path) -> str | None:
    try:
        name = (store_root / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def _worker_main(conn: Connection, store_root: str, max_rows: int, max_bytes: int) -> None:
    """Loop: receive a QueryRequest, answer a QueryResult; exit on None or a closed pipe."""
    # Ctrl-C in a terminal reaches the whole process group; the server stops us itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import pyoxigraph as ox

    root = Path(store_root)
    store = None
    name = None
    conn.send("ready")
    while True:
        try:
            req = conn.recv()
        except (EOFError, OSError):
            return
        if req is None:
            return
        try:
            current = _read_current(root)
            if current is None:
                result = QueryResult.error(503, "no store generation has been published yet")
            else:
                if current != name:
                    store = None
                    store = ox.Store.read_only(str(root / current))
                    name = current
                result = run_query(store, req, max_rows=max_rows, max_bytes=max_bytes)
                result = QueryResult(result.status, result.content_type, result.body, name)
        except MemoryError:
            result = QueryResult.error(503, "the query ran out of memory", name)
        except Exception as exc:  # a worker must answer, whatever happened
            result = QueryResult.error(500, f"query failed: {type(exc).__name__}: {exc}", name)
        try:
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


# ---------------------------------------------------------------------------------------------
# Server side


class _Worker:
    def __init__(self, ctx: Any, store_root: Path, max_rows: int, max_bytes: int) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(child, str(store_root), max_rows, max_bytes),
            name="gongkai-query",
            daemon=True,
        )
        self.proc.start()
        child.close()

    def wait_ready(self, timeout: float) -> None:
        try:
            ready = self.conn.poll(timeout) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError(
                f"a query worker did not start within {timeout:g} s (exit code {self.proc.exitcode})"
            )

    def call(
        self,
        req: QueryRequest,
        timeout: float,
        slow_after: float | None = None,
        on_slow: Any = None,
    ) -> QueryResult | None:
        """The worker's answer, or None when it is over budget (the caller kills it).

        `on_slow()` is called once the query has run `slow_after` seconds (see the slow lane).
        """
        self.conn.send(req)
        if slow_after is not None and slow_after < timeout:
            if self.conn.poll(slow_after):
                return self.conn.recv()
            if on_slow is not None:
                on_slow()
            timeout -= slow_after
        if not self.conn.poll(timeout):
            return None
        return self.conn.recv()

    def alive(self) -> bool:
        return self.proc.is_alive()

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.proc.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(None)
        self.proc.join(2)
        if self.proc.is_alive():
            self.kill()
        with contextlib.suppress(Exception):
            self.conn.close()


class WorkerPool:
    """A fixed number of query processes; `execute` hands a query to an idle one.

    Use from one event loop: `start()` (blocking, spawns and waits for the workers), then
    `await execute(req)`, then `close()`.
    """

    def __init__(
        self,
        store_root: Path,
        *,
        size: int = DEFAULT_WORKERS,
        timeout: float = DEFAULT_TIMEOUT,
        max_rows: int = DEFAULT_MAX_ROWS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        start_method: str = "spawn",
        start_timeout: float = 60.0,
        queue_timeout: float | None = None,
        slow_after: float | None = None,
        slow_lane: int | None = None,
        penalty: float = 60.0,
        client_slow_limit: int = 3,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one process")
        # The slow lane (docs/reliability.md): a query text that ran longer than `slow_after`
        # in the last `penalty` seconds, or any query of a client that ran `client_slow_limit`
        # such queries, runs at most `slow_lane` at a time (others of its kind get 503 at
        # once), so runaways can never hold every worker and lookups keep answering.
        self.slow_after = max(1.0, timeout / 10) if slow_after is None else slow_after
        self.slow_lane = max(1, size // 2) if slow_lane is None else max(1, slow_lane)
        self.penalty = penalty
        self.client_slow_limit = client_slow_limit
        self._slow_queries: dict[str, float] = {}  # fingerprint → suspect until (monotonic)
        self._slow_clients: dict[str, list[float]] = {}  # client → times it went slow
        self._slow_running = 0
        self.refused = 0  # suspect queries refused because the slow lane was full
        self.store_root = Path(store_root)
        self.size = size
        self.timeout = timeout
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.start_timeout = start_timeout
        # Waiting for a free worker may include a killed runaway's replacement starting up.
        self.queue_timeout = timeout + 10 if queue_timeout is None else queue_timeout
        self._ctx = multiprocessing.get_context(start_method)
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Future] = set()
        self._closed = False
        self.killed = 0  # runaway queries stopped so far (for /health and tests)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self.store_root, self.max_rows, self.max_bytes)
        worker.wait_ready(self.start_timeout)
        with self._lock:
            self._all.add(worker)
        return worker

    def start(self) -> None:
        workers = [
            _Worker(self._ctx, self.store_root, self.max_rows, self.max_bytes)
            for _ in range(self.size)
        ]
        try:
            for w in workers:
                w.wait_ready(self.start_timeout)
        except BaseException:
            for w in workers:
                w.kill()
            raise
        for w in workers:
            self._all.add(w)
            self._idle.put_nowait(w)

    @property
    def alive(self) -> int:
        with self._lock:
            return sum(1 for w in self._all if w.alive())

    async def _replace(self, dead: _Worker) -> None:
        """Kill `dead` and put a fresh worker in its place (retrying: never shrink the pool)."""
        with self._lock:
            self._all.discard(dead)
        await asyncio.to_thread(dead.kill)
        delay = 0.5
        while not self._closed:
            try:
                fresh = await asyncio.to_thread(self._spawn)
            except Exception:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
                continue
            if self._closed:
                await asyncio.to_thread(fresh.stop)
            else:
                self._idle.put_nowait(fresh)
            return

    def _schedule_replace(self, worker: _Worker) -> None:
        task = asyncio.ensure_future(self._replace(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _mark_slow(self, fingerprint: str, client: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._slow_queries) > 10_000:
                self._slow_queries = {k: v for k, v in self._slow_queries.items() if v > now}
            self._slow_queries[fingerprint] = now + self.penalty
            if client is not None:
                if len(self._slow_clients) > 10_000:
                    self._slow_clients = {
                        c: ts for c, ts in self._slow_clients.items() if ts[-1] > now - self.penalty
                    }
                self._slow_clients.setdefault(client, []).append(now)

    def _suspect(self, fingerprint: str, client: str | None) -> bool:
        now = time.monotonic()
        with self._lock:
            until = self._slow_queries.get(fingerprint)
            if until is not None:
                if until > now:
                    return True
                del self._slow_queries[fingerprint]
            if client is not None and client in self._slow_clients:
                recent = [t for t in self._slow_clients[client] if t > now - self.penalty]
                if recent:
                    self._slow_clients[client] = recent[-self.client_slow_limit :]
                else:
                    del self._slow_clients[client]
                return len(recent) >= self.client_slow_limit
        return False

    async def execute(self, req: QueryRequest, client: str | None = None) -> QueryResult:
        """Run one query within the time budget; always returns a QueryResult.

        `client` (the caller's address) lets the slow lane tell clients apart."""
        if self._closed:
            return QueryResult.error(503, "the query service is shutting down")
        fingerprint = hashlib.sha256(" ".join(req.query.split()).encode("utf-8")).hexdigest()
        suspect = self._suspect(fingerprint, client)
        if suspect:
            if self._slow_running >= self.slow_lane:
                self.refused += 1
                return QueryResult.error(
                    503,
                    f"queries like this one ran longer than {self.slow_after:g} s recently; "
                    f"at most {self.slow_lane} such queries run at once and none is free: "
                    "try again later, or add a LIMIT or narrow the query",
                )
            self._slow_running += 1
        try:
            return await self._execute(req, fingerprint, client)
        finally:
            if suspect:
                self._slow_running -= 1

    async def _execute(self, req: QueryRequest, fingerprint: str, client: str | None):
        try:
            worker = await asyncio.wait_for(self._idle.get(), timeout=self.queue_timeout)
        except TimeoutError:
            return QueryResult.error(
                503,
                f"all {self.size} query workers stayed busy for {self.queue_timeout:g} s; "
                "try again later",
            )
        try:
            result = await asyncio.to_thread(
                worker.call,
                req,
                self.timeout,
                self.slow_after,
                lambda: self._mark_slow(fingerprint, client),
            )
        except (EOFError, OSError, BrokenPipeError):
            self._schedule_replace(worker)
            return QueryResult.error(500, "the query worker died while running the query")
        except BaseException:
            # Cancelled (client gone) or anything else: the worker's state is unknown.
            self._schedule_replace(worker)
            raise
        if result is None:
            self.killed += 1
            self._schedule_replace(worker)
            return QueryResult.error(
                503, f"query exceeded its time budget of {self.timeout:g} s and was stopped"
            )
        self._idle.put_nowait(worker)
        return result

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            w.stop()
        for task in list(self._tasks):
            task.cancel()


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default
