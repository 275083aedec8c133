"""What map+validate made of each item last time, so a daily run maps only what changed.

An item's N-Triples and verdict are a pure function of its JSON line, of what the stage adds
to it (attachment text, the run that first saw its version), of the source's registry entry,
and of the code and data of the mapping and the shapes. `gongkai.pipeline.map_validate_source`
keys an entry by a digest of the line and keeps a digest of the rest beside it; the code and
data go into a fingerprint (`fingerprint()`): when it changes, every entry is dropped and
everything is mapped and validated again. One SQLite file per source under
`{data}/mapped/{src}.sqlite3`; a lost or corrupt file only costs a full re-map.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, NamedTuple

from gongkai.config import DataDir

REPO = Path(__file__).resolve().parent.parent
#: Code and data the mapping and validation read (besides the item): a change re-maps all.
FINGERPRINT_PATHS = (
    "ontology",
    "shapes",
    "gongkai/pipeline.py",
    "gongkai/mapcache.py",
    "gongkai/history.py",
    "gongkai/config.py",
    "gongkai/items.py",
    "harvesters/registry.py",
    "harvesters/sources",
)
FINGERPRINT_PACKAGES = ("pyshacl", "rdflib", "pyoxigraph", "lxml", "pyyaml")
SCHEMA_VERSION = 2
#: `texts` reads the whole table in one pass from this many lines, when they are a quarter of it.
SCAN_MIN = 2000

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS mapped (
    line BLOB PRIMARY KEY,     -- digest of the item's JSON line
    ctx BLOB NOT NULL,         -- digest of the rest of the input (key, texts, runs)
    url TEXT NOT NULL,
    base_key TEXT NOT NULL,    -- ontology.mapping.notice_key of the item
    doc_id TEXT,
    version INTEGER,
    needs_modified INTEGER NOT NULL,
    iri TEXT NOT NULL,
    conforms INTEGER NOT NULL,
    problems TEXT NOT NULL,    -- JSON list
    ntriples BLOB NOT NULL,    -- UTF-8, written to the graph file as it is
    report_text TEXT,
    report_ttl TEXT,
    annual_nt BLOB NOT NULL,   -- annual-report observations (published notices only)
    annual_rows BLOB NOT NULL  -- and their CSV rows (JSON lines)
) WITHOUT ROWID;
"""


def line_digest(line: bytes) -> bytes:
    return hashlib.blake2b(line, digest_size=16).digest()


def context_digest(key: str, texts: Any, modified: str | None, first: str) -> bytes:
    """Digest of what the stage adds to an item line: its key, attachment texts, times."""
    extra = json.dumps(texts, ensure_ascii=False, sort_keys=True) if texts is not None else "-"
    text = f"{key}\x1f{modified}\x1f{first}\x1f{extra}"
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


@cache
def code_fingerprint() -> str:
    """Digest of every file under FINGERPRINT_PATHS, the base URI and library versions."""
    from ontology.namespaces import BASE

    h = hashlib.sha256(f"schema {SCHEMA_VERSION}\nbase {BASE}\n".encode())
    for name in FINGERPRINT_PACKAGES:
        try:
            h.update(f"{name} {metadata.version(name)}\n".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name} -\n".encode())
    for rel in FINGERPRINT_PATHS:
        root = REPO / rel
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in files:
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(REPO)).encode() + b"\0")
                h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def fingerprint(source: Any) -> str:
    """The code fingerprint and the source's registry entry (its agency, name, kind…)."""
    return hashlib.sha256(f"{code_fingerprint()}\n{source!r}".encode()).hexdigest()


class Entry(NamedTuple):
    """What is known of an item line without parsing it, and its verdict (a tuple: a million
    of them are made on every daily run, and a tuple is made in a third of the time)."""

    ctx: bytes
    url: str
    base_key: str
    doc_id: str | None
    version: int | None
    needs_modified: bool
    iri: str
    conforms: bool
    problems: tuple[str, ...]


