"""`python -m harvesters.crawl`: one crawl process for a set of sources.

Twisted's reactor cannot be restarted inside one process, so every crawl runs in its own
process; the CLI, the DAG tasks and the tests all start this module.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from gongkai.config import DataDir
from harvesters import settings as default_settings
from harvesters.registry import Source, load_sources
from harvesters.spiders.portal import PortalSpider


def crawl_settings(data: DataDir, run_id: str, *, sandbox: bool) -> Settings:
    s = Settings()
    s.setmodule(default_settings, priority="project")
    if sandbox:
        s.setdict(default_settings.SANDBOX_OVERRIDES, priority="project")
    s.set("GONGKAI_DATA_PATH", str(data.root), priority="project")
    s.set("GONGKAI_RUN_ID", run_id, priority="project")
    return s


def write_health(data: DataDir, run_id: str, spider: PortalSpider, started: float) -> None:
    """Per-source statistics of the run, and the pages that gave no item with their reason."""
    stats = spider.crawler.stats.get_stats()
    source = spider.source.id
    errors_path = data.errors(run_id, source)
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    with errors_path.open("w", encoding="utf-8") as out:
        for error in spider.errors:
            out.write(json.dumps(error, ensure_ascii=False) + "\n")
    health = {
        "source": source,
        "pages": stats.get("response_received_count", 0),
        "list_pages": stats.get("gongkai/list_pages", 0),
        "detail_pages": stats.get("gongkai/detail_pages", 0),
        "items": stats.get("item_scraped_count", 0),
        "errors": len(spider.errors),
        "retries": stats.get("retry/count", 0),
        "finish_reason": stats.get("finish_reason"),
        "duration_s": round(time.monotonic() - started, 3),
    }
    path = data.health(run_id, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(health, ensure_ascii=False, indent=1), encoding="utf-8")


def run_crawl(
    data: DataDir, run_id: str, sources: list[Source], *, sandbox_url: str | None = None
) -> None:
    process = CrawlerProcess(crawl_settings(data, run_id, sandbox=sandbox_url is not None))
    started = time.monotonic()
    for source in sources:
        urls = [source.sandbox_url(sandbox_url)] if sandbox_url else list(source.start_urls)
        crawler = process.create_crawler(PortalSpider)

        def closed(spider, reason, _started=started):
            write_health(data, run_id, spider, _started)

        crawler.signals.connect(closed, signal=signals.spider_closed)
        process.crawl(crawler, source=source, start_urls=urls, sandbox=sandbox_url is not None)
    process.start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harvesters.crawl")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--registry", type=Path, default=None)
    p.add_argument("--source", action="append", default=[], help="source id (repeatable)")
    p.add_argument("--sandbox-url", default=None)
    a = p.parse_args(argv)
    sources = load_sources(a.registry)
    if a.source:
        wanted = set(a.source)
        sources = [s for s in sources if s.id in wanted]
    run_crawl(DataDir(Path(a.data_dir)), a.run_id, sources, sandbox_url=a.sandbox_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
