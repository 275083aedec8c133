"""Publishing to a remote SPARQL 1.1 store (Oxigraph server, Virtuoso, …), atomically per graph.

Each graph is uploaded with the Graph Store Protocol into a temporary graph
(`urn:gongkai:publishing:<graph IRI>`): the first chunk with PUT (replacing whatever a failed
earlier attempt left there), the others with POST. Its triple count is checked, then a single
SPARQL Update `MOVE <tmp> TO <graph>` swaps it in. The store runs that one request in one
transaction (Oxigraph: every update request is a transaction; Virtuoso 7.2: the request is one
transaction, readers at READ COMMITTED see the old graph or the new, checked by
tests/endpoint/test_remote_services.py and docs/remote-stores.md), so readers of the graph see the
old content or the new, never half. A store that goes away mid-publish leaves the previous
graph untouched; requests are retried with exponential backoff and, when the store stays
down, `RemoteStoreError` says which graph failed and which were already published.

Queries and updates go through SPARQLWrapper, uploads through urllib (SPARQLWrapper has no
Graph Store Protocol). Credentials come only from `GONGKAI_STORE_USER` and
`GONGKAI_STORE_PASSWORD`; a URL with a password in it is refused, and no message or log line
ever contains the password (the URLs we print carry no user info).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from gongkai.config import USER_AGENT

log = logging.getLogger("gongkai.remote")

ENV_USER = "GONGKAI_STORE_USER"
ENV_PASSWORD = "GONGKAI_STORE_PASSWORD"
TMP_PREFIX = "urn:gongkai:publishing:"
TRANSIENT_STATUS = frozenset({408, 425, 429, 502, 503, 504})
T = TypeVar("T")


class RemoteStoreError(RuntimeError):
    """Publishing to a remote store failed; the message is one line, safe to print."""


class StoreUnavailableError(RemoteStoreError):
    """The store did not answer (or answered 5xx) through every retry."""


@dataclass(frozen=True)
class Profile:
    """Where a kind of store keeps its endpoints, and what it can take in one request."""

    name: str
    query: str  # path of the SPARQL query endpoint, relative to the base URL
    update: str  # path of the SPARQL update endpoint
    gsp: str  # path of the Graph Store Protocol endpoint (?graph=IRI)
    auth: str = "basic"  # how credentials are sent, when there are any: basic | digest
    auth_queries: bool = True  # send credentials with queries too (Virtuoso: /sparql is open)
    chunk_triples: int = 200_000  # N-Triples lines per GSP request, at most
    chunk_bytes: int = 64 * 1024 * 1024  # bytes per GSP request, at most (one line may exceed)


PROFILES: dict[str, Profile] = {
    # Oxigraph server (`oxigraph serve`) and any store laid out the same way.
    "sparql11": Profile("sparql11", "/query", "/update", "/store"),
    # Virtuoso 7: updates need the authenticated endpoints (digest); it refuses INSERT DATA
    # above ~1,000 triples, so data goes through GSP only, in chunks it takes comfortably.
    "virtuoso": Profile(
        "virtuoso",
        "/sparql",
        "/sparql-auth",
        "/sparql-graph-crud-auth",
        auth="digest",
        auth_queries=False,
        chunk_triples=100_000,
        # It resets the connection on a ~20 MB request body; 8 MB goes through.
        chunk_bytes=8 * 1024 * 1024,
    ),
}
PROFILES["oxigraph"] = PROFILES["sparql11"]


@dataclass
class PublishedGraph:
    graph: str
    triples: int
    seconds: float


@dataclass
class RemotePublishResult:
    target: str  # the store's base URL (no user info) or `oxigraph:DIR`
    profile: str
    graphs: list[PublishedGraph] = field(default_factory=list)
    generation: str | None = None  # embedded stores only

    @property
    def triples(self) -> int:
        return sum(g.triples for g in self.graphs)

    def summary(self) -> str:
        where = f"{self.target} ({self.profile})"
        if self.generation:
            where += f" as {self.generation}"
        return f"{len(self.graphs)} graphs, {self.triples:,} triples to {where}"


def redact(url: str) -> str:
    """The URL without user info (a password must never reach a message or a log line)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def tmp_graph(graph: str) -> str:
    return TMP_PREFIX + graph


