"""The sandbox's daily churn: each epoch is a day adding a share of new notices at the top of the
lists, dated that day, and editing and withdrawing small shares of the older ones."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from harvesters.registry import load_sources
from harvesters.sandbox.__main__ import main as sandbox_main
from harvesters.sandbox.faults import DAILY, NEW_PER_EPOCH, Churn, Plan
from harvesters.sandbox.generate import LAST_DAY, PAGE_SIZE
from harvesters.sandbox.server import Sandbox, SandboxConfig

PER = 20_000


@pytest.fixture(scope="module")
def source():
    return next(s for s in load_sources() if s.id == "yuzhong")


def sandbox(source, epoch: int, per: int = PER, churn: Churn | None = DAILY) -> Sandbox:
    return Sandbox(SandboxConfig((source,), per, 2014, None, None, epoch, churn))


def test_each_day_adds_one_percent_at_the_top_dated_that_day(source) -> None:
    day2, day3 = sandbox(source, 2, 1000), sandbox(source, 3, 1000)
    assert day2.count(source) == 1010 and day3.count(source) == 1020
    entries, total = day3.entries(source, 0, PAGE_SIZE)
    assert total == len(day3.live(source))
    newest = [notice for _, notice in entries]
    assert [n.n for n in newest[:10]] == list(range(1019, 1009, -1))
    assert {n.published for n in newest[:10]} == {LAST_DAY + timedelta(days=2)}
    assert {n.published for n in newest[10:20]} == {LAST_DAY + timedelta(days=1)}
    assert all(n.written <= n.published for n in newest)
    # day 2's pages start with day 2's notices; the older ones follow, as on day 1
    assert [n.n for _, n in day2.entries(source, 0, PAGE_SIZE)[0][:11]] == [
        *range(1009, 999, -1),
        999,
    ]


@pytest.mark.parametrize("kind", ["edited", "withdrawn"])
def test_edits_and_withdrawals_are_small_shares_that_accumulate(source, kind: str) -> None:
    day2, day3 = sandbox(source, 2), sandbox(source, 3)
    hit2 = {n for n in range(PER) if getattr(day2.plan, kind)(source, n)}
    hit3 = {n for n in range(PER) if getattr(day3.plan, kind)(source, n)}
    share = getattr(DAILY, kind)
    for hits, days in ((hit2, 1), (hit3, 2)):
        expected = share * PER * days
        assert abs(len(hits) - expected) <= 3 * math.sqrt(expected) + 1, (kind, len(hits))
    assert hit2 < hit3  # what a day changed stays changed
    assert not any(getattr(day2.plan, kind)(source, n) for n in range(PER, PER + 200))  # new


def test_truth_says_what_the_day_changed(source, tmp_path) -> None:
    sb = sandbox(source, 2, 5000, Churn(0.01, 0.01, 0.01))
    records = list(sb.truth_records("http://127.0.0.1:1"))
    assert len(records) == 5050
    withdrawn = [r for r in records if r["expect"] == "withdrawn"]
    edited = [r for r in records if r["version"] == 2]
    assert 20 <= len(withdrawn) <= 80 and 20 <= len(edited) <= 80
    assert all(r["title"].endswith("（修订）") for r in edited if r["title"])
    assert sb.write_truth(tmp_path / "truth.jsonl", "http://127.0.0.1:1") == 5050 - len(withdrawn)
    assert len(sb.live(source)) == 5050 - len(withdrawn)


def test_without_a_churn_epochs_are_as_before(source) -> None:
    plan = Plan(None, 2, {source.id})
    assert plan.extra(source) == NEW_PER_EPOCH
    assert plan.withdrawn(source, 8) and plan.edited(source, 3)
    assert plan.added_on(20, LAST_DAY) == LAST_DAY
    assert sandbox(source, 2, 20, None).notice(source, 21).published == LAST_DAY


def test_shares_outside_zero_to_one_are_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        Churn(new=1.5)
    with pytest.raises(SystemExit):
        sandbox_main(["--new-fraction", "-0.1", "--data-dir", str(tmp_path)])
    with pytest.raises(SystemExit):
        sandbox_main(["--edit-fraction", "0.1", "--data-dir", str(tmp_path)])
