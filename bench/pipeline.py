"""End-to-end benchmark: the sandbox at N notices through every stage, with its anchors.

    python -m bench --notices 10000                  # `make bench`
    python -m bench --notices 100000 --skip-naive
    python -m bench --notices 200 --skip-naive --skip-scrapy-bench   # the smoke test

Runs harvest → map+validate → publish in this process (the same stage functions `gongkai run`
calls), from an empty data directory, then queries the published store, then the anchors
measured in the same run on the same machine:

- `scrapy bench` (Scrapy's own spider against its own local server: pages/s),
- naive pySHACL: one rdflib graph of min(N, 100k) published notices, one `pyshacl.validate`,
  against our batched `validate_batch` on the same notices in one process,
- raw pyoxigraph `bulk_load` of the same N-Triples files into an empty store.

Every figure has its wall time and its CPU time (this process and every child: on a shared
2-core machine wall time depends on the neighbours; CPU time much less). Peak memory is the
sampled RSS of the whole process tree. Results: `bench/results/{timestamp}-{N}.json` and a PNG
chart beside it (bench/chart.py).
"""

from __future__ import annotations

import contextlib
import inspect
import io
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
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gongkai.reference
from gongkai import pipeline
from gongkai.config import DataDir
from harvesters.registry import load_sources

RESULTS = Path(__file__).resolve().parent / "results"
NAIVE_MAX = 100_000
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK = os.sysconf("SC_CLK_TCK")

# Goals of the issue on this 2-core machine.
GOALS = {
    "full_1m_s": 3600,
    "full_100k_s": 360,
    "peak_rss_bytes": 4 * 1024**3,
    "incremental_1m_s": 300,
    "publish_vs_bulk_load": 0.8,
}


# -- process-tree sampling -----------------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        kids.setdefault(ppid, []).append(int(entry.name))
    return kids


def _tree(root: int) -> list[int]:
    kids = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, ()))
    return out


def _proc(pid: int) -> tuple[int, float, str] | None:
    """(rss bytes, cpu seconds, short name) of one process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK
    rss = int(fields[21]) * PAGE
    name = "python"
    for i, part in enumerate(cmd):
        if part == b"-m" and i + 1 < len(cmd):
            name = cmd[i + 1].decode(errors="replace")
            break
        if part.endswith((b"scrapy", b"multiprocessing.spawn", b"-c")):
            name = part.decode(errors="replace").rsplit("/", 1)[-1]
    return rss, cpu, name


class TreeSampler(threading.Thread):
    """Samples the RSS of this process and all its descendants; the peak of the sum per phase,
    and the last CPU time seen per process name (crawl vs sandbox vs pool workers)."""

    def __init__(self, interval: float = 0.2):
        super().__init__(daemon=True)
        self.interval = interval
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self.cpu_by_pid: dict[int, tuple[str, str, float]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            total = 0
            for pid in _tree(me):
                info = _proc(pid)
                if info is None:
                    continue
                rss, cpu, name = info
                total += rss
                if pid != me:
                    self.cpu_by_pid[pid] = (self.phase, name, cpu)
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), total)
            self._halt.wait(self.interval)

    def cpu_by_name(self, phase: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for ph, name, cpu in self.cpu_by_pid.values():
            if ph == phase:
                out[name] = round(out.get(name, 0.0) + cpu, 2)
        return out

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _cpu() -> float:
    """CPU seconds of this process plus its reaped children."""
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


@dataclass
class Stage:
    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_rss_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = {
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_rss_bytes": self.peak_rss_bytes,
        }
        return d | self.extra


@contextmanager
def _timed(module: Any, name: str, into: dict[str, list[float]]) -> Iterator[None]:
    """Wrap `module.name` so its calls add their wall and CPU seconds (this process) to `into`."""
    real = getattr(module, name)

    def wrapper(*args: Any, **kw: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        try:
            return real(*args, **kw)
        finally:
            acc = into.setdefault(name, [0.0, 0.0])
            acc[0] += time.perf_counter() - w
            acc[1] += time.process_time() - c

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, real)


@contextmanager
def stage(sampler: TreeSampler, name: str, stages: dict[str, Stage]) -> Iterator[Stage]:
    sampler.phase = name
    st = Stage()
    w, c = time.perf_counter(), _cpu()
    try:
        yield st
    finally:
        st.wall_s = time.perf_counter() - w
        st.cpu_s = _cpu() - c
        time.sleep(sampler.interval * 1.5)  # one more sample under this phase's name
        st.peak_rss_bytes = sampler.peaks.get(name, 0)
        stages[name] = st
        print(f"  {name}: {st.wall_s:.1f} s wall, {st.cpu_s:.1f} s CPU", file=sys.stderr)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(data: DataDir, timeout: float = 300) -> Iterator[str]:
    """`gongkai serve` on a free loopback port, yielded once its SPARQL endpoint has answered
    a query over the published generation; stopped on exit."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "gongkai.cli", "serve", "--data-dir", str(data.root)]
    proc = subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    query = urllib.parse.urlencode({"query": "ASK { ?s ?p ?o }"})
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gongkai serve exited with status {proc.returncode}")
            try:
                req = urllib.request.Request(
                    f"{url}/sparql?{query}", headers={"Accept": "application/sparql-results+json"}
                )
                with urllib.request.urlopen(req, timeout=10) as answer:
                    if json.load(answer).get("boolean") is True:
                        break
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gongkai serve did not answer within {timeout} s")
            time.sleep(0.05)
        yield url
    finally:
        pipeline.stop_process(proc, timeout=30)


