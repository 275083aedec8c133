"""A data directory published by one clean `gongkai run`, shared by the reliability tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from rel_helpers import CLEAN_PER_SOURCE, run_pipeline


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Data dir after `gongkai run --no-serve` of 2 sources × 4 notices (do not modify: copy)."""
    data = tmp_path_factory.mktemp("rel") / "clean"
    done = run_pipeline(data, per_source=CLEAN_PER_SOURCE)
    assert done.returncode == 0, done.stderr[-2000:]
    return data
