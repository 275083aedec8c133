"""Crashes: `gongkai run` killed (SIGKILL) at every stage boundary and at timed moments, then run
again, ends with exactly the data of an uninterrupted run; readers never see half a publish.

Every scenario starts from a copy of a data directory published by a clean run A (4 notices
per source), and the killed run harvests the same sandbox grown to 6 notices per source (B), so
"what readers see after the kill" is checkable: it must be all of A (the publish did not switch
yet) or all of B (it did), never a mix. The re-run (B, no kill) must publish exactly what a clean
B run over A publishes (B changes some of A's notices, so the reference holds their previous
versions too). (Not a different seed: incremental harvesting rightly trusts a 304 for a URL it
has seen, and the sandbox's validators do not depend on the seed.)

Scenarios run four at a time (a run mostly waits on its sandbox and crawl), in one module
fixture; each test then checks one scenario's outcome.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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
# publish:after-backup and publish:mid-delta are on the store's delta path only (a small
# change); B changes most triples of A and builds fresh, so those points are covered by the
# store-level test below.
DELTA_ONLY = ("publish:after-backup", "publish:mid-delta")
FROM_A = [p for p in KILL_POINTS if p not in DELTA_ONLY]
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
        log = tmp / f"log-timed-{arg}.txt"
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
    q = published(data)[0]
    out["rerun_diff"] = {"missing": list(b[0] - q)[:5], "extra": list(q - b[0])[:5]}
    out["notices_after_rerun"] = published(data)[1]
    out["state_after_rerun"] = _store_state(data)
    return out


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory, clean_run: Path) -> dict:
    tmp = tmp_path_factory.mktemp("crash")
    # The reference: the same history without a kill (A, then B over it: incremental, with
    # the previous versions of notices B changed).
    base_a, base_b = clean_run, tmp / "clean-B"
    shutil.copytree(base_a, base_b, symlinks=True)
    base_b0 = tmp / "clean-B-from-empty"  # the reference of the first-run scenarios
    with ThreadPoolExecutor(2) as pool:
        rb = pool.submit(run_pipeline, base_b, per_source=SIZE_B)
        rb0 = pool.submit(run_pipeline, base_b0, per_source=SIZE_B)
        rb, rb0 = rb.result(), rb0.result()
    assert rb.returncode == 0, rb.stderr[-2000:]
    assert rb0.returncode == 0, rb0.stderr[-2000:]
    a, b = published(base_a), published(base_b)
    assert a[0] != b[0] and sum(b[1].values()) > 0
    jobs = [("point", p) for p in FROM_A] + [("empty", p) for p in FROM_EMPTY]
    jobs += [("timed", d) for d in DELAYS]
    with ThreadPoolExecutor(4) as pool:
        futures = {
            (kind, arg): pool.submit(_scenario, kind, arg, base_a, tmp, a, b) for kind, arg in jobs
        }
        results = {key: f.result() for key, f in futures.items()}
    return {"a": a, "b": b, "b0": published(base_b0), "results": results}


def _check_rerun(o: dict, expected_notices, reference=None) -> None:
    assert o["rerun_rc"] == 0, o["rerun_stderr"]
    assert o["rerun_stdout"].strip().splitlines()[-1].endswith(" 0 unaccounted")
    if reference is None:
        # same quads as the uninterrupted history: nothing lost, no duplicates
        assert o["after_rerun"] == "B", o["rerun_diff"]
    else:
        assert published(o["data"])[0] == reference[0]
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
    _check_rerun(o, outcomes["b0"][1], reference=outcomes["b0"])


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


# --- the store alone, on its backup path (a large graph kept, a small one replaced) ----------

STORE_POINTS = [p for p in KILL_POINTS if p.startswith("publish:")]
_PUBLISH_SCRIPT = """
import sys
from pathlib import Path
from endpoint.store import publish
from gongkai.config import DataDir
root, version = Path(sys.argv[1]), sys.argv[2]
publish(DataDir(root), {"http://example.org/small": root / f"small-{version}.nt"}, run_id=version)
"""


def _store_quads(root: Path) -> set[str]:
    import pyoxigraph as ox

    from endpoint.store import current_generation
    from gongkai.config import DataDir

    store = ox.Store.read_only(str(current_generation(DataDir(root))))
    try:
        return {str(q) for q in store.quads_for_pattern(None, None, None, None)}
    finally:
        del store


@pytest.mark.parametrize("point", STORE_POINTS)
def test_store_killed_on_its_backup_path(tmp_path: Path, point: str) -> None:
    from endpoint.store import publish
    from gongkai.config import DataDir

    root = tmp_path / "var"
    root.mkdir()
    big = root / "big.nt"
    big.write_text(
        "".join(f'<http://example.org/b{i}> <http://example.org/p> "{i}" .\n' for i in range(3000))
    )
    for version in ("v1", "v2"):
        (root / f"small-{version}.nt").write_text(
            f'<http://example.org/s> <http://example.org/p> "{version}" .\n'
        )
    data = DataDir(root)
    publish(
        data,
        {"http://example.org/big": big, "http://example.org/small": root / "small-v1.nt"},
        run_id="v1",
    )
    old = _store_quads(root)
    done = subprocess.run(
        [sys.executable, "-c", _PUBLISH_SCRIPT, str(root), "v2"],
        env=env(GONGKAI_KILL_AT=point),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, f"{point} was not reached: {done.stderr[-1500:]}"
    after = _store_quads(root)
    new = {q.replace('"v1"', '"v2"') for q in old}
    assert after == (new if point == "publish:after-current" else old)  # whole, never a mix
    # the next publish repairs everything: same content as an uninterrupted publish
    publish(data, {"http://example.org/small": root / "small-v2.nt"}, run_id="v2")
    assert _store_quads(root) == new
    state = _store_state(root)
    assert state["incomplete"] == [] and state["newer"] == [], state
