"""`python -m harvesters.crawl`: one crawl process for a set of sources.

Twisted's reactor cannot be restarted inside one process, so every crawl runs in its own
process; the CLI, the DAG tasks and the tests all start this module.

One Scrapy process is bound to one core (~1/CPU-ms-per-page pages/s). With several sources
and several cores, this module splits the sources over N crawl processes (`--processes`, else
`$GONGKAI_CRAWL_PROCESSES`, else `min(2, cpu_count)`), each its own reactor, all writing into
the same data directory: every file a crawl writes is per source (items, errors, health,
withdrawn, WARC, state), so they never touch the same file. The parent waits for all of them
and fails if any failed; the per-source health files are the merged health.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gongkai.config import DataDir
from harvesters.registry import Source, load_sources

# Scrapy (and the spider) are imported where a crawl runs, not at the top: a parent that only
# splits the sources over child processes would import them for nothing (~0.4 s before the
# children start, which import them again).
if TYPE_CHECKING:
    from scrapy.settings import Settings

    from harvesters.spiders.portal import PortalSpider


#: Components that are off anyway (cookies, remote control: harvesters/settings.py) but whose
#: modules Scrapy would still import to find that out: tldextract + requests, aiohttp (~0.1 s).
UNUSED_COMPONENTS = {
    "DOWNLOADER_MIDDLEWARES": ["scrapy.downloadermiddlewares.cookies.CookiesMiddleware"],
    "EXTENSIONS": ["scrapy.extensions.remote_control.RemoteControl"],
}
_ATOMIC = (str, int, float, bool, type(None), bytes)


def _copy_settings(settings):
    """A deep copy of Scrapy settings (a `BaseSettings`) without `copy.deepcopy`'s generic
    machinery for the ~220 mostly atomic values: each crawler copies the settings it is
    given (~1 ms with `copy.deepcopy`, ~0.13 ms here; 81 crawlers per run)."""
    from scrapy.settings import BaseSettings

    new = object.__new__(type(settings))
    new.__dict__.update(settings.__dict__)
    attributes = {}
    for name, attribute in settings.attributes.items():
        copied = object.__new__(type(attribute))
        copied.__dict__.update(attribute.__dict__)
        value = attribute.value
        if type(value) not in _ATOMIC:
            copied.value = (
                _copy_settings(value) if isinstance(value, BaseSettings) else copy.deepcopy(value)
            )
        attributes[name] = copied
    new.attributes = attributes
    return new


def crawl_settings(data: DataDir, run_id: str, *, sandbox: bool, full: bool = False) -> Settings:
    from scrapy.settings import Settings

    from harvesters import settings as default_settings

    class CrawlSettings(Settings):
        copy = _copy_settings

    s = CrawlSettings()
    s.setmodule(default_settings, priority="project")
    for name, paths in UNUSED_COMPONENTS.items():
        s.set(name, {**s.getdict(name), **dict.fromkeys(paths)}, priority="project")
    if sandbox:
        s.setdict(default_settings.SANDBOX_OVERRIDES, priority="project")
    s.set("GONGKAI_DATA_PATH", str(data.root), priority="project")
    s.set("GONGKAI_RUN_ID", run_id, priority="project")
    if full:
        s.set("GONGKAI_INCREMENTAL", False, priority="project")
    return s


def flags(source: Source, health: dict) -> list[str]:
    """What a reader of the run summary must look at: a source outside its expected volume,
    one that yielded nothing, a blocked or cut-short crawl, failed list pages."""
    out = []
    if health["blocked"]:
        out.append(health["blocked"])
    if health["items"] == 0:
        out.append("yielded nothing")
    elif source.expected is not None:
        low, high = source.expected
        if health["items"] < low:
            out.append(f"below expected minimum {low}")
        if health["items"] > high:
            out.append(f"above expected maximum {high}")
    if health["time_budget_hit"]:
        out.append("time budget hit")
    if health["list_failed"]:
        out.append("list pages failed")
    return out


def write_health(data: DataDir, run_id: str, spider: PortalSpider, reason: str | None) -> dict:
    """Per-source statistics of the run, and the pages that gave no item with their reason."""
    stats = spider.crawler.stats.get_stats()
    source = spider.source.id
    errors_path = data.errors(run_id, source)
    errors_path.parent.mkdir(parents=True, exist_ok=True)
    with errors_path.open("w", encoding="utf-8") as out:
        for error in spider.errors:
            out.write(json.dumps(error, ensure_ascii=False) + "\n")
    started = stats.get("start_time")
    duration = (datetime.now(UTC) - started).total_seconds() if started else None
    counts = spider.counts
    health = {
        "source": source,
        "run_id": run_id,
        "family": spider.source.family,
        "mode": "incremental" if getattr(spider, "incremental", False) else "full",
        "pages": stats.get("response_received_count", 0),
        "list_pages": stats.get("gongkai/list_pages", 0),
        "detail_pages": stats.get("gongkai/detail_pages", 0),
        "items": stats.get("item_scraped_count", 0) + counts["carried"],
        "fetched_items": stats.get("item_scraped_count", 0),
        "new": counts["new"],
        "changed": counts["changed"],
        "unchanged": counts["carried"] - counts["withdrawn_total"],
        "not_modified": counts["not_modified"],
        "withdrawn": counts["withdrawn"],
        "withdrawn_total": counts["withdrawn_total"],
        "duplicates": counts["duplicates"],
        "errors": sum(1 for e in spider.errors if e.get("kind") != "source"),
        "retries": stats.get("retry/count", 0),
        "robots_forbidden": stats.get("robotstxt/forbidden", 0),
        "lists": spider.walks,
        "probe_pages": counts["probe_pages"],  # list pages read below the top (listwalk.py)
        "lists_walked_whole": counts["lists_walked_whole"],  # did not fit their old order
        "blocked": spider.blocked,
        "list_failed": spider.list_failed,
        "finish_reason": reason,
        "time_budget_hit": reason == "closespider_timeout",
        "duration_s": round(duration, 3) if duration is not None else None,
    }
    health["flags"] = flags(spider.source, health)
    path = data.health(run_id, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(health, ensure_ascii=False, indent=1), encoding="utf-8")
    return health


def run_crawl(
    data: DataDir,
    run_id: str,
    sources: list[Source],
    *,
    sandbox_url: str | None = None,
    full: bool = False,
    overrides: dict | None = None,
) -> None:
    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from harvesters.spiders.portal import PortalSpider

    settings = crawl_settings(data, run_id, sandbox=sandbox_url is not None, full=full)
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    process = CrawlerProcess(settings)
    for source in sources:
        urls = [source.sandbox_url(sandbox_url)] if sandbox_url else list(source.start_urls)
        crawler = process.create_crawler(PortalSpider)

        def closed(spider, reason):
            write_health(data, run_id, spider, reason)

        crawler.signals.connect(closed, signal=signals.spider_closed, weak=False)
        process.crawl(crawler, source=source, start_urls=urls, sandbox=sandbox_url is not None)
    quiet_gc()  # the spiders and their harvest states exist by now
    process.start()


def quiet_gc() -> None:
    """Keep Python's cyclic GC from rescanning what lives for the whole crawl.

    perf on a crawl process at 1M notices: 48 % of its CPU in the collector. Every request
    leaves objects alive past two young collections (queued, in flight), so full collections
    came every few seconds, each walking every long-lived object: the states' documents,
    Scrapy's queues, the modules. What exists now (modules, the states loaded from disk) is
    frozen out of the collector, and the young generations are collected 70× less often (each
    collection costs the same per object, so the total for short-lived garbage is unchanged),
    so a full collection comes every ~25M allocations instead of every 70k: cyclic garbage
    that reached the old generation is still freed, only later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 10)


