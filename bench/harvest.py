"""Harvest speed: full crawl (extraction + WARC) and incremental re-run vs `scrapy bench`.

    .venv/bin/python -m bench.harvest [--per-source 130] [--runs 3]

The sandbox's TRS portals are exported to static files (`gongkai sandbox --export`) and served
by nginx (Debian's nginx-light), so the server is not the bottleneck. In the same run,
`scrapy bench` measures plain Scrapy on this machine. Prints medians of `--runs` runs: pages/s,
CPU ms/page (the crawl process, user+system) and the ratios the issue asks for:
full crawl ≥ 3× scrapy bench pages/s; incremental re-run ≥ 20× faster than the full run.
Not a test: run by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harvesters import settings
from harvesters.registry import load_sources

ROOT = Path(__file__).resolve().parents[1]
# What the speed needs beyond the polite defaults (the server is ours, on loopback).
FAST = {
    "LOG_LEVEL": "ERROR",
    "CONCURRENT_REQUESTS": 512,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,  # 81 portals × 8 sockets stay under `ulimit -n` 1024
    "REACTOR_THREADPOOL_MAXSIZE": 4,
    "DOWNLOAD_TIMEOUT": 30,
    "STATS_DUMP": False,
    "LOGSTATS_INTERVAL": 0,
    "SPIDER_MIDDLEWARES": {
        "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
        "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
        "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    },
    "DOWNLOADER_MIDDLEWARES": {
        **settings.DOWNLOADER_MIDDLEWARES,
        "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": None,
        "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware": None,
        "scrapy.downloadermiddlewares.downloadtimeout.DownloadTimeoutMiddleware": None,
        "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
        "scrapy.downloadermiddlewares.stats.DownloaderStats": None,
        "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
        "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    },
    "DEFAULT_REQUEST_HEADERS": {},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(root: Path, work: Path, port: int) -> subprocess.Popen:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    conf = work / "nginx.conf"
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000;
  client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
  uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
  types {{ text/html html; application/pdf pdf; text/plain txt; }}
  server {{ listen 127.0.0.1:{port}; root {root}; index index.html; etag on; }}
}}
"""
    )
    (work / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(work)])
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start")


def crawl(data: Path, run_id: str, url: str, sources: list[str]) -> dict:
    cmd = [sys.executable, "-m", "harvesters.crawl", "--data-dir", str(data), "--run-id", run_id]
    cmd += ["--sandbox-url", url]
    for s in sources:
        cmd += ["--source", s]
    env = {**os.environ, "GONGKAI_SCRAPY_SETTINGS": json.dumps(FAST)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    health = [json.loads(p.read_text()) for p in (data / "runs" / run_id / "health").glob("*.json")]
    pages = sum(h["pages"] for h in health)
    items = sum(h["items"] for h in health)
    return {"wall": wall, "cpu": cpu, "pages": pages, "items": items}


def scrapy_bench() -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [str(Path(sys.executable).with_name("scrapy")), "bench"],
        capture_output=True, text=True, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    log = done.stderr
    pages = int(re.search(r"'response_received_count': (\d+)", log).group(1))
    elapsed = float(re.search(r"'elapsed_time_seconds': ([\d.]+)", log).group(1))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": elapsed, "cpu": cpu, "pages": pages}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.harvest")
    p.add_argument("--per-source", type=int, default=130, help="notices per TRS portal")
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args(argv)
    sources = [s for s in load_sources() if s.family in ("trs", "trs2017")]
    ids = [s.id for s in sources]
    work = Path(tempfile.mkdtemp(prefix="gongkai-bench-"))
    site = work / "site"
    subprocess.run(
        [sys.executable, "-m", "harvesters.sandbox", "--export", str(site),
         "--per-source", str(a.per_source)],
        check=True, cwd=ROOT,
    )  # fmt: skip
    port = free_port()
    server = start_nginx(site, work, port)
    url = f"http://127.0.0.1:{port}"
    full, incr, bench = [], [], []
    try:
        for i in range(a.runs):
            data = work / f"data{i}"
            full.append(crawl(data, "20260101T000000Z", url, ids))
            incr.append(crawl(data, "20260102T000000Z", url, ids))
            bench.append(scrapy_bench())
            print(
                f"run {i + 1}: full {full[-1]['pages']} pages in {full[-1]['wall']:.1f} s, "
                f"incremental {incr[-1]['pages']} pages in {incr[-1]['wall']:.2f} s, "
                f"scrapy bench {bench[-1]['pages']} pages in {bench[-1]['wall']:.1f} s",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)

    def med(runs, f):
        return statistics.median(f(r) for r in runs)

    full_ps = med(full, lambda r: r["pages"] / r["wall"])
    bench_ps = med(bench, lambda r: r["pages"] / r["wall"])
    full_cpu = med(full, lambda r: 1000 * r["cpu"] / r["pages"])
    bench_cpu = med(bench, lambda r: 1000 * r["cpu"] / r["pages"])
    full_wall, incr_wall = med(full, lambda r: r["wall"]), med(incr, lambda r: r["wall"])
    notices = full[0]["items"]
    print(f"\nmedians of {a.runs} runs, {len(ids)} portals, {notices} notices:")
    print(f"  full crawl (extract + WARC): {full_ps:8.0f} pages/s  {full_cpu:5.2f} CPU ms/page")
    print(f"  scrapy bench:                {bench_ps:8.0f} pages/s  {bench_cpu:5.2f} CPU ms/page")
    print(f"  ratio full / scrapy bench:   {full_ps / bench_ps:8.2f}×  (goal ≥ 3×)")
    print(f"  full run {full_wall:.2f} s, incremental re-run {incr_wall:.2f} s: "
          f"{full_wall / incr_wall:.1f}× faster (goal ≥ 20× at 100k notices)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
