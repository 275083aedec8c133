"""`gongkai run` serves first: the dumps, then the search index, built in background processes
(gongkai/cli.py `BackgroundBuild`), with the marker the pages read (endpoint/building.py)."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest
from feature_data import RUN_ID, write_run

from endpoint import building
from endpoint.dumps import latest
from endpoint.search import index_path, index_run_id
from endpoint.store import MANIFEST, publish
from gongkai.cli import BackgroundBuild
from gongkai.config import DataDir
from ontology.namespaces import BASE, graph_iri

pytestmark = pytest.mark.slow  # each build spawns fresh interpreters (seconds)

NT = f'<{BASE}id/notice/yuzhong/x> <http://purl.org/dc/terms/title> "渝中区通知"@zh .\n'


@pytest.fixture
def published(tmp_path: Path) -> tuple[DataDir, Path]:
    data = write_run(tmp_path)
    (tmp_path / "in.nt").write_text(NT, encoding="utf-8")
    gen = publish(data, {graph_iri("yuzhong"): tmp_path / "in.nt"}, run_id=RUN_ID)
    return data, gen


def test_builds_the_dumps_then_the_index_and_removes_the_marker(published, capfd) -> None:
    data, gen = published
    build = BackgroundBuild(data, RUN_ID, gen).start()
    assert building.read(data, building.DUMPS).pending == ("dumps", "search")
    assert build.wait()
    assert latest(data) == RUN_ID
    assert index_run_id(index_path(data)) == RUN_ID
    assert not data.building.exists()
    err = capfd.readouterr().err
    assert "· dumps done in" in err and "· search index done in" in err


def test_a_failed_stage_is_reported_and_the_next_still_runs(tmp_path: Path, capfd) -> None:
    data = write_run(tmp_path)
    gen = data.store / "gen-000001"
    gen.mkdir(parents=True)
    (gen / MANIFEST).write_text("{}", encoding="utf-8")  # no run id: the dumps refuse it
    build = BackgroundBuild(data, RUN_ID, gen).start()
    assert not build.wait()
    assert build.failed == ["dumps"]
    assert index_run_id(index_path(data)) == RUN_ID
    assert not data.building.exists()
    err = capfd.readouterr().err
    assert "has no run id in its manifest" in err
    assert f"gongkai: run {RUN_ID}: the dumps failed (exit 1)" in err


def _writer_end(fifo: Path, timeout: float = 60) -> int:
    """Our end of `fifo`, once a reader has it open (until then opening it fails: ENXIO)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_stop_midway_removes_the_partial_dumps_and_the_marker(tmp_path: Path, capfd) -> None:
    """The generation's manifest is a FIFO: it answers `pipeline.dump`, then holds
    `write_dumps` reading it, its hidden work folder made; stopping the stage must unwind
    it and leave nothing behind."""
    data = write_run(tmp_path)
    gen = data.store / "gen-000001"
    gen.mkdir(parents=True)
    os.mkfifo(gen / MANIFEST)
    build = BackgroundBuild(data, RUN_ID, gen).start()
    fd = _writer_end(gen / MANIFEST)
    os.write(fd, json.dumps({"run_id": RUN_ID, "graphs": {}}).encode())
    os.close(fd)
    deadline = time.monotonic() + 60
    while not list(data.dumps.glob(f".{RUN_ID}.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.02)
    held = _writer_end(gen / MANIFEST)  # write_dumps now waits for the manifest's bytes
    try:
        assert building.read(data, building.DUMPS) is not None
        build.stop()
    finally:
        os.close(held)
    assert build._proc is not None and build._proc.exitcode == 128 + 15  # unwound, not killed
    assert list(data.dumps.iterdir()) == []
    assert not index_path(data).exists()
    assert not data.building.exists()
    err = capfd.readouterr().err
    assert f"run {RUN_ID}: stopped before writing the dumps and search index" in err


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/{pid}/stat after the command name ([0] state, [1] parent pid)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return ["gone", "0"]


def _children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").glob("[0-9]*") if _stat(p.name)[1] == str(pid)]


def test_stop_kills_the_index_workers_and_removes_the_scratch_files(tmp_path: Path, capfd) -> None:
    """One source's items are a FIFO nobody writes: its index worker waits on it, and stopping
    the stage must end that worker too (a pool waits for running tasks on the way out)."""
    data = write_run(tmp_path)
    items = data.items(RUN_ID, "yuzhong")
    items.unlink()
    os.mkfifo(items)
    gen = data.store / "gen-000001"
    gen.mkdir(parents=True)
    (gen / MANIFEST).write_text("{}", encoding="utf-8")  # the dumps fail at once
    build = BackgroundBuild(data, RUN_ID, gen).start()
    held = _writer_end(items)  # a worker (or the stage itself, on one core) reads it now
    try:
        stage = build._proc
        assert stage is not None and building.read(data, building.SEARCH) is not None
        workers = _children(stage.pid)
        build.stop()
    finally:
        os.close(held)
    assert stage.exitcode == 128 + 15
    assert workers or (os.cpu_count() or 1) == 1  # one core: no pool, the stage reads itself
    assert [pid for pid in workers if _stat(pid)[0] not in ("gone", "Z")] == []
    assert list((data.root / "search").iterdir()) == []
    assert not data.building.exists()
    assert f"run {RUN_ID}: stopped before writing the search index" in capfd.readouterr().err
