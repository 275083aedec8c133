"""The HTTP app: `/sparql`, the home page and `/health`.

The server process never opens the store (worker processes do, see `workers.py`); it reads
only `CURRENT` and the generation's `MANIFEST.json`, so a publish never waits for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from endpoint import feeds, pages, search, sparql
from endpoint.annual_reports_routes import annual_reports_routes
from endpoint.cache import ResultCache, cache_bytes_from_env, request_key
from endpoint.completeness_routes import completeness_routes
from endpoint.store import current_generation, read_manifest
from endpoint.workers import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TIMEOUT,
    DEFAULT_WORKERS,
    WorkerPool,
    env_float,
    env_int,
)
from gongkai.config import DataDir
from gongkai.history import routes as history_routes

DEFAULT_MAX_BODY = 1024 * 1024
TEMPLATES = Path(__file__).parent / "templates"
EXAMPLE_QUERY = """SELECT ?graph (COUNT(*) AS ?triples)
WHERE { GRAPH ?graph { ?s ?p ?o } }
GROUP BY ?graph
ORDER BY DESC(?triples)"""


class NoDataError(RuntimeError):
    """Nothing to serve: no data directory or no published generation (one-line message)."""


@dataclass
class Settings:
    data: DataDir
    query_timeout: float
    max_rows: int
    max_bytes: int
    workers: int
    max_body: int


class _Manifests:
    """The manifest of the current generation, re-read only when CURRENT changes."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self._key: tuple[str, float] | None = None
        self._value: dict[str, Any] = {}

    def current(self) -> dict[str, Any]:
        gen = current_generation(self.data)
        if gen is None:
            return {}
        try:
            key = (gen.name, (self.data.store / "CURRENT").stat().st_mtime)
        except FileNotFoundError:
            return {}
        if key != self._key:
            self._value = read_manifest(gen) or {"generation": gen.name, "graphs": {}}
            self._key = key
        return self._value


def _endpoint_url(request: Request) -> str:
    return str(request.url.replace(query="", fragment=""))


async def sparql_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if request.method == "OPTIONS":
        return Response(
            status_code=204,
            headers={
                **sparql.COMMON_HEADERS,
                "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                "Access-Control-Allow-Headers": "Accept, Content-Type",
                "Access-Control-Max-Age": "86400",
            },
        )
    try:
        parsed = await sparql.parse_request(request, settings.max_body)
        accept = request.headers.get("accept")
        if parsed.query is None:
            graphs = request.app.state.manifests.current().get("graphs", {})
            return sparql.service_description_response(
                _endpoint_url(request), graphs, accept, parsed.format
            )
        query_request = sparql.build_query_request(parsed, accept, _endpoint_url(request))
    except sparql.ProtocolError as exc:
        return sparql.error_response(exc.status, exc.message)
    pool: WorkerPool | None = request.app.state.pool
    if pool is None:
        return sparql.error_response(503, "the query workers are not running")
    cache: ResultCache = request.app.state.cache
    generation = request.app.state.manifests.current().get("generation")
    key = request_key(generation, query_request) if cache.enabled and generation else None
    if key is not None and (hit := cache.get(key)) is not None:
        response = sparql.result_response(hit)
        response.headers["X-Gongkai-Cache"] = "hit"
        return response
    client = request.client.host if request.client else None  # for the slow lane
    result = await pool.execute(query_request, client=client)
    if key is not None:
        cache.put(key, result)
    return sparql.result_response(result)


async def home(request: Request) -> Response:
    manifest = request.app.state.manifests.current()
    template = request.app.state.templates.get_template("index.html")
    html = template.render(
        manifest=manifest,
        graphs=sorted(manifest.get("graphs", {}).items()),
        example_query=EXAMPLE_QUERY,
        settings=request.app.state.settings,
    )
    return HTMLResponse(html)


async def health(request: Request) -> Response:
    manifest = request.app.state.manifests.current()
    pool: WorkerPool | None = request.app.state.pool
    alive = pool.alive if pool else 0
    ok = bool(manifest) and alive > 0
    body = {
        "ok": ok,
        "generation": manifest.get("generation"),
        "run_id": manifest.get("run_id"),
        "published": manifest.get("created"),
        "triples": manifest.get("triples"),
        "workers": alive,
        "killed_queries": pool.killed if pool else 0,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


def create_app(
    data: DataDir,
    *,
    query_timeout: float | None = None,
    max_rows: int | None = None,
    workers: int | None = None,
    max_bytes: int | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    cache_bytes: int | None = None,
) -> Starlette:
    """The endpoint app; query workers start with the app's lifespan and stop with it.

    Unset limits come from GONGKAI_QUERY_TIMEOUT, GONGKAI_MAX_ROWS, GONGKAI_QUERY_WORKERS and
    GONGKAI_MAX_RESULT_BYTES, else the defaults (30 s, 100,000 rows, 2 workers, 256 MiB); the
    result cache from GONGKAI_QUERY_CACHE_MB (64; 0 turns it off).
    """
    settings = Settings(
        data=data,
        query_timeout=query_timeout
        if query_timeout is not None
        else env_float("GONGKAI_QUERY_TIMEOUT", DEFAULT_TIMEOUT),
        max_rows=max_rows
        if max_rows is not None
        else env_int("GONGKAI_MAX_ROWS", DEFAULT_MAX_ROWS),
        workers=workers
        if workers is not None
        else env_int("GONGKAI_QUERY_WORKERS", DEFAULT_WORKERS),
        max_bytes=max_bytes
        if max_bytes is not None
        else env_int("GONGKAI_MAX_RESULT_BYTES", DEFAULT_MAX_BYTES),
        max_body=max_body,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = WorkerPool(
            data.store,
            size=settings.workers,
            timeout=settings.query_timeout,
            max_rows=settings.max_rows,
            max_bytes=settings.max_bytes,
        )
        pool.start()
        app.state.pool = pool
        try:
            yield
        finally:
            app.state.pool = None
            pool.close()

    app = Starlette(
        routes=[
            Route("/", home, methods=["GET", "HEAD"]),
            Route("/sparql", sparql_endpoint, methods=["GET", "HEAD", "POST", "OPTIONS"]),
            Route("/health", health, methods=["GET", "HEAD"]),
            *completeness_routes(data),
            *annual_reports_routes(),  # /annual-reports.csv (endpoint/annual_reports_routes.py)
            *pages.routes(),
            *search.routes(data),
            *feeds.routes(data),
            *history_routes(),  # /history: what was published on a day (gongkai/history.py)
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.pool = None
    app.state.manifests = _Manifests(data)
    app.state.cache = ResultCache(cache_bytes_from_env() if cache_bytes is None else cache_bytes)
    app.state.templates = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    pages.setup(app, data)
    return app


def check_data(data: DataDir) -> Path:
    """The generation to serve, or NoDataError with a one-line reason."""
    if not data.root.is_dir():
        raise NoDataError(
            f"no data directory at {data.root}: run `gongkai run` or `gongkai publish` first"
        )
    gen = current_generation(data)
    if gen is None:
        raise NoDataError(f"nothing published in {data.store}: run `gongkai publish` first")
    return gen


def serve(data: DataDir, host: str = "127.0.0.1", port: int = 8000, **kw: Any) -> None:
    """Serve the endpoint with uvicorn until interrupted; `kw` goes to `create_app`."""
    import uvicorn

    check_data(data)
    app = create_app(data, **kw)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=os.environ.get("GONGKAI_LOG_LEVEL", "info"),
        proxy_headers=True,
        timeout_graceful_shutdown=5,
    )
