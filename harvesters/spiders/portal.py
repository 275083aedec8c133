"""One spider class for every portal; the CMS family decides how lists are walked and pages read.

Each registry source runs as its own spider instance with its own download slot, so one slow
or failing portal never holds up another, and its statistics stay its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from harvesters.extract import NotADetailPage, extract
from harvesters.families import trs
from harvesters.registry import Source

CST = timezone(timedelta(hours=8))


class PortalSpider(scrapy.Spider):
    name = "portal"

    def __init__(self, source: Source, start_urls: list[str], sandbox: bool = False, **kw: Any):
        super().__init__(name=f"portal-{source.id}", **kw)
        self.source = source
        self.start_urls = list(start_urls)
        self.sandbox = sandbox
        self.prefixes = tuple(self._scope(u) for u in self.start_urls)
        self.seen_docs: set[str] = set()
        self.errors: list[dict[str, Any]] = []

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

    def request(self, url: str, callback, **meta: Any) -> scrapy.Request:
        meta["download_slot"] = self.source.id
        return scrapy.Request(url, callback=callback, errback=self.failed, meta=meta)

    async def start(self):
        for url in self.start_urls:
            yield self.request(url, self.parse_list, kind="list", page=0)

    # -- lists -----------------------------------------------------------------------------
    def parse_list(self, response: Response) -> Iterator[Any]:
        self.crawler.stats.inc_value("gongkai/list_pages")
        for link in trs.detail_links(response.selector, response.url):
            canonical = trs.canonical_url(link)
            key = trs.doc_id(canonical) or canonical
            if key in self.seen_docs or not self.in_scope(canonical):
                continue
            self.seen_docs.add(key)
            yield self.request(canonical, self.parse_detail, kind="detail")
        if response.meta.get("page") == 0:
            count = trs.page_count(response.text) or 1
            base = response.url if response.url.endswith("/") else urljoin(response.url, "./")
            for url in trs.list_page_urls(base, count)[1:]:
                yield self.request(url, self.parse_list, kind="list", page=1)

    # -- details ---------------------------------------------------------------------------
    def parse_detail(self, response: Response) -> Iterator[dict[str, Any]]:
        self.crawler.stats.inc_value("gongkai/detail_pages")
        headers = {"content-type": response.headers.get("Content-Type", b"").decode("latin-1")}
        family = self.source.overrides.get("detail_family", self.source.family)
        try:
            item = extract(response.body, response.url, headers, family=family)
        except NotADetailPage as exc:
            self.record(response.url, f"not a detail page: {exc}", response.status)
            return
        item["source"] = self.source.id
        item["fetched_at"] = datetime.now(CST).isoformat(timespec="seconds")
        yield item

    # -- failures --------------------------------------------------------------------------
    def failed(self, failure: Failure) -> None:
        request = failure.request
        response = getattr(failure.value, "response", None)
        status = response.status if response is not None else None
        reason = (
            f"HTTP {status}" if status else f"{failure.type.__name__}: {failure.getErrorMessage()}"
        )
        self.record(request.url, reason, status, kind=request.meta.get("kind"))

    def record(self, url: str, reason: str, status: int | None, kind: str | None = "detail"):
        self.crawler.stats.inc_value("gongkai/errors")
        self.errors.append({"url": url, "reason": reason, "status": status, "kind": kind})