def count_ntriples(path: Path) -> int:
    """Distinct triples in an N-Triples file (one triple per line; blank lines and comments skip)."""
    seen: set[bytes] = set()
    with open(path, "rb") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith(b"#"):
                seen.add(line)
    return len(seen)


def has_blank_nodes(path: Path) -> bool:
    """Blank node labels are scoped to one request: such a file must go in one piece."""
    with open(path, "rb") as fh:
        return any(line.startswith(b"_:") or b" _:" in line for line in fh)


def iter_chunks(path: Path, size: int, max_bytes: int | None = None) -> Iterator[bytes]:
    """The file's lines in chunks of at most `size` lines and about `max_bytes` bytes (the
    whole file in one piece if it has blank nodes)."""
    if has_blank_nodes(path):
        yield Path(path).read_bytes()
        return
    buf: list[bytes] = []
    nbytes = 0
    with open(path, "rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            line = line if line.endswith(b"\n") else line + b"\n"
            if buf and max_bytes is not None and nbytes + len(line) > max_bytes:
                yield b"".join(buf)
                buf, nbytes = [], 0
            buf.append(line)
            nbytes += len(line)
            if len(buf) >= size:
                yield b"".join(buf)
                buf, nbytes = [], 0
    if buf:
        yield b"".join(buf)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in TRANSIENT_STATUS
    if isinstance(exc, urllib.error.URLError):
        return True  # refused, reset, unreachable, DNS
    return isinstance(
        exc, ConnectionError | TimeoutError | socket.timeout | http.client.HTTPException
    )


def _describe(exc: BaseException) -> str:
    """A short, credential-free description of a failed request."""
    if isinstance(exc, urllib.error.HTTPError):
        body = b""
        with contextlib.suppress(Exception):
            body = exc.read()[:300]
        text = body.decode("utf-8", "replace").strip() or str(exc.msg or "")
        text = " ".join(text.split())[:300]
        return f"HTTP {exc.code}" + (f": {text}" if text else "")
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
    if isinstance(exc, ConnectionError) and exc.strerror:
        return exc.strerror
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _sparqlwrapper_error(exc: BaseException) -> BaseException:
    """SPARQLWrapper turns some HTTP errors into its own exceptions: map them back."""
    from SPARQLWrapper import SPARQLExceptions as se

    codes = {
        se.QueryBadFormed: 400,
        se.Unauthorized: 401,
        se.EndPointNotFound: 404,
        se.URITooLong: 414,
        se.EndPointInternalError: 500,
    }
    for cls, code in codes.items():
        if isinstance(exc, cls):
            detail = exc.args[0] if exc.args else ""
            return urllib.error.HTTPError("", code, str(detail)[:300], None, None)  # type: ignore[arg-type]
    return exc


class RemoteStore:
    """One SPARQL 1.1 store: queries, updates and GSP uploads, with retries and credentials."""

    def __init__(
        self,
        url: str,
        profile: str | Profile | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 600.0,
        chunk_triples: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteStoreError(f"not a store URL: {redact(url)!r} (expected http(s)://host…)")
        if parts.password is not None or parts.username is not None:
            raise RemoteStoreError(
                f"credentials in the store URL are refused; set {ENV_USER} and {ENV_PASSWORD}"
            )
        self.base = url.rstrip("/")
        self.user = user if user is not None else os.environ.get(ENV_USER) or None
        self.password = password if password is not None else os.environ.get(ENV_PASSWORD)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._sleep = sleep
        if isinstance(profile, Profile):
            self.profile = profile
        elif profile in (None, "auto"):
            self.profile = PROFILES[self.detect()]
        elif profile in PROFILES:
            self.profile = PROFILES[profile]
        else:
            raise RemoteStoreError(
                f"unknown store profile {profile!r}; one of: auto, {', '.join(sorted(PROFILES))}"
            )
        self.chunk_triples = chunk_triples or self.profile.chunk_triples
        self.query_url = self.base + self.profile.query
        self.update_url = self.base + self.profile.update
        self.gsp_url = self.base + self.profile.gsp
        self._opener = self._build_opener()

    def __repr__(self) -> str:  # never shows the password
        return f"RemoteStore({self.base!r}, profile={self.profile.name!r})"

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def has_credentials(self) -> bool:
        return bool(self.user) and self.password is not None

    def _build_opener(self) -> urllib.request.OpenerDirector:
        self._digest: urllib.request.HTTPDigestAuthHandler | None = None
        if self.has_credentials and self.profile.auth == "digest":
            mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
            mgr.add_password(None, self.base, self.user, self.password)
            self._digest = urllib.request.HTTPDigestAuthHandler(mgr)
        return urllib.request.build_opener()

    def _digest_authorization(self, req: urllib.request.Request) -> str | None:
        """Digest credentials for `req`, from a challenge fetched with an empty HEAD first.

        urllib's own handler sends the body, reads the 401 and sends it again; Virtuoso
        answers the 401 before reading a large body and resets the connection, so the body is
        only sent once the challenge is known (as curl --digest does).
        """
        assert self._digest is not None
        probe = urllib.request.Request(
            req.full_url, method="HEAD", headers={"User-Agent": USER_AGENT}
        )
        try:
            with self._opener.open(probe, timeout=min(self.timeout, 60)) as resp:
                resp.read()
                return None  # no authentication asked for
        except urllib.error.HTTPError as exc:
            header = exc.headers.get("WWW-Authenticate", "") if exc.headers else ""
            exc.close()
            if exc.code != 401 or not header.lower().startswith("digest "):
                raise
        chal = urllib.request.parse_keqv_list(
            filter(None, urllib.request.parse_http_list(header[len("digest ") :]))
        )
        auth = self._digest.get_authorization(req, chal)
        return f"Digest {auth}" if auth else None

    def _basic_header(self) -> dict[str, str]:
        if self.has_credentials and self.profile.auth == "basic":
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")
            return {"Authorization": f"Basic {token}"}
        return {}

    def _retrying(self, what: str, fn: Callable[[], T]) -> T:
        """Run `fn`, retrying transient failures with exponential backoff."""
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except Exception as exc:
                exc = _sparqlwrapper_error(exc)
                if isinstance(exc, urllib.error.HTTPError) and exc.code == 401:
                    problem = (
                        "refused the credentials" if self.has_credentials else "needs credentials"
                    )
                    raise RemoteStoreError(
                        f"{what}: {self.base} {problem} (HTTP 401); "
                        f"set {ENV_USER} and {ENV_PASSWORD}"
                    ) from None
                if not _transient(exc):
                    raise RemoteStoreError(
                        f"{what}: {self.base} answered {self._describe_safe(exc)}"
                    ) from None
                if attempt == self.retries:
                    raise StoreUnavailableError(
                        f"{what}: {self.base} unavailable after {self.retries + 1} attempts "
                        f"({self._describe_safe(exc)})"
                    ) from None
                log.warning(
                    "%s: %s (%s); retrying in %.1f s",
                    what,
                    self.base,
                    self._describe_safe(exc),
                    delay,
                )
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff)
        raise AssertionError("unreachable")

    def _describe_safe(self, exc: BaseException) -> str:
        """`_describe` with our credentials blanked: a store or proxy may echo the request's
        headers (the Basic token) or the password back in its error body."""
        text = _describe(exc)
        if self.password:
            token = base64.b64encode(f"{self.user or ''}:{self.password}".encode()).decode()
            for secret in (token, self.password):
                text = text.replace(secret, "***")
        return text

    def _wrapper(self, *, update: bool):
        from SPARQLWrapper import BASIC, DIGEST, JSON, POST, SPARQLWrapper

        w = SPARQLWrapper(self.query_url, updateEndpoint=self.update_url, agent=USER_AGENT)
        w.setMethod(POST)
        w.setReturnFormat(JSON)
        w.setTimeout(int(self.timeout))
        if self.has_credentials and (update or self.profile.auth_queries):
            w.setHTTPAuth(DIGEST if self.profile.auth == "digest" else BASIC)
            w.setCredentials(self.user, self.password)
        return w

    # -- SPARQL --------------------------------------------------------------------------------
    def select(self, query: str) -> list[dict[str, str]]:
        """Rows of a SELECT, each variable → lexical value."""

        def run() -> list[dict[str, str]]:
            w = self._wrapper(update=False)
            w.setQuery(query)
            data = w.query().convert()
            if not isinstance(data, dict):
                raise RemoteStoreError(f"{self.base} did not answer SPARQL JSON results")
            rows = data.get("results", {}).get("bindings", [])
            return [{k: v["value"] for k, v in row.items()} for row in rows]

        return self._retrying("query", run)

    def ask(self, query: str) -> bool:
        """An ASK, coping with stores (Virtuoso) that answer it as a one-cell table."""

        def run() -> bool:
            w = self._wrapper(update=False)
            w.setQuery(query)
            data = w.query().convert()
            return ask_value(data)

        return self._retrying("query", run)

    def update(self, update: str, what: str = "update") -> None:
        def run() -> None:
            w = self._wrapper(update=True)
            w.setQuery(update)
            result = w.query()
            with contextlib.suppress(Exception):
                result.response.read()
                result.response.close()

        self._retrying(what, run)

    def count(self, graph: str) -> int:
        rows = self.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}")
        return int(rows[0]["n"]) if rows else 0

    def graph_counts(self) -> dict[str, int]:
        rows = self.select("SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g")
        return {r["g"]: int(r["n"]) for r in rows}

    # -- Graph Store Protocol ------------------------------------------------------------------
    def _gsp(self, method: str, graph: str, body: bytes | None = None) -> int:
        url = self.gsp_url + "?" + urllib.parse.urlencode({"graph": graph})
        headers = {"User-Agent": USER_AGENT, **self._basic_header()}
        if body is not None:
            headers["Content-Type"] = "application/n-triples"
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        if self._digest is not None:
            auth = self._digest_authorization(req)
            if auth:
                req.add_unredirected_header("Authorization", auth)
        with self._opener.open(req, timeout=self.timeout) as resp:
            resp.read()
            return resp.status

    def put(self, graph: str, body: bytes) -> None:
        self._retrying(f"PUT <{graph}>", lambda: self._gsp("PUT", graph, body))

    def post(self, graph: str, body: bytes) -> None:
        self._retrying(f"POST <{graph}>", lambda: self._gsp("POST", graph, body))

    # -- publishing ----------------------------------------------------------------------------
    def upload(self, graph: str, path: Path) -> int:
        """Load the N-Triples file into `graph` (replacing it, not atomically); chunks sent."""
        chunks = 0
        for chunk in iter_chunks(path, self.chunk_triples, self.profile.chunk_bytes):
            if chunks == 0:
                self.put(graph, chunk)
            else:
                self.post(graph, chunk)
            chunks += 1
            log.debug("uploaded chunk %d of <%s> (%d bytes)", chunks, graph, len(chunk))
        return chunks

    def publish_graph(self, graph: str, path: Path) -> PublishedGraph:
        """Replace `graph` with the file's triples, atomically for readers of the graph."""
        started = time.monotonic()
        expected = count_ntriples(path)
        tmp = tmp_graph(graph)
        if expected == 0:
            self.update(
                f"DROP SILENT GRAPH <{tmp}> ; DROP SILENT GRAPH <{graph}>", f"empty <{graph}>"
            )
            return PublishedGraph(graph, 0, time.monotonic() - started)
        for attempt in (1, 2):
            self.upload(tmp, path)
            loaded = self.count(tmp)
            if loaded == expected:
                break
            # A store restarted mid-upload may have lost earlier chunks: upload once more.
            log.warning("<%s>: %d of %d triples arrived; uploading again", graph, loaded, expected)
            if attempt == 2:
                raise RemoteStoreError(
                    f"<{graph}>: {self.base} holds {loaded:,} triples of the {expected:,} sent; "
                    "the published graph was left as it was"
                )
        self.update(f"MOVE <{tmp}> TO <{graph}>", f"MOVE <{tmp}> TO <{graph}>")
        return PublishedGraph(graph, expected, time.monotonic() - started)

    def detect(self) -> str:
        """The profile by the server's `Server` header: Virtuoso, else generic SPARQL 1.1."""

        def probe() -> str:
            req = urllib.request.Request(self.base + "/", headers={"User-Agent": USER_AGENT})
            try:
                with urllib.request.urlopen(req, timeout=min(self.timeout, 30)) as resp:
                    server = resp.headers.get("Server", "")
            except urllib.error.HTTPError as exc:
                server = exc.headers.get("Server", "") if exc.headers else ""
            return "virtuoso" if "virtuoso" in server.lower() else "sparql11"

        return self._retrying("probe", probe)


