"""The DAGs run end to end with `dag.test()`: a small sandbox harvest, then its publication.

One harvest run and one publish run per module (each crawls and validates for seconds), then
one behaviour per test. A source id missing from the registry stands for a failing source.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SOURCES = ["yuzhong", "czj", "sthjj"]
BROKEN = "no-such-source"
PER_SOURCE = 5
LOGICAL = datetime(2026, 3, 1, tzinfo=UTC)
RUN_ID = "20260301T000000Z"


@pytest.fixture(scope="module")
def data(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gongkai-data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_VAR_GONGKAI_DATA", str(root))  # the Variable GONGKAI_DATA
        mp.delenv("GONGKAI_SANDBOX_URL", raising=False)
        yield root


def without_retry_delay(dag):
    """A failing task retries at once, so the broken source costs no waiting."""
    for task in dag.tasks:
        task.retry_delay = 0
        task.max_retry_delay = 0
    return dag


@pytest.fixture(scope="module")
def harvest_run(dagbag, data: Path):
    dag = without_retry_delay(dagbag.get_dag("gongkai_harvest"))
    conf = {"sources": [*SOURCES, BROKEN], "per_source": PER_SOURCE}
    return dag.test(logical_date=LOGICAL, run_conf=conf)


@pytest.fixture(scope="module")
def publish_run(dagbag, harvest_run, data: Path):
    return dagbag.get_dag("gongkai_publish").test(run_conf={"run_id": RUN_ID})


def states(dag_run) -> dict[tuple[str, int], str]:
    return {(ti.task_id, ti.map_index): ti.state for ti in dag_run.get_task_instances()}


def test_harvest_run_succeeds(harvest_run):
    assert harvest_run.state == "success"


def test_each_source_is_its_own_task(harvest_run):
    by_task = states(harvest_run)
    harvested = [s for (task, _), s in by_task.items() if task == "source.harvest"]
    assert sorted(harvested) == ["failed"] + ["success"] * len(SOURCES)


def test_run_id_is_the_logical_date(harvest_run, data: Path):
    assert sorted(p.stem for p in (data / "runs" / RUN_ID / "results").glob("*.json")) == sorted(
        SOURCES
    )


def test_failed_source_is_reported_not_fatal(harvest_run, data: Path):
    summary = json.loads((data / "runs" / RUN_ID / "harvest.json").read_text(encoding="utf-8"))
    assert summary["failed"] == [BROKEN]
    assert sorted(summary["ok"]) == sorted(SOURCES)
    assert states(harvest_run)[("ready_to_publish", -1)] == "success"


def test_publish_run_succeeds(publish_run):
    by_task = states(publish_run)
    assert by_task[("publish", -1)] == "success"
    # dump/completeness run when gongkai.pipeline has them, else they are skipped, never faked
    assert by_task[("dump", -1)] in ("success", "skipped")
    assert by_task[("completeness", -1)] in ("success", "skipped")
    assert publish_run.state == "success"


def test_notices_are_published(publish_run, data: Path):
    import pyoxigraph

    from endpoint.store import current_generation
    from gongkai.config import DataDir
    from ontology.namespaces import GK

    generation = current_generation(DataDir(data))
    assert generation is not None
    store = pyoxigraph.Store.read_only(str(generation))
    query = f"SELECT (COUNT(?n) AS ?c) WHERE {{ ?n a <{GK.Notice}> }}"
    (row,) = store.query(query, use_default_graph_as_union=True)
    assert int(row["c"].value) > 0


def test_every_served_notice_is_accounted_for(publish_run, data: Path):
    report = json.loads((data / "runs" / RUN_ID / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["served"] == len(SOURCES) * PER_SOURCE
    assert report["totals"]["unaccounted"] == 0