def _to_serving(serve: Stage, harvest: Stage, start: float) -> float:
    """Seconds from the run's start until the endpoint answered (the goals' finish line),
    less the sandbox's own start-up (it writes its truth file before it listens: ~36 s at
    1M): a live portal is up before the run starts. Its CPU while serving stays counted."""
    return round(serve.extra.pop("serving_at") - start - harvest.extra["sandbox_start_s"], 3)


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _du(path: Path, skip: tuple[str, ...] = ()) -> int:
    """Bytes under `path`, each inode once, without the top-level entries named in `skip`."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for p in path.rglob("*"):
        if p.relative_to(path).parts[0] in skip:
            continue
        if p.is_file():
            st = p.stat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def _count_lines(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        with p.open("rb") as f:
            n += sum(buf.count(b"\n") for buf in iter(lambda f=f: f.read(1 << 20), b""))
    return n


# -- queries -----------------------------------------------------------------------------------
def queries(data: DataDir, runs: int) -> dict[str, Any]:
    """Medians of `runs` runs of a few representative queries, direct pyoxigraph read-only."""
    from endpoint.store import open_read_only

    store = open_read_only(data)
    gk = "https://gongkai.example.org/def/gongkai#"
    try:
        from ontology.namespaces import GK

        gk = str(GK)
    except ImportError:  # pragma: no cover
        pass
    dct = "http://purl.org/dc/terms/"

    def rows(q: str, store=store) -> list:
        return list(store.query(q, use_default_graph_as_union=True))

    first = rows(f"SELECT ?n ?a WHERE {{ ?n a <{gk}Notice> ; <{dct}publisher> ?a }} LIMIT 1")
    notice, agency = first[0]["n"].value, first[0]["a"].value
    qs = {
        "count_per_graph": "SELECT ?g (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } } GROUP BY ?g",
        "agency_20_newest": (
            f"SELECT ?n ?d WHERE {{ ?n <{dct}publisher> <{agency}> ; <{dct}issued> ?d }} "
            "ORDER BY DESC(?d) LIMIT 20"
        ),
        "notice_properties": f"SELECT ?p ?o WHERE {{ <{notice}> ?p ?o }}",
    }
    out: dict[str, Any] = {"via": "pyoxigraph read-only, union default graph", "runs": runs}
    for name, q in qs.items():
        times, n = [], 0
        for _ in range(runs):
            t = time.perf_counter()
            n = len(rows(q))
            times.append(time.perf_counter() - t)
        out[name] = {
            "median_ms": round(statistics.median(times) * 1000, 3),
            "min_ms": round(min(times) * 1000, 3),
            "rows": n,
        }
    return out


# -- anchors -----------------------------------------------------------------------------------
def _child(code: str, *args: str, timeout: float | None = None) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints one JSON object as its last line."""
    w = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"anchor failed: {done.stderr.strip()[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out.setdefault("wall_s", round(time.perf_counter() - w, 3))
    return out


def scrapy_bench(seconds: int = 10) -> dict[str, Any]:
    """`scrapy bench`: Scrapy's own follow-links spider against its own local server."""
    scrapy = Path(sys.executable).with_name("scrapy")
    cmd = [str(scrapy) if scrapy.exists() else "scrapy", "bench"]
    cmd += ["-s", f"CLOSESPIDER_TIMEOUT={seconds}", "-s", "LOG_LEVEL=INFO"]
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tempfile.gettempdir())
    c2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    log = done.stdout + done.stderr
    pages = re.search(r"'response_received_count': (\d+)", log)
    elapsed = re.search(r"'elapsed_time_seconds': ([\d.]+)", log)
    if not (pages and elapsed):
        raise RuntimeError(f"scrapy bench gave no stats: {log[-1000:]}")
    n, secs = int(pages.group(1)), float(elapsed.group(1))
    return {
        "pages": n,
        "elapsed_s": secs,
        "pages_per_s": round(n / secs, 1),
        # spider and its server both count here (like our crawl + sandbox)
        "cpu_s_incl_server": round((c2.ru_utime + c2.ru_stime) - (c.ru_utime + c.ru_stime), 2),
    }


