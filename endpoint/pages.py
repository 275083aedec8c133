"""The human side of the endpoint: the query page (YASGUI), static files, and the wiring of
the Linked Data and download routes into the app (`routes()`, `setup(app, data)`).

YASGUI comes from npm (`endpoint/frontend/package.json`); `make assets` (= `npm ci` in
`endpoint/frontend`, whose postinstall copies the built files) puts it under
`endpoint/static/vendor/yasgui/`, which is not committed. Without it the server still starts
and `/query` says how to build it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from endpoint import downloads, linked_data
from endpoint.linked_data import CSP, html, query_link
from gongkai.config import DEFAULT_BASE_URI, DataDir, base_uri

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
VENDOR = STATIC / "vendor" / "yasgui"
QUERIES = HERE / "queries"
ASSETS = ("yasgui.min.js", "yasgui.min.css")
BUILD_HINT = "make assets"  # = cd endpoint/frontend && npm ci

# YASGUI (CodeMirror, DataTables) sets style attributes from script: inline styles only.
CSP_QUERY = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")

_HEADER = re.compile(r"^#\s*(title|description)\s*:\s*(.*?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Example:
    slug: str
    title: str
    description: str
    query: str

    @property
    def link(self) -> str:
        return query_link(self.query)

    @property
    def sparql_csv(self) -> str:
        from urllib.parse import urlencode

        return "/sparql?" + urlencode({"query": self.query, "format": "csv"})


def load_examples(folder: Path = QUERIES) -> list[Example]:
    """The example queries: `# title:` and `# description:` comment lines head each file."""
    out = []
    for path in sorted(folder.glob("*.rq")):
        text = path.read_text(encoding="utf-8")
        meta: dict[str, str] = {}
        body: list[str] = []
        header = True
        for line in text.splitlines():
            m = _HEADER.match(line) if header else None
            if m:
                key = m.group(1).lower()
                meta[key] = (meta.get(key, "") + " " + m.group(2)).strip()
                continue
            if header and line.startswith("#") and "description" in meta:
                meta["description"] += " " + line.lstrip("# ").strip()
                continue
            header = False
            body.append(line)
        query = "\n".join(body).strip() + "\n"
        base = base_uri()
        if base != DEFAULT_BASE_URI:  # the examples are written against the default base
            query = query.replace(DEFAULT_BASE_URI, base)
        out.append(
            Example(path.stem, meta.get("title", path.stem), meta.get("description", ""), query)
        )
    return out


def assets_built() -> bool:
    return all((VENDOR / name).is_file() for name in ASSETS)


async def query_page(request: Request) -> Response:
    examples = request.app.state.examples
    return html(
        request,
        "query.html",
        csp=CSP_QUERY,
        base=request.app.state.linked_data.base,
        examples=examples,
        examples_json=[{"slug": e.slug, "title": e.title, "query": e.query} for e in examples],
        assets=assets_built(),
        build_hint=BUILD_HINT,
        settings=request.app.state.settings,
    )


def routes() -> list[BaseRoute]:
    return [
        Route("/query", query_page, methods=["GET", "HEAD"]),
        *linked_data.routes(),
        *downloads.routes(),
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]


def setup(app: Any, data: DataDir) -> None:
    """State the pages need; call once from `create_app`."""
    linked_data.setup(app, data.root / "cache")
    app.state.examples = load_examples()
