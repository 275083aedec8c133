"""One spider class for every portal; the CMS family decides how lists are walked and pages read.

Each registry source runs as its own spider instance with its own download slot, so one slow
or failing portal never holds up another, and its statistics stay its own.

Lists by family:
- trs, trs2017: column pages `index.html`, `index_N.html`; the page count (and, in the 6-argument
  form, the record count) only in `createPageHTML(…)`; links to sub-columns (`…/index.html`
  below the start directory) are followed;
- hanweb: home → `/col/col{ID}/index.html` → the column's `jpage` script names the
  `dataproxy.jsp` proxy, `columnid` and `unitid` → POST windows of records
  (`startrecord`/`endrecord`/`perpage`) answering `<datastore>` XML with `<totalrecord>`;
- generic: a paginated HTML list, followed by its 下一页 link, "共 N 条" as the record count.

Incremental runs (when `data.state` knows the source): lists are walked page by page and the
walk stops at a page that holds only known, unchanged entries. Below it, a long list is read
only where it must be (harvesters/listwalk.py): when its stated record count moved by more than
the new entries seen, the pages where documents went missing are found by bisection against the
order the list showed last time, and only the documents missing there are checked again; one
page in seven is read again each run (an edit that leaves a notice in place shows only there).
A short list, a list with no known order, or one that does not match its old order is walked
whole, and known documents no list shows any more are checked with a conditional request
(404/410 → withdrawn).
Detail pages of known documents are fetched with `If-None-Match`/`If-Modified-Since`; 304 →
unchanged. Every known document that was not fetched again is carried over into the run's
items, so a run's items (and the source's published graph) always hold every known notice.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import scrapy
from lxml import etree
from scrapy import signals
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response
from twisted.python.failure import Failure

from gongkai.config import DataDir
from harvesters.extract import NotADetailPage, extract
from harvesters.families import hanweb, trs
from harvesters.listwalk import (
    AUDIT_EVERY,
    SMALL_LIST_PAGES,
    audit_pages,
    bisect_worthwhile,
    locate,
)
from harvesters.state import SourceState, doc_id_of, list_signature
from ontology.annual_report import is_annual_report

CST = timezone(timedelta(hours=8))

_CREATE_PAGE_ARGS = re.compile(r"createPage(?:HTML)?\s*\(([^()]*)\)")
_TOTAL_TEXT = re.compile(r"共\s*(\d+)\s*条")
_PAGES_TEXT = re.compile(r"第\s*\d+\s*/\s*(\d+)\s*页")
_HANWEB_COL = re.compile(r"/col/col\d+/(?:index\.html)?$")
_JPAGE_PROXY = re.compile(r"proxyUrl\s*:\s*['\"]([^'\"]+)['\"]")
_JPAGE_PARAM = re.compile(r"ajaxParam\s*:\s*\{([^}]*)\}", re.S)
_JPAGE_PERPAGE = re.compile(r"perPage\s*:\s*(\d+)")
_KV = re.compile(r"(\w+)\s*:\s*['\"]?([^,'\"}]*)['\"]?")
_GENERIC_DETAIL = re.compile(
    r"/\d{4}-\d{2}-\d{2}/\d+\.s?html?$|/\d{6}/t\d{8}_\d+|/art_\d+_\d+\.html$"
)
_INDEX = re.compile(r"/index\.s?html?$")
_ANCHORS = etree.XPath("//a[@href]")
_LIST_ITEM = etree.XPath("ancestor::li[1]")
_NEXT = etree.XPath("//a[contains(normalize-space(.), '下一页') or contains(@class, 'next')]/@href")

#: Records asked per `dataproxy.jsp` call (Hanweb pages show 3 pages of `perPage` at once).
HANWEB_GROUP = 3
CHALLENGE = "bot challenge (HTTP 521 cookie script)"


def stated_records(text: str) -> int | None:
    """The record count of a TRS list, from `createPageHTML('div', pages, cur, 'index', 'html',
    records)`; None for the 4-argument form, which states only the page count."""
    for match in _CREATE_PAGE_ARGS.finditer(text):
        args = [a.strip().strip("'\"") for a in match.group(1).split(",")]
        if len(args) >= 6 and args[-1].isdigit():
            return int(args[-1])
    return None


@dataclass
class ListProbe:
    """A long list read below its top walk: audited pages and bisection probes."""

    previous: list[str]  # the order the list showed last time
    fetch: Callable[[int], scrapy.Request]  # a request for page n (probe=True)
    size: int
    pages: int
    total: int | None
    outstanding: set[int] = field(default_factory=set)
    audited: bool = False
    state: str = "probing"  # probing | resolved | walked (gave up: walked whole)
    fresh: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)


def _entry_text(a: etree._Element) -> str:
    li = _LIST_ITEM(a)
    node = li[0] if li else a
    return " ".join(node.itertext()) + " " + (a.get("title") or "")


class PortalSpider(scrapy.Spider):
    name = "portal"

    def __init__(self, source, start_urls: list[str], sandbox: bool = False, **kw: Any):
        super().__init__(name=f"portal-{source.id}", **kw)
        self.source = source
        self.start_urls = list(start_urls)
        self.sandbox = sandbox
        self.prefixes = tuple(self._scope(u) for u in self.start_urls)
        self.family = source.overrides.get("list_family", source.family)
        self.errors: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.listed: set[str] = set()  # doc ids seen on a list this run
        self.fresh: set[str] = set()  # doc ids the state did not know at the start
        self.emitted: set[str] = set()
        self.pending: dict[str, str] = {}  # doc id → URL of detail requests not yet answered
        self.columns: set[str] = set()
        self.walks: dict[str, str] = {}  # list key → full | partial
        self.seen_pages: dict[str, dict[int, list[str]]] = {}  # list key → page → doc ids
        self.geometry: dict[str, tuple[int, int]] = {}  # list key → (page size, pages)
        self.probes: dict[str, ListProbe] = {}
        self._orders: dict[str, list[str] | None] = {}
        self.shrunk = False  # a list states fewer records than expected: look for withdrawals
        self.list_failed = False
        self.blocked: str | None = None
        self.rechecked = False
        self.state: SourceState | None = None
        self.attachments_pending: dict[str, str] = {}  # attachment URL → doc id
        self.attachments_asked: set[str] = set()
        self.attachment_log: list[dict[str, Any]] = []  # attachments not fetched, and why

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        settings = crawler.settings
        spider.run_id = settings.get("GONGKAI_RUN_ID")
        spider.data = DataDir(Path(settings.get("GONGKAI_DATA_PATH")))
        spider.state = SourceState.open(spider.data.state, spider.source.id)
        spider.incremental = (
            settings.getbool("GONGKAI_INCREMENTAL", True) and not spider.state.empty
        )
        spider.revalidate = settings.getbool("GONGKAI_REVALIDATE", False)
        spider.audit_every = max(1, settings.getint("GONGKAI_LIST_AUDIT_EVERY", AUDIT_EVERY))
        spider.list_retries = settings.getint("GONGKAI_LIST_RETRIES", 8)
        spider.detail_retries = settings.getint("GONGKAI_TRUNCATED_RETRIES", 2)
        spider.lists_meta = (
            json.loads((spider.data.state / f"{spider.source.id}.lists.json").read_text())
            if (spider.data.state / f"{spider.source.id}.lists.json").exists()
            else {}
        )
        spider.lists_now: dict[str, int] = {}
        spider.fetch_attachments = settings.getbool("GONGKAI_ATTACHMENTS", True)
        spider.attachment_maxsize = settings.getint("GONGKAI_ATTACHMENT_MAXSIZE", 50 * 2**20)
        crawler.signals.connect(spider.idle, signal=signals.spider_idle)
        return spider

    # -- scope and requests ------------------------------------------------------------------
    def _scope(self, url: str) -> str:
        """What this source may follow: the sandbox prefix, or the live domain."""
        parts = urlsplit(url)
        if self.sandbox:
            return f"{parts.scheme}://{parts.netloc}/{self.source.id}/"
        return parts.netloc

    def in_scope(self, url: str) -> bool:
        if self.sandbox:
            return url.startswith(self.prefixes)
        host = urlsplit(url).hostname or ""
        return any(host == d or host.endswith("." + d) for d in self.source.domains)

    def list_key(self, url: str) -> str:
        """A list's name in the state: its URL, without the sandbox's per-run address."""
        parts = urlsplit(url)
        return url.split(parts.netloc, 1)[1] if self.sandbox else url

    def rebase(self, url: str) -> str:
        """A stored URL on the current sandbox address (the sandbox port changes per run)."""
        if not self.sandbox:
            return url
        old, new = urlsplit(url), urlsplit(self.start_urls[0])
        return url.replace(f"{old.scheme}://{old.netloc}", f"{new.scheme}://{new.netloc}", 1)

    def request(self, url: str, callback, **meta: Any) -> scrapy.Request:
        meta["download_slot"] = self.source.id
        if meta.get("kind") == "list":
            meta.setdefault("max_retry_times", self.list_retries)
        return scrapy.Request(
            url, callback=callback, errback=self.failed, meta=meta,
            priority=1 if meta.get("kind") in ("detail", "recheck") else 0,
            dont_filter=meta.pop("dont_filter", False),
        )  # fmt: skip

    def detail_request(self, url: str, doc_id: str, sig: str | None, kind: str = "detail"):
        doc = self.state.docs.get(doc_id)
        meta: dict[str, Any] = {"kind": kind, "doc_id": doc_id, "list_sig": sig}
        headers = {}
        if self.incremental and doc is not None and doc.status == "ok":
            if doc.etag:
                headers["If-None-Match"] = doc.etag
            if doc.last_modified:
                headers["If-Modified-Since"] = doc.last_modified
        meta["handle_httpstatus_list"] = [304, 404, 410] if doc is not None else [304]
        self.pending[doc_id] = url
        request = self.request(url, self.parse_detail, **meta)
        request.headers.update(headers)
        return request

    async def start(self):
        if self.incremental:  # what failed last time is tried again, listed or not
            for doc in list(self.state.docs.values()):
                if doc.status == "failed" and self.in_scope(self.rebase(doc.url)):
                    self.listed.add(doc.doc_id)
                    yield self.detail_request(self.rebase(doc.url), doc.doc_id, doc.list_sig)
        for url in self.start_urls:
            if self.family == "hanweb":
                callback = (
                    self.parse_hanweb_column
                    if _HANWEB_COL.search(urlsplit(url).path)
                    else self.parse_hanweb_home
                )
                yield self.request(url, callback, kind="list")
            elif self.family == "generic":
                yield self.request(url, self.parse_generic_list, kind="list", page=0, key=url)
            else:
                self.columns.add(self._column(url))
                yield self.request(url, self.parse_list, kind="list", page=0)

    # -- list entries ------------------------------------------------------------------------
    def consider(self, url: str, sig: str | None) -> tuple[bool, scrapy.Request | None]:
        """One list entry: (known and unchanged?, request to fetch it or None)."""
        doc_id = doc_id_of(url)
        if not self.in_scope(url):
            return True, None
        if doc_id in self.listed:  # a copy (another column, `_app`/`_wap`): one document
            self.counts["duplicates"] += 1
            return doc_id not in self.fresh, None
        self.listed.add(doc_id)
        doc = self.state.docs.get(doc_id)
        if doc is None or doc.status == "withdrawn":
            self.fresh.add(doc_id)
        if self.blocked:
            self.record(url, self.blocked, 521)
            return False, None
        if doc is None or doc.status == "withdrawn":
            return False, self.detail_request(url, doc_id, sig)
        if doc.status == "failed":
            return True, self.detail_request(url, doc_id, sig)
        if not self.incremental or self.revalidate or doc.list_sig != sig:
            return not self.incremental, self.detail_request(url, doc_id, sig)
        self.state.record_seen(doc_id, self.run_id, sig)
        return True, None

    def entries(self, pairs) -> tuple[list[scrapy.Request], bool, int]:
        """Requests for a list page's entries; whether all were known and unchanged; how many
        were new to the state."""
        requests, unchanged, fresh = [], True, 0
        for url, sig in pairs:
            known, request = self.consider(url, sig)
            unchanged &= known
            fresh += doc_id_of(url) in self.fresh
            if request is not None:
                requests.append(request)
        return requests, unchanged, fresh

    def walk_on(
        self,
        key: str,
        total: int | None,
        unchanged: bool,
        fresh: int,
        last: bool,
        pages: int | None = None,
    ) -> str:
        """After a page of an incremental walk: `stop` there, `next` page, walk `all` the rest,
        or `probe` the rest (a long list whose old order is known: harvesters/listwalk.py).
        `pages` is the list's page count, None when the family cannot jump to a page."""
        self.lists_now[self.list_key(key)] = total if total is not None else -1
        self.counts[f"fresh:{key}"] += fresh
        if self.walks.get(key) == "full":
            return "stop"
        before = self.lists_meta.get(self.list_key(key))
        if last:  # walked to the end: withdrawals show as a count smaller than expected
            self.walks[key] = "full"
            if before is None or total is None or total != before + self.counts[f"fresh:{key}"]:
                self.shrunk = True
            return "stop"
        if not unchanged:
            return "next"
        if before is None:  # a list not walked before: walk it all, then look for withdrawals
            self.shrunk = True
            return "all"
        known = pages is not None and self.order_of(key) is not None
        if pages is not None and pages <= SMALL_LIST_PAGES:
            matched = total is not None and total == before + self.counts[f"fresh:{key}"]
            self.shrunk |= not matched
            return "all"  # short: read whole every run (edits in place show only there)
        if total is None or before < 0:
            return "probe" if known else "stop"
        lost = before + self.counts[f"fresh:{key}"] - total
        if lost == 0:  # unchanged below; a list whose order is not known is read once for it
            return "probe" if known else "stop" if pages is None else "all"
        if known and bisect_worthwhile(pages, lost):
            return "probe"
        self.shrunk = True
        return "all"

    def order_of(self, key: str) -> list[str] | None:
        """The order the list showed last time (harvest state), read once a run."""
        name = self.list_key(key)
        if name not in self._orders:
            self._orders[name] = self.state.list_order(name)
        return self._orders[name]

    def saw_page(self, key: str, page: int, pairs: list[tuple[str, str]]) -> None:
        """Keep the document ids a list page shows, in order (out of scope ones too: they take
        their place on the page)."""
        self.seen_pages.setdefault(key, {})[page] = [doc_id_of(url) for url, _ in pairs]

    # -- below the top of a long list: audits and bisection (harvesters/listwalk.py) ---------
    def start_probe(
        self, key: str, size: int, pages: int, total: int | None, fetch
    ) -> Iterator[scrapy.Request]:
        self.probes[key] = ListProbe(self.order_of(key) or [], fetch, size, pages, total)
        yield from self.advance(key)

    def probed(self, key: str, page: int) -> Iterator[scrapy.Request]:
        """A probe or audit page came back: when the last one of a round did, go on."""
        probe = self.probes.get(key)
        if probe is None:
            return
        probe.outstanding.discard(page)
        if probe.state == "probing" and not probe.outstanding:
            yield from self.advance(key)

    def advance(self, key: str) -> Iterator[scrapy.Request]:
        """The next round of pages of a probed list, or, when it is resolved, the requests that
        check again the documents it no longer shows; a list that does not fit its old order
        is walked whole."""
        probe = self.probes[key]
        seen = self.seen_pages.get(key, {})
        found = locate(probe.previous, seen, size=probe.size, pages=probe.pages, total=probe.total)
        if not found.consistent:
            probe.state = "walked"
            self.walks[key] = "full"
            self.shrunk = True
            self.counts["lists_walked_whole"] += 1
            self.logger.info("%s: walking %s whole: %s", self.source.id, key, found.reason)
            for page in range(probe.pages):
                if page not in seen and page not in probe.outstanding:
                    probe.outstanding.add(page)
                    yield probe.fetch(page)
            return
        wanted = set(found.probes)
        if not probe.audited:
            probe.audited = True
            wanted |= set(audit_pages(probe.pages, self.state.runs, self.audit_every))
        wanted -= set(seen) | probe.outstanding
        if wanted:
            probe.outstanding |= wanted
            self.counts["probe_pages"] += len(wanted)
            for page in sorted(wanted):
                yield probe.fetch(page)
            return
        if probe.outstanding:
            return
        probe.state, probe.fresh, probe.candidates = "resolved", found.fresh, found.candidates
        for doc_id in found.candidates:
            doc = self.state.docs.get(doc_id)
            if doc is None or doc.status != "ok" or doc_id in self.listed:
                continue
            self.listed.add(doc_id)
            yield self.detail_request(self.rebase(doc.url), doc_id, doc.list_sig, kind="recheck")

    def final_order(self, key: str) -> list[str] | None:
        """The order a list shows now, to keep for the next run: read whole, or the old order
        with the new documents on top and the missing ones out (checked against every page
        read); None when it is not known."""
        seen = self.seen_pages.get(key, {})
        if self.list_failed or not seen:
            return None
        probe = self.probes.get(key)
        if probe is not None and probe.state == "resolved":
            gone = set(probe.candidates)
            order = probe.fresh + [d for d in probe.previous if d not in gone]
            size = probe.size
            for page, docs in seen.items():
                if order[page * size : page * size + len(docs)] != docs:
                    return None
            return order
        if self.walks.get(key) != "full" or sorted(seen) != list(range(len(seen))):
            return None
        geometry = self.geometry.get(key)
        if geometry is not None and len(seen) < geometry[1]:
            return None
        return [doc for page in sorted(seen) for doc in seen[page]]

    # -- TRS, TRS 2017 -----------------------------------------------------------------------
    @staticmethod
    def _column(url: str) -> str:
        return url if url.endswith("/") else urljoin(url, "./")

    def trs_entries(self, response: Response) -> list[tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for a in _ANCHORS(response.selector.root):
            href = (a.get("href") or "").strip()
            if not href or href.startswith(("javascript:", "#")):
                continue
            absolute = urljoin(response.url, href)
            if trs.doc_id(absolute) is None:
                continue
            canonical = trs.canonical_url(absolute)
            found.setdefault(canonical, (canonical, list_signature(_entry_text(a))))
        return list(found.values())

    def sub_columns(self, response: Response) -> Iterator[scrapy.Request]:
        """Links to other list columns below a start directory (e.g. the 专栏 of a 目录)."""
        roots = tuple(self._column(u) for u in self.start_urls)
        for a in _ANCHORS(response.selector.root):
            url = urljoin(response.url, (a.get("href") or "").strip())
            if not _INDEX.search(urlsplit(url).path) or not url.startswith(roots):
                continue
            column = self._column(url)
            if column not in self.columns and self.in_scope(url):
                self.columns.add(column)
                yield self.request(column, self.parse_list, kind="list", page=0)

    def parse_list(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("gongkai/list_pages")
        page = response.meta.get("page", 0)
        column = self._column(response.url)
        pairs = self.trs_entries(response)
        self.saw_page(column, page, pairs)
        requests, unchanged, fresh = self.entries(pairs)
        yield from requests
        if page == 0:
            yield from self.sub_columns(response)
            self.counts[f"pages:{column}"] = trs.page_count(response.text) or 1
            total = stated_records(response.text)
            self.counts[f"total:{column}"] = total if total is not None else -1
            self.geometry[column] = (len(pairs), self.counts[f"pages:{column}"])
        pages = self.counts[f"pages:{column}"]
        total = self.counts[f"total:{column}"]
        urls = trs.list_page_urls(column, pages)
        if not self.incremental:
            if page == 0:
                self.walks[column] = "full"
                self.lists_now[self.list_key(column)] = total
                for i, url in enumerate(urls[1:], start=1):
                    yield self.request(url, self.parse_list, kind="list", page=i)
            return
        if response.meta.get("probe"):
            yield from self.probed(column, page)
            return
        last = page + 1 >= pages
        stated = None if total < 0 else total
        step = self.walk_on(column, stated, unchanged, fresh, last, pages)
        if step == "next":
            yield self.request(urls[page + 1], self.parse_list, kind="list", page=page + 1)
        elif step == "all":
            self.walks[column] = "full"
            for i in range(page + 1, pages):
                yield self.request(urls[i], self.parse_list, kind="list", page=i)
        elif step == "probe":
            self.walks.setdefault(column, "partial")

            def fetch(i: int) -> scrapy.Request:
                return self.request(urls[i], self.parse_list, kind="list", page=i, probe=True)

            size = self.geometry.get(column, (0, pages))[0]
            yield from self.start_probe(column, size, pages, stated, fetch)
        else:
            self.walks.setdefault(column, "partial" if page + 1 < pages else "full")

    # -- Hanweb JCMS -------------------------------------------------------------------------
    def parse_hanweb_home(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("gongkai/list_pages")
        wanted = {str(c) for c in self.source.overrides.get("columns", [])}
        for a in _ANCHORS(response.selector.root):
            url = urljoin(response.url, a.get("href").strip())
            m = re.search(r"/col/col(\d+)/", urlsplit(url).path)
            if m and self.in_scope(url) and (not wanted or m.group(1) in wanted):
                column = urljoin(url, "index.html")
                if column not in self.columns:
                    self.columns.add(column)
                    yield self.request(column, self.parse_hanweb_column, kind="list")

    def parse_hanweb_column(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("gongkai/list_pages")
        text = response.text
        proxy, params = _JPAGE_PROXY.search(text), _JPAGE_PARAM.search(text)
        if proxy is None or params is None:
            self.record(
                response.url, "list page failed: no dataproxy.jsp configuration", None, kind="list"
            )
            self.list_failed = True
            return
        form = {k: v.strip() for k, v in _KV.findall(params.group(1))}
        per_page = int(m.group(1)) if (m := _JPAGE_PERPAGE.search(text)) else 20
        key = f"{urljoin(response.url, proxy.group(1))}#{form.get('columnid')}"
        yield self.proxy_request(key, form, per_page, 0)

    def proxy_request(
        self, key: str, form: dict[str, str], per_page: int, window: int, probe: bool = False
    ) -> scrapy.FormRequest:
        size = per_page * HANWEB_GROUP
        start = window * size + 1
        query = urlencode(
            {"startrecord": start, "endrecord": start + size - 1, "perpage": per_page}
        )
        url = f"{key.split('#')[0]}?{query}"
        meta = {
            "download_slot": self.source.id,
            "kind": "list",
            "max_retry_times": self.list_retries,
        }
        meta |= {"key": key, "form": form, "per_page": per_page, "window": window}
        if probe:
            meta["probe"] = True
        return scrapy.FormRequest(url, formdata=form, callback=self.parse_hanweb_records,
                                  errback=self.failed, meta=meta, dont_filter=True)  # fmt: skip

    def parse_hanweb_records(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("gongkai/list_pages")
        meta = response.meta
        key, window, per_page = meta["key"], meta["window"], meta["per_page"]
        text = response.text
        pairs = []
        for record in re.findall(r"<record>(.*?)</record>", text, re.S):
            for url in hanweb.parse_list(f"<record>{record}</record>", response.url)[:1]:
                pairs.append((url, list_signature(re.sub(r"<[^>]+>", " ", record))))
        self.saw_page(key, window, pairs)
        requests, unchanged, fresh = self.entries(pairs)
        yield from requests
        total = hanweb.total_records(text) or 0
        size = per_page * HANWEB_GROUP
        windows = max(1, -(-total // size))
        if window == 0:
            self.geometry[key] = (size, windows)
        if not self.incremental:
            if window == 0:
                self.walks[key], self.lists_now[self.list_key(key)] = "full", total
                for w in range(1, windows):
                    yield self.proxy_request(key, meta["form"], per_page, w)
            return
        if meta.get("probe"):
            yield from self.probed(key, window)
            return
        step = self.walk_on(key, total, unchanged, fresh, window + 1 >= windows, windows)
        if step == "next":
            yield self.proxy_request(key, meta["form"], per_page, window + 1)
        elif step == "all":
            self.walks[key] = "full"
            for w in range(window + 1, windows):
                yield self.proxy_request(key, meta["form"], per_page, w)
        elif step == "probe":
            self.walks.setdefault(key, "partial")
            form = meta["form"]

            def fetch(w: int) -> scrapy.FormRequest:
                return self.proxy_request(key, form, per_page, w, probe=True)

            yield from self.start_probe(key, size, windows, total, fetch)
        else:
            self.walks.setdefault(key, "partial" if window + 1 < windows else "full")

    # -- generic -----------------------------------------------------------------------------
    def parse_generic_list(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("gongkai/list_pages")
        pattern = re.compile(self.source.overrides.get("detail_pattern", _GENERIC_DETAIL.pattern))
        pairs: dict[str, tuple[str, str]] = {}
        for a in _ANCHORS(response.selector.root):
            url = urljoin(response.url, a.get("href").strip())
            if pattern.search(urlsplit(url).path):
                canonical = trs.canonical_url(url)
                pairs.setdefault(canonical, (canonical, list_signature(_entry_text(a))))
        key, page = response.meta["key"], response.meta["page"]
        self.saw_page(key, page, list(pairs.values()))
        requests, unchanged, fresh = self.entries(pairs.values())
        yield from requests
        m = _TOTAL_TEXT.search(response.text)
        total = int(m.group(1)) if m else None
        nxt = [urljoin(response.url, h) for h in _NEXT(response.selector.root)]
        nxt = [u for u in nxt if self.in_scope(u)]
        last = not nxt
        step = self.walk_on(key, total, unchanged, fresh, last) if self.incremental else "next"
        if step in ("next", "all") and nxt:
            yield self.request(nxt[0], self.parse_generic_list, kind="list", page=page + 1, key=key)
        else:
            self.lists_now.setdefault(self.list_key(key), total if total is not None else -1)
            self.walks[key] = "full" if not nxt else "partial"

    # -- withdrawals -------------------------------------------------------------------------
    def idle(self) -> None:
        """Once the lists are walked: check known documents that no list shows any more."""
        if (
            self.rechecked
            or not self.incremental
            or not self.shrunk
            or self.list_failed
            or self.blocked
        ):
            return
        self.rechecked = True
        accounted: set[str] = set()  # on lists whose missing documents a bisection found
        for probe in self.probes.values():
            if probe.state == "resolved":
                accounted.update(probe.previous)
        missing = [
            d
            for d in self.state.docs.values()
            if d.status == "ok" and d.doc_id not in self.listed and d.doc_id not in accounted
        ]
        for doc in missing:
            self.listed.add(doc.doc_id)
            request = self.detail_request(
                self.rebase(doc.url), doc.doc_id, doc.list_sig, kind="recheck"
            )
            self.crawler.engine.crawl(request)
        if missing:
            raise DontCloseSpider

    # -- details ---------------------------------------------------------------------------
    def parse_detail(self, response: Response) -> Iterator[dict[str, Any]]:
        self.crawler.stats.inc_value("gongkai/detail_pages")
        meta = response.meta
        doc_id = meta["doc_id"]
        self.pending.pop(doc_id, None)
        if response.status == 304:
            self.state.record_seen(doc_id, self.run_id, meta.get("list_sig"))
            self.counts["not_modified"] += 1
            return
        if response.status in (404, 410):
            doc = self.state.docs.get(doc_id)
            if doc is not None and doc.status == "ok":
                self.withdraw(doc_id)
            else:
                self.fail(response.url, doc_id, f"HTTP {response.status}", response.status)
            return
        headers = {"content-type": response.headers.get("Content-Type", b"").decode("latin-1")}
        family = self.source.overrides.get("detail_family", self.source.family)
        try:
            item = extract(response.body, response.url, headers, family=family)
        except NotADetailPage as exc:
            reason = str(exc)
            if reason.startswith("bot challenge"):
                self.block()
                self.fail(response.url, doc_id, CHALLENGE, response.status)
                return
            if reason.startswith("no title and no metadata"):
                tries = meta.get("truncated_retries", 0)
                if tries < self.detail_retries:
                    keep = ("kind", "doc_id", "list_sig", "handle_httpstatus_list", "download_slot")
                    retry_meta = {k: meta[k] for k in keep if k in meta}
                    retry_meta["truncated_retries"] = tries + 1
                    retry = response.request.replace(dont_filter=True, meta=retry_meta)
                    self.pending[doc_id] = response.url
                    yield retry
                    return
                reason = f"truncated page ({reason})"
            else:
                reason = f"not a detail page: {reason}"
            self.fail(response.url, doc_id, reason, response.status)
            return
        item["source"] = self.source.id
        item["fetched_at"] = datetime.now(CST).isoformat(timespec="seconds")
        if is_annual_report(item.get("title") or ""):  # its tables become observations
            item["body_html"] = body_html(response.body, headers)
        old = self.state.docs.get(doc_id)
        item = self.state.record_item(
            doc_id, item, run_id=self.run_id,
            etag=_header(response, b"ETag"), last_modified=_header(response, b"Last-Modified"),
            list_sig=meta.get("list_sig"),
        )  # fmt: skip
        if old is None or old.status != "ok":
            self.counts["new"] += 1
        elif old.sha256 != item["sha256"]:
            self.counts["changed"] += 1
        else:
            self.counts["refetched"] += 1
        self.emitted.add(doc_id)
        yield item
        yield from self.attachment_requests(item, doc_id)

    # -- attachments (harvesters/attachments.py reads them back from the WARC file) ----------
    def attachment_requests(self, item: dict[str, Any], doc_id: str) -> Iterator[scrapy.Request]:
        """The notice's attachments, as requests of this source: same slot, scope, robots.txt
        and WARC as its pages, after them (lower priority)."""
        if not self.fetch_attachments:
            return
        for url in item.get("attachments") or []:
            if url in self.attachments_asked:  # linked from several notices: fetched once
                continue
            self.attachments_asked.add(url)
            if not self.in_scope(url):
                reason = "not fetched: outside the portal's domains"
                self.attachment_log.append(
                    {"url": url, "doc_id": doc_id, "status": "not-fetched", "reason": reason}
                )
                continue
            self.attachments_pending[url] = doc_id
            request = self.request(
                url, self.parse_attachment, kind="attachment", doc_id=doc_id,
                download_maxsize=self.attachment_maxsize,
            )  # fmt: skip
            yield request.replace(priority=-1)

    def parse_attachment(self, response: Response) -> None:
        self.crawler.stats.inc_value("gongkai/attachments")
        self.attachments_pending.pop(response.request.url, None)

    def withdraw(self, doc_id: str) -> None:
        day = datetime.now(CST).date().isoformat()
        self.state.record_withdrawn(doc_id, day)
        self.counts["withdrawn"] += 1

    def block(self) -> None:
        if not self.blocked:
            self.blocked = CHALLENGE
            self.errors.append(
                {"url": self.start_urls[0], "reason": CHALLENGE, "status": 521, "kind": "source"}
            )

    # -- failures --------------------------------------------------------------------------
    def failed(self, failure: Failure) -> None:
        request = failure.request
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        kind = request.meta.get("kind")
        if isinstance(failure.value, IgnoreRequest) and "robots.txt" in str(failure.value):
            reason = "disallowed by robots.txt"
        elif status == 521 or (response is not None and b"document.cookie" in response.body[:4000]):
            self.block()
            reason = CHALLENGE
        elif status:
            reason = f"HTTP {status}"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        if kind == "attachment":
            self.attachments_pending.pop(request.url, None)
            self.attachment_log.append(
                {"url": request.url, "doc_id": request.meta.get("doc_id"), "status": status,
                 "reason": reason}
            )  # fmt: skip
            return
        if kind in ("detail", "recheck"):
            doc_id = request.meta["doc_id"]
            self.pending.pop(doc_id, None)
            self.fail(request.url, doc_id, reason, status)
        else:
            if reason != CHALLENGE:
                self.list_failed = True
                self.record(request.url, f"list page failed: {reason}", status, kind="list")

    def fail(self, url: str, doc_id: str, reason: str, status: int | None) -> None:
        self.state.record_failure(doc_id, url, reason, self.run_id)
        self.record(url, reason, status)

    def record(self, url: str, reason: str, status: int | None, kind: str | None = "detail"):
        self.crawler.stats.inc_value("gongkai/errors")
        self.errors.append({"url": url, "reason": reason, "status": status, "kind": kind})

    # -- the end of a run --------------------------------------------------------------------
    def finish(self) -> Iterator[dict[str, Any] | str]:
        """Called once by the item pipeline as the spider closes: the known items that were not
        fetched again (carried over), the withdrawn records, then the state is committed.

        A carried item is the stored JSON line, written as it is (a `str`, newline included):
        no decoding, no encoding. Only an item whose URLs must move to the sandbox's address of
        this run (`rebase`), and withdrawn ones, go through a dict."""
        for url in self.pending.values():  # the crawl stopped early (time budget, shutdown)
            self.record(url, "not fetched: the crawl stopped first", None)
        for url, doc_id in self.attachments_pending.items():
            reason = "not fetched: the crawl stopped first"
            self.attachment_log.append(
                {"url": url, "doc_id": doc_id, "status": "not-fetched", "reason": reason}
            )
        log = self.data.run(self.run_id) / "attachments" / f"{self.source.id}.fetch.jsonl"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.attachment_log),
            encoding="utf-8",
        )
        withdrawn = []
        emitted = self.emitted
        # Every URL of a stored line on this run's address (always so live): rebase is a no-op.
        start = urlsplit(self.start_urls[0])
        here = f"{start.scheme}://{start.netloc}/" if self.sandbox else None
        carried = 0
        stored = self.state.item_texts()  # one pass: a query per document costs more
        for doc in self.state.docs.values():
            if not doc.has_item or doc.doc_id in emitted:
                continue
            text = stored.get(doc.doc_id)
            if not text:
                continue
            status = doc.status
            if status == "ok" and (here is None or text.count("://") == text.count(here)):
                carried += 1
                yield text + "\n"
                continue
            if status not in ("ok", "withdrawn"):
                continue
            item = json.loads(text)
            if self.sandbox:
                item["url"] = self.rebase(item["url"])
                item["attachments"] = [self.rebase(a) for a in item.get("attachments") or []]
            if status == "withdrawn":
                withdrawn.append(item)
            carried += 1
            yield item
        self.counts["carried"] += carried
        path = self.data.run(self.run_id) / "withdrawn" / f"{self.source.id}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for item in withdrawn:
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
        self.counts["withdrawn_total"] = len(withdrawn)
        lists = dict(self.lists_meta)
        lists.update(self.lists_now)  # a partial walk stops only where the count matched
        (self.data.state / f"{self.source.id}.lists.json").write_text(json.dumps(lists))
        full = bool(self.walks) and all(w == "full" for w in self.walks.values())
        for key in self.seen_pages:
            self.state.set_list_order(self.list_key(key), self.final_order(key))
        self.state.record_run(self.run_id, full)
        self.state.close(commit=True)


#: Where the families put an article's body; the whole `<body>` when none matches.
BODY_XPATHS = (
    "//div[contains(@class, 'TRS_UEDITOR')]",
    "//div[contains(@class, 'TRS_Editor')]",
    "//div[@id='zoom']",
    "//div[contains(@class, 'article-content')]",
    "//div[contains(@class, 'gkxl-article')]",
    "//div[contains(@class, 'zwxl-article')]",
    "//body",
)
BODY_HTML_LIMIT = 200_000


def body_html(body: bytes, headers: dict[str, str]) -> str:
    """The HTML of the article body (an annual report's tables), at most 200 000 characters."""
    from lxml import html as lxml_html

    from harvesters.extract import decode

    try:
        root = lxml_html.fromstring(decode(body, headers))
    except (etree.ParserError, ValueError):
        return ""
    for xpath in BODY_XPATHS:
        found = root.xpath(xpath)
        if found:
            return etree.tostring(found[0], encoding="unicode", method="html")[:BODY_HTML_LIMIT]
    return ""


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