_NAIVE = r"""
import json, resource, sys, time
from pathlib import Path
from bench.pipeline import read_notices
limit = int(sys.argv[2]); mode = sys.argv[1]; files = [Path(p) for p in sys.argv[3:]]
chunks = read_notices(files, limit)
t, c = time.perf_counter(), time.process_time()
if mode == "naive":
    import pyshacl
    from rdflib import Graph
    from shapes.validate import _shapes, _support
    g = Graph()
    g.parse(data="".join(chunks), format="nt")
    for tr in _support()[1]:
        g.add(tr)
    conforms, report, _ = pyshacl.validate(g, shacl_graph=_shapes(), inference="none",
        advanced=True, allow_warnings=True, inplace=True)
    from rdflib.namespace import SH
    results = len(set(report.objects(None, SH.result)))
else:
    from gongkai.pipeline import BATCH
    from shapes.validate import validate_batch
    results = 0
    for i in range(0, len(chunks), BATCH):
        v = validate_batch("".join(chunks[i:i + BATCH]))
        results += sum(1 for x in v.values() if not x.conforms or x.warnings)
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"notices": len(chunks), "wall_s": round(time.perf_counter() - t, 3),
    "cpu_s": round(time.process_time() - c, 3), "maxrss_bytes": ru.ru_maxrss * 1024,
    "results": results}))
"""

