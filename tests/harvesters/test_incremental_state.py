"""Harvest state between runs: document ids, versions, failures, withdrawals."""

import pytest

from harvesters.spiders.portal import stated_records
from harvesters.state import SourceState, doc_id_of, list_signature


@pytest.mark.parametrize(
    ("url", "doc_id"),
    [
        ("http://a/zwgk/202105/t20210506_9245393.html", "9245393"),
        ("http://a/zwgk/202105/t20210506_9245393_app.html", "9245393"),
        ("http://a/zwgk/zl/202105/t20210506_9245393_wap.html", "9245393"),
        ("http://a/art/2021/5/6/art_1234_567890.html", "567890"),
        ("http://a/zwgk/tzgg/2022-03-05/4521.html", "4521"),
        ("http://a/about.html", "http://a/about.html"),
    ],
)
def test_document_id_is_shared_by_copies(url, doc_id):
    assert doc_id_of(url) == doc_id


def test_list_signature_ignores_spacing_only():
    assert list_signature("通知 2021-05-06") == list_signature(" 通知\n 2021-05-06 ")
    assert list_signature("通知 2021-05-06") != list_signature("通知（修订） 2021-05-06")


def test_record_count_only_from_the_six_argument_form():
    assert stated_records("createPageHTML('page_div', 10, 1, 'index', 'html', 193);") == 193
    assert stated_records('createPageHTML(12, 0, "index", "html");') is None


def item(sha, title="t"):
    return {"url": "http://a/202105/t20210506_1.html", "sha256": sha, "title": title}


@pytest.fixture
def state(tmp_path):
    s = SourceState.open(tmp_path, "src")
    yield s
    s.close()


def test_a_changed_page_is_a_new_version_linked_to_the_old(state):
    first = state.record_item(
        "1", item("a"), run_id="R1", etag='"a"', last_modified=None, list_sig="x"
    )
    again = state.record_item(
        "1", item("a"), run_id="R2", etag='"a"', last_modified=None, list_sig="x"
    )
    edited = state.record_item(
        "1", item("b"), run_id="R3", etag='"b"', last_modified=None, list_sig="y"
    )
    assert (first["version"], again["version"], edited["version"]) == (1, 1, 2)
    assert edited["previous_sha256"] == "a" and first["previous_sha256"] is None
    versions = state.db.execute("SELECT version, sha256 FROM versions ORDER BY version").fetchall()
    assert versions == [(1, "a"), (2, "b")]


def test_withdrawn_is_marked_with_its_date_never_deleted(state):
    state.record_item("1", item("a"), run_id="R1", etag=None, last_modified=None, list_sig=None)
    withdrawn = state.record_withdrawn("1", "2026-11-26")
    assert withdrawn["withdrawn"] == "2026-11-26"
    assert state.docs["1"].status == "withdrawn" and state.docs["1"].item


def test_a_transient_failure_keeps_a_known_document(state):
    state.record_item("1", item("a"), run_id="R1", etag=None, last_modified=None, list_sig=None)
    state.record_failure("1", "http://a/x", "HTTP 503", "R2")
    state.record_failure("2", "http://a/y", "HTTP 500", "R2")
    assert state.docs["1"].status == "ok" and state.docs["2"].status == "failed"
    assert state.known() == 2


def test_state_survives_a_reopen(tmp_path):
    s = SourceState.open(tmp_path, "src")
    s.record_item("1", item("a"), run_id="R1", etag='"a"', last_modified=None, list_sig="x")
    s.close()
    again = SourceState.open(tmp_path, "src")
    assert again.docs["1"].etag == '"a"' and not again.empty
    again.close()
