"""Crashes: `gongkai run` killed (SIGKILL) at every stage boundary and at timed moments, then run
again, ends with exactly the data of an uninterrupted run; readers never see half a publish.

Every scenario starts from a copy of a data directory published by a clean run A (4 notices
per source), and the killed run harvests the same sandbox grown to 6 notices per source (B), so
"what readers see after the kill" is checkable: it must be all of A (the publish did not switch
yet) or all of B (it did), never a mix. The re-run (B, no kill) must publish exactly what a clean
B run publishes. (Not a different seed: incremental harvesting rightly trusts a 304 for a URL it
has seen, and the sandbox's validators do not depend on the seed.)

Scenarios run four at a time (a run mostly waits on its sandbox and crawl), in one module
fixture; each test then checks one scenario's outcome.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rel_helpers import (
    CLEAN_PER_SOURCE,
    env,
    kill_all,
    published,
    run_cmd,
    run_pipeline,
    wait_gone,
)

from gongkai.faults import KILL_POINTS

pytestmark = pytest.mark.slow

SIZE_A, SIZE_B = CLEAN_PER_SOURCE, 6
# Points killed starting from an already published store (A), and from an empty data dir.
FROM_A = list(KILL_POINTS)
FROM_EMPTY = ["publish:after-load"]
# Kills at a moment rather than a named point (seconds after start): during sandbox start,
# crawl and map/validate/publish of a ~7 s run.
DELAYS = [2.6, 5.0]


def _classify(data: Path, a, b) -> str:
    quads, _ = published(data)
    if not quads:
        return "none"
    if quads == a[0]:
        return "A"
    if quads == b[0]:
        return "B"
    return "other"


def _store_state(data: Path) -> dict:
    store = data / "store"
    current = (store / "CURRENT").read_text().strip() if (store / "CURRENT").exists() else None
    gens = sorted(p.name for p in store.glob("gen-*"))
    return {
        "current": current,
        "gens": gens,
        "incomplete": [g for g in gens if not (store / g / "MANIFEST.json").is_file()],
        "newer": [g for g in gens if current and g > current],
    }


def _scenario(kind: str, arg, base_a: Path, tmp: Path, a, b) -> dict:
    data = tmp / f"{kind}-{str(arg).replace(':', '_')}"
    if kind != "empty":
        shutil.copytree(base_a, data, symlinks=True)
    else:
        data.mkdir(parents=True)
    out: dict = {"data": data}
    if kind == "timed":
        log = tmp / f"timed-{arg}.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(
                run_cmd(data, per_source=SIZE_B), stdout=fh, stderr=subprocess.STDOUT, env=env()
            )
            time.sleep(arg)
            proc.kill()  # SIGKILL to the CLI process only, as an OOM killer would
            out["killed_rc"] = proc.wait(timeout=60)
        err = log.read_text()
    else:
        done = run_pipeline(data, per_source=SIZE_B, GONGKAI_KILL_AT=arg)
        out["killed_rc"], err = done.returncode, done.stderr
    out["killed_stderr"] = err[-1500:]
    out["orphans"] = wait_gone(str(data), timeout=10)
    kill_all(out["orphans"])
    out["after_kill"] = _classify(data, a, b)
    out["state_after_kill"] = _store_state(data)
    rerun = run_pipeline(data, per_source=SIZE_B)
    out["rerun_rc"], out["rerun_stdout"], out["rerun_stderr"] = (
        rerun.returncode,
        rerun.stdout,
        rerun.stderr[-1500:],
    )
    out["after_rerun"] = _classify(data, a, b)
    out["notices_after_rerun"] = published(data)[1]
    out["state_after_rerun"] = _store_state(data)
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, clean_run: Path) -> dict:
    tmp = tmp_path_factory.mktemp("crash")
    base_a, base_b = clean_run, tmp / "clean-B"
    rb = run_pipeline(base_b, per_source=SIZE_B)
    assert rb.returncode == 0, rb.stderr[-2000:]
    a, b = published(base_a), published(base_b)
    assert a[0] != b[0] and sum(b[1].values()) > 0
    jobs = [("point", p) for p in FROM_A] + [("empty", p) for p in FROM_EMPTY]
    jobs += [("timed", d) for d in DELAYS]
    with ThreadPoolExecutor(4) as pool:
        futures = {
            (kind, arg): pool.submit(_scenario, kind, arg, base_a, tmp, a, b)
            for kind, arg in jobs
        }
        results = {key: f.result() for key, f in futures.items()}
    return {"a": a, "b": b, "results": results}


def _check_rerun(o: dict, expected_notices) -> None:
    assert o["rerun_rc"] == 0, o["rerun_stderr"]
    assert o["rerun_stdout"].strip().splitlines()[-1].endswith(" 0 unaccounted")
    assert o["after_rerun"] == "B"  # same quads as an uninterrupted run: nothing lost, no dupes
    assert o["notices_after_rerun"] == expected_notices
    state = o["state_after_rerun"]
    assert state["incomplete"] == [] and state["newer"] == [], state  # leftovers cleaned


@pytest.mark.parametrize("point", FROM_A)
def test_kill_at_point_then_rerun(outcomes: dict, point: str) -> None:
    o = outcomes["results"][("point", point)]
    assert o["killed_rc"] != 0, "the kill point was never reached"
    assert o["orphans"] == [], "a killed run left helper processes behind"
    # Readers see the previous publish until CURRENT switches, then the new one; never a mix.
    assert o["after_kill"] == ("B" if point == "publish:after-current" else "A")
    if point.startswith("publish:") and point not in ("publish:after-current",):
        assert o["state_after_kill"]["current"] == "gen-000001"
    _check_rerun(o, outcomes["b"][1])


@pytest.mark.parametrize("point", FROM_EMPTY)
def test_first_run_killed_then_rerun(outcomes: dict, point: str) -> None:
    o = outcomes["results"][("empty", point)]
    assert o["killed_rc"] != 0
    assert o["orphans"] == []
    assert o["after_kill"] == "none"  # nothing half-published is ever served
    _check_rerun(o, outcomes["b"][1])


@pytest.mark.parametrize("delay", DELAYS)
def test_kill_after_delay_then_rerun(outcomes: dict, delay: float) -> None:
    o = outcomes["results"][("timed", delay)]
    assert o["orphans"] == [], "a killed run left helper processes behind"
    assert o["after_kill"] in ("A", "B")
    _check_rerun(o, outcomes["b"][1])


def test_report_of_rerun_accounts_for_every_notice(outcomes: dict) -> None:
    for o in outcomes["results"].values():
        reports = sorted((o["data"] / "runs").glob("*/report.json"))
        totals = json.loads(reports[-1].read_text())["totals"]
        assert totals["unaccounted"] == 0
        assert totals["published"] + totals["quarantined"] + totals["reported"] == totals["served"]
