"""`gongkai status`: what a data directory holds, read from its files (no store is opened).

- the last run and its totals (`runs/{run}/report.json`; a run with items but no report is
  shown as unfinished), attachments read in it;
- sources healthy or flagged (the flags of `runs/{run}/health/*.json`);
- notices published, quarantined (`quarantine/*.jsonl`), withdrawn; documents in the harvest
  state;
- the store generation served (`store/CURRENT` and its manifest), the dumps, the search index.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from gongkai.config import DataDir


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def runs(data: DataDir) -> list[str]:
    """Run ids, oldest first (a run is a `runs/YYYYMMDDTHHMMSSZ` directory)."""
    if not data.runs.is_dir():
        return []
    return sorted(p.name for p in data.runs.glob("*T*Z") if p.is_dir())


def _run(data: DataDir, run_id: str) -> dict[str, Any]:
    report = _json(data.report(run_id))
    health = {p.stem: _json(p) for p in sorted((data.run(run_id) / "health").glob("*.json"))}
    flagged = {sid: h.get("flags") for sid, h in health.items() if h.get("flags")}
    totals = report.get("totals") or {}
    return {
        "run_id": run_id,
        "finished": bool(report),
        "sources": len(health) or len(list((data.run(run_id) / "items").glob("*.jsonl"))),
        "totals": {k: v for k, v in totals.items() if k != "attachments"},
        "attachments": totals.get("attachments") or {},
        "healthy": sorted(sid for sid in health if sid not in flagged),
        "flagged": flagged,
        "modes": sorted({h.get("mode") for h in health.values() if h.get("mode")}),
        "duration_s": max((h.get("duration_s") or 0 for h in health.values()), default=None),
    }


def _store(data: DataDir) -> dict[str, Any] | None:
    from endpoint.store import current_generation, read_manifest

    gen = current_generation(data)
    if gen is None:
        return None
    manifest = read_manifest(gen)
    graphs = manifest.get("graphs") or {}
    return {
        "generation": gen.name,
        "run_id": manifest.get("run_id"),
        "created": manifest.get("created"),
        "graphs": len(graphs),
        "triples": sum(int(n) for n in graphs.values()),
        "generations": len(list(data.store.glob("gen-*"))),
        "bytes": _size(gen),
    }


def _dumps(data: DataDir) -> dict[str, Any] | None:
    from endpoint.dumps import latest, snapshots

    names = snapshots(data)
    if not names:
        return None
    newest = latest(data) or names[0]
    return {"latest": newest, "snapshots": len(names), "bytes": _size(data.dumps / newest)}


def _search(data: DataDir) -> dict[str, Any] | None:
    path = data.root / "search" / "index.sqlite"
    if not path.is_file():
        return None
    info: dict[str, Any] = {"path": str(path), "bytes": path.stat().st_size}
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            info |= dict(con.execute("SELECT key, value FROM meta").fetchall())
        finally:
            con.close()
    except sqlite3.Error as exc:
        info["error"] = str(exc)
    if "notices" in info:
        info["notices"] = int(info["notices"])
    return info


def _state(data: DataDir) -> dict[str, Any]:
    out = {"sources": 0, "documents": 0, "withdrawn": 0, "failed": 0, "versions": 0}
    for path in sorted(data.state.glob("*.sqlite3")) if data.state.is_dir() else []:
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = dict(con.execute("SELECT status, COUNT(*) FROM docs GROUP BY status"))
                (versions,) = con.execute("SELECT COUNT(*) FROM versions").fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            continue
        out["sources"] += 1
        out["documents"] += sum(rows.values())
        out["withdrawn"] += rows.get("withdrawn", 0)
        out["failed"] += rows.get("failed", 0)
        out["versions"] += versions
    return out


def status(data: DataDir) -> dict[str, Any]:
    """Everything `gongkai status` shows, as a dict (also its `--json` output)."""
    all_runs = runs(data)
    last = _run(data, all_runs[-1]) if all_runs else None
    finished = [r for r in all_runs if data.report(r).exists()]
    last_finished = (
        last if last and last["finished"] else (_run(data, finished[-1]) if finished else None)
    )
    quarantined = (
        sum(_lines(p) for p in data.quarantine.glob("*.jsonl")) if data.quarantine.is_dir() else 0
    )
    totals = (last_finished or {}).get("totals") or {}
    return {
        "data_dir": str(data.root),
        "exists": data.root.is_dir(),
        "runs": len(all_runs),
        "last_run": last,
        "last_finished_run": last_finished if last_finished is not last else None,
        "notices": {
            "published": totals.get("published"),
            "quarantined": quarantined,
            "withdrawn": totals.get("withdrawn"),
        },
        "state": _state(data),
        "store": _store(data),
        "dumps": _dumps(data),
        "search": _search(data),
    }


def _mib(n: int | None) -> str:
    return f"{(n or 0) / 2**20:.1f} MiB"


def format_status(info: dict[str, Any]) -> str:
    """The plain-text summary."""
    out = [f"data directory {info['data_dir']}"]
    if not info["exists"]:
        return out[0] + ": does not exist (run `gongkai run` first)"
    last = info["last_run"]
    if last is None:
        out.append("runs: none yet")
    else:
        state = "finished" if last["finished"] else "unfinished (no report: running or crashed)"
        mode = f", {'/'.join(last['modes'])}" if last["modes"] else ""
        out.append(
            f"last run {last['run_id']}: {state}, {last['sources']} sources{mode}"
            f" ({info['runs']} runs in all)"
        )
        shown = info["last_finished_run"] or last
        t = shown["totals"]
        if t:
            prefix = "  totals" if shown is last else f"  totals of {shown['run_id']}"
            served = f"{t['served']} served, " if t.get("served") is not None else ""
            out.append(
                f"{prefix}: {served}{t.get('published', 0)} published, "
                f"{t.get('quarantined', 0)} quarantined, {t.get('reported', 0)} reported, "
                f"{t.get('withdrawn', 0)} withdrawn, {t.get('unaccounted') or 0} unaccounted"
            )
        if shown["attachments"]:
            parts = ", ".join(f"{n} {k}" for k, n in sorted(shown["attachments"].items()))
            out.append(f"  attachments: {parts}")
        out.append(f"  sources healthy: {len(shown['healthy'])}, flagged: {len(shown['flagged'])}")
        for sid, flags in sorted(shown["flagged"].items()):
            out.append(f"    {sid}: {'; '.join(flags)}")
    n = info["notices"]
    out.append(
        f"notices: {n['published'] if n['published'] is not None else '?'} published, "
        f"{n['quarantined']} quarantined, "
        f"{n['withdrawn'] if n['withdrawn'] is not None else '?'} withdrawn"
    )
    s = info["state"]
    out.append(
        f"harvest state: {s['documents']} documents of {s['sources']} sources "
        f"({s['versions']} versions, {s['withdrawn']} withdrawn, {s['failed']} failed)"
    )
    store = info["store"]
    out.append(
        "store: nothing published"
        if store is None
        else f"store: {store['generation']} (run {store['run_id']}, {store['triples']:,} triples "
        f"in {store['graphs']} graphs, {_mib(store['bytes'])}; {store['generations']} generations)"
    )
    dumps = info["dumps"]
    out.append(
        "dumps: none"
        if dumps is None
        else f"dumps: latest {dumps['latest']} ({_mib(dumps['bytes'])}; "
        f"{dumps['snapshots']} snapshots)"
    )
    search = info["search"]
    out.append(
        "search index: none"
        if search is None
        else f"search index: run {search.get('run_id', '?')}, {search.get('notices', '?')} notices,"
        f" {_mib(search['bytes'])}"
    )
    return "\n".join(out)
