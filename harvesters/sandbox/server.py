"""The sandbox: every registry source's portal on one loopback port, under `/{source_id}/`.

Run it with `gongkai sandbox`. It writes its ground truth (`truth.jsonl`) before it serves.
Each source is served in its CMS family's markup (`render.py`) with the URL shapes of the
family; `faults.py` decides what goes wrong and what a faithful harvester must end with.
Detail pages carry an `ETag` and a `Last-Modified` and answer conditional requests with 304.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta, timezone
from email.utils import format_datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from aiohttp import web

from harvesters.registry import Source
from harvesters.sandbox import attachments, render
from harvesters.sandbox.faults import ROBOTS_PATH, SLOW_SECONDS, SPECIAL_COLUMN, Plan, variant
from harvesters.sandbox.generate import (
    LAST_DAY,
    PAGE_SIZE,
    Notice,
    doc_base,
    make_notice,
    truth_record,
)

CST = timezone(timedelta(hours=8))
TRS_DETAIL_RE = re.compile(r"^(?:(nbgl|zl)/)?(\d{6})/t(\d{8})_(\d+)(_app|_wap)?\.html$")
TRS_LIST_RE = re.compile(r"^(zl/)?(?:index(?:_(\d+))?\.html)?$")
HANWEB_COL_RE = re.compile(r"^/col/col(\d+)/(?:index\.html)?$")
HANWEB_ART_RE = re.compile(r"^/art/(\d{4})/(\d{1,2})/(\d{1,2})/art_(\d+)_(\d+)\.html$")
GENERIC_LIST_RE = re.compile(r"^(?:list(?:_(\d+))?\.html)?$")
GENERIC_DETAIL_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})/(\d+)\.html$")
ATTACHMENT_RE = re.compile(r"(?:^|/)(P0\d+\.(?:pdf|docx|xlsx|png))$|downfile\.jsp$")
ATTACHMENT_NAME_RE = re.compile(r"P0\d{8}(\d{5})\.(pdf|docx|xlsx|png)$")
TINY_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _num(source_id: str, salt: str, lo: int, span: int) -> int:
    return lo + int(hashlib.sha256(f"{salt}:{source_id}".encode()).hexdigest()[:6], 16) % span


def hanweb_column(source: Source) -> int:
    return _num(source.id, "col", 1000, 9000)


def hanweb_unit(source: Source) -> int:
    return _num(source.id, "unit", 100000, 900000)


@dataclass(frozen=True)
class SandboxConfig:
    sources: tuple[Source, ...]
    per_source: int = 20
    seed: int = 2014
    faults: str | None = None
    scenario: Any = None
    epoch: int = 1
    churn: Any = None  # faults.Churn: what each epoch after the first changes (None: the default)


@dataclass
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] | None = None


class Sandbox:
    """Serves pages computed on request from the config; holds no notices in memory."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.sources = {s.id: s for s in config.sources}
        self.plan = Plan(
            config.faults, config.epoch, set(self.sources), config.churn, config.per_source
        )
        self.attempts: dict[tuple, int] = {}
        self._live: dict[str, list[int]] = {}
        self._live_sets: dict[tuple[str, str], set[int]] = {}

    # -- notices of the current epoch ----------------------------------------------------------
    def count(self, source: Source) -> int:
        return self.config.per_source + self.plan.extra(source)

    def notice(self, source: Source, n: int) -> Notice:
        per = self.config.per_source
        notice = make_notice(self.config.seed, source, n, per, self.config.scenario)
        if n >= per:  # added after epoch 1: dated the newest day (with a churn, its epoch's)
            day = self.plan.added_on(n, LAST_DAY)
            notice = replace(notice, published=day, written=min(notice.written, day))
        if self.plan.edited(source, n) and notice.title:
            title = notice.title + "（修订）"
            notice = replace(notice, title=title, body=notice.body.replace(notice.title, title, 1))
        return notice

    def live(self, source: Source) -> list[int] | range:
        """Numbers of the notices a portal lists, newest first."""
        if self.plan.epoch == 1:
            return range(self.count(source) - 1, -1, -1)
        if source.id not in self._live:
            self._live[source.id] = [
                n
                for n in range(self.count(source) - 1, -1, -1)
                if not self.plan.withdrawn(source, n)
            ]
        return self._live[source.id]

    def site_root(self, source: Source) -> str:
        return f"/{source.id}"

    def detail_path(self, source: Source, notice: Notice, suffix: str = "") -> str:
        if source.family == "hanweb":
            d = notice.published
            return (
                f"/{source.id}/art/{d.year}/{d.month}/{d.day}/"
                f"art_{hanweb_column(source)}_{notice.doc_id}.html"
            )
        base = f"/{source.id}{source.live_path}"
        if source.family == "generic":
            return f"{base}{notice.published.isoformat()}/{notice.doc_id}.html"
        sub = ROBOTS_PATH if self.plan.disallowed(source, notice.n) else ""
        return f"{base}{sub}{notice.month_dir}/{notice.filename[:-5]}{suffix}.html"

    @staticmethod
    def detail_url(base_url: str, source: Source, notice) -> str:
        """The live-shaped TRS detail URL (kept for callers that know only the TRS layout)."""
        return f"{source.sandbox_url(base_url)}{notice.month_dir}/{notice.filename}"

    def truth_records(self, base_url: str):
        for source in self.config.sources:
            for n in range(self.count(source)):
                notice = self.notice(source, n)
                url = base_url + self.detail_path(source, notice)
                record = truth_record(notice, url)
                record["expect"] = self.plan.expect(source, n, notice.expect)
                record["family"] = source.family
                record["epoch"] = self.plan.epoch
                record["version"] = 2 if self.plan.edited(source, n) and notice.title else 1
                yield record

    def write_truth(self, path: Path, base_url: str) -> int:
        """Write truth.jsonl; returns the number of notices served (withdrawn ones excluded)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        count = 0
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for record in self.truth_records(base_url):
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += record["expect"] != "withdrawn"
        tmp.replace(path)
        return count

    # -- pages -------------------------------------------------------------------------------
    def _attempt(self, key: tuple) -> int:
        self.attempts[key] = self.attempts.get(key, 0) + 1
        return self.attempts[key]

    def entries(self, source: Source, page: int, size: int, special: bool = False):
        """(href, notice) of list page `page` (0-based), links as the family writes them."""
        live = self.live(source)
        if special:
            live = [n for n in live if self.plan.in_special_column(source, n)]
        out = []
        for n in live[page * size : (page + 1) * size]:
            notice = self.notice(source, n)
            if source.family == "hanweb":
                href = self.detail_path(source, notice)
            elif source.family == "generic":
                href = f"./{notice.published.isoformat()}/{notice.doc_id}.html"
            else:
                sub = ROBOTS_PATH if self.plan.disallowed(source, n) else ""
                suffix = self.plan.copy_suffix(source, n)
                href = f"./{sub}{notice.month_dir}/{notice.filename[:-5]}{suffix}.html"
            out.append((href, notice))
        return out, len(live)

    def list_page(self, source: Source, page: int, special: bool = False) -> Page:
        _, total = self.entries(source, 0, 0, special)
        if page >= render.page_count(total):
            return Page(404, b"not found")
        if (
            self.plan.list_fault(source, page)
            and self._attempt(("list", source.id, special, page)) == 1
        ):
            return Page(503, b"busy")
        entries, total = self.entries(source, page, PAGE_SIZE, special)
        if source.family == "generic":
            html = render.generic_list(source, page, total, entries)
        else:
            nav = (
                ""
                if special or not self.plan.special_column(source)
                else (f'<a href="./{SPECIAL_COLUMN}index.html">专栏</a>')
            )
            html = render.trs_list(source, page, total, entries, nav)
        return Page(200, html.encode())

    def dataproxy(self, source: Source, query, form) -> Page:
        try:
            start = int(query.get("startrecord", 1))
            end = int(query.get("endrecord", start + render.HANWEB_WINDOW - 1))
        except ValueError:
            return Page(400, b"bad request")
        if str(form.get("columnid")) != str(hanweb_column(source)):
            return Page(200, render.hanweb_records(0, []).encode(), "text/xml; charset=utf-8")
        window = (start - 1) // render.HANWEB_WINDOW
        if self.plan.list_fault(source, window) and self._attempt(("proxy", source.id, start)) == 1:
            return Page(503, b"busy")
        live = self.live(source)
        entries = []
        for n in live[max(start - 1, 0) : max(end, 0)]:
            notice = self.notice(source, n)
            entries.append((self.detail_path(source, notice), notice))
        xml = render.hanweb_records(len(live), entries)
        return Page(200, xml.encode(), "text/xml; charset=utf-8")

    def _notice_of(self, source: Source, doc_id: int) -> Notice | None:
        n = doc_id - doc_base(source.id)
        if not 0 <= n < self.count(source) or n not in self._live_set(source):
            return None
        return self.notice(source, n)

    def _live_set(self, source: Source):
        live = self.live(source)
        if isinstance(live, range):
            return live
        if (source.id, "set") not in self._live_sets:
            self._live_sets[(source.id, "set")] = set(live)
        return self._live_sets[(source.id, "set")]

    async def detail(self, source: Source, notice: Notice, request: web.Request) -> Page:
        fault = self.plan.detail_fault(source, notice.n)
        attempt = self._attempt(("detail", source.id, notice.n)) if fault else 0
        var = variant(source)
        charset: str | None = "gb2312" if var == "gbk" else "utf-8"
        encoding = "gbk" if var == "gbk" else "utf-8"
        truncate = False
        if fault is not None:
            if fault.kind == "500":
                return Page(500, b"Internal Server Error")
            if fault.kind == "5xx" and attempt == 1:
                return Page(503, b"Service Unavailable")
            if fault.kind == "slow" and attempt == 1:
                await asyncio.sleep(SLOW_SECONDS)
            truncate = fault.kind == "truncated-always" or (
                fault.kind == "truncated" and attempt == 1
            )
            if fault.kind == "gbk-bare":
                charset, encoding = None, "gbk"
        html = render.detail_page(
            source,
            notice,
            variant=var,
            charset=charset,
            root=self.site_root(source),
            col=hanweb_column(source),
        )
        if truncate:
            html = html[: html.index("<title>")]
        body = html.encode(encoding, "xmlcharrefreplace")
        ctype = "text/html; charset=utf-8" if encoding == "utf-8" else "text/html"
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        day = LAST_DAY if self.plan.edited(source, notice.n) else notice.published
        modified = format_datetime(
            datetime.combine(day, time(9, 30), CST).astimezone(UTC), usegmt=True
        )
        headers = {"ETag": etag, "Last-Modified": modified}
        if not truncate and request.headers.get("If-None-Match") == etag:
            return Page(304, b"", ctype, headers)
        return Page(200, body, ctype, headers)

    def attachment(self, source: Source, name: str) -> Page:
        """The notice's attachment file (sandbox/attachments.py): its title and index number
        as a PDF text layer, a DOCX, an XLSX, a scanned PDF or a PNG (by document id)."""
        m = ATTACHMENT_NAME_RE.search(name)
        if m is None:
            return Page(200, TINY_PDF, "application/pdf")
        n = (int(m.group(1)) - doc_base(source.id)) % 100000
        notice = self._notice_of(source, doc_base(source.id) + n)
        if notice is None or name not in notice.attachments:
            return Page(404, b"not found")
        kind = attachments.kind_of(notice.doc_id)
        org = (source.short_name or source.name).split("/")[0]
        lines = attachments.attachment_lines(notice.title, org, notice.index_no)
        body = attachments.attachment_bytes(kind, tuple(lines))
        return Page(200, body, attachments.KINDS[kind][1])

    async def page(self, source: Source, path: str, request: web.Request) -> Page:
        if self.plan.challenged(source):
            return Page(521, render.BOT_CHALLENGE.encode())
        if source.family == "hanweb":
            return await self.hanweb(source, path, request)
        prefix = source.live_path
        if not path.startswith(prefix):
            return Page(404, b"not found")
        rest = path[len(prefix) :]
        if ATTACHMENT_RE.search(rest):
            return self.attachment(source, rest.rsplit("/", 1)[-1])
        if source.family == "generic":
            if m := GENERIC_LIST_RE.match(rest):
                return self.list_page(source, max(int(m.group(1) or 1) - 1, 0))
            if m := GENERIC_DETAIL_RE.match(rest):
                notice = self._notice_of(source, int(m.group(2)))
                if notice is None or notice.published.isoformat() != m.group(1):
                    return Page(404, b"not found")
                return await self.detail(source, notice, request)
            return Page(404, b"not found")
        if m := TRS_LIST_RE.match(rest):
            special = bool(m.group(1))
            if special and not self.plan.special_column(source):
                return Page(404, b"not found")
            return self.list_page(source, int(m.group(2) or 0), special)
        if m := TRS_DETAIL_RE.match(rest):
            sub = m.group(1)
            notice = self._notice_of(source, int(m.group(4)))
            if notice is None or notice.filename != f"t{m.group(3)}_{m.group(4)}.html":
                return Page(404, b"not found")
            hidden = self.plan.disallowed(source, notice.n)
            if hidden != (sub == "nbgl") or (
                sub == "zl" and not self.plan.in_special_column(source, notice.n)
            ):
                return Page(404, b"not found")
            return await self.detail(source, notice, request)
        return Page(404, b"not found")

    async def hanweb(self, source: Source, path: str, request: web.Request) -> Page:
        root, col = self.site_root(source), hanweb_column(source)
        if path in ("/", source.live_path, source.live_path + "index.html"):
            return Page(200, render.hanweb_home(source, root, col).encode())
        if m := HANWEB_COL_RE.match(path):
            if int(m.group(1)) != col:
                return Page(404, b"not found")
            return Page(200, render.hanweb_column(source, root, col, hanweb_unit(source)).encode())
        if path == "/module/web/jpage/dataproxy.jsp":
            form = await request.post() if request.method == "POST" else request.query
            return self.dataproxy(source, request.query, form)
        if path.startswith("/module/download/"):
            return self.attachment(source, request.query.get("filename", ""))
        if m := HANWEB_ART_RE.match(path):
            notice = self._notice_of(source, int(m.group(5)))
            if notice is None or self.detail_path(source, notice) != f"/{source.id}{path}":
                return Page(404, b"not found")
            return await self.detail(source, notice, request)
        return Page(404, b"not found")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        source = self.sources.get(request.match_info["source"])
        if source is None:
            raise web.HTTPNotFound()
        page = await self.page(source, "/" + request.match_info["tail"], request)
        response = web.Response(status=page.status, body=page.body, headers=page.headers)
        if page.status != 304:
            response.headers["Content-Type"] = page.content_type
        return response

    @cached_property
    def robots_txt(self) -> str:
        lines = ["User-agent: *", "Disallow: /private/"]
        source = self.sources.get(self.plan.robots_source or "")
        if source is not None:
            lines.append(f"Disallow: /{source.id}{source.live_path}{ROBOTS_PATH}")
        return "\n".join(lines) + "\n"

    async def robots(self, request: web.Request) -> web.Response:
        return web.Response(text=self.robots_txt)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/robots.txt", self.robots)
        app.router.add_route("*", "/{source}/{tail:.*}", self.handle)
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
    epoch: int = 1,
    scenario: Any = None,
    churn: Any = None,
) -> None:
    """Write the truth, then serve until interrupted; `ready_file` gets {"url", "served"}."""
    config = SandboxConfig(tuple(sources), per_source, seed, faults, scenario, epoch, churn)
    sandbox = Sandbox(config)
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
