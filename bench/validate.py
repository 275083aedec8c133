"""Map + validate benchmark: the pipeline's map_validate against the naive way, same notices.

Ours is `gongkai.pipeline.map_validate` with its worker processes (the compiled SHACL engine
by default, `--engine pyshacl` for the reference engine). The naive way maps the same items
and validates them as one rdflib graph with one `pyshacl.validate` call. Each runs in its own
process, whose whole process tree is sampled for resident memory. Prints notices/s (wall),
CPU per notice, peak memory, the ratio, and whether both found exactly the same violations:
the multiset of (focus node, source shape, constraint component, severity) of every result,
warnings included, not just the quarantined notices. Results go to bench/results/.

    python -m bench.validate --notices 100000          # the issue's size
    python -m bench.validate --notices 1000000 --skip-naive   # peak memory at 1M

The recorder that collects our results for the comparison runs inside the timed run (it
costs ours a little, and is off with --skip-naive); the naive side reads them from its
report after the timed call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from gongkai.config import DataDir
from harvesters.registry import load_sources
from harvesters.sandbox.generate import harvested_item, make_notice

RUN = "20260101T000000Z"
Result = tuple[str, str, str, str]  # focus node, source shape, component, severity (full IRIs)


def write_items(data: DataDir, notices: int, seed: int = 2014) -> int:
    """Items as a faithful harvester would write them, for every source."""
    sources = load_sources()
    per_source = max(1, notices // len(sources))
    total = 0
    for source in sources:
        path = data.items(RUN, source.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for n in range(per_source):
                nt = make_notice(seed, source, n, per_source)
                url = f"https://{source.domains[0]}{source.live_path}{nt.month_dir}/{nt.filename}"
                item = harvested_item(nt, url, "2026-11-26T10:00:00+08:00")
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
                total += 1
    return total


def _tree_rss(root: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict:
    """Run a command; its wall and CPU seconds (whole tree), peak tree RSS and stdout."""
    cpu = _children_cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    out, _ = proc.communicate()
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    if proc.returncode:
        raise SystemExit(f"{cmd[3:]} failed with status {proc.returncode}")
    return {"wall_s": elapsed, "cpu_s": _children_cpu() - cpu, "peak": peak, "out": out}


# -- ours: the pipeline's own stage -------------------------------------------------------------
_PREFIXED = re.compile(r"^([a-z]+):(.*)$")


def _expand(term: str) -> str:
    from shapes.validate import _PREFIXES

    if term.startswith("<"):
        return term[1:-1]
    m = _PREFIXED.match(term)
    return _PREFIXES[m.group(1)] + m.group(2) if m and m.group(1) in _PREFIXES else term


_FIELD = {
    name: re.compile(rf"sh:{name} (.+?)(?: ;)?\n")
    for name in ("focusNode", "resultSeverity", "sourceConstraintComponent", "sourceShape")
}


def _results_of(ttl: str) -> list[Result]:
    """(focus, shape, component, severity) of each result of one notice's Turtle report."""
    out = []
    for block in ttl.split("[ a sh:ValidationResult")[1:]:
        f, sev, comp, shape = (_FIELD[k].search(block).group(1) for k in _FIELD)  # type: ignore[union-attr]
        out.append((_expand(f), _expand(shape), _expand(comp), _expand(sev)))
    return out


