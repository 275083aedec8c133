"""Raw archive: every response (and its request) in a WARC file per source and run.

`data.warc / source / f"{run_id}.warc.gz"`, written with warcio. Each record is its own gzip
member (the usual `.warc.gz` layout, so tools can seek to one record), compressed at a low
level: the archive is written on the crawl's hot path. The response record carries the
harvester's request kind (`list`, `detail`, …) in a `WARC-Gongkai-Kind` field, which
`reparse` uses to find detail pages again.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.http import Request, Response
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from gongkai.config import DataDir

KIND_FIELD = "WARC-Gongkai-Kind"
_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found", 500: "Internal Server Error"}


def _headers(headers: Any) -> list[tuple[str, str]]:
    out = []
    for key, values in headers.items():
        name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        for value in values if isinstance(values, list) else [values]:
            out.append((name, value.decode("latin-1") if isinstance(value, bytes) else str(value)))
    return out


class WarcFile:
    """Append request/response records to one `.warc.gz` file."""

    def __init__(self, path: Path, level: int = 1):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.out: IO[bytes] = path.open("wb")
        self.level = level
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=False)
        self.records = 0

    def _flush_record(self) -> None:
        self.out.write(gzip.compress(self.buffer.getvalue(), compresslevel=self.level, mtime=0))
        self.buffer.seek(0)
        self.buffer.truncate()
        self.records += 1

    def write_info(self, info: dict[str, str]) -> None:
        self.writer.write_record(self.writer.create_warcinfo_record(self.path.name, info))
        self._flush_record()

    def write(self, request: Request, response: Response, kind: str | None) -> None:
        url = response.url
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        req_headers = StatusAndHeaders(
            f"{request.method} {target} HTTP/1.1",
            [("Host", parts.netloc), *_headers(request.headers)],
            is_http_request=True,
        )
        # Lengths given: without them warcio spools each payload to a temporary file and
        # digests it twice (a tenth of a crawl process's CPU at 100k notices).
        body = request.body or b""
        req = self.writer.create_warc_record(
            url, "request", payload=io.BytesIO(body), length=len(body), http_headers=req_headers
        )
        status = f"{response.status} {_REASONS.get(response.status, 'Status')}"
        resp_headers = StatusAndHeaders(status, _headers(response.headers), protocol="HTTP/1.1")
        warc_headers = {KIND_FIELD: kind} if kind else None
        resp = self.writer.create_warc_record(
            url,
            "response",
            payload=io.BytesIO(response.body),
            length=len(response.body),
            http_headers=resp_headers,
            warc_headers_dict=warc_headers,
        )
        req.rec_headers.add_header(
            "WARC-Concurrent-To", resp.rec_headers.get_header("WARC-Record-ID")
        )
        self.writer.write_record(resp)
        self._flush_record()
        self.writer.write_record(req)
        self._flush_record()

    def close(self) -> None:
        self.out.close()


class WarcMiddleware:
    """Downloader middleware placed next to the downloader: it sees every response as it came
    (before decompression, redirects or retries), including robots.txt and error answers."""

    def __init__(self, crawler):
        self.crawler = crawler
        settings = crawler.settings
        self.data = DataDir(Path(settings.get("GONGKAI_DATA_PATH")))
        self.run_id = settings.get("GONGKAI_RUN_ID")
        self.level = settings.getint("GONGKAI_WARC_LEVEL", 1)
        self.file: WarcFile | None = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def opened(self, spider) -> None:
        source = spider.source.id
        self.file = WarcFile(self.data.warc / source / f"{self.run_id}.warc.gz", self.level)
        self.file.write_info(
            {
                "software": "gongkai (Scrapy)",
                "source": source,
                "run-id": self.run_id,
                "http-header-user-agent": self.crawler.settings.get("USER_AGENT"),
                "format": "WARC File Format 1.0",
            }
        )

    def closed(self, spider) -> None:
        if self.file is not None:
            self.file.close()

    def process_response(self, request: Request, response: Response) -> Response:
        if self.file is not None:
            self.file.write(request, response, request.meta.get("kind"))
        return response
