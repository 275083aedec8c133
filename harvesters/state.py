"""Harvest state kept between runs: one small SQLite database per source under `data.state`.

`docs` holds what the harvester knows of each document (by its stable document id): the
URL, the validators of the last fetch (ETag, Last-Modified), the page's sha256, what the list
showed for it (a signature of the list entry), its version, when it was first and last seen,
whether it failed or was withdrawn, and the latest item. `versions` keeps every version of an
item: an edited notice becomes a new version, the old one stays. `lists` keeps the order each
list showed its documents in when last known, so a daily run can find withdrawals by bisection
(harvesters/listwalk.py) instead of walking every list.

Items are stored as the JSON line a run's items file gets (`normalise_item`, schema order,
`ensure_ascii=False`), so an incremental run carries an unchanged notice over by writing the
stored text as it is (`PRAGMA user_version` 2; older states are rewritten once on open).

Durability: the database is in WAL mode with `synchronous=NORMAL`, and all of a run's changes
are one transaction, committed when the spider closes. A killed process loses nothing that was
committed and nothing half-written is ever read (the previous run's state stays whole); a power
loss or OS crash may roll back the last committed run(s), which the next run treats like a
crashed one: it fetches again what that run saw. Commits do not fsync; checkpoints do.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gongkai.items import normalise_item

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    status TEXT NOT NULL,          -- ok | failed | withdrawn
    reason TEXT,                   -- why it failed
    etag TEXT,
    last_modified TEXT,
    sha256 TEXT,
    list_sig TEXT,
    version INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    withdrawn TEXT,                -- date it disappeared
    item TEXT                      -- latest item, JSON
);
CREATE TABLE IF NOT EXISTS versions (
    doc_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT,
    run_id TEXT NOT NULL,
    item TEXT NOT NULL,
    PRIMARY KEY (doc_id, version)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    full_walk INTEGER NOT NULL
);
"""
#: The order each list showed its documents in when last known (harvesters/listwalk.py).
LISTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS lists (
    key TEXT PRIMARY KEY,          -- the list (a column URL, a Hanweb proxy and column id)
    doc_ids TEXT NOT NULL          -- its document ids, newest first, one a line
);
"""
#: `PRAGMA user_version`: 2 = items stored normalised, as the items file writes them.
STATE_VERSION = 2

_TRS_ID = re.compile(r"/t\d{8}_(\d+)(?:_(?:app|wap))?\.s?html?$")
_HANWEB_ID = re.compile(r"/art_\d+_(\d+)\.html$")
_NUMERIC_ID = re.compile(r"/(\d{3,})\.s?html?$")


def doc_id_of(url: str) -> str:
    """The stable document id a URL carries (TRS docid, Hanweb article id, a numeric file
    name), else the URL itself: copies (`_app`, `_wap`, another column) share the id."""
    try:
        path = urlsplit(url).path
    except ValueError:  # "http://[x/…": not a URL a crawl fetched (the mapping quarantines it)
        return url
    for pattern in (_TRS_ID, _HANWEB_ID, _NUMERIC_ID):
        if m := pattern.search(path):
            return m.group(1)
    return url


def list_signature(text: str) -> str:
    """What a list shows of a document (title, date), hashed: a change means an edit."""
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:16]


@dataclass(slots=True)
class Doc:
    """What the state knows of one document. Its item (the JSON line, ~1 KB) stays in SQLite
    and is read when asked for: held in memory for every document, the items alone took
    ~1 GB per crawl process at 1M notices."""

    doc_id: str
    url: str
    status: str
    reason: str | None
    etag: str | None
    last_modified: str | None
    sha256: str | None
    list_sig: str | None
    version: int
    first_seen: str
    last_seen: str
    withdrawn: str | None
    has_item: bool = False
    state: SourceState | None = field(default=None, repr=False, compare=False)

    @property
    def item(self) -> str | None:
        """The latest item as stored (read from the database, uncommitted changes included)."""
        if not self.has_item or self.state is None:
            return None
        return self.state.item_text(self.doc_id)

    def item_dict(self) -> dict[str, Any] | None:
        text = self.item
        return json.loads(text) if text else None


_COLUMNS = (
    "doc_id, url, status, reason, etag, last_modified, sha256, list_sig, version, first_seen, "
    "last_seen, withdrawn"
)


def _line(item: dict[str, Any]) -> str:
    """An item as stored: the JSON line (without its newline) the run's items file gets."""
    return json.dumps(normalise_item(item), ensure_ascii=False)


