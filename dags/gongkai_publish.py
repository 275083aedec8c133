"""
### gongkai_publish

Publishes a harvest run: scheduled on the asset `gongkai://harvest`, which `gongkai_harvest`
emits when at least one source came through map+validate.

* `which_run`: the run id from the param `run_id`, else from the triggering asset event, else
  the newest run with results in the data directory.
* `publish`: every source of the run that has a result replaces its named graph in a new store
  generation (`gongkai.pipeline.publish`); sources that failed keep their previous graph. Then
  the run report (`runs/{run_id}/report.json`).
* `dump`: dumps of the new generation (`endpoint.dumps.write_dumps`) under
  `{data}/dumps/{run_id}/`. `completeness`: skipped with the reason in its log while the
  completeness graph is built inside `publish`; a stage that is not implemented yet is
  **skipped**, never faked.

**Data directory**: Airflow Variable `GONGKAI_DATA`, else `$GONGKAI_DATA`, else `./var`.
The logic lives in `gongkai.stages`; this file is wiring.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, Param, Variable, dag, task
from airflow.sdk.exceptions import AirflowSkipException

HARVESTED = Asset("gongkai://harvest")

RETRY = {
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
}


@dag(
    dag_id="gongkai_publish",
    schedule=[HARVESTED],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=RETRY,
    doc_md=__doc__,
    tags=["gongkai", "publish"],
    params={
        "run_id": Param(
            None, type=["null", "string"], description="run to publish; default: newest"
        ),
    },
)
def gongkai_publish():
    @task
    def which_run(**context) -> dict:
        from gongkai import stages

        data = stages.data_root(Variable.get("GONGKAI_DATA", default=None))
        events = [e for es in (context.get("triggering_asset_events") or {}).values() for e in es]
        from_events = [(e.extra or {}).get("run_id") for e in events]
        run_id = context["params"]["run_id"] or max(filter(None, from_events), default=None)
        return {"data": data, "run_id": run_id or stages.latest_run(data)}

    @task
    def publish(run: dict) -> dict:
        from gongkai import stages

        return stages.publish_run(run["data"], run["run_id"])

    @task
    def dump(run: dict) -> dict:
        from gongkai import stages

        out = stages.write_dumps(run["data"], run["run_id"])
        if "skipped" in out:
            raise AirflowSkipException(out["skipped"])
        return out

    @task
    def completeness(run: dict) -> dict:
        from gongkai import stages

        out = stages.completeness(run["data"], run["run_id"])
        if "skipped" in out:
            raise AirflowSkipException(out["skipped"])
        return out

    run = which_run()
    publish(run) >> [dump(run), completeness(run)]


gongkai_publish()
