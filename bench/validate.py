"""Map + validate benchmark: our batched, multi-process validation against the naive way.

The naive way is one rdflib graph of every notice and one pySHACL call. Both run on the same
sandbox notices (generated directly, no crawl: this measures mapping and validation only),
each in its own process whose whole process tree is sampled for memory. Prints notices/s, peak
memory, the ratio, and whether both quarantined exactly the same notices.

    python -m bench.validate --notices 100000          # the issue's size
    python -m bench.validate --notices 10000 --skip-naive
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gongkai.config import DataDir
from harvesters.registry import load_sources
from harvesters.sandbox.generate import harvested_item, make_notice

RUN = "20260101T000000Z"


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


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Run a command; return wall seconds, peak tree RSS and its stdout."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
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
        raise SystemExit(f"{cmd[3:5]} failed with status {proc.returncode}")
    return elapsed, peak, out


def ours(root: str) -> None:
    """Child process: the pipeline's own map+validate; prints the quarantined IRIs as JSON."""
    from gongkai.pipeline import map_validate

    data = DataDir(Path(root))
    sources = load_sources()
    map_validate(data, RUN, sources)
    bad = []
    for s in sources:
        path = data.quarantined(s.id)
        bad += [json.loads(line)["iri"] for line in path.read_text().splitlines() if line]
    print(json.dumps(sorted(bad)))


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
    for result in report.subjects(SH.resultSeverity, SH.Violation):
        focus = str(report.value(result, SH.focusNode))
        bad.add(focus.split("#", 1)[0])
    print(json.dumps(sorted(bad)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.validate")
    p.add_argument("--notices", type=int, default=10_000)
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--repeat", type=int, default=1, help="runs of ours (median reported)")
    p.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        (ours if a.child == "ours" else naive)(a.root)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as root:
        n = write_items(DataDir(Path(root)), a.notices)
        me = [sys.executable, "-m", "bench.validate", "--root", root, "--child"]
        runs = [run_measured(me + ["ours"]) for _ in range(a.repeat)]
        t_ours = statistics.median(r[0] for r in runs)
        m_ours = max(r[1] for r in runs)
        bad_ours = json.loads(runs[0][2])
        print(f"notices: {n}")
        print(
            f"ours:  {n / t_ours:8.0f} notices/s  ({t_ours:.1f} s, peak {m_ours / 2**20:.0f} MiB, "
            f"{len(bad_ours)} quarantined)"
        )
        result = {"notices": n, "ours_s": t_ours, "ours_peak_bytes": m_ours}
        if not a.skip_naive:
            t_naive, m_naive, out = run_measured(me + ["naive"])
            bad_naive = json.loads(out)
            same = bad_naive == bad_ours
            print(
                f"naive: {n / t_naive:8.0f} notices/s  ({t_naive:.1f} s, peak "
                f"{m_naive / 2**20:.0f} MiB, {len(bad_naive)} with violations)"
            )
            print(f"ratio: {t_naive / t_ours:.1f}x throughput; identical verdicts: {same}")
            result |= {"naive_s": t_naive, "naive_peak_bytes": m_naive, "identical": same}
        out_dir = Path(__file__).with_name("results")
        out_dir.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        (out_dir / f"validate-{stamp}-{n}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
