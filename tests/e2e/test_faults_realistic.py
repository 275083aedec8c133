"""Nothing lost under `--faults realistic`: a first run and an incremental run (epoch 2: notices
edited, withdrawn, added) each end with every served notice published, quarantined, reported
with its reason, or recorded as withdrawn, exactly as the sandbox's ground truth says.

Two pipeline runs for the module (each ~20 s), then one behaviour per test.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harvesters.state import doc_id_of

pytestmark = pytest.mark.slow

# every family and layout, the robots portal (jiangbei), the bot-challenged portal (dazu)
SOURCES = ["yuzhong", "jiangbei", "dazu", "chengkou", "dianjiang", "cqksy", "hechuan", "changshou"]
PER_SOURCE = 60


def gongkai(data: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gongkai.cli", *args, "--data-dir", str(data)]
    for sid in SOURCES:
        cmd += ["--only", sid]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240)


def snapshot(data: Path, done: subprocess.CompletedProcess) -> dict:
    (run,) = sorted((data / "runs").iterdir())[-1:]
    truth = [json.loads(line) for line in (data / "sandbox" / "truth.jsonl").open(encoding="utf-8")]

    def jsonl(folder: str) -> dict:
        out = {}
        for sid in SOURCES:
            path = run / folder / f"{sid}.jsonl"
            for line in path.open(encoding="utf-8") if path.exists() else ():
                record = json.loads(line)
                out[(sid, doc_id_of(record["url"]))] = record
        return out

    quarantined = set()
    for sid in SOURCES:
        for line in (data / "quarantine" / f"{sid}.jsonl").open(encoding="utf-8"):
            quarantined.add((sid, doc_id_of(json.loads(line)["item"]["url"])))
    return {
        "done": done,
        "run": run,
        "truth": [t for t in truth if t["source"] in SOURCES],
        "report": json.loads((run / "report.json").read_text(encoding="utf-8")),
        "items": jsonl("items"),
        "errors": jsonl("errors"),
        "withdrawn": jsonl("withdrawn"),
        "quarantined": quarantined,
        "health": {
            sid: json.loads((run / "health" / f"{sid}.json").read_text()) for sid in SOURCES
        },
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    data = tmp_path_factory.mktemp("faults")
    common = ["--no-serve", "--faults", "realistic", "--per-source", str(PER_SOURCE)]
    first = snapshot(data, gongkai(data, "run", *common))
    second = snapshot(data, gongkai(data, "run", *common, "--epoch", "2"))
    return data, {"first": first, "second": second}


RUNS = ["first", "second"]


@pytest.mark.parametrize("which", RUNS)
def test_run_ends_with_zero_unaccounted(runs, which):
    done = runs[1][which]["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1].endswith(" 0 unaccounted")


@pytest.mark.parametrize("which", RUNS)
def test_every_notice_ends_as_the_truth_says(runs, which):
    r = runs[1][which]
    wrong = []
    for t in r["truth"]:
        key, expect = (t["source"], t["doc_id"]), t["expect"]
        if expect == "withdrawn":
            ok = key in r["withdrawn"] and r["withdrawn"][key]["withdrawn"]
        elif expect == "quarantined":
            ok = key in r["quarantined"]
        elif expect == "published":
            item = r["items"].get(key)
            ok = item is not None and key not in r["quarantined"] and item["title"] == t["title"]
        elif expect == "reported:bot challenge":
            ok = r["report"]["sources"][t["source"]]["refused"] is not None
        else:
            error = r["errors"].get(key)
            ok = error is not None and error["reason"].startswith(expect.split(":", 1)[1])
        if not ok:
            wrong.append((t["url"], expect))
    assert wrong == []


def test_faults_were_really_injected(runs):
    expects = {t["expect"] for t in runs[1]["first"]["truth"]}
    assert {"reported:HTTP 500", "reported:truncated page", "reported:bot challenge"} <= expects
    assert "reported:disallowed by robots.txt" in expects
    assert runs[1]["first"]["health"]["yuzhong"]["retries"] > 0


def test_bot_challenge_is_flagged_for_its_source_only(runs):
    rows = runs[1]["first"]["report"]["sources"]
    assert any("bot challenge" in f for f in rows["dazu"]["flags"])
    assert [sid for sid, row in rows.items() if row["flags"]] == ["dazu"]
    assert "[flags: bot challenge" in runs[1]["first"]["done"].stdout


def test_second_run_is_incremental(runs):
    first, second = runs[1]["first"]["health"], runs[1]["second"]["health"]
    assert all(second[sid]["mode"] == "incremental" for sid in SOURCES if sid != "dazu")
    assert (
        sum(h["detail_pages"] for h in second.values())
        < sum(h["detail_pages"] for h in first.values()) / 3
    )
    before = {t["doc_id"] for t in runs[1]["first"]["truth"]}
    added = [
        t
        for t in runs[1]["second"]["truth"]
        if t["doc_id"] not in before and t["expect"] in ("published", "quarantined")
    ]
    assert sum(h["new"] for h in second.values()) == len(added) > 0


def test_second_run_still_holds_every_known_notice(runs):
    second = runs[1]["second"]
    published = [t for t in second["truth"] if t["expect"] in ("published", "quarantined")]
    assert all((t["source"], t["doc_id"]) in second["items"] for t in published)


def test_edited_notice_is_a_new_version_of_the_old(runs):
    first, second = runs[1]["first"]["items"], runs[1]["second"]["items"]
    edited = [t for t in runs[1]["second"]["truth"] if t["version"] == 2]
    assert edited
    for t in edited:
        key = (t["source"], t["doc_id"])
        if t["expect"] != "published":
            continue
        assert second[key]["version"] == 2
        assert second[key]["previous_sha256"] == first[key]["sha256"]


def test_withdrawn_notice_is_kept_with_its_date(runs):
    second = runs[1]["second"]
    assert second["withdrawn"]
    for key, record in second["withdrawn"].items():
        assert record["withdrawn"] and second["items"][key]["withdrawn"] == record["withdrawn"]


def test_duplicates_collapse_to_one_notice(runs):
    health = runs[1]["first"]["health"]
    assert health["yuzhong"]["duplicates"] > 0
    items = runs[1]["first"]["items"]
    assert len(items) == sum(h["fetched_items"] for h in health.values())


def test_every_response_is_archived_and_reparse_rebuilds_the_run(runs):
    data, r = runs
    first = r["first"]
    for sid in SOURCES:
        assert (data / "warc" / sid / f"{first['run'].name}.warc.gz").stat().st_size > 0
    before = {k: v["sha256"] for k, v in first["items"].items()}
    done = gongkai(data, "reparse", "--run-id", first["run"].name)
    assert done.returncode == 0, done.stderr[-2000:]
    after = {}
    for sid in SOURCES:
        for line in (first["run"] / "items" / f"{sid}.jsonl").open(encoding="utf-8"):
            item = json.loads(line)
            after[(sid, doc_id_of(item["url"]))] = item["sha256"]
    assert after == before
