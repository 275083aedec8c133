"""A short run of bench/load.py: 10 clients for 10 s with a runaway every second.

Lookups keep answering without errors, every runaway is cut (503: over its budget, or refused
by the slow lane), none answers 200, none outlives its budget by much, and the server's
process tree stays bounded (its workers are replaced, never multiplied).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from rel_helpers import REPO, env

pytestmark = pytest.mark.slow

BUDGET = 2.0


def test_lookups_survive_a_stream_of_runaways(clean_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    cmd = [sys.executable, "-m", "bench.load", "--data-dir", str(clean_run), "--clients", "10"]
    cmd += ["--duration", "10", "--budget", str(BUDGET), "--json", str(out)]
    done = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=120)
    print(done.stdout)
    assert out.exists(), done.stderr[-2000:]
    fig = SimpleNamespace(**json.loads(out.read_text()))

    def report(_fig) -> str:
        return done.stdout + done.stderr[-1000:]

    assert fig.lookups > 100, report(fig)
    assert fig.lookup_errors == 0, report(fig)
    assert fig.runaways_sent >= 8
    assert set(fig.runaway_status) == {"503"}, report(fig)
    # queued behind a worker at most once, then cut at the budget
    assert fig.runaway_max_s is not None and fig.runaway_max_s < 2 * BUDGET + 5, report(fig)
    # p99 of lookups stays far below the budget: runaways cannot hold every worker
    assert fig.p99_ms is not None and fig.p99_ms < BUDGET * 1000, report(fig)
    assert fig.max_processes <= 2 + 2 + 2, report(fig)  # server, resource tracker, workers
    assert fig.max_rss_mb < 2048, report(fig)