class SourceState:
    """The state of one source. Changes are committed by `close()` (a crashed run leaves the
    previous state, so the next run fetches again what this one saw)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode=WAL")  # persistent; a no-op once set
        self.db.execute("PRAGMA synchronous=NORMAL")
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version < STATE_VERSION:
            self.db.executescript(SCHEMA)
        self.db.executescript(LISTS_SCHEMA)  # added later than version 2: created on open
        self.docs: dict[str, Doc] = {
            row[0]: Doc(*row[:-1], has_item=bool(row[-1]), state=self)
            for row in self.db.execute(f"SELECT {_COLUMNS}, item IS NOT NULL FROM docs")
        }
        (self.runs,) = self.db.execute("SELECT COUNT(*) FROM runs").fetchone()
        if version < STATE_VERSION:
            self._upgrade()

    def _upgrade(self) -> None:
        """Store every item normalised (in this run's transaction: a crash redoes it)."""
        rows = self.db.execute("SELECT doc_id, item FROM docs WHERE item IS NOT NULL").fetchall()
        for doc_id, stored in rows:
            text = _line(json.loads(stored))
            if text != stored:
                self.db.execute("UPDATE docs SET item = ? WHERE doc_id = ?", (text, doc_id))
        self.db.execute(f"PRAGMA user_version = {STATE_VERSION}")

    def item_text(self, doc_id: str) -> str | None:
        row = self.db.execute("SELECT item FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def item_texts(self) -> dict[str, str]:
        """Every stored item, by document id (uncommitted changes included), in one query."""
        return dict(self.db.execute("SELECT doc_id, item FROM docs WHERE item IS NOT NULL"))

    @classmethod
    def open(cls, state_dir: Path, source_id: str) -> SourceState:
        return cls(state_dir / f"{source_id}.sqlite3")

    @property
    def empty(self) -> bool:
        return not self.docs

    def known(self) -> int:
        """Documents a complete list should show: read ones and ones that failed."""
        return sum(1 for d in self.docs.values() if d.status != "withdrawn")

    def _save(self, doc: Doc, item: str | None) -> None:
        doc.has_item, doc.state = item is not None, self
        self.docs[doc.doc_id] = doc
        self.db.execute(
            f"INSERT OR REPLACE INTO docs ({_COLUMNS}, item) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                doc.doc_id, doc.url, doc.status, doc.reason, doc.etag, doc.last_modified,
                doc.sha256, doc.list_sig, doc.version, doc.first_seen, doc.last_seen,
                doc.withdrawn, item,
            ),
        )  # fmt: skip

    def record_item(
        self,
        doc_id: str,
        item: dict[str, Any],
        *,
        run_id: str,
        etag: str | None,
        last_modified: str | None,
        list_sig: str | None,
    ) -> dict[str, Any]:
        """Store a fetched item; returns it with `doc_id`, `version`, `previous_sha256`."""
        old = self.docs.get(doc_id)
        sha = item.get("sha256")
        stored = old.item_dict() if old is not None and old.sha256 == sha else None
        if old is not None and stored is not None:
            version, previous = old.version, stored.get("previous_sha256")
        elif old is not None and old.version and old.sha256:
            version, previous = old.version + 1, old.sha256
        else:
            version, previous = 1, None
        item = {**item, "doc_id": doc_id, "version": version, "previous_sha256": previous}
        item["withdrawn"] = None
        item = normalise_item(item)
        text = json.dumps(item, ensure_ascii=False)
        self._save(
            Doc(
                doc_id, item["url"], "ok", None, etag, last_modified, sha, list_sig, version,
                old.first_seen if old else run_id, run_id, None,
            ),
            text,
        )  # fmt: skip
        if old is None or old.version != version:
            self.db.execute(
                "INSERT OR REPLACE INTO versions VALUES (?,?,?,?,?)",
                (doc_id, version, sha, run_id, text),
            )
        return item

    def record_seen(self, doc_id: str, run_id: str, list_sig: str | None = None) -> None:
        """A known document seen again unchanged (on a list, or answered 304)."""
        doc = self.docs[doc_id]
        doc.last_seen = run_id
        if list_sig is not None:
            doc.list_sig = list_sig
        self.db.execute(
            "UPDATE docs SET last_seen = ?, list_sig = ? WHERE doc_id = ?",
            (doc.last_seen, doc.list_sig, doc_id),
        )

    def record_failure(self, doc_id: str, url: str, reason: str, run_id: str) -> None:
        old = self.docs.get(doc_id)
        if old is not None and old.status == "ok":
            return  # a transient failure of a known document: keep what we have
        self._save(
            Doc(doc_id, url, "failed", reason, None, None, None, None, 0,
                old.first_seen if old else run_id, run_id, None),
            None,
        )  # fmt: skip

    def record_withdrawn(self, doc_id: str, day: str) -> dict[str, Any] | None:
        doc = self.docs[doc_id]
        item = doc.item_dict()
        doc.status, doc.withdrawn = "withdrawn", day
        if item is not None:
            item["withdrawn"] = day
        self._save(doc, _line(item) if item is not None else None)
        return item

    def list_order(self, key: str) -> list[str] | None:
        """The document ids a list showed, in its order, when last known; None if unknown."""
        row = self.db.execute("SELECT doc_ids FROM lists WHERE key = ?", (key,)).fetchone()
        return row[0].split("\n") if row and row[0] else ([] if row else None)

    def set_list_order(self, key: str, doc_ids: list[str] | None) -> None:
        """Keep a list's order (None: forget it, the next run walks that list whole)."""
        if doc_ids is None:
            self.db.execute("DELETE FROM lists WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO lists VALUES (?, ?)", (key, "\n".join(doc_ids)))

    def record_run(self, run_id: str, full_walk: bool) -> None:
        self.db.execute("INSERT OR REPLACE INTO runs VALUES (?, ?)", (run_id, int(full_walk)))

    def close(self, commit: bool = True) -> None:
        if commit:
            self.db.commit()
        self.db.close()
