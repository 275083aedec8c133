"""Per-source wrappers of the stage functions, for callers that fan out (the Airflow DAGs).

`gongkai.pipeline` runs a stage over many sources at once; a scheduler wants one task per
source, retried alone, and small JSON values between tasks. Each function here takes a data
directory path, a run id and at most one source id, does its work through `gongkai.pipeline`,
keeps everything it produces on disk under the run directory, and returns a small dict (counts
and paths, never notices), so it can travel through XCom.

Run files added beside the pipeline's (`{data}/runs/{run_id}/…`):
```
plan.json                 what the run was asked to do: sources, mode, sandbox size, registry
results/{src}.json        map+validate result of a source (pipeline.SourceResult as JSON)
truth/{src}.jsonl         ground truth of the source when its task started a private sandbox
sandbox/{src}/            that private sandbox's own files (ready.json, full truth)
harvest.json              which sources made it through map+validate, which did not
```
Re-running a task for the same run id and source first removes that source's files of the
run, so a retry or a cleared task instance overwrites, never appends.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gongkai.config import DataDir

log = logging.getLogger(__name__)

MODES = ("sandbox", "live")


def run_id_for(moment: datetime) -> str:
    """The run id of a scheduled interval: its logical date in UTC, `YYYYMMDDTHHMMSSZ`.

    Deriving it from the logical date (not the wall clock) makes a re-run of the same interval
    write into the same run directory.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def data_root(configured: str | None = None) -> str:
    """The data directory as an absolute path: `configured`, else `$GONGKAI_DATA`, else `./var`."""
    value = configured or os.environ.get("GONGKAI_DATA") or "var"
    return str(Path(value).expanduser().resolve())


def _registry(registry: str | None) -> Path | None:
    return Path(registry) if registry else None


def _source(source_id: str, registry: str | None):
    from harvesters.registry import sources_by_id

    sources = sources_by_id(_registry(registry))
    if source_id not in sources:
        raise KeyError(f"source {source_id!r} is not in the registry")
    return sources[source_id]


def _write_json(path: Path, value: Any) -> None:
    from gongkai.pipeline import write_atomic

    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=1))


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


# -- plan --------------------------------------------------------------------------------------
def plan_run(
    data: str,
    run_id: str,
    *,
    mode: str = "sandbox",
    sources: list[str] | None = None,
    per_source: int = 20,
    seed: int = 2014,
    faults: str | None = None,
    sandbox_url: str | None = None,
    registry: str | None = None,
) -> dict[str, Any]:
    """Fix what a run does and write it to `plan.json`; returns it (with the source ids).

    Unknown source ids are kept (with a warning): their harvest task fails, as a source
    removed from the registry would, and the other sources go on.
    In sandbox mode without `sandbox_url` (nor `$GONGKAI_SANDBOX_URL`), every harvest task
    starts a private sandbox of its own; with one, all tasks crawl that shared sandbox.
    """
    from harvesters.registry import load_sources

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    known = [s.id for s in load_sources(_registry(registry))]
    chosen = list(dict.fromkeys(sources)) if sources else known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        # Kept: their tasks fail and the run reports them, while the other sources go on.
        log.warning("source(s) not in the registry: %s", ", ".join(unknown))
    if mode == "sandbox":
        sandbox_url = sandbox_url or os.environ.get("GONGKAI_SANDBOX_URL") or None
    else:
        sandbox_url = None
    plan = {
        "data": data,
        "run_id": run_id,
        "mode": mode,
        "sources": chosen,
        "per_source": per_source,
        "seed": seed,
        "faults": faults,
        "sandbox_url": sandbox_url,
        "registry": registry,
    }
    DataDir(Path(data)).run(run_id).mkdir(parents=True, exist_ok=True)
    _write_json(DataDir(Path(data)).run(run_id) / "plan.json", plan)
    return plan