def ask_value(data: Any) -> bool:
    """The boolean of an ASK result, from `{"boolean": …}` or from a one-cell table."""
    if isinstance(data, (bytes, str)):
        data = json.loads(data)
    if isinstance(data, dict) and "boolean" in data:
        return bool(data["boolean"])
    rows = data.get("results", {}).get("bindings", []) if isinstance(data, dict) else []
    if not rows:
        return False
    value = next(iter(rows[0].values()), {}).get("value", "")
    return str(value).strip().lower() in ("1", "true")


def publish_remote(
    store: RemoteStore, graphs: Mapping[str, Path], *, run_id: str | None = None
) -> RemotePublishResult:
    """Publish each graph atomically, one after another; stop at the first that fails."""
    result = RemotePublishResult(store.base, store.profile.name)
    for graph, path in graphs.items():
        try:
            done = store.publish_graph(graph, Path(path))
        except RemoteStoreError as exc:
            published = len(result.graphs)
            raise type(exc)(
                f"publishing <{graph}> failed, its previous content is kept "
                f"({published} of {len(graphs)} graphs published"
                + (f" for run {run_id}" if run_id else "")
                + f"): {exc}"
            ) from None
        log.info("published <%s>: %d triples in %.1f s", graph, done.triples, done.seconds)
        result.graphs.append(done)
    return result


def publish_to(
    target: str,
    graphs: Mapping[str, Path],
    *,
    run_id: str,
    profile: str | None = None,
    **store_kw: Any,
) -> RemotePublishResult:
    """Publish to `oxigraph:DIR` (an embedded store under data directory DIR) or to a store URL."""
    graphs = {iri: Path(p) for iri, p in graphs.items()}
    for iri, path in graphs.items():
        if not path.is_file():
            raise FileNotFoundError(f"cannot publish graph <{iri}>: no file {path}")
    if target.startswith("oxigraph:") and not target.startswith("oxigraph://"):
        from endpoint.store import graph_counts
        from endpoint.store import publish as publish_store
        from gongkai.config import DataDir

        root = Path(target.removeprefix("oxigraph:"))
        gen = publish_store(DataDir(root), graphs, run_id=run_id)
        counts = graph_counts(gen)
        result = RemotePublishResult(f"oxigraph:{root}", "embedded", generation=gen.name)
        result.graphs = [PublishedGraph(g, counts.get(g, 0), 0.0) for g in graphs]
        return result
    store = RemoteStore(target, profile, **store_kw)
    return publish_remote(store, graphs, run_id=run_id)
