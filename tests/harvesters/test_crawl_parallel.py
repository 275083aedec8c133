"""Crawl speed machinery: sources split over crawl processes, the per-slot concurrency fix."""

import json
import subprocess
import sys
from collections import deque

import pytest
from twisted.internet.defer import Deferred

from gongkai.config import DataDir
from gongkai.pipeline import sandbox
from harvesters import middlewares
from harvesters.crawl import default_processes, split_sources
from harvesters.registry import load_sources

SOURCES = ["yuzhong", "czj", "sthjj", "liangjiang", "beibei"]


def registry(ids):
    by_id = {s.id: s for s in load_sources()}
    return [by_id[i] for i in ids]


def test_default_processes_follow_the_environment(monkeypatch):
    monkeypatch.setenv("GONGKAI_CRAWL_PROCESSES", "3")
    assert default_processes() == 3
    monkeypatch.setenv("GONGKAI_CRAWL_PROCESSES", "0")
    assert default_processes() == 1
    monkeypatch.delenv("GONGKAI_CRAWL_PROCESSES")
    assert 1 <= default_processes() <= 2


def test_split_covers_every_source_once_and_balances_new_ones(tmp_path):
    sources = registry(SOURCES)
    groups = split_sources(sources, 2, DataDir(tmp_path))
    assert sorted(s.id for g in groups for s in g) == sorted(SOURCES)
    assert sorted(len(g) for g in groups) == [2, 3]
    assert len(split_sources(sources[:1], 4, DataDir(tmp_path))) == 1


def test_split_puts_the_biggest_state_alone(tmp_path):
    data = DataDir(tmp_path)
    data.state.mkdir(parents=True)
    (data.state / "yuzhong.sqlite3").write_bytes(b"x" * 100_000)
    for sid in SOURCES[1:]:
        (data.state / f"{sid}.sqlite3").write_bytes(b"x" * 1_000)
    groups = split_sources(registry(SOURCES), 2, data)
    assert [s.id for s in groups[0]] == ["yuzhong"]
    assert len(groups[1]) == 4


def test_slot_downloader_keeps_the_slot_concurrency(monkeypatch):
    """Scrapy 2.19 popped every queued request of a slot before any counted as transferring."""
    scheduled = []
    monkeypatch.setattr(middlewares, "_schedule_coro", lambda coro: scheduled.append(coro))
    downloader = object.__new__(middlewares.SlotDownloader)
    slot = middlewares.Slot(concurrency=3, delay=0, jitter=0)
    slot.queue = deque((object(), Deferred()) for _ in range(10))
    try:
        downloader._process_queue(slot)
        assert len(scheduled) == 3 and len(slot.transferring) == 3 and len(slot.queue) == 7
        downloader._process_queue(slot)  # nothing freed yet: nothing more goes out
        assert len(scheduled) == 3
    finally:
        for coro in scheduled:
            coro.close()


@pytest.mark.slow
def test_two_processes_harvest_every_source_into_one_run(tmp_path):
    data = DataDir(tmp_path)
    with sandbox(data, per_source=25) as box:
        cmd = [sys.executable, "-m", "harvesters.crawl", "--data-dir", str(tmp_path)]
        cmd += ["--run-id", "20260101T000000Z", "--sandbox-url", box.url, "--processes", "2"]
        for sid in SOURCES:
            cmd += ["--source", sid]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = data.run("20260101T000000Z")
    health = {p.stem: json.loads(p.read_text()) for p in (run / "health").glob("*.json")}
    assert sorted(health) == sorted(SOURCES)
    for sid in SOURCES:
        lines = data.items("20260101T000000Z", sid).read_text(encoding="utf-8").splitlines()
        assert len(lines) == health[sid]["items"] >= 25
        assert (data.warc / sid / "20260101T000000Z.warc.gz").exists()


def test_a_failing_child_fails_the_crawl(tmp_path, monkeypatch):
    """A crash in one crawl process is the crawl's failure, after the others have finished."""
    from harvesters import crawl

    calls = []

    class Child:
        def __init__(self, cmd):
            calls.append(cmd)
            self.code = 3 if len(calls) == 1 else 0

        def wait(self):
            return self.code

    monkeypatch.setattr(crawl.subprocess, "Popen", Child)
    groups = [[s] for s in registry(SOURCES[:2])]
    assert crawl.run_split(["--data-dir", str(tmp_path), "--run-id", "R"], groups) == 3
    assert len(calls) == 2 and all("--processes" in c for c in calls)
    assert [c[-1] for c in calls] == SOURCES[:2]
