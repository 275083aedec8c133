"""
### gongkai_harvest

Daily harvest of the disclosure portals, one mapped task group per registry source:
`source.harvest` (crawl) → `source.map_validate` (map to RDF, SHACL, split graph/quarantine).

* **Run id** is the run's logical date in UTC (`YYYYMMDDTHHMMSSZ`): clearing or re-running
  an interval writes into the same `{data}/runs/{run_id}/` and overwrites each source's files.
* **One source failing never stops the others**: each source is its own mapped task
  instance, retried alone (2 retries, exponential backoff). `ready_to_publish` runs with
  trigger rule `all_done`, lists which sources came through, fails only if none did, and on
  success emits the asset `gongkai://harvest` that schedules `gongkai_publish`.
* **Data directory**: Airflow Variable `GONGKAI_DATA`, else the environment's `GONGKAI_DATA`,
  else `./var` of the worker.
* **Sandbox or live** (param `mode`, default `sandbox`): with `sandbox_url` (or
  `$GONGKAI_SANDBOX_URL`) every task crawls that running `gongkai sandbox`; without, every
  harvest task starts a private sandbox for its run and stops it when done.

The logic lives in `gongkai.stages` (and `gongkai.pipeline`); this file is wiring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, TriggerRule, Variable, dag, task, task_group

HARVESTED = Asset("gongkai://harvest")

RETRY = {
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}


@dag(
    dag_id="gongkai_harvest",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=RETRY,
    doc_md=__doc__,
    tags=["gongkai", "harvest"],
    params={
        "mode": Param(
            "sandbox", enum=["sandbox", "live"], description="crawl the sandbox or the real portals"
        ),
        "sources": Param(
            [], type="array", description="source ids to harvest; empty: the whole registry"
        ),
        "per_source": Param(
            20, type="integer", minimum=1, description="sandbox notices per source"
        ),
        "seed": Param(2014, type="integer", description="sandbox seed"),
        "faults": Param(None, type=["null", "string"], description="sandbox fault profile"),
        "sandbox_url": Param(None, type=["null", "string"], description="a running sandbox"),
        "registry": Param(None, type=["null", "string"], description="registry folder or file"),
    },
)
def gongkai_harvest():
    @task
    def plan(**context) -> dict:
        from gongkai import stages

        p = context["params"]
        moment = context.get("logical_date") or context["dag_run"].run_after
        return stages.plan_run(
            stages.data_root(Variable.get("GONGKAI_DATA", default=None)),
            stages.run_id_for(moment),
            mode=p["mode"],
            sources=p["sources"],
            per_source=p["per_source"],
            seed=p["seed"],
            faults=p["faults"],
            sandbox_url=p["sandbox_url"],
            registry=p["registry"],
        )

    @task
    def list_sources(run: dict) -> list[str]:
        return run["sources"]

    @task
    def harvest(run: dict, source_id: str) -> dict:
        from gongkai import stages

        return stages.harvest_source(run, source_id)

    @task
    def map_validate(run: dict, harvested: dict) -> dict:
        from gongkai import stages

        return stages.map_validate_source(run, harvested["source"])

    @task_group
    def source(run: dict, source_id: str):
        return map_validate(run, harvest(run, source_id))

    @task(trigger_rule=TriggerRule.ALL_DONE, outlets=[HARVESTED])
    def ready_to_publish(run: dict, **context) -> dict:
        from gongkai import stages

        summary = stages.harvest_summary(run)
        context["outlet_events"][HARVESTED].extra = summary
        return summary

    run = plan()
    sources = source.partial(run=run).expand(source_id=list_sources(run))
    sources >> ready_to_publish(run)


gongkai_harvest()