def ours(root: str, record: bool) -> None:
    """Child process: the pipeline's map_validate; prints the quarantined IRIs and, with
    `record`, every result (collected by a wrapper in the workers, inside the timed run)."""
    import shapes.validate as V
    from gongkai.pipeline import map_validate

    validate_batch = V.validate_batch

    def recording(ntriples: str, **kwargs):  # runs in the pipeline's workers (forked)
        verdicts = validate_batch(ntriples, **kwargs)
        with open(Path(root) / f"results-{os.getpid()}.jsonl", "a", encoding="utf-8") as out:
            for v in verdicts.values():
                if v.warnings or v.violations:
                    out.write(json.dumps(_results_of(v.ttl)) + "\n")
        return verdicts

    if record:
        V.validate_batch = recording
    data = DataDir(Path(root))
    sources = load_sources()
    map_validate(data, RUN, sources)
    bad = []
    for s in sources:
        path = data.quarantined(s.id)
        bad += [json.loads(line)["iri"] for line in path.read_text().splitlines() if line]
    results: list[Result] = []
    for path in Path(root).glob("results-*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            results += [tuple(r) for r in json.loads(line)]
        path.unlink()
    print(json.dumps({"quarantined": sorted(bad), "results": sorted(results)}))


def naive(root: str) -> None:
    """Child process: one rdflib graph, one pySHACL call, as a first attempt would do it."""
    import pyshacl
    from rdflib import Graph
    from rdflib.namespace import SH

    from ontology.classify import classify
    from ontology.mapping import item_to_ntriples
    from ontology.resolve import PublisherResolver
    from shapes.validate import _support, load_shapes

    data = DataDir(Path(root))
    resolver = PublisherResolver.load()
    graph = Graph()
    for source in load_sources():
        chunk = []
        for line in data.items(RUN, source.id).read_text(encoding="utf-8").splitlines():
            chunk.append(
                item_to_ntriples(
                    json.loads(line), RUN, resolver, source, classify=classify
                ).ntriples
            )
        graph.parse(data="".join(chunk), format="nt")
    for triple in _support()[1]:
        graph.add(triple)
    _, report, _ = pyshacl.validate(
        graph, shacl_graph=load_shapes(), inference="none", advanced=True, allow_warnings=True
    )
    bad = set()
    results: list[Result] = []
    for result in report.objects(None, SH.result):
        fields = [report.value(result, p) for p in (SH.focusNode, SH.sourceShape)]
        fields += [report.value(result, p) for p in (SH.sourceConstraintComponent,)]
        severity = report.value(result, SH.resultSeverity)
        results.append((*(str(f) for f in fields), str(severity)))  # type: ignore[arg-type]
        if severity == SH.Violation:
            bad.add(str(fields[0]).split("#", 1)[0])
    print(json.dumps({"quarantined": sorted(bad), "results": sorted(results)}))


def _digest(results: list) -> str:
    return hashlib.sha256(json.dumps(results).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.validate")
    p.add_argument("--notices", type=int, default=10_000)
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--repeat", type=int, default=1, help="runs of ours (median reported)")
    p.add_argument("--engine", choices=["compiled", "pyshacl"], default="compiled")
    p.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child == "ours":
        ours(a.root, a.record)
        return 0
    if a.child == "naive":
        naive(a.root)
        return 0
    started = time.strftime("%Y%m%dT%H%M%S")
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        n = write_items(DataDir(Path(tmp) / "items"), a.notices)
        me = [sys.executable, "-m", "bench.validate", "--child"]
        env = os.environ | {"GONGKAI_SHACL_ENGINE": a.engine}
        runs = []
        for i in range(a.repeat):  # a fresh data directory each time: nothing to reuse
            root = Path(tmp) / f"ours-{i}"
            (root / "runs" / RUN).mkdir(parents=True)
            os.symlink(Path(tmp) / "items" / "runs" / RUN / "items", root / "runs" / RUN / "items")
            record = [] if a.skip_naive else ["--record"]  # results only to compare
            runs.append(run_measured(me + ["ours", "--root", str(root), *record], env))
        t_ours = statistics.median(r["wall_s"] for r in runs)
        cpu_ours = statistics.median(r["cpu_s"] for r in runs)
        m_ours = max(r["peak"] for r in runs)
        got = json.loads(runs[0]["out"])
        print(f"notices: {n}   engine: {a.engine}   load: {load_start[0]:.1f}")
        recorded = "" if a.skip_naive else f", {len(got['results'])} results"
        print(
            f"ours:  {n / t_ours:8.0f} notices/s  ({t_ours:.1f} s wall, "
            f"{cpu_ours / n * 1e3:.3f} ms CPU/notice, peak {m_ours / 2**20:.0f} MiB, "
            f"{len(got['quarantined'])} quarantined{recorded})"
        )
        result = {
            "started": started,
            "notices": n,
            "engine": a.engine,
            "cpus": os.cpu_count(),
            "loadavg_start": [round(x, 2) for x in load_start],
            "ours_s": t_ours,
            "ours_runs_s": [r["wall_s"] for r in runs],
            "ours_cpu_s": cpu_ours,
            "ours_peak_bytes": m_ours,
            "ours_notices_per_s": n / t_ours,
            "ours_quarantined": len(got["quarantined"]),
            "ours_results": len(got["results"]),
            "ours_results_digest": _digest(got["results"]),
        }
        if not a.skip_naive:
            root = Path(tmp) / "items"
            naive_run = run_measured(me + ["naive", "--root", str(root)])
            t_naive = naive_run["wall_s"]
            want = json.loads(naive_run["out"])
            same_quarantine = want["quarantined"] == got["quarantined"]
            same_results = Counter(map(tuple, want["results"])) == Counter(
                map(tuple, got["results"])
            )
            print(
                f"naive: {n / t_naive:8.0f} notices/s  ({t_naive:.1f} s wall, "
                f"{naive_run['cpu_s'] / n * 1e3:.3f} ms CPU/notice, peak "
                f"{naive_run['peak'] / 2**20:.0f} MiB, {len(want['quarantined'])} with "
                f"violations, {len(want['results'])} results)"
            )
            print(
                f"ratio: {t_naive / t_ours:.2f}x throughput (wall), "
                f"{naive_run['cpu_s'] / cpu_ours:.2f}x CPU; same quarantine: {same_quarantine}; "
                f"same results (focus, shape, component, severity): {same_results}"
            )
            result |= {
                "naive_s": t_naive,
                "naive_cpu_s": naive_run["cpu_s"],
                "naive_peak_bytes": naive_run["peak"],
                "naive_notices_per_s": n / t_naive,
                "naive_quarantined": len(want["quarantined"]),
                "naive_results": len(want["results"]),
                "naive_results_digest": _digest(want["results"]),
                "ratio_wall": t_naive / t_ours,
                "ratio_cpu": naive_run["cpu_s"] / cpu_ours,
                "same_quarantine": same_quarantine,
                "same_results": same_results,
                "identical": same_quarantine and same_results,
            }
        result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        print(f"load average: {load_start[0]:.1f} at start, {result['loadavg_end'][0]:.1f} at end")
        out_dir = Path(__file__).with_name("results")
        out_dir.mkdir(exist_ok=True)
        (out_dir / f"validate-{started}-{n}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
