"""Every DAG loads, retries, is tagged and documented, and its file imports nothing heavy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

EXPECTED = {"gongkai_harvest", "gongkai_publish"}
HEAVY = ("scrapy", "pyoxigraph", "rdflib", "pyshacl", "gongkai", "harvesters", "ontology", "shapes")


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_expected_dags(dagbag):
    assert set(dagbag.dag_ids) >= EXPECTED


def test_every_task_retries_with_backoff(dagbag):
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag.dag_id}.{task.task_id}: retries={task.retries}"
            assert task.retry_exponential_backoff > 0, f"{dag.dag_id}.{task.task_id}"


def test_tags_and_docs(dagbag):
    for dag in dagbag.dags.values():
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md and dag.doc_md.strip(), f"{dag.dag_id} has no doc_md"


def test_harvest_fans_out_per_source(dagbag):
    dag = dagbag.get_dag("gongkai_harvest")
    assert dag.catchup is False
    group = dag.task_group_dict["source"]
    assert type(group).__name__ == "MappedTaskGroup"
    assert {"source.harvest", "source.map_validate"} <= set(group.children)


def test_failed_sources_do_not_stop_the_announcement(dagbag):
    dag = dagbag.get_dag("gongkai_harvest")
    last = dag.get_task("ready_to_publish")
    assert last.trigger_rule == "all_done"
    assert [a.uri for a in last.outlets] == ["gongkai://harvest/"]


def test_publish_is_scheduled_on_the_harvest_asset(dagbag):
    dag = dagbag.get_dag("gongkai_publish")
    condition = dag.timetable.asset_condition
    assert [a.uri for a in condition.objects] == ["gongkai://harvest/"]


def test_dag_files_import_nothing_heavy(airflow_home):
    """Parsing a DAG file (what the scheduler does every few seconds) stays cheap."""
    probe = (
        "import runpy, sys\n"
        f"for f in {[str(p) for p in sorted(DAGS.glob('*.py'))]!r}: runpy.run_path(f)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),  # airflow_home points it at the test's Airflow
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