_BULK = r"""
import json, resource, sys, time, tempfile, shutil
from pyoxigraph import RdfFormat, Store
d = tempfile.mkdtemp(prefix="bench-bulk-", dir=sys.argv[2])
t, c = time.perf_counter(), time.process_time()
store = Store(d)
fmt = RdfFormat.N_QUADS if sys.argv[1].endswith(".nq") else RdfFormat.N_TRIPLES
store.bulk_load(path=sys.argv[1], format=fmt)
store.flush()
n = len(store)
del store
wall, cpu = time.perf_counter() - t, time.process_time() - c
shutil.rmtree(d, ignore_errors=True)
print(json.dumps({"triples": n, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
    "triples_per_s": round(n / wall), "maxrss_bytes":
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def read_notices(files: list[Path], limit: int) -> list[str]:
    """The published notices of `files`, one N-Triples chunk each (a notice's triples are
    written together; its classification nodes are `<notice#area-n>`)."""
    chunks: list[str] = []
    for path in files:
        current, lines = None, []
        with path.open(encoding="utf-8") as f:
            for line in f:
                subject = line[1 : line.index(">")].split("#", 1)[0]
                if subject != current and lines:
                    chunks.append("".join(lines))
                    lines = []
                    if len(chunks) >= limit:
                        return chunks
                current = subject
                lines.append(line)
        if lines:
            chunks.append("".join(lines))
            if len(chunks) >= limit:
                return chunks
    return chunks


def naive_validation(files: list[Path], limit: int) -> dict[str, Any]:
    ours = _child(_NAIVE, "batched", str(limit), *map(str, files))
    naive = _child(_NAIVE, "naive", str(limit), *map(str, files))
    return {
        "notices": naive["notices"],
        "naive": naive,
        "batched_one_process": ours,
        "cpu_ratio_naive_over_batched": round(naive["cpu_s"] / max(ours["cpu_s"], 1e-9), 2),
    }


_REPLAY = r"""
import json, resource, shutil, sys, tempfile, time
from pathlib import Path
from endpoint.store import publish, read_manifest
from gongkai.config import DataDir
graphs = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
d = Path(tempfile.mkdtemp(prefix="bench-replay-", dir=sys.argv[2]))
t, c = time.perf_counter(), time.process_time()
gen = publish(DataDir(d), graphs, run_id=sys.argv[3], checked=True)
wall, cpu = time.perf_counter() - t, time.process_time() - c
n = int(read_manifest(gen)["triples"])
shutil.rmtree(d, ignore_errors=True)
print(json.dumps({"triples": n, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
    "triples_per_s": round(n / wall), "maxrss_bytes":
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time (its own CPU and memory with it), and every wall time."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2] | {"walls_s": [r["wall_s"] for r in runs]}


def raw_bulk_load(
    graphs: dict[str, Path], tmp: Path, run_id: str = "bench", rounds: int = 3
) -> dict[str, Any]:
    """Raw `bulk_load` of every published N-Triples file into an empty store, from a file
    written first (not timed): into the default graph (the issue's anchor) and, as N-Quads,
    into their named graphs (`named_graphs`: what a publish has to write; a named-graph quad is
    written to six indexes, a default-graph triple to three); and this run's store write again
    (`publish_replay`: `endpoint.store.publish` of the same files into an empty data
    directory). The three take turns, `rounds` times, each in a fresh process, and each
    reports its median run: on this machine one load of the same files varies by up to 30 %
    from one minute to the next, so a ratio of single runs says little."""
    from endpoint.store import _NQuadsStream

    files = [(iri, p) for iri, p in graphs.items() if p.suffix == ".nt"]
    joined = {"default": tmp / "all.nt", "named": tmp / "all.nq"}
    listing = tmp / "graphs.json"
    runs: dict[str, list[dict[str, Any]]] = {"default": [], "named": [], "replay": []}
    try:
        with joined["named"].open("wb") as f:
            shutil.copyfileobj(io.BufferedReader(_NQuadsStream(files), 1 << 20), f, 1 << 20)
        with joined["default"].open("wb") as f:
            for _iri, path in files:
                with path.open("rb") as src:
                    shutil.copyfileobj(src, f, 1 << 20)
        listing.write_text(json.dumps({k: str(v) for k, v in graphs.items()}), encoding="utf-8")
        for _ in range(rounds):
            runs["default"].append(_child(_BULK, str(joined["default"]), str(tmp)))
            runs["named"].append(_child(_BULK, str(joined["named"]), str(tmp)))
            runs["replay"].append(_child(_REPLAY, str(listing), str(tmp), run_id))
    finally:
        for path in [*joined.values(), listing]:
            path.unlink(missing_ok=True)
    return _median_run(runs["default"]) | {
        "rounds": rounds,
        "named_graphs": _median_run(runs["named"]),
        "publish_replay": _median_run(runs["replay"]),
    }


# -- the run -----------------------------------------------------------------------------------
def _pages(data: DataDir, run_id: str, sources, items: int, per_source: int) -> tuple[int, str]:
    health = [data.health(run_id, s.id) for s in sources]
    if all(h.exists() for h in health):
        return sum(json.loads(h.read_text()).get("pages", 0) for h in health), "health"
    from harvesters.sandbox.render import page_count

    errors = sum(1 for s in sources for _ in pipeline.read_jsonl(data.errors(run_id, s.id)))
    return items + errors + len(sources) * page_count(per_source), "estimate"


def run_once(
    data: DataDir,
    sources,
    per_source: int,
    sampler: TreeSampler,
    stages: dict[str, Stage],
    prefix: str = "",
    full: bool = False,
    **sandbox_kw: Any,
) -> tuple[str, dict]:
    """One `gongkai run --no-serve`, stage by stage; returns the run id and the results."""
    run_id = pipeline.new_run_id()
    while data.run(run_id).exists():  # two runs in one second
        time.sleep(0.2)
        run_id = pipeline.new_run_id()
    with stage(sampler, prefix + "harvest", stages) as st:
        t = time.perf_counter()
        with pipeline.sandbox(data, per_source=per_source, **sandbox_kw) as sb:
            st.extra["sandbox_start_s"] = round(time.perf_counter() - t, 3)
            st.extra["served"] = sb.served
            pipeline.harvest(data, run_id, sources, sandbox_url=sb.url, full=full)
    items = sum(1 for s in sources for _ in pipeline.read_jsonl(data.items(run_id, s.id)))
    pages, how = _pages(data, run_id, sources, items, per_source)
    crawl_wall = st.wall_s - st.extra["sandbox_start_s"]
    st.extra |= {
        "items": items,
        "pages": pages,
        "pages_counted_from": how,
        "pages_per_s": round(pages / crawl_wall, 1),
        "cpu_ms_per_page": round(st.cpu_s * 1000 / max(pages, 1), 3),
        "cpu_by_process": sampler.cpu_by_name(prefix + "harvest"),
    }
    if hasattr(pipeline, "extract_attachments"):  # attachment text: a stage of its own
        with stage(sampler, prefix + "attachments", stages) as st:
            counts = pipeline.extract_attachments(data, run_id, sources)
        st.extra["attachments"] = sum(sum(c.values()) for c in counts.values())
    with stage(sampler, prefix + "map_validate", stages) as st:
        results = pipeline.map_validate(data, run_id, sources)
    n = sum(r.items for r in results.values())
    st.extra |= {
        "notices": n,
        "published": sum(r.published for r in results.values()),
        "quarantined": sum(r.quarantined for r in results.values()),
        "notices_per_s": round(n / st.wall_s, 1),
        "cpu_ms_per_notice": round(st.cpu_s * 1000 / max(n, 1), 3),
        "reused": sum(getattr(r, "reused", 0) for r in results.values()),
    }
    import endpoint.store as store_mod

    real_publish = store_mod.publish
    timing: dict[str, Any] = {}

    def timed_publish(data_, graphs, **kw):
        timing["graphs"] = dict(graphs)
        t, c = time.perf_counter(), time.process_time()
        gen = real_publish(data_, graphs, **kw)
        timing["wall_s"], timing["cpu_s"] = time.perf_counter() - t, time.process_time() - c
        return gen

    store_mod.publish = timed_publish
    parts: dict[str, list[float]] = {}
    try:
        with (
            stage(sampler, prefix + "publish", stages) as st,
            _timed(gongkai.reference, "write_static_graphs", parts),
            _timed(pipeline, "completeness_graph", parts),
            _timed(pipeline, "annual_reports_graph", parts),
        ):
            gen = pipeline.publish(data, run_id, results, sources)
    finally:
        store_mod.publish = real_publish
    from endpoint.store import read_manifest

    manifest = read_manifest(gen)
    triples = int(manifest.get("triples", 0))
    st.extra["parts"] = {
        k: {"wall_s": round(w, 3), "cpu_s": round(c, 3)} for k, (w, c) in parts.items()
    }
    st.extra["built"] = {
        k: manifest[k] for k in ("built", "removed", "added", "replaced_whole") if k in manifest
    }
    st.extra |= {
        "generation": gen.name,
        "triples": triples,
        "triples_per_s": round(triples / st.wall_s),
        "store_write_wall_s": round(timing["wall_s"], 3),
        "store_write_cpu_s": round(timing["cpu_s"], 3),
        "store_triples_per_s": round(triples / timing["wall_s"]),
        "store_bytes": _du(gen, skip=("inputs",)),
    }
    st.extra["_graphs"] = {k: str(v) for k, v in timing["graphs"].items()}
    # What `gongkai run` does after publishing: serve (the endpoint answers a query), and
    # meanwhile write the dumps and the search index (each switches in atomically when done).
    with contextlib.ExitStack() as server:
        with stage(sampler, prefix + "serve", stages) as st:
            st.extra["url"] = server.enter_context(serving(data))
        st.extra["serving_at"] = time.perf_counter()
        if hasattr(pipeline, "dump"):
            with stage(sampler, prefix + "dumps", stages):
                pipeline.dump(data)
        try:
            from endpoint.search import build_index
        except ImportError:
            build_index = None
        if build_index is not None:
            with stage(sampler, prefix + "search_index", stages):
                build_index(data, run_id)
    report = pipeline.account(data, run_id, results)
    return run_id, report


def run(
    notices: int = 10_000,
    *,
    work_dir: Path | None = None,
    keep: bool = False,
    skip_naive: bool = False,
    skip_scrapy_bench: bool = False,
    skip_bulk_load: bool = False,
    bulk_load_rounds: int = 3,
    skip_incremental: bool = False,
    query_runs: int = 5,
    out_dir: Path = RESULTS,
    chart: bool = True,
    churn: Any = None,
) -> tuple[dict[str, Any], Path]:
    sources = load_sources()
    per_source = max(1, round(notices / len(sources)))
    root = Path(tempfile.mkdtemp(prefix=f"bench-{notices}-", dir=work_dir))
    data = DataDir(root / "data")
    data.root.mkdir(parents=True)
    started = datetime.now(UTC)
    print(
        f"bench: {len(sources)} sources × {per_source} = {len(sources) * per_source} notices "
        f"in {data.root}",
        file=sys.stderr,
    )
    sampler = TreeSampler()
    sampler.start()
    stages: dict[str, Stage] = {}
    result: dict[str, Any] = {
        "notices": len(sources) * per_source,
        "per_source": per_source,
        "sources": len(sources),
        "started": started.isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "mem_bytes": os.sysconf("SC_PHYS_PAGES") * PAGE,
            "python": sys.version.split()[0],
            "loadavg_start": _loadavg(),
        },
        "command": "python -m bench " + " ".join(sys.argv[1:]),
    }
    # One loopback port for both runs: the notices keep their URLs, as on a live portal (the
    # harvest state would otherwise move every carried item to a new address).
    port = _free_port()
    try:
        w = time.perf_counter()
        run_id, report = run_once(data, sources, per_source, sampler, stages, port=port)
        end_to_end = time.perf_counter() - w
        result["to_serving_s"] = _to_serving(stages["serve"], stages["harvest"], w)
        result["end_to_end_s"] = round(end_to_end, 3)
        result["end_to_end_cpu_s"] = round(sum(s.cpu_s for s in stages.values()), 3)
        result["stage_order"] = list(stages)
        result["totals"] = report["totals"]
        graphs = {k: Path(v) for k, v in stages["publish"].extra.pop("_graphs").items()}

        sampler.phase = "queries"
        result["queries"] = queries(data, query_runs)
        anchors: dict[str, Any] = {}
        if not skip_scrapy_bench:
            print("· anchor: scrapy bench", file=sys.stderr)
            anchors["scrapy_bench"] = scrapy_bench()
        if not skip_naive:
            limit = min(result["notices"], NAIVE_MAX)
            print(f"· anchor: naive pySHACL at {limit}", file=sys.stderr)
            nt = [
                p
                for p in graphs.values()
                if p.suffix == ".nt" and p.parent.name == "graphs" and not p.name.startswith("_")
            ]
            anchors["naive_shacl"] = naive_validation(nt, limit)
        if not skip_bulk_load:
            print("· anchor: raw bulk_load", file=sys.stderr)
            anchors["bulk_load"] = raw_bulk_load(graphs, root, run_id, bulk_load_rounds)
        result["anchors"] = anchors

        if not skip_incremental:
            result["settle"] = settle(data, sources, per_source, sampler, report, port)
            result["incremental"] = incremental(
                data, sources, per_source, sampler, stages, churn, port=port
            )
        result["stages"] = {k: v.as_dict() for k, v in stages.items()}
        result["peak_rss_bytes"] = max(sampler.peaks.get(k, 0) for k in stages)
        result["ratios"] = ratios(result)
        result["goals"] = goals(result)
    finally:
        sampler.stop()
        result["machine"]["loadavg_end"] = _loadavg()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            result["data_dir"] = str(data.root)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"{stamp}-{result['notices']}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if chart:
        from bench.chart import render

        render(result, path.with_suffix(".png"))
    return result, path


def incremental(
    data: DataDir,
    sources,
    per_source: int,
    sampler,
    stages,
    churn: Any = None,
    port: int = 0,
    epoch: int = 2,
    with_baseline: bool = True,
) -> dict[str, Any]:
    """The daily run: a second run over the same data directory with the sandbox one day later
    (`churn`, by default harvesters.sandbox.faults.DAILY: 1 % new notices at the top of the
    lists dated that day, 0.1 % edited, 0.02 % withdrawn), stage by stage."""
    params = inspect.signature(pipeline.sandbox).parameters
    if "churn" not in params:
        return {"measured": False, "why": "pipeline.sandbox has no churn (a daily run) yet"}
    from harvesters.sandbox.faults import DAILY

    churn = churn or DAILY
    w = time.perf_counter()
    run_id, report = run_once(
        data, sources, per_source, sampler, stages, "incr_", epoch=epoch, churn=churn, port=port
    )
    wall = time.perf_counter() - w
    to_serving = _to_serving(stages["incr_serve"], stages["incr_harvest"], w)
    names = [k for k in stages if k.startswith("incr_")]
    baseline = daily_baseline(data, run_id, sources, sampler, stages) if with_baseline else None
    health = [json.loads(p.read_text()) for p in (data.run(run_id) / "health").glob("*.json")]
    changes = {k: sum(h.get(k, 0) or 0 for h in health) for k in ("new", "changed", "withdrawn")}
    n = len(sources) * per_source
    cpu = sum(stages[k].cpu_s for k in names)
    return {
        "measured": True,
        "epoch": epoch,
        "loadavg_end": _loadavg(),
        "churn": {"new": churn.new, "edited": churn.edited, "withdrawn": churn.withdrawn},
        "to_serving_s": to_serving,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "stages": {k.removeprefix("incr_"): stages[k].as_dict() for k in names},
        "served": report["totals"].get("served"),
        "harvested": changes,
        "items": stages["incr_harvest"].extra["items"],
        "pages": stages["incr_harvest"].extra["pages"],
        "reused": stages["incr_map_validate"].extra.get("reused"),
        "before": baseline,
        # Every stage of a daily run reads or writes something of every notice (the carried-over
        # items, the graph files, the dumps), and 1 % of N is new: linear in N is the estimate.
        "extrapolated_1m_s": round(wall * 1_000_000 / n),
        "extrapolated_1m_to_serving_s": round(to_serving * 1_000_000 / n),
        "extrapolated_1m_cpu_s": round(cpu * 1_000_000 / n),
        "goal_1m_s": GOALS["incremental_1m_s"],
    }


def daily(
    data_root: Path,
    notices: int,
    epoch: int,
    churn: Any = None,
    out_dir: Path = RESULTS,
    baseline: bool = True,
) -> tuple[dict[str, Any], Path]:
    """One more day over a kept data directory (`python -m bench --keep`'s): the sandbox at
    `epoch` (one more than the last run's), on the port its notices' URLs name."""
    from urllib.parse import urlsplit

    data = DataDir(Path(data_root))
    sources = load_sources()
    per_source = max(1, round(notices / len(sources)))
    last = sorted(p for p in data.runs.glob("*T*Z") if (p / "items").is_dir())[-1]
    first_item = next(pipeline.read_jsonl(next(iter(sorted((last / "items").glob("*.jsonl"))))))
    port = urlsplit(first_item["url"]).port or 0
    sampler = TreeSampler()
    sampler.start()
    stages: dict[str, Stage] = {}
    started = datetime.now(UTC)
    load = _loadavg()
    try:
        result = incremental(
            data, sources, per_source, sampler, stages, churn, port, epoch, baseline
        )
    finally:
        sampler.stop()
    result |= {"data_dir": str(data.root), "notices": len(sources) * per_source}
    result["loadavg_start"] = load
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"daily-{started:%Y%m%dT%H%M%SZ}-{result['notices']}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return result, path


def settle(data: DataDir, sources, per_source: int, sampler, report, port: int) -> list:
    """Runs of the same day until no notice is left reported (on a loaded machine the
    sandbox's 2.5 s download timeout fails some pages): the daily run must start from a
    complete harvest, or it measures yesterday's failures instead of today's 1 %."""
    out = []
    while len(out) < 3 and (report["totals"].get("reported") or report["totals"]["unaccounted"]):
        scratch: dict[str, Stage] = {}
        w = time.perf_counter()
        prefix = f"settle{len(out) + 1}_"
        # a list page that failed hides its notices from an incremental walk: walk them all
        full = bool(report["totals"]["unaccounted"])
        _run_id, after = run_once(
            data, sources, per_source, sampler, scratch, prefix, full=full, port=port
        )
        out.append(
            {
                "full": full,
                "reported_before": report["totals"]["reported"],
                "unaccounted_before": report["totals"]["unaccounted"],
                "reported_after": after["totals"].get("reported"),
                "unaccounted_after": after["totals"]["unaccounted"],
                "wall_s": round(time.perf_counter() - w, 3),
            }
        )
        report = after
    return out


def daily_baseline(data: DataDir, run_id: str, sources, sampler, stages) -> dict[str, Any]:
    """The daily run's map+validate and publish again as they were before they went
    incremental, over the same harvest: every item mapped and validated, a fresh store
    generation. The anchor of the daily run's two stages, measured in the same session."""
    import endpoint.store as store_mod

    out: dict[str, Any] = {}
    with stage(sampler, "daily_before_map_validate", stages) as st:
        results = pipeline.map_validate(data, run_id, sources, reuse=False)
    out["map_validate"] = st.as_dict()
    share = store_mod.DELTA_MAX_SHARE
    store_mod.DELTA_MAX_SHARE = -1.0  # never the delta path
    try:
        with stage(sampler, "daily_before_publish", stages) as st:
            gen = pipeline.publish(data, run_id, results, sources)
    finally:
        store_mod.DELTA_MAX_SHARE = share
    out["publish"] = st.as_dict() | {"built": store_mod.read_manifest(gen).get("built")}
    for name in ("map_validate", "publish"):
        now = stages[f"incr_{name}"]
        out[name]["cpu_ratio_before_over_now"] = round(out[name]["cpu_s"] / max(now.cpu_s, 1e-9), 1)
    return out


def ratios(r: dict[str, Any]) -> dict[str, Any]:
    a, s = r.get("anchors", {}), r["stages"]
    out: dict[str, Any] = {}
    if "scrapy_bench" in a:
        out["harvest_pages_per_s_vs_scrapy_bench"] = round(
            s["harvest"]["pages_per_s"] / a["scrapy_bench"]["pages_per_s"], 3
        )
    if "naive_shacl" in a:
        nv = a["naive_shacl"]
        out["validate_cpu_naive_over_batched"] = nv["cpu_ratio_naive_over_batched"]
        out["validate_wall_naive_over_stage"] = round(
            nv["naive"]["wall_s"] / nv["notices"] / (s["map_validate"]["wall_s"] / r["notices"]),
            3,
        )
        out["validate_memory_naive_over_stage"] = round(
            nv["naive"]["maxrss_bytes"] / max(s["map_validate"]["peak_rss_bytes"], 1), 2
        )
    if "bulk_load" in a:
        bl = a["bulk_load"]["triples_per_s"]
        out["publish_store_vs_bulk_load"] = round(s["publish"]["store_triples_per_s"] / bl, 3)
        if "named_graphs" in a["bulk_load"]:
            named = a["bulk_load"]["named_graphs"]["triples_per_s"]
            out["publish_store_vs_bulk_load_named"] = round(
                s["publish"]["store_triples_per_s"] / named, 3
            )
        out["publish_stage_vs_bulk_load"] = round(s["publish"]["triples_per_s"] / bl, 3)
        if "publish_replay" in a["bulk_load"]:  # medians of runs taken in turn: the goal's figure
            replay = a["bulk_load"]["publish_replay"]["triples_per_s"]
            out["publish_replay_vs_bulk_load"] = round(replay / bl, 3)
            if "named_graphs" in a["bulk_load"]:
                out["publish_replay_vs_bulk_load_named"] = round(replay / named, 3)
    return out


def goals(r: dict[str, Any]) -> dict[str, Any]:
    n = r["notices"]
    out: dict[str, Any] = {"peak_rss_ok": r["peak_rss_bytes"] < GOALS["peak_rss_bytes"]}
    # Linear extrapolation of the measured end-to-end time (an estimate, labelled as such).
    # The goals' finish line is a serving endpoint; the dumps and the search index follow it.
    out["extrapolated_100k_s"] = round(r["to_serving_s"] * 100_000 / n)
    out["extrapolated_1m_s"] = round(r["to_serving_s"] * 1_000_000 / n)
    if n >= 100_000 * 0.99 and n <= 100_000 * 1.01:
        out["full_100k_ok"] = r["to_serving_s"] < GOALS["full_100k_s"]
    if n >= 1_000_000 * 0.99:
        out["full_1m_ok"] = r["to_serving_s"] < GOALS["full_1m_s"]
    ratios = r.get("ratios", {})
    for anchor in ("bulk_load", "bulk_load_named"):
        # the medians of runs taken in turn when measured, else the pipeline's one publish
        ratio = ratios.get(f"publish_replay_vs_{anchor}", ratios.get(f"publish_store_vs_{anchor}"))
        if ratio is not None:
            out[f"publish_vs_{anchor}_ok"] = ratio >= GOALS["publish_vs_bulk_load"]
    return out


def daily_lines(inc: dict[str, Any]) -> list[str]:
    """The daily run's figures, one line per stage, and its estimate at 1M."""
    lines: list[str] = []
    c, h = inc["churn"], inc["harvested"]
    lines.append(
        f"daily run (sandbox one day later: {c['new']:.2%} new, {c['edited']:.2%} edited, "
        f"{c['withdrawn']:.2%} withdrawn; harvested {h['new']} new, {h['changed']} changed, "
        f"{h['withdrawn']} withdrawn, {inc['pages']} pages): serving after "
        f"{inc['to_serving_s']:.1f} s, all stages {inc['wall_s']:.1f} s wall, "
        f"{inc['cpu_s']:.1f} s CPU; {inc['reused']} of {inc['items']} items reused"
    )
    for name, st in inc["stages"].items():
        extra = ""
        if name == "publish":
            built = st.get("built", {})
            extra = f"  {built}  parts {st.get('parts')}"
        lines.append(
            f"  daily {name + ':':14s}{st['wall_s']:8.1f} s  ({st['cpu_s']:.1f} s CPU){extra}"
        )
    for name, st in (inc.get("before") or {}).items():
        lines.append(
            f"  before (same harvest) {name}: {st['wall_s']:.1f} s wall, {st['cpu_s']:.1f} s "
            f"CPU = {st['cpu_ratio_before_over_now']}x the daily run's CPU"
        )
    lines.append(
        f"  daily run at 1M, linear estimate: serving after "
        f"{inc['extrapolated_1m_to_serving_s']} s, all stages {inc['extrapolated_1m_s']} s wall, "
        f"{inc['extrapolated_1m_cpu_s']} s CPU (goal {inc['goal_1m_s']} s)"
    )
    return lines


def summary(r: dict[str, Any]) -> str:
    s = r["stages"]
    h, m, p = s["harvest"], s["map_validate"], s["publish"]
    lines = [
        f"notices: {r['notices']} ({r['sources']} sources × {r['per_source']}), "
        f"serving after {r['to_serving_s']:.1f} s, "
        f"all stages {r['end_to_end_s']:.1f} s wall, {r['end_to_end_cpu_s']:.1f} s CPU, "
        f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB, load {r['machine']['loadavg_start']}",
        f"harvest:      {h['wall_s']:8.1f} s  {h['pages_per_s']:8.1f} pages/s  "
        f"{h['cpu_ms_per_page']:.2f} ms CPU/page  ({h['pages']} pages, CPU {h['cpu_by_process']})",
        f"map+validate: {m['wall_s']:8.1f} s  {m['notices_per_s']:8.1f} notices/s  "
        f"{m['cpu_ms_per_notice']:.2f} ms CPU/notice  "
        f"({m['published']} published, {m['quarantined']} quarantined)",
        f"publish:      {p['wall_s']:8.1f} s  {p['triples_per_s']:8d} triples/s  "
        f"(store write {p['store_write_wall_s']:.1f} s = {p['store_triples_per_s']} triples/s; "
        f"{p['triples']} triples, {p['store_bytes'] / 2**20:.0f} MiB on disk)",
    ]
    for name in r.get("stage_order", []):
        if name not in ("harvest", "map_validate", "publish"):
            st = s[name]
            lines.append(f"{name + ':':14s}{st['wall_s']:8.1f} s  ({st['cpu_s']:.1f} s CPU)")
    for name, q in r.get("queries", {}).items():
        if isinstance(q, dict):
            lines.append(f"query {name}: median {q['median_ms']:.1f} ms ({q['rows']} rows)")
    a = r.get("anchors", {})
    if "scrapy_bench" in a:
        lines.append(f"anchor scrapy bench: {a['scrapy_bench']['pages_per_s']} pages/s")
    if "naive_shacl" in a:
        nv = a["naive_shacl"]
        lines.append(
            f"anchor naive pySHACL ({nv['notices']} notices): {nv['naive']['wall_s']:.1f} s, "
            f"{nv['naive']['cpu_s']:.1f} s CPU, {nv['naive']['maxrss_bytes'] / 2**20:.0f} MiB; "
            f"batched in one process: {nv['batched_one_process']['cpu_s']:.1f} s CPU, "
            f"{nv['batched_one_process']['maxrss_bytes'] / 2**20:.0f} MiB"
        )
    if "bulk_load" in a:
        bl = a["bulk_load"]
        lines.append(
            f"anchor raw bulk_load: {bl['triples_per_s']} triples/s into the default graph, "
            f"{bl.get('named_graphs', {}).get('triples_per_s')} triples/s into named graphs"
        )
    for k, v in r.get("ratios", {}).items():
        lines.append(f"ratio {k}: {v}")
    inc = r.get("incremental")
    if inc and inc.get("measured"):
        lines += daily_lines(inc)
    elif inc:
        lines.append(f"incremental: {inc}")
    lines.append(f"goals: {r.get('goals')}")
    return "\n".join(lines)


def restage(data_root: Path, run_id: str | None = None) -> dict[str, Any]:
    """Map+validate and publish again over an existing harvest (`--keep`'s data directory, or
    any `gongkai run`'s): the stages after the crawl, for A/B runs of a fix, without the
    crawl's minutes. Publishes a new generation into that data directory."""
    data = DataDir(Path(data_root))
    if run_id is None:
        run_id = sorted(p.name for p in data.runs.glob("*T*Z") if (p / "items").is_dir())[-1]
    sources = [s for s in load_sources() if data.items(run_id, s.id).exists()]
    sampler = TreeSampler()
    sampler.start()
    stages: dict[str, Stage] = {}
    try:
        with stage(sampler, "map_validate", stages) as st:
            results = pipeline.map_validate(data, run_id, sources)
        n = sum(r.items for r in results.values())
        st.extra |= {
            "notices": n,
            "published": sum(r.published for r in results.values()),
            "quarantined": sum(r.quarantined for r in results.values()),
            "notices_per_s": round(n / st.wall_s, 1),
            "cpu_ms_per_notice": round(st.cpu_s * 1000 / max(n, 1), 3),
        }
        with stage(sampler, "publish", stages) as st:
            gen = pipeline.publish(data, run_id, results, sources)
        from endpoint.store import read_manifest

        triples = int(read_manifest(gen).get("triples", 0))
        st.extra |= {"triples": triples, "triples_per_s": round(triples / st.wall_s)}
    finally:
        sampler.stop()
    return {
        "data_dir": str(data.root),
        "run_id": run_id,
        "loadavg": _loadavg(),
        "stages": {k: v.as_dict() for k, v in stages.items()},
    }
