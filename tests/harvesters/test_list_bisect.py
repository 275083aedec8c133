"""A daily run over long lists reads only the pages it must: the withdrawals the sandbox made
are found by bisection (TRS pages, Hanweb record windows), not by walking every list, and the
order each list shows is kept for the next day."""

from __future__ import annotations

import json

import pytest

from gongkai.config import DataDir
from gongkai.pipeline import harvest, new_run_id, sandbox
from harvesters.registry import load_sources
from harvesters.sandbox.faults import Churn
from harvesters.sandbox.server import Sandbox, SandboxConfig
from harvesters.state import SourceState

pytestmark = pytest.mark.slow

SOURCES = ["yuzhong", "dianjiang"]  # TRS (20 a page), Hanweb (windows of 3 pages of 20 records)
PER_SOURCE = 1500
CHURN = Churn(new=0.01, edited=0.001, withdrawn=0.002)


def day(data: DataDir, sources, epoch: int) -> dict:
    run_id = new_run_id()
    with sandbox(data, per_source=PER_SOURCE, epoch=epoch, churn=CHURN) as sb:
        harvest(data, run_id, sources, sandbox_url=sb.url)
    return {
        s.id: json.loads(data.health(run_id, s.id).read_text(encoding="utf-8")) for s in sources
    }


def withdrawn_by_truth(source, epoch: int) -> set[str]:
    sb = Sandbox(SandboxConfig((source,), PER_SOURCE, 2014, None, None, epoch, CHURN))
    return {r["doc_id"] for r in sb.truth_records("http://h") if r["expect"] == "withdrawn"}


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    data = DataDir(tmp_path_factory.mktemp("bisect"))
    sources = [s for s in load_sources() if s.id in SOURCES]
    first = day(data, sources, 1)
    second = day(data, sources, 2)
    return data, sources, first, second


@pytest.mark.parametrize("sid", SOURCES)
def test_the_days_withdrawals_are_all_found(days, sid) -> None:
    data, sources, _, second = days
    (source,) = [s for s in sources if s.id == sid]
    truth = withdrawn_by_truth(source, 2)
    assert truth, "the sandbox withdrew nothing: the test would prove nothing"
    state = SourceState.open(data.state, sid)
    found = {d.doc_id for d in state.docs.values() if d.status == "withdrawn"}
    state.close(commit=False)
    assert found == truth
    assert second[sid]["withdrawn"] == len(truth)


@pytest.mark.parametrize("sid", SOURCES)
def test_the_daily_run_reads_a_fraction_of_the_list(days, sid) -> None:
    _, _, first, second = days
    assert all(walk == "partial" for walk in second[sid]["lists"].values())
    # TRS: 75 pages walked on day 1, ~17 on day 2; Hanweb: 25 windows, ~13 (a list this
    # short is still mostly audit and bisection: the share falls as lists grow)
    assert second[sid]["list_pages"] < first[sid]["list_pages"] * 0.6


@pytest.mark.parametrize("sid", SOURCES)
def test_the_lists_order_is_kept_for_the_next_day(days, sid) -> None:
    data, *_ = days
    state = SourceState.open(data.state, sid)
    orders = state.db.execute("SELECT key, doc_ids FROM lists").fetchall()
    live = {d.doc_id for d in state.docs.values() if d.status != "withdrawn"}
    state.close(commit=False)
    assert orders
    listed = [doc for _, ids in orders for doc in ids.split("\n")]
    assert len(listed) == len(set(listed))  # each document once, in one list
    assert set(listed) <= live