class MapCache:
    """One source's entries. Reads are served from memory (no texts), texts on demand;
    writes are one transaction, committed by `close()`."""

    def __init__(self, path: Path, fingerprint: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        try:
            self.db = self._open(path, fingerprint)
        except sqlite3.DatabaseError:  # corrupt: start again (costs one full re-map)
            path.unlink(missing_ok=True)
            self.db = self._open(path, fingerprint)
        self.entries: dict[bytes, Entry] = {
            line: Entry(
                ctx, url, key, doc_id, version, needs == 1, iri, ok == 1,
                tuple(json.loads(problems)) if problems != "[]" else (),
            )
            for line, ctx, url, key, doc_id, version, needs, iri, ok, problems in self.db.execute(
                "SELECT line, ctx, url, base_key, doc_id, version, needs_modified, iri,"
                " conforms, problems FROM mapped"
            )
        }  # fmt: skip
        self.used: set[bytes] = set()

    @staticmethod
    def _open(path: Path, fingerprint: str) -> sqlite3.Connection:
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        row = db.execute("SELECT v FROM meta WHERE k = 'fingerprint'").fetchone()
        if row is None or row[0] != fingerprint:
            db.execute("DELETE FROM mapped")
            db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        return db

    @classmethod
    def open(cls, data: DataDir, source: Any) -> MapCache:
        return cls(data.root / "mapped" / f"{source.id}.sqlite3", fingerprint(source))

    def get(self, line: bytes) -> Entry | None:
        return self.entries.get(line)

    def texts(
        self, lines: list[bytes]
    ) -> dict[bytes, tuple[bytes, str | None, str | None, bytes, bytes]]:
        """line → (ntriples, report_text, report_ttl, annual_nt, annual_rows). Many lines (a
        daily run reuses nearly all): one pass over the table, in its order on disk; a few: a
        few hundred a query (one query per entry costs more than the rest of a reused item)."""
        out = {}
        if len(lines) >= SCAN_MIN and len(lines) * 4 >= len(self.entries):
            wanted = set(lines)
            for row in self.db.execute(
                "SELECT line, ntriples, report_text, report_ttl, annual_nt, annual_rows FROM mapped"
            ):
                if row[0] in wanted:
                    out[row[0]] = row[1:]
            return out
        for i in range(0, len(lines), 500):
            part = lines[i : i + 500]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                "SELECT line, ntriples, report_text, report_ttl, annual_nt, annual_rows"
                f" FROM mapped WHERE line IN ({marks})",
                part,
            ):
                out[row[0]] = row[1:]
        return out

    def put(
        self,
        line: bytes,
        entry: Entry,
        ntriples: bytes,
        report: tuple[str | None, str | None],
        annual: tuple[bytes, bytes],
    ) -> None:
        self.entries[line] = entry
        self.db.execute(
            "INSERT OR REPLACE INTO mapped VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                line, entry.ctx, entry.url, entry.base_key, entry.doc_id, entry.version,
                int(entry.needs_modified), entry.iri, int(entry.conforms),
                json.dumps(list(entry.problems), ensure_ascii=False), ntriples, report[0],
                report[1], annual[0], annual[1],
            ),
        )  # fmt: skip

    def close(self, commit: bool = True) -> None:
        """Commit, dropping entries no item used when they have piled up (old versions,
        withdrawn or re-keyed items): at most a quarter more than the items of this run."""
        if commit:
            stale = len(self.entries) - len(self.used)
            if stale > len(self.used) // 4 + 100:
                self.db.execute("CREATE TEMP TABLE used (line BLOB PRIMARY KEY)")
                self.db.executemany("INSERT INTO used VALUES (?)", ((k,) for k in self.used))
                self.db.execute("DELETE FROM mapped WHERE line NOT IN (SELECT line FROM used)")
            self.db.commit()
        self.db.close()
