"""Did a benchmark's daily runs find exactly the withdrawals the sandbox made?

`python -m bench withdrawals --data-dir D --notices N --epoch E` compares, per source, the
documents the harvest state marks withdrawn with the sandbox's ground truth for epoch E under
the daily churn (`harvesters.sandbox.faults.DAILY`, as `python -m bench daily` serves it):
a daily run that reads only part of each list (harvesters/listwalk.py) must still find them all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harvesters.registry import load_sources
from harvesters.sandbox.faults import DAILY
from harvesters.sandbox.server import Sandbox, SandboxConfig
from harvesters.state import SourceState


def compare(
    data_root: Path, notices: int, epoch: int
) -> tuple[int, dict[str, dict[str, list[str]]]]:
    """The withdrawals the sandbox made, and source id → {"missed": […], "extra": […]} for
    every source whose state differs."""
    sources = load_sources()
    per_source = max(1, round(notices / len(sources)))
    total, wrong = 0, {}
    for source in sources:
        sandbox = Sandbox(SandboxConfig((source,), per_source, 2014, None, None, epoch, DAILY))
        truth = {
            r["doc_id"] for r in sandbox.truth_records("http://x") if r["expect"] == "withdrawn"
        }
        state = SourceState.open(data_root / "state", source.id)
        try:
            found = {d.doc_id for d in state.docs.values() if d.status == "withdrawn"}
        finally:
            state.close(commit=False)
        if found != truth:
            wrong[source.id] = {"missed": sorted(truth - found), "extra": sorted(found - truth)}
        total += len(truth)
    return total, wrong


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench withdrawals", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True, help="a --keep data directory")
    p.add_argument("--notices", type=int, required=True, help="its first run's --notices")
    p.add_argument("--epoch", type=int, required=True, help="the last daily run's epoch")
    a = p.parse_args(argv)
    total, wrong = compare(a.data_dir, a.notices, a.epoch)
    for sid, diff in sorted(wrong.items()):
        print(f"{sid}: missed {diff['missed'][:10]}, extra {diff['extra'][:10]}")
    print(f"withdrawn by the sandbox: {total}; sources that differ: {len(wrong)}")
    return 1 if wrong else 0
