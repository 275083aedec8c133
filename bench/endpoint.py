"""Endpoint benchmark: our SPARQL endpoint against Virtuoso (and Oxigraph server), side by side.

The same sandbox notices (generated directly from the sandbox's generator, mapped and validated
by the pipeline, no crawl) are published to our store generations, to a private Virtuoso and
to a private Oxigraph server, all on loopback. A load generator (httpx, asyncio, bounded in
requests and time) then drives each server in turn with the two lookups of the issue:

  agency   "an agency's notices by date": the 20 newest notices of one publisher
  notice   "one notice's page": every property of one notice

and prints p50/p99 latency, throughput and errors, and our ratio to Virtuoso. Results go to
bench/results/endpoint-{timestamp}.json.

    python -m bench.endpoint --notices 100000              # the issue's size (prepares once)
    python -m bench.endpoint --notices 5000 --duration 10  # a quick run
    python -m bench.endpoint --data-dir /tmp/b --skip-prepare --targets ours

Goals: lookups p50 < 30 ms and >= 100 requests/s sustained on 2 cores, no errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gongkai.config import DataDir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
RUN = "20260101T000000Z"
GK = "https://gongkai.example.org/"
SPARQL_JSON = "application/sparql-results+json"

AGENCY_QUERY = """PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX gk: <https://gongkai.example.org/def/gongkai#>
SELECT ?notice ?title ?issued WHERE {{
  ?notice dcterms:publisher <{agency}> ;
          a gk:Notice ;
          dcterms:issued ?issued ;
          dcterms:title ?title .
}} ORDER BY DESC(?issued) LIMIT 20"""

NOTICE_QUERY = "SELECT ?p ?o WHERE {{ <{notice}> ?p ?o }}"


# -- data ---------------------------------------------------------------------------------------
def prepare(data: DataDir, notices: int) -> dict[str, Path]:
    """Items → map + validate → one N-Triples file per source; published to our store."""
    from bench.validate import RUN as ITEMS_RUN
    from bench.validate import write_items
    from endpoint.store import publish
    from gongkai import pipeline
    from harvesters.registry import load_sources
    from ontology.namespaces import graph_iri

    assert ITEMS_RUN == RUN
    t = time.monotonic()
    total = write_items(data, notices)
    print(f"· {total:,} items written in {time.monotonic() - t:.0f} s", file=sys.stderr)
    t = time.monotonic()
    sources = load_sources()
    results = pipeline.map_validate(data, RUN, sources)
    print(f"· mapped and validated in {time.monotonic() - t:.0f} s", file=sys.stderr)
    graphs = {graph_iri(s.id): data.graph(RUN, s.id) for s in sources if results[s.id].published}
    t = time.monotonic()
    publish(data, graphs, run_id=RUN)
    print(f"· published to our store in {time.monotonic() - t:.0f} s", file=sys.stderr)
    (data.root / "bench-graphs.json").write_text(
        json.dumps({g: str(p) for g, p in graphs.items()}, indent=1)
    )
    return graphs


def load_graphs(data: DataDir) -> dict[str, Path]:
    return {
        g: Path(p) for g, p in json.loads((data.root / "bench-graphs.json").read_text()).items()
    }


def sample_keys(graphs: dict[str, Path], n: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """Agencies (publishers) and notices to look up, sampled from the published files."""
    agencies: set[str] = set()
    notices: list[str] = []
    publisher = "<http://purl.org/dc/terms/publisher>"
    typ = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://gongkai.example.org/def/gongkai#Notice>"
    for path in graphs.values():
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if f" {publisher} " in line:
                    agencies.add(line.split(f" {publisher} ", 1)[1].rsplit(" .", 1)[0].strip("<> "))
                elif typ in line:
                    notices.append(line.split(" ", 1)[0].strip("<>"))
    rng = random.Random(seed)
    return sorted(agencies), rng.sample(notices, min(n, len(notices)))


# -- servers ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_ours(data: DataDir, workers: int, cache: bool = True) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GONGKAI_LOG_LEVEL": "warning", "GONGKAI_QUERY_WORKERS": str(workers)}
    if not cache:  # the result cache off: every request evaluated by a worker
        env["GONGKAI_QUERY_CACHE_MB"] = "0"
    cmd = [sys.executable, "-m", "gongkai.cli", "serve", "--data-dir", str(data.root)]
    cmd += ["--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/sparql"
    wait_http(f"http://127.0.0.1:{port}/health", 120, proc)
    return proc, url


def start_oxigraph(work: Path, graphs: dict[str, Path]) -> tuple[subprocess.Popen, str]:
    """Oxigraph server over a store loaded with its own CLI (`oxigraph load`), union default."""
    exe = shutil.which("oxigraph", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if exe is None:
        raise RuntimeError("no `oxigraph` binary (pip install oxigraph)")
    loc = work / "oxigraph"
    if not loc.exists():
        t = time.monotonic()
        for graph, path in graphs.items():
            cmd = [exe, "load", "--location", str(loc), "--file", str(path), "--graph", graph]
            subprocess.run(cmd, check=True, capture_output=True)
        print(f"· loaded Oxigraph server in {time.monotonic() - t:.0f} s", file=sys.stderr)
    port = free_port()
    cmd = [exe, "serve", "--location", str(loc), "--bind", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd + ["--union-default-graph"], stdout=subprocess.DEVNULL)
    wait_http(f"http://127.0.0.1:{port}/", 60, proc)
    return proc, f"http://127.0.0.1:{port}/query"


def start_virtuoso(work: Path, graphs: dict[str, Path]) -> tuple[object, str]:
    """A private Virtuoso (tests/services/virtuoso.py), loaded through `gongkai publish --to`."""
    sys.path.insert(0, str(ROOT / "tests" / "services"))
    from virtuoso_server import VirtuosoServer

    from endpoint.remote import RemoteStore, publish_remote

    fresh = not (work / "virtuoso" / "virtuoso.db").exists()
    server = VirtuosoServer(work / "virtuoso", buffers=170_000)
    server.start()
    if fresh:
        t = time.monotonic()
        store = RemoteStore(server.url, "virtuoso", user="dba", password=server.password)
        publish_remote(store, graphs)
        server.checkpoint()
        print(f"· loaded Virtuoso in {time.monotonic() - t:.0f} s", file=sys.stderr)
    return server, server.url + "/sparql"


# -- load ---------------------------------------------------------------------------------------
@dataclass
class Figures:
    target: str
    lookup: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    mean_ms: float = 0.0
    rps: float = 0.0
    error_samples: list[str] = field(default_factory=list)


async def drive(
    url: str, queries: list[str], *, concurrency: int, max_requests: int, duration: float
) -> tuple[list[float], int, float, list[str]]:
    """Send queries (POST, form-encoded) from `concurrency` clients; bounded in count and time."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + duration

        async def one_client(k: int) -> None:
            nonlocal sent
            i = k
            while sent < max_requests and time.perf_counter() < deadline:
                sent += 1
                q = queries[i % len(queries)]
                i += concurrency
                t = time.perf_counter()
                try:
                    r = await client.post(url, data={"query": q}, headers={"Accept": SPARQL_JSON})
                    ok = r.status_code == 200 and b'"bindings"' in r.content
                    if not ok:
                        errors.append(f"{r.status_code}: {r.text[:120]}")
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(one_client(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, len(errors), elapsed, errors[:5]


def measure(target: str, url: str, lookup: str, queries: list[str], args) -> Figures:
    # Warm up (caches, workers' store handles), then measure.
    asyncio.run(
        drive(url, queries, concurrency=4, max_requests=min(200, len(queries)), duration=10)
    )
    lat, errors, elapsed, samples = asyncio.run(
        drive(
            url,
            queries,
            concurrency=args.concurrency,
            max_requests=args.requests,
            duration=args.duration,
        )
    )
    f = Figures(target, lookup, requests=len(lat) + errors, errors=errors, seconds=elapsed)
    f.error_samples = samples
    if lat:
        ms = sorted(x * 1000 for x in lat)
        f.p50_ms = round(statistics.median(ms), 2)
        f.p99_ms = round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2)
        f.mean_ms = round(statistics.fmean(ms), 2)
        f.rps = round(len(lat) / elapsed, 1)
    print(
        f"  {target:9} {lookup:7} p50 {f.p50_ms:8.2f} ms  p99 {f.p99_ms:8.2f} ms  "
        f"{f.rps:9.1f} req/s  {f.requests:6d} requests  {f.errors} errors",
        flush=True,
    )
    return f


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.endpoint", description=__doc__.split("\n")[0])
    p.add_argument("--notices", type=int, default=100_000)
    p.add_argument("--data-dir", type=Path, default=None, help="default: a temporary directory")
    p.add_argument("--skip-prepare", action="store_true", help="reuse --data-dir as it is")
    p.add_argument("--targets", default="ours,ours-nocache,virtuoso,oxigraph")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--requests", type=int, default=5000, help="per lookup and target, at most")
    p.add_argument("--duration", type=float, default=30.0, help="seconds per lookup, at most")
    p.add_argument("--workers", type=int, default=2, help="our query worker processes")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = p.parse_args(argv)

    tmp = None
    if args.data_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="gongkai-bench-"))
        args.data_dir = tmp
    data = DataDir(args.data_dir)
    work = data.root / "bench-servers"
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.skip_prepare:
            graphs = load_graphs(data)
        else:
            if (data.root / "bench-graphs.json").exists():
                shutil.rmtree(work)
                work.mkdir()
            graphs = prepare(data, args.notices)
        agencies, notices = sample_keys(graphs, 2000)
        manifest = json.loads(
            (
                data.store / (data.store / "CURRENT").read_text().strip() / "MANIFEST.json"
            ).read_text()
        )
        print(
            f"{len(notices):,} sampled notices, {len(agencies)} publishers, "
            f"{manifest['triples']:,} triples; {args.concurrency} clients, "
            f"≤{args.requests} requests or ≤{args.duration:g} s per lookup, {os.cpu_count()} CPUs",
            flush=True,
        )
        lookups = {
            "agency": [AGENCY_QUERY.format(agency=a) for a in agencies],
            "notice": [NOTICE_QUERY.format(notice=n) for n in notices],
        }
        figures: list[Figures] = []
        for target in [t.strip() for t in args.targets.split(",") if t.strip()]:
            try:
                if target in ("ours", "ours-nocache"):
                    proc, url = start_ours(data, args.workers, cache=target == "ours")
                    closer = lambda proc=proc: stop(proc)  # noqa: E731
                elif target == "oxigraph":
                    proc, url = start_oxigraph(work, graphs)
                    closer = lambda proc=proc: stop(proc)  # noqa: E731
                elif target == "virtuoso":
                    server, url = start_virtuoso(work, graphs)
                    closer = server.stop  # type: ignore[attr-defined]
                else:
                    raise RuntimeError(f"unknown target {target}")
            except Exception as exc:
                print(f"  {target}: not measured: {exc}", flush=True)
                continue
            try:
                for lookup, queries in lookups.items():
                    figures.append(measure(target, url, lookup, queries, args))
            finally:
                closer()
        summary = {}
        by = {(f.target, f.lookup): f for f in figures}
        for lookup in lookups:
            ours, virt = by.get(("ours", lookup)), by.get(("virtuoso", lookup))
            if ours and virt and virt.p50_ms and virt.rps:
                summary[lookup] = {
                    "p50_ratio_to_virtuoso": round(ours.p50_ms / virt.p50_ms, 2),
                    "throughput_ratio_to_virtuoso": round(ours.rps / virt.rps, 2),
                }
                print(
                    f"  ours/virtuoso {lookup}: p50 ×{summary[lookup]['p50_ratio_to_virtuoso']}, "
                    f"throughput ×{summary[lookup]['throughput_ratio_to_virtuoso']}"
                )
            if ours:
                goal = ours.p50_ms < 30 and ours.rps >= 100 and ours.errors == 0
                summary.setdefault(lookup, {})["ours_meets_goal"] = goal
                print(f"  goal (p50 < 30 ms, ≥ 100 req/s, no errors) for {lookup}: {goal}")
        RESULTS.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / f"endpoint-{stamp}.json"
        out.write_text(
            json.dumps(
                {
                    "when": stamp,
                    "notices": len(set(notices)) and args.notices,
                    "triples": manifest["triples"],
                    "cpus": os.cpu_count(),
                    "concurrency": args.concurrency,
                    "workers": args.workers,
                    "figures": [asdict(f) for f in figures],
                    "summary": summary,
                },
                ensure_ascii=False,
                indent=1,
            )
        )
        print(f"results in {out}")
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
