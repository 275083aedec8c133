"""The attachments stage alone over an existing harvest: cold cache, warm cache, no cache.

    python -m bench attachments --data-dir DIR [--run-id RUN] [--modes cold,warm,off]

`DIR` is a data directory with a crawl in it (`python -m bench --keep`'s, or any `gongkai
run`'s). Each mode runs `gongkai.pipeline.extract_attachments` over every source of the run
and records wall and CPU seconds (this process and every child, from `getrusage`: the worker
processes and the tesseract/pdftoppm they start):

- `cold`: the text cache (`DataDir.attachment_cache`) removed first: a first run;
- `warm`: the cache as the previous mode left it: a second run over the same files;
- `off`: `GONGKAI_ATTACHMENT_CACHE=off`, no cache at all (within-run dedupe only).

The records each mode writes are compared with the first mode's: they must be identical.
Results go to `bench/results/attachments-{start}.json`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gongkai.config import DataDir

RESULTS = Path(__file__).with_name("results")


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _digest(data: DataDir, run_id: str) -> str:
    """sha256 over the run's attachment records (every source, in name order)."""
    h = hashlib.sha256()
    for path in sorted((data.run(run_id) / "attachments").glob("*.jsonl")):
        if not path.name.endswith(".fetch.jsonl"):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def run_mode(data: DataDir, run_id: str, mode: str, workers: int | None) -> dict[str, Any]:
    from gongkai import pipeline
    from harvesters.registry import load_sources

    sources = [s for s in load_sources() if data.items(run_id, s.id).exists()]
    cache = getattr(data, "attachment_cache", None)
    if mode == "cold" and cache is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{cache}{suffix}").unlink(missing_ok=True)
    before = os.environ.get("GONGKAI_ATTACHMENT_CACHE")
    if mode == "off":
        os.environ["GONGKAI_ATTACHMENT_CACHE"] = "off"
    try:
        load = os.getloadavg()
        wall, cpu = time.perf_counter(), _cpu()
        counts = pipeline.extract_attachments(data, run_id, sources, workers=workers)
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    finally:
        if before is None:
            os.environ.pop("GONGKAI_ATTACHMENT_CACHE", None)
        else:
            os.environ["GONGKAI_ATTACHMENT_CACHE"] = before
    records = sum(sum(c.values()) for c in counts.values())
    statuses: dict[str, int] = {}
    for c in counts.values():
        for k, v in c.items():
            statuses[k] = statuses.get(k, 0) + v
    return {
        "mode": mode,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "records": records,
        "statuses": statuses,
        "cpu_ms_per_record": round(cpu * 1000 / max(records, 1), 3),
        "loadavg": [round(x, 2) for x in load],
        "records_sha256": _digest(data, run_id),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench attachments", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--run-id", default=None)
    p.add_argument("--modes", default="cold,warm", help="comma-separated: cold, warm, off")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    data = DataDir(a.data_dir)
    run_id = (
        a.run_id or sorted(p.name for p in data.runs.glob("*T*Z") if (p / "items").is_dir())[-1]
    )
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = []
    for mode in a.modes.split(","):
        r = run_mode(data, run_id, mode.strip(), a.workers)
        print(json.dumps(r), file=sys.stderr)
        results.append(r)
    same = len({r["records_sha256"] for r in results}) == 1
    out = {"data_dir": str(data.root), "run_id": run_id, "started": started}
    out |= {"modes": results, "records_identical": same}
    a.out.mkdir(parents=True, exist_ok=True)
    path = a.out / f"attachments-{started}.json"
    path.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps(out, indent=1))
    print(path, file=sys.stderr)
    return 0 if same else 1
