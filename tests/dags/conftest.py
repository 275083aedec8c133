"""Airflow for the DAG tests: a private AIRFLOW_HOME with SQLite, migrated once per session.

Airflow reads its configuration when it is first imported, so the test modules never import it
at top level: every test reaches Airflow through the `airflow_home` fixture, which sets the
environment, then imports Airflow through `require_airflow()` (skip without it, fail when
GONGKAI_REQUIRE_SERVICES=1), then migrates the database.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"


def require_airflow():
    """Import Airflow, or skip; with GONGKAI_REQUIRE_SERVICES=1 a missing Airflow fails.

    Call it only once the environment points at the test's Airflow home (see `airflow_home`).
    """
    message = "apache-airflow is not installed (make airflow, or pip install -e '.[airflow]')"
    if os.environ.get("GONGKAI_REQUIRE_SERVICES") == "1":
        if importlib.util.find_spec("airflow") is None:
            pytest.fail(f"GONGKAI_REQUIRE_SERVICES=1 but {message}", pytrace=False)
        import airflow

        return airflow
    return pytest.importorskip("airflow", reason=message)


def airflow_environ(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "2",
    }


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A migrated Airflow home; the environment points at it for the whole session."""
    if sys.modules.get("airflow") is not None:
        pytest.fail("airflow was imported before the DAG tests configured it", pytrace=False)
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_environ(home)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        require_airflow()
        done = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        from airflow.configuration import conf

        assert (
            conf.get("database", "sql_alchemy_conn") == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        )
        yield home


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))
