"""Shared by the reliability tests (a plain module: conftest is not importable)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("yuzhong", "czj")
PER_SOURCE = 6
CLEAN_PER_SOURCE = 4  # the shared clean run (conftest.clean_run)
BASE = "https://gongkai.example.org/"
NOTICE = BASE + "def/gongkai#Notice"
# Triples that legitimately differ between two runs of the same data: which run made them.
VOLATILE = (
    "http://www.w3.org/ns/prov#wasGeneratedBy",
    "http://www.w3.org/ns/prov#generatedAtTime",
    "http://purl.org/dc/terms/modified",  # when a run saw the change: a run timestamp
)
SKIP_GRAPHS = (BASE + "graph/provenance",)
_PORT = re.compile(r"http://127\.0\.0\.1:\d+/")
_BNODE = re.compile(r"^_:\S+$")


def run_cmd(
    data: Path, *, per_source: int = PER_SOURCE, seed: int = 2014, extra: tuple[str, ...] = ()
) -> list[str]:
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--no-serve", "--data-dir", str(data)]
    cmd += ["--per-source", str(per_source), "--seed", str(seed), *extra]
    for sid in SOURCES:
        cmd += ["--only", sid]
    return cmd


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e.pop("GONGKAI_KILL_AT", None)
    e["PYTHONPATH"] = str(REPO)
    e.update(extra)
    return e


def run_pipeline(
    data: Path,
    *,
    per_source: int = PER_SOURCE,
    seed: int = 2014,
    timeout: float = 180,
    **envs: str,
) -> subprocess.CompletedProcess:
    """Run `gongkai run --no-serve`; output goes through files, not pipes, so a helper process
    that outlives a killed run cannot hang the test (orphans are checked separately)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            run_cmd(data, per_source=per_source, seed=seed),
            stdout=out,
            stderr=err,
            timeout=timeout,
            env=env(**envs),
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())


def descendants(pid: int) -> list[int]:
    """Every live process whose ancestry (through /proc) reaches `pid`, or re-parented ones
    that still name our data dir are found by `processes_using`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def processes_using(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (e.g. a tmp data dir path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def wait_gone(marker: str, timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = processes_using(marker)
        if not left:
            return []
        time.sleep(0.1)
    return processes_using(marker)


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def published(data: Path) -> tuple[Counter, Counter]:
    """The served generation's quads as a multiset, normalised (sandbox port, blank node labels,
    run-specific triples and the provenance graph left out), and the notices per graph."""
    import pyoxigraph as ox

    from endpoint.store import current_generation
    from gongkai.config import DataDir

    gen = current_generation(DataDir(data))
    if gen is None:
        return Counter(), Counter()
    store = ox.Store.read_only(str(gen))
    try:
        quads: Counter = Counter()
        notices: Counter = Counter()
        for q in store.quads_for_pattern(None, None, None, None):
            g = q.graph_name.value if isinstance(q.graph_name, ox.NamedNode) else ""
            if g in SKIP_GRAPHS or q.predicate.value in VOLATILE:
                continue
            s, o = (
                _BNODE.sub("_:", _PORT.sub("http://sandbox/", str(t)))
                for t in (q.subject, q.object)
            )
            quads[(g, s, q.predicate.value, o)] += 1
            if q.predicate.value.endswith("#type") and q.object.value == NOTICE:
                notices[g] += 1
        return quads, notices
    finally:
        del store
