"""The sandbox: every registry source's portal on one loopback port, under `/{source_id}/`.

Run it with `gongkai sandbox`. It writes its ground truth (`truth.jsonl`) before it serves.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from harvesters.registry import Source
from harvesters.sandbox import render
from harvesters.sandbox.generate import PAGE_SIZE, doc_base, make_notice, truth_record

DETAIL_RE = re.compile(r"^(\d{6})/t(\d{8})_(\d+)\.html$")
LIST_RE = re.compile(r"^(?:index(?:_(\d+))?\.html)?$")
ATTACHMENT_RE = re.compile(r"^(\d{6})/(P0\d+\.pdf)$")
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass(frozen=True)
class SandboxConfig:
    sources: tuple[Source, ...]
    per_source: int = 20
    seed: int = 2014
    faults: str | None = None
    scenario: Any = None


class Sandbox:
    """Serves pages computed on request from the config; holds no notices in memory."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.sources = {s.id: s for s in config.sources}

    def notice(self, source: Source, n: int):
        return make_notice(
            self.config.seed, source, n, self.config.per_source, self.config.scenario
        )

    def write_truth(self, path: Path, base_url: str) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for source in self.config.sources:
                for n in range(self.config.per_source):
                    notice = self.notice(source, n)
                    record = truth_record(notice, self.detail_url(base_url, source, notice))
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    count += 1
        tmp.replace(path)
        return count

    @staticmethod
    def detail_url(base_url: str, source: Source, notice) -> str:
        return f"{source.sandbox_url(base_url)}{notice.month_dir}/{notice.filename}"

    def list_items(self, source: Source, page: int):
        total = self.config.per_source
        newest = total - 1 - page * PAGE_SIZE
        return [self.notice(source, n) for n in range(newest, max(newest - PAGE_SIZE, -1), -1)]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        source = self.sources.get(request.match_info["source"])
        if source is None:
            raise web.HTTPNotFound()
        path = "/" + request.match_info["tail"]
        prefix = source.live_path
        if not path.startswith(prefix):
            raise web.HTTPNotFound()
        rest = path[len(prefix) :]
        if m := LIST_RE.match(rest):
            page = int(m.group(1) or 0)
            if page >= render.page_count(self.config.per_source):
                raise web.HTTPNotFound()
            html = render.list_page(
                source, page, self.config.per_source, self.list_items(source, page)
            )
            return web.Response(text=html, content_type="text/html", charset="utf-8")
        if m := DETAIL_RE.match(rest):
            n = int(m.group(3)) - doc_base(source.id)
            if not 0 <= n < self.config.per_source:
                raise web.HTTPNotFound()
            notice = self.notice(source, n)
            if notice.filename != rest.split("/", 1)[1]:
                raise web.HTTPNotFound()
            html = render.detail_page(source, notice)
            return web.Response(text=html, content_type="text/html", charset="utf-8")
        if ATTACHMENT_RE.match(rest):
            return web.Response(body=TINY_PDF, content_type="application/pdf")
        raise web.HTTPNotFound()

    async def robots(self, request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nDisallow: /private/\n")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/robots.txt", self.robots)
        app.router.add_get("/{source}/{tail:.*}", self.handle)
        return app


def bind(host: str, port: int) -> socket.socket:
    """Bind first, so a caller asking for port 0 learns the real port before serving."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def serve(
    sources: Iterable[Source],
    *,
    truth: Path,
    host: str = "127.0.0.1",
    port: int = 8700,
    per_source: int = 20,
    seed: int = 2014,
    faults: str | None = None,
    ready_file: Path | None = None,
) -> None:
    """Write the truth, then serve until interrupted; `ready_file` gets {"url", "served"}."""
    sandbox = Sandbox(SandboxConfig(tuple(sources), per_source, seed, faults))
    sock = bind(host, port)
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    served = sandbox.write_truth(truth, base_url)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"url": base_url, "served": served}))
        tmp.replace(ready_file)
    else:
        print(f"sandbox: {served} notices from {len(sandbox.sources)} sources at {base_url}/")
    web.run_app(sandbox.app(), sock=sock, print=None, access_log=None)
