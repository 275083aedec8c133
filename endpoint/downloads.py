"""`/downloads`: the dumps written by `endpoint.dumps`, at stable URLs.

- `/downloads`: HTML listing of the latest snapshot (sizes, SHA-256), older snapshots, the
  catalogue; `/downloads/{run_id}`: one snapshot.
- `/downloads/catalog` (Turtle or JSON-LD by `Accept`), `/downloads/catalog.ttl`,
  `/downloads/catalog.jsonld`: the DCAT catalogue of the latest snapshot.
- `/downloads/{run_id}/{file}` and `/downloads/latest/{file}`: the files, streamed.

While `gongkai run` is still dumping the generation it serves (endpoint/building.py), the page
says so above the previous snapshot (or instead of "nothing dumped yet"), and the catalogue and
`latest/` files, when there is no snapshot at all, are a 503 with `Retry-After`.

Path traversal is impossible by construction: the run id must match `^\\d{8}T\\d{6}Z$` (or be
`latest`, resolved through the symlink to such a name), and the file name must be one of the
names listed in that snapshot directory; no request text is ever joined to a path unchecked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from endpoint import building, sparql
from endpoint.dumps import LATEST, RUN_ID_RE, latest, media_type_of, snapshots
from endpoint.linked_data import html, not_found
from gongkai.config import DataDir

_CATALOG_FORMATS = tuple(
    f for f in sparql.GRAPH_FORMATS if f.media_type in ("text/turtle", "application/ld+json")
)


def _data(request: Request) -> DataDir:
    return request.app.state.settings.data


def _resolve_run(data: DataDir, run: str) -> str | None:
    if run == LATEST:
        return latest(data)
    return run if RUN_ID_RE.match(run) and run in snapshots(data) else None


def _preparing(data: DataDir, shown: str | None) -> building.Building | None:
    """The dumps being built of a newer run than the snapshot `shown` (None: no snapshot)."""
    found = building.read(data, building.DUMPS)
    return found if found is not None and found.run_id != shown else None


def _being_prepared(found: building.Building, what: str) -> Response:
    response = sparql.error_response(
        503, f"{what} of {found.about()} are being prepared since {found.since}; try again later"
    )
    response.headers["Retry-After"] = building.RETRY_AFTER
    return response


def _listing(data: DataDir, run_id: str) -> list[dict]:
    folder = data.dumps / run_id
    sums: dict[str, str] = {}
    try:
        for line in (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
    except OSError:
        pass
    files = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
            continue
        name = entry.name
        group = "all"
        stem = name.split(".", 1)[0]
        if name in ("catalog.ttl", "SHA256SUMS"):
            group = "about"
        elif name == "notices.csv":
            group = "table"
        elif stem != "all":
            group = "graph"
        files.append(
            {
                "name": name,
                "size": entry.stat().st_size,
                "sha256": sums.get(name, ""),
                "media_type": media_type_of(name),
                "group": group,
                "graph": stem if group == "graph" else None,
            }
        )
    return files


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"


async def downloads_page(request: Request) -> Response:
    data = _data(request)
    current = latest(data)
    return _page(request, data, current, is_latest=True)


async def snapshot_page(request: Request) -> Response:
    data = _data(request)
    run = request.path_params["run"]
    if run == LATEST:
        return RedirectResponse("/downloads", status_code=302)
    run_id = _resolve_run(data, run)
    if run_id is None:
        return not_found(request, "/downloads/" + run)
    return _page(request, data, run_id, is_latest=False)


def _page(request: Request, data: DataDir, run_id: str | None, *, is_latest: bool) -> Response:
    files = _listing(data, run_id) if run_id else []
    graphs = [f for f in files if f["group"] == "graph"]
    by_graph: dict[str, list[dict]] = {}
    for f in graphs:
        by_graph.setdefault(f["graph"], []).append(f)
    prefix = f"/downloads/{LATEST}/" if is_latest else f"/downloads/{run_id}/"
    return html(
        request,
        "downloads.html",
        run_id=run_id,
        is_latest=is_latest,
        prefix=prefix,
        everything=[f for f in files if f["group"] in ("all", "table")],
        about=[f for f in files if f["group"] == "about"],
        by_graph=sorted(by_graph.items()),
        snapshots=snapshots(data),
        latest_run=latest(data),
        preparing=_preparing(data, run_id) if is_latest else None,
        human_size=human_size,
    )


async def file_route(request: Request) -> Response:
    data = _data(request)
    run, name = request.path_params["run"], request.path_params["name"]
    run_id = _resolve_run(data, run)
    if run_id is None:
        if run == LATEST and (found := _preparing(data, None)) is not None:
            return _being_prepared(found, "the downloads")
        return not_found(request, f"/downloads/{run}/{name}")
    folder = data.dumps / run_id
    try:
        listed = {e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False)}
    except OSError:
        listed = set()
    if name not in listed or name.startswith("."):
        return not_found(request, f"/downloads/{run}/{name}")
    media_type = media_type_of(name)
    if name.endswith(".gz"):
        media_type = "application/gzip"
    elif media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    cache = "no-cache" if run == LATEST else "public, max-age=31536000, immutable"
    headers = {
        "Cache-Control": cache,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if run == LATEST:
        headers["Content-Location"] = f"/downloads/{run_id}/{name}"
    return FileResponse(
        folder / name,
        media_type=media_type,
        headers=headers,
        content_disposition_type="inline"
        if name.endswith(".ttl") or name == "SHA256SUMS"
        else "attachment",
        filename=name,
    )


def _catalog_path(data: DataDir) -> Path | None:
    run_id = latest(data)
    path = data.dumps / run_id / "catalog.ttl" if run_id else None
    return path if path is not None and path.is_file() else None


async def catalog_route(request: Request) -> Response:
    data = _data(request)
    ext = request.path_params.get("ext")
    if ext not in (None, "ttl", "jsonld"):
        return not_found(request, request.url.path)
    path = _catalog_path(data)
    if path is None:
        if (found := _preparing(data, None)) is not None:
            return _being_prepared(found, "the catalogue and downloads")
        return not_found(request, "the catalogue (nothing has been dumped yet: run `gongkai dump`)")
    if ext is None:
        media_type = sparql.negotiate(_CATALOG_FORMATS, request.headers.get("accept"))
        if media_type is None:
            return sparql.error_response(
                406, "the catalogue is available as text/turtle or application/ld+json"
            )
    else:
        media_type = "text/turtle" if ext == "ttl" else "application/ld+json"
    headers = {"Vary": "Accept", "Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
    if media_type == "text/turtle":
        return FileResponse(path, media_type="text/turtle; charset=utf-8", headers=headers)
    triples = [q.triple for q in ox.parse(path=str(path), format=ox.RdfFormat.TURTLE)]
    body = ox.serialize(triples, format=ox.RdfFormat.JSON_LD)
    return Response(body, media_type="application/ld+json; charset=utf-8", headers=headers)


async def _to_downloads(request: Request) -> Response:
    return RedirectResponse("/downloads", status_code=301)


def routes() -> list[Route]:
    return [
        Route("/downloads", downloads_page, methods=["GET", "HEAD"]),
        Route(
            "/downloads/", lambda r: RedirectResponse("/downloads", 301), methods=["GET", "HEAD"]
        ),
        Route("/downloads/catalog", catalog_route, methods=["GET", "HEAD"]),
        Route("/downloads/catalog.{ext}", catalog_route, methods=["GET", "HEAD"]),
        Route("/downloads/{run}", snapshot_page, methods=["GET", "HEAD"]),
        Route("/downloads/{run}/{name}", file_route, methods=["GET", "HEAD"]),
    ]
