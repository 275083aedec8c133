"""`gongkai status` (gongkai/status.py) and the crawl progress lines (gongkai/progress.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from gongkai.config import DataDir
from gongkai.progress import Snapshot, expected_counts, plain_line, snapshot, watch
from gongkai.status import format_status, status

RUN1, RUN2 = "20250301T000000Z", "20250302T000000Z"


def write(path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")


def build(tmp_path) -> DataDir:
    data = DataDir(tmp_path)
    for run in (RUN1, RUN2):
        write(data.items(run, "yuzhong"), '{"url": "a"}\n{"url": "b"}\n')
        write(data.health(run, "yuzhong"), {"items": 2, "flags": [], "mode": "full"})
        write(data.health(run, "dazu"), {"items": 0, "flags": ["yielded nothing"]})
    totals = {"served": 3, "published": 2, "quarantined": 1, "reported": 0, "withdrawn": 1,
              "unaccounted": 0, "attachments": {"ok": 4, "failed": 1}}  # fmt: skip
    write(data.report(RUN1), {"run_id": RUN1, "sources": {}, "totals": totals})
    write(data.quarantined("yuzhong"), '{"key": "x"}\n')
    return data


def test_status_of_an_unfinished_last_run_shows_the_last_finished_totals(tmp_path):
    info = status(build(tmp_path))
    assert info["runs"] == 2
    assert info["last_run"]["run_id"] == RUN2 and not info["last_run"]["finished"]
    assert info["last_finished_run"]["run_id"] == RUN1
    assert info["notices"] == {"published": 2, "quarantined": 1, "withdrawn": 1}
    assert info["store"] is None and info["dumps"] is None and info["search"] is None
    text = format_status(info)
    assert f"last run {RUN2}: unfinished" in text
    assert "attachments: 1 failed, 4 ok" in text
    assert "sources healthy: 1, flagged: 1" in text
    assert "    dazu: yielded nothing" in text
    assert "store: nothing published" in text


def test_status_cli_json_and_missing_dir(tmp_path):
    build(tmp_path / "d")
    done = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "status", "--data-dir", str(tmp_path / "d"),
         "--json"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["last_run"]["flagged"] == {"dazu": ["yielded nothing"]}
    done = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "status", "--data-dir", str(tmp_path / "none")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "does not exist" in done.stdout


def test_progress_counts_eta_and_plain_lines(tmp_path):
    data = build(tmp_path)
    run = "20250303T000000Z"
    expected = expected_counts(data, run, ["yuzhong", "dazu", "new"])
    assert expected == {"yuzhong": 2, "dazu": 0, "new": None}  # from the previous run's health
    write(data.items(run, "yuzhong"), '{"url": "a"}\n')
    snap = snapshot(data, run, {"yuzhong": 2, "dazu": 0}, started=0.0)
    assert snap.done == {"yuzhong": 1, "dazu": 0} and snap.total == 2
    snap = Snapshot({"a": 50, "b": 10}, {"b"}, {"a": 100, "b": 20}, elapsed=10.0)
    assert snap.total == 110 and snap.rate == 6.0 and round(snap.eta) == 8
    assert plain_line(snap) == (
        "  harvest: 1/2 sources done, 60/110 items, 6.0 items/s, elapsed 10s, ETA 8s"
    )
    assert Snapshot({"a": 1}, set(), {"a": None}, 1.0).eta is None


def test_watch_is_quiet_for_a_short_crawl_off_a_terminal(tmp_path, monkeypatch):
    monkeypatch.delenv("GONGKAI_PROGRESS", raising=False)
    out = io.StringIO()
    with watch(build(tmp_path), "20250303T000000Z", ["yuzhong"], stream=out):
        pass
    assert out.getvalue() == ""
