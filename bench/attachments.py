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

    python -m bench attachments --synth 100000 --data-dir DIR

writes such a crawl without crawling (the crawl of 100k does not finish on a busy 2-core
machine): per source, the items the harvester would write (`bench.validate`'s, with their
attachment links as the parsers keep them) and a WARC file holding each notice's page and
each attachment as the sandbox serves it (`harvesters/sandbox/attachments.py`).
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
    import logging

    from gongkai import pipeline
    from harvesters.registry import load_sources

    stats: dict[str, Any] = {}

    class Stats(logging.Handler):  # the stage's summary line: files, distinct, cache hits…
        def emit(self, record: logging.LogRecord) -> None:
            if record.msg.startswith("attachments of") and len(record.args or ()) == 2:
                stats.update(record.args[1])  # type: ignore[index]

    handler = Stats(logging.INFO)
    logger = logging.getLogger("harvesters.attachments")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

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
        logger.removeHandler(handler)
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
        "stage_stats": stats,
        "loadavg": [round(x, 2) for x in load],
        "records_sha256": _digest(data, run_id),
    }


SYNTH_RUN = "20261126T000000Z"


def _synth_source(root: str, source_id: str, per_source: int) -> int:
    from scrapy.http import Request, Response

    from harvesters.families.generic import is_attachment
    from harvesters.registry import load_sources
    from harvesters.sandbox import attachments as files
    from harvesters.sandbox.generate import harvested_item, make_notice
    from harvesters.sandbox.render import detail_page
    from harvesters.warc import WarcFile

    data = DataDir(Path(root))
    source = next(s for s in load_sources() if s.id == source_id)
    org = (source.short_name or source.name).split("/")[0]
    warc = WarcFile(data.warc / source_id / f"{SYNTH_RUN}.warc.gz")
    path = data.items(SYNTH_RUN, source_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for n in range(per_source):
            notice = make_notice(2014, source, n, per_source)
            base = f"https://{source.domains[0]}{source.live_path}{notice.month_dir}/"
            url = base + notice.filename
            page = detail_page(source, notice).encode()
            warc.write(Request(url), Response(url, status=200, body=page), "detail")
            links = [base + a for a in notice.attachments if is_attachment(base + a)]
            item = harvested_item(notice, url, "2026-11-26T10:00:00+08:00")
            out.write(json.dumps(item | {"doc_id": str(notice.doc_id), "attachments": links}))
            out.write("\n")
            kind = files.kind_of(notice.doc_id)
            lines = tuple(files.attachment_lines(notice.title, org, notice.index_no))
            for link in links:
                body = files.attachment_bytes(kind, lines)
                warc.write(Request(link), Response(link, status=200, body=body), "attachment")
                count += 1
    warc.close()
    return count


def synthesize(data: DataDir, notices: int, workers: int | None = None) -> int:
    """A crawl's items and WARC files for `notices` sandbox notices; returns attachments."""
    from concurrent.futures import ProcessPoolExecutor

    from harvesters.registry import load_sources

    sources = load_sources()
    per_source = max(1, round(notices / len(sources)))
    with ProcessPoolExecutor(workers or os.cpu_count()) as pool:
        counts = pool.map(_synth_source, [str(data.root)] * len(sources),
                          [s.id for s in sources], [per_source] * len(sources))  # fmt: skip
        return sum(counts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench attachments", description=__doc__)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--run-id", default=None)
    p.add_argument("--modes", default="cold,warm", help="comma-separated: cold, warm, off")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--synth", type=int, default=None, help="write a crawl of N notices first")
    a = p.parse_args(argv)
    data = DataDir(a.data_dir)
    if a.synth:
        t = time.perf_counter()
        n = synthesize(data, a.synth, a.workers)
        print(f"synthesized {n} attachments in {time.perf_counter() - t:.0f} s", file=sys.stderr)
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
