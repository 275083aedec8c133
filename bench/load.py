"""Bounded load test of the SPARQL endpoint on loopback: lookups under a stream of runaways.

`python -m bench.load --data-dir DIR [--clients 50] [--duration 60] [--budget 5]`

Starts `gongkai serve` on DIR (a published data directory) in its own process, then for
`--duration` seconds runs `--clients` concurrent clients doing keyed lookups ("all properties
of one notice", from 127.0.0.1) while another client (from 127.0.0.2: a different client, as
on a real network) sends a runaway query (a cartesian product) every `--runaway-every`
seconds. RSS of the server and its query workers is sampled from /proc. Prints lookup p50/p99,
throughput and errors, what became of the runaways (503: cut at the budget or refused by the
slow lane), and the maximum RSS; `--json` writes the same figures to a file.

Bounded: every request has a client timeout, the test stops at `--duration`, and the server
is stopped at the end whatever happened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp

GK = "https://gongkai.example.org/def/gongkai#"
RUNAWAY = (
    "SELECT (COUNT(*) AS ?n) WHERE { " + " ".join(f"?s{i} ?p{i} ?o{i} ." for i in range(8)) + " }"
)
NOTICES = f"SELECT ?n WHERE {{ ?n a <{GK}Notice> }} LIMIT 500"


@dataclass
class Figures:
    clients: int
    duration_s: float
    budget_s: float
    workers: int
    lookups: int = 0
    lookup_errors: int = 0
    lookup_error_kinds: dict[str, int] = field(default_factory=dict)
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    throughput_rps: float = 0.0
    runaways_sent: int = 0
    runaway_status: dict[str, int] = field(default_factory=dict)
    runaway_max_s: float | None = None
    max_rss_mb: float = 0.0
    max_processes: int = 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS bytes, process count) of `pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, count, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        count += 1
                        break
        except OSError:
            continue
        todo.extend(children.get(p, []))
    return total, count


def start_server(data: Path, port: int, budget: float, workers: int) -> subprocess.Popen:
    env = dict(os.environ)
    env |= {
        "GONGKAI_QUERY_TIMEOUT": str(budget),
        "GONGKAI_QUERY_WORKERS": str(workers),
        "GONGKAI_LOG_LEVEL": "warning",
    }
    cmd = [sys.executable, "-m", "gongkai.cli", "serve", "--data-dir", str(data)]
    cmd += ["--port", str(port)]
    return subprocess.Popen(cmd, env=env, start_new_session=True)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def _wait_healthy(base: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {proc.returncode}")
            try:
                async with s.get(base + "/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not become healthy in time")


async def _notices(base: str) -> list[str]:
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            base + "/sparql",
            params={"query": NOTICES},
            headers={"Accept": "application/sparql-results+json"},
        ) as r,
    ):
        data = await r.json(content_type=None)
    found = [b["n"]["value"] for b in data["results"]["bindings"]]
    if not found:
        raise RuntimeError("no notices published in this data directory")
    return found


async def run_load(
    base: str,
    server_pid: int,
    *,
    clients: int,
    duration: float,
    runaway_every: float,
    budget: float,
    workers: int,
    runaway_addr: str = "127.0.0.2",
) -> Figures:
    notices = await _notices(base)
    fig = Figures(clients, duration, budget, workers)
    latencies: list[float] = []
    errors: Counter = Counter()
    runaway: Counter = Counter()
    runaway_times: list[float] = []
    stop_at = time.monotonic() + duration
    lookup_timeout = aiohttp.ClientTimeout(total=budget + 30)
    rss_peak = [0, 0]

    async def sampler() -> None:
        while time.monotonic() < stop_at:
            rss, n = tree_rss(server_pid)
            rss_peak[0], rss_peak[1] = max(rss_peak[0], rss), max(rss_peak[1], n)
            await asyncio.sleep(0.5)

    async def lookup_client(session: aiohttp.ClientSession, k: int) -> None:
        rng = random.Random(k)
        while time.monotonic() < stop_at:
            iri = rng.choice(notices)
            started = time.monotonic()
            try:
                async with session.get(
                    base + "/sparql",
                    params={"query": f"SELECT ?p ?o WHERE {{ <{iri}> ?p ?o }}"},
                    headers={"Accept": "application/sparql-results+json"},
                    timeout=lookup_timeout,
                ) as r:
                    body = await r.read()
                    if r.status != 200 or b'"bindings"' not in body:
                        errors[f"HTTP {r.status}"] += 1
                        continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors[type(exc).__name__] += 1
                continue
            latencies.append(time.monotonic() - started)

    async def one_runaway(session: aiohttp.ClientSession) -> None:
        started = time.monotonic()
        try:
            async with session.get(
                base + "/sparql",
                params={"query": RUNAWAY},
                timeout=aiohttp.ClientTimeout(total=budget + 60),
            ) as r:
                await r.read()
                runaway[str(r.status)] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            runaway[type(exc).__name__] += 1
        runaway_times.append(time.monotonic() - started)

    async def runaway_client() -> None:
        connector = aiohttp.TCPConnector(local_addr=(runaway_addr, 0), limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            pending = set()
            while time.monotonic() < stop_at:
                pending.add(asyncio.ensure_future(one_runaway(session)))
                fig.runaways_sent += 1
                await asyncio.sleep(runaway_every)
            if pending:
                await asyncio.wait(pending, timeout=budget + 60)

    connector = aiohttp.TCPConnector(limit=0)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(
            sampler(),
            runaway_client(),
            *(lookup_client(session, k) for k in range(clients)),
        )
    elapsed = time.monotonic() - started
    fig.lookups = len(latencies)
    fig.lookup_errors = sum(errors.values())
    fig.lookup_error_kinds = dict(errors)
    if latencies:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        fig.p50_ms = round(q[49] * 1000, 1)
        fig.p99_ms = round(q[98] * 1000, 1)
        fig.max_ms = round(max(latencies) * 1000, 1)
    fig.throughput_rps = round(len(latencies) / elapsed, 1)
    fig.runaway_status = dict(runaway)
    fig.runaway_max_s = round(max(runaway_times), 2) if runaway_times else None
    fig.max_rss_mb = round(rss_peak[0] / 2**20, 1)
    fig.max_processes = rss_peak[1]
    return fig


def load_test(
    data: Path,
    *,
    clients: int = 50,
    duration: float = 60,
    runaway_every: float = 1.0,
    budget: float = 5.0,
    workers: int = 2,
) -> Figures:
    """Start a server on `data`, run the load, stop the server; the figures."""
    port = _free_port()
    proc = start_server(data, port, budget, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_healthy(base, proc))
        return asyncio.run(
            run_load(
                base,
                proc.pid,
                clients=clients,
                duration=duration,
                runaway_every=runaway_every,
                budget=budget,
                workers=workers,
            )
        )
    finally:
        stop_server(proc)


def report(fig: Figures) -> str:
    return "\n".join(
        [
            f"load: {fig.clients} clients for {fig.duration_s:g} s, a runaway every second, "
            f"budget {fig.budget_s:g} s, {fig.workers} workers",
            f"lookups: {fig.lookups} ok, {fig.lookup_errors} errors {fig.lookup_error_kinds or ''}",
            f"lookup latency: p50 {fig.p50_ms} ms, p99 {fig.p99_ms} ms, max {fig.max_ms} ms",
            f"throughput: {fig.throughput_rps} lookups/s",
            f"runaways: {fig.runaways_sent} sent → {fig.runaway_status} "
            f"(longest {fig.runaway_max_s} s)",
            f"max RSS of server + workers: {fig.max_rss_mb} MiB ({fig.max_processes} processes)",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, type=Path, help="a published data directory")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--runaway-every", type=float, default=1.0)
    p.add_argument("--budget", type=float, default=5.0, help="query time budget (s)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = p.parse_args(argv)
    fig = load_test(
        a.data_dir,
        clients=a.clients,
        duration=a.duration,
        runaway_every=a.runaway_every,
        budget=a.budget,
        workers=a.workers,
    )
    print(report(fig))
    if a.json:
        a.json.write_text(json.dumps(asdict(fig), indent=1), encoding="utf-8")
    return 0 if fig.lookup_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