def default_processes() -> int:
    """`$GONGKAI_CRAWL_PROCESSES`, else one per core up to two."""
    wanted = os.environ.get("GONGKAI_CRAWL_PROCESSES", "").strip()
    if wanted:
        return max(1, int(wanted))
    return max(1, min(2, os.cpu_count() or 1))


def split_sources(sources: list[Source], n: int, data: DataDir) -> list[list[Source]]:
    """N groups of about equal work: the largest state first, each to the lightest group
    (a source the state does not know yet weighs the same as any other new one)."""
    n = max(1, min(n, len(sources)))

    def weight(source: Source) -> int:
        path = data.state / f"{source.id}.sqlite3"
        return 1 + (path.stat().st_size if path.exists() else 0)

    groups: list[list[Source]] = [[] for _ in range(n)]
    loads = [0] * n
    for source in sorted(sources, key=weight, reverse=True):  # stable: registry order kept
        i = loads.index(min(loads))
        groups[i].append(source)
        loads[i] += weight(source)
    return [g for g in groups if g]


def run_split(argv: list[str], groups: list[list[Source]]) -> int:
    """One `python -m harvesters.crawl --processes 1` per group, in parallel; the first
    non-zero exit status, else 0."""
    base = [sys.executable, "-m", "harvesters.crawl", *argv, "--processes", "1"]
    children = []
    for group in groups:
        cmd = list(base)
        for source in group:
            cmd += ["--source", source.id]
        children.append(subprocess.Popen(cmd))
    codes = [child.wait() for child in children]
    return next((c for c in codes if c != 0), 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harvesters.crawl")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--registry", type=Path, default=None)
    p.add_argument("--source", action="append", default=[], help="source id (repeatable)")
    p.add_argument("--sandbox-url", default=None)
    p.add_argument("--full", action="store_true", help="fetch everything, ignore the state")
    p.add_argument(
        "--processes", type=int, default=None,
        help="crawl processes (default: $GONGKAI_CRAWL_PROCESSES, else min(2, cores))",
    )  # fmt: skip
    a = p.parse_args(argv)
    # A killed `gongkai run` must not leave this process behind (docs/reliability.md).
    import signal

    from gongkai.faults import die_with_parent, kill_point

    die_with_parent(signal.SIGKILL)
    kill_point("crawl:start")
    sources = load_sources(a.registry)
    if a.source:
        wanted = set(a.source)
        sources = [s for s in sources if s.id in wanted]
    data = DataDir(Path(a.data_dir))
    processes = a.processes if a.processes is not None else default_processes()
    if processes > 1 and len(sources) > 1:
        # the children die with this process (die_with_parent), and it with its parent
        argv_common = ["--data-dir", a.data_dir, "--run-id", a.run_id]
        if a.registry:
            argv_common += ["--registry", str(a.registry)]
        if a.sandbox_url:
            argv_common += ["--sandbox-url", a.sandbox_url]
        if a.full:
            argv_common += ["--full"]
        return run_split(argv_common, split_sources(sources, processes, data))
    # extra Scrapy settings as JSON (benchmarks, debugging):
    # GONGKAI_SCRAPY_SETTINGS='{"LOG_LEVEL": "DEBUG"}'
    overrides = json.loads(os.environ.get("GONGKAI_SCRAPY_SETTINGS") or "{}")
    run_crawl(data, a.run_id, sources, sandbox_url=a.sandbox_url, full=a.full, overrides=overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