def read_plan(data: str, run_id: str) -> dict[str, Any]:
    return json.loads((DataDir(Path(data)).run(run_id) / "plan.json").read_text(encoding="utf-8"))


# -- harvest one source ------------------------------------------------------------------------
def _clear_source(data: DataDir, run_id: str, source_id: str) -> None:
    run = data.run(run_id)
    for path in (
        data.items(run_id, source_id),
        data.errors(run_id, source_id),
        data.health(run_id, source_id),
        data.graph(run_id, source_id),
        run / "results" / f"{source_id}.json",
        run / "truth" / f"{source_id}.jsonl",
        data.warc / source_id / f"{run_id}.warc.gz",
    ):
        path.unlink(missing_ok=True)
    shutil.rmtree(run / "sandbox" / source_id, ignore_errors=True)


def harvest_source(plan: dict[str, Any], source_id: str) -> dict[str, Any]:
    """Crawl one source for the plan's run: live, a shared sandbox, or a private sandbox.

    Raises (so the scheduler retries) when the crawl process fails or fetched no page at all.
    """
    from gongkai import pipeline

    data = DataDir(Path(plan["data"]))
    run_id = plan["run_id"]
    registry = _registry(plan.get("registry"))
    source = _source(source_id, plan.get("registry"))
    _clear_source(data, run_id, source_id)
    served = None
    if plan["mode"] == "live":
        pipeline.harvest(data, run_id, [source], registry=registry)
    elif plan.get("sandbox_url"):
        pipeline.harvest(data, run_id, [source], sandbox_url=plan["sandbox_url"], registry=registry)
    else:
        # A private sandbox in its own folder: tasks running side by side must not share
        # the sandbox's ready file or truth.
        private = DataDir(data.run(run_id) / "sandbox" / source_id)
        with pipeline.sandbox(
            private,
            per_source=plan["per_source"],
            seed=plan["seed"],
            faults=plan.get("faults"),
            registry=registry,
        ) as sb:
            pipeline.harvest(data, run_id, [source], sandbox_url=sb.url, registry=registry)
        served = _keep_truth(
            private.truth, data.run(run_id) / "truth" / f"{source_id}.jsonl", source_id
        )
    health_path = data.health(run_id, source_id)
    health = json.loads(health_path.read_text(encoding="utf-8")) if health_path.exists() else {}
    if not health.get("pages"):
        raise pipeline.PipelineError(f"{source_id}: the crawl fetched no page")
    return {
        "source": source_id,
        "run_id": run_id,
        "items": _count_lines(data.items(run_id, source_id)),
        "errors": _count_lines(data.errors(run_id, source_id)),
        "pages": health.get("pages"),
        "served": served,
    }


def _keep_truth(truth: Path, out: Path, source_id: str) -> int:
    """Copy the source's lines of a private sandbox's truth into the run; return their count."""
    from gongkai.pipeline import read_jsonl, write_atomic

    lines = [
        json.dumps(r, ensure_ascii=False) + "\n"
        for r in read_jsonl(truth)
        if r.get("source") == source_id
    ]
    write_atomic(out, "".join(lines))
    return len(lines)


# -- map + validate one source -----------------------------------------------------------------
def map_validate_source(plan: dict[str, Any], source_id: str) -> dict[str, Any]:
    """Map and validate one harvested source; the full result goes to `results/{src}.json`."""
    from gongkai import pipeline

    data = DataDir(Path(plan["data"]))
    run_id = plan["run_id"]
    result = pipeline.map_validate_source(data, run_id, _source(source_id, plan.get("registry")))
    _write_json(data.run(run_id) / "results" / f"{source_id}.json", asdict(result))
    return {
        "source": source_id,
        "items": result.items,
        "published": result.published,
        "quarantined": result.quarantined,
        "reported": result.reported,
    }


