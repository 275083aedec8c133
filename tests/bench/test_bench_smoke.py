"""The benchmark harness at a tiny size: every stage runs and reports positive figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "--notices", "200", "--skip-naive"]
    cmd += ["--skip-scrapy-bench", "--skip-incremental", "--query-runs", "2"]
    cmd += ["--bulk-load-rounds", "2"]
    cmd += ["--work-dir", str(tmp_path), "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]

    [path] = out.glob("*-170.json")
    r = json.loads(path.read_text(encoding="utf-8"))
    assert r["notices"] == 170 and r["per_source"] == 2
    assert r["end_to_end_s"] > 0 and r["peak_rss_bytes"] > 0
    # the endpoint answered before the dumps and the search index were written
    assert 0 < r["to_serving_s"] < r["end_to_end_s"]
    assert r["stages"]["serve"]["url"].startswith("http://127.0.0.1:")
    h, m, p = (r["stages"][k] for k in ("harvest", "map_validate", "publish"))
    for st in (h, m, p):
        assert st["wall_s"] > 0 and st["cpu_s"] > 0 and st["peak_rss_bytes"] > 0
    assert h["pages"] > 170 and h["pages_per_s"] > 0 and h["cpu_ms_per_page"] > 0
    assert m["notices"] == 170 and m["notices_per_s"] > 0 and m["cpu_ms_per_notice"] > 0
    assert m["published"] + m["quarantined"] > 0
    assert p["triples"] > 0 and p["triples_per_s"] > 0 and p["store_bytes"] > 0
    assert p["store_triples_per_s"] > 0
    for name in ("count_per_graph", "agency_20_newest", "notice_properties"):
        assert r["queries"][name]["median_ms"] > 0 and r["queries"][name]["rows"] > 0
    assert r["anchors"]["bulk_load"]["triples_per_s"] > 0
    assert r["ratios"]["publish_store_vs_bulk_load"] > 0
    # the store write again, in turn with the anchors: the same triples as the run's publish
    replay = r["anchors"]["bulk_load"]["publish_replay"]
    assert replay["triples"] == p["triples"] and len(replay["walls_s"]) == 2
    assert r["ratios"]["publish_replay_vs_bulk_load_named"] > 0
    assert path.with_suffix(".png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the work directory is removed unless --keep
    assert not any(tmp_path.glob("bench-*"))
