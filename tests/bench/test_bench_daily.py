"""The benchmark's daily run at a tiny size: one day later, the new notices are harvested, only
they are mapped, the store takes the delta, and the figures are reported per stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_bench_daily_run(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "--notices", "200", "--skip-naive", "--no-chart"]
    cmd += ["--skip-scrapy-bench", "--skip-bulk-load", "--query-runs", "1"]
    cmd += ["--work-dir", str(tmp_path), "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=380)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "daily run (sandbox one day later: 1.00% new" in done.stdout

    [path] = out.glob("*-170.json")
    inc = json.loads(path.read_text(encoding="utf-8"))["incremental"]
    assert inc["measured"] and inc["churn"]["new"] == 0.01
    # 2 notices a source: 1 % rounds up to one new notice a source, dated the next day
    assert inc["harvested"]["new"] == 85 and inc["items"] == 255
    assert inc["reused"] == 170  # yesterday's notices: none mapped again
    stages = inc["stages"]
    assert set(stages) >= {"harvest", "map_validate", "publish", "dumps"}
    assert all(s["wall_s"] > 0 and s["cpu_s"] > 0 for s in stages.values())
    assert stages["publish"]["built"]["built"] == "delta"
    assert stages["publish"]["built"]["added"] > 85 * 10  # the new notices' triples
    before = inc["before"]
    assert before["publish"]["built"] == "fresh"
    assert inc["extrapolated_1m_s"] > 0