# -- after the fan-out -------------------------------------------------------------------------
def harvest_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """Which sources came through map+validate; fails when none did (nothing to publish)."""
    from gongkai.pipeline import PipelineError

    data = DataDir(Path(plan["data"]))
    results = data.run(plan["run_id"]) / "results"
    ok = [s for s in plan["sources"] if (results / f"{s}.json").exists()]
    failed = [s for s in plan["sources"] if s not in set(ok)]
    summary = {"data": plan["data"], "run_id": plan["run_id"], "ok": ok, "failed": failed}
    _write_json(data.run(plan["run_id"]) / "harvest.json", summary)
    if failed:
        log.warning("run %s: %d source(s) failed: %s", plan["run_id"], len(failed), failed)
    if not ok:
        raise PipelineError(f"run {plan['run_id']}: no source came through map+validate")
    return summary


def latest_run(data: str) -> str:
    """The newest run with map+validate results."""
    runs = sorted(p.parent.name for p in DataDir(Path(data)).runs.glob("*T*Z/results"))
    if not runs:
        raise FileNotFoundError(f"no harvested run with results under {data}")
    return runs[-1]


def publish_run(data: str, run_id: str) -> dict[str, Any]:
    """Publish every source of the run that has a result; the others keep their old graph.

    Then writes the run report (accounting against the sandbox's truth in sandbox mode).
    """
    from gongkai import pipeline
    from harvesters.registry import load_sources

    root = DataDir(Path(data))
    plan = read_plan(data, run_id)
    results = {
        path.stem: pipeline.SourceResult(**json.loads(path.read_text(encoding="utf-8")))
        for path in sorted((root.run(run_id) / "results").glob("*.json"))
    }
    if not results:
        raise pipeline.PipelineError(f"run {run_id}: nothing to publish")
    # All registry sources: the reference graph describes every source, and a source without
    # a result is skipped by pipeline.publish (its previous graph stays published).
    sources = load_sources(_registry(plan.get("registry")))
    generation = pipeline.publish(root, run_id, results, sources)
    report = None
    if plan["mode"] == "sandbox":
        _merge_truth(root, run_id)
        report = pipeline.account(root, run_id, results)["totals"]
    else:
        log.info("live run %s: no ground truth, no accounting", run_id)
    return {
        "run_id": run_id,
        "generation": str(generation),
        "sources": sorted(results),
        "totals": report,
    }


def _merge_truth(data: DataDir, run_id: str) -> None:
    """Private sandboxes each kept their source's truth: the run's truth is their union."""
    parts = sorted((data.run(run_id) / "truth").glob("*.jsonl"))
    if not parts:
        return  # a shared sandbox wrote `data.truth` itself
    from gongkai.pipeline import write_atomic

    write_atomic(data.truth, "".join(p.read_text(encoding="utf-8") for p in parts))


def write_dumps(data: str, run_id: str) -> dict[str, Any]:
    """Dumps of the current store generation (`endpoint.dumps.write_dumps`), if it exists yet.

    Returns `{"skipped": reason}` when it does not, so the caller can mark its task skipped
    instead of pretending the stage ran.
    """
    try:
        from endpoint.dumps import write_dumps as write
    except ImportError:
        return _skipped("endpoint.dumps.write_dumps is not implemented yet")
    from endpoint.store import current_generation

    root = DataDir(Path(data))
    generation = current_generation(root)
    if generation is None:
        raise FileNotFoundError(f"nothing published under {data}")
    return {"run_id": run_id, "output": str(write(root, generation, run_id))}


def completeness(data: str, run_id: str) -> dict[str, Any]:
    """The completeness report of the run, if the pipeline does not already publish it."""
    from gongkai import pipeline

    if hasattr(pipeline, "completeness_graph"):
        return _skipped("graph/completeness is built and published by gongkai.pipeline.publish")
    return _skipped("gongkai.pipeline has no completeness stage yet")


def _skipped(reason: str) -> dict[str, Any]:
    log.warning("skipped: %s", reason)
    return {"skipped": reason}
