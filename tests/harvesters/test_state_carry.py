"""The state stores each item as the line a run's items file gets, so carrying it over is a write."""

import json
import sqlite3

from gongkai.items import normalise_item
from harvesters.state import STATE_VERSION, SourceState


def item(sha):
    return {"url": "http://a/202105/t20210506_1.html", "sha256": sha, "title": "通知"}


def test_stored_item_is_the_normalised_line(tmp_path):
    s = SourceState.open(tmp_path, "src")
    out = s.record_item("1", item("a"), run_id="R1", etag=None, last_modified=None, list_sig="x")
    s.close()
    again = SourceState.open(tmp_path, "src")
    text = again.docs["1"].item
    assert text == json.dumps(normalise_item(out), ensure_ascii=False)
    assert json.loads(text) == normalise_item(json.loads(text))  # nothing left to normalise
    assert "通知" in text  # not \\u-escaped
    assert again.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    again.close()


def test_an_older_state_is_normalised_once_on_open(tmp_path):
    s = SourceState.open(tmp_path, "src")
    s.record_item("1", item("a"), run_id="R1", etag=None, last_modified=None, list_sig="x")
    raw = json.dumps({**item("a"), "doc_id": "1", "version": 1}, ensure_ascii=False)
    s.db.execute("UPDATE docs SET item = ?", (raw,))
    s.db.execute("PRAGMA user_version = 0")
    s.close()
    again = SourceState.open(tmp_path, "src")
    text = again.docs["1"].item
    assert text == json.dumps(normalise_item(json.loads(raw)), ensure_ascii=False)
    again.close(commit=False)  # a crashed run: the upgrade is redone next time
    db = sqlite3.connect(tmp_path / "src.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone() == (0,)
    db.close()
    third = SourceState.open(tmp_path, "src")
    assert third.docs["1"].item == text
    third.close()
    db = sqlite3.connect(tmp_path / "src.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone() == (STATE_VERSION,)
    assert db.execute("SELECT item FROM docs").fetchone() == (text,)
    db.close()


def test_seen_again_updates_only_the_sighting(tmp_path):
    s = SourceState.open(tmp_path, "src")
    s.record_item("1", item("a"), run_id="R1", etag=None, last_modified=None, list_sig="x")
    s.record_seen("1", "R2", "y")
    s.close()
    again = SourceState.open(tmp_path, "src")
    doc = again.docs["1"]
    assert (doc.last_seen, doc.list_sig, doc.first_seen) == ("R2", "y", "R1") and doc.item
    again.close()
