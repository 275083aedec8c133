"""Full-text search over harvested notices: an embedded SQLite FTS5 index, `/search` and `/search.json`.

Chinese has no spaces between words, so a word tokenizer would need a segmenter (and its
dictionary); FTS5's `trigram` tokenizer indexes every three-character window instead, so any
substring of three or more characters is found without segmentation. Shorter terms (one or
two characters, e.g. 税, 罚款) have no trigram: a second FTS5 table indexes every character and
every pair of adjacent characters of each notice as tokens, so they are index look-ups too.

Layout (one file, `{data}/search/index.sqlite`, rebuilt per publish and swapped atomically;
while `gongkai run` builds a new one in the background, the routes say so, see `_preparing`):
- `docs`: one row per notice, rowid in publication order (oldest first), with the text
  (title, body, attachment text) and the filter columns (source, agency IRI, division code,
  areas as ",2,14,", published ISO date); an index on `published` turns a date range into a
  rowid range;
- `fts_0`, `fts_1`, ...: external-content FTS5 tables over `docs(title, body, attachments)`,
  `SHARD_ROWS` consecutive rowids each, `tokenize=trigram` and `detail=full` (required: a
  query of four or more characters is a phrase of trigrams, and FTS5 refuses phrase queries
  with `detail=column|none`). Sharded because FTS5 bounds a rowid range only at a match: a
  phrase whose trigrams are everywhere but which is nowhere reads every doclist to its end,
  and shards turn that into slices a time budget can stop between;
- `grams`: a contentless FTS5 table (`detail=none`, `tokenize=ascii`, no column sizes) with one
  token per distinct character (`u` + hex code point), per distinct pair of adjacent characters
  (`b` + hex + `x` + hex; never across whitespace or between fields), all lower-cased, and
  per filter value (`s` + hex of the source id, `d` + division code, `a` + area number).

Queries: the user's text is split on whitespace and the terms are ANDed. A term of >= 3
characters becomes an FTS5 phrase on the trigram tables (double quotes doubled, so the user
never writes FTS5 syntax); shorter terms and the source/division/area filters become `grams`
tokens (built here from the code points: no user character reaches the FTS5 syntax). Dates
become a rowid range. Every value is an SQL parameter. Plans:
- phrases only: the trigram tables, newest shard first;
- anything with a short term or a filter: `grams` drives (its tokens ANDed, plus the character
  pairs of each phrase as a necessary condition), and each candidate is checked against the
  phrases in its trigram table by rowid.
Matches are read once, newest first (FTS5 hands rowids out in descending order: no scoring,
no sort), up to `COUNT_LIMIT` + 1; the total is reported as "at least" beyond it. When a query
with phrases matches at most `RANK_LIMIT` notices they are ranked (bm25 without IDF, in SQL,
see `_ranked`), otherwise listed newest first. Past its time budget a search stops between
shards and answers the newest matches found, flagged `complete = False`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from operator import add
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from markupsafe import Markup, escape

from endpoint import building
from gongkai.config import DataDir, base_uri
from gongkai.items import read_jsonl

MARK_START = "\ue000"  # private-use characters: never in harvested text, replaced on output
MARK_END = "\ue001"
COUNT_LIMIT = 1_000
RANK_LIMIT = 1_000
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
SNIPPET_TOKENS = 24
PHRASE_GRAMS = 16  # character pairs of one phrase added to a `grams` query (a prefilter)
SCAN_BUDGET_S = 0.15  # default time an index scan may take before it stops (see search())
SHARD_ROWS = 65_536  # rowids per trigram table: the unit of work a time budget can stop
MMAP_BYTES = 1 << 32  # SQLite caps it at its compile-time maximum (2 GiB by default)
TEMPLATE = Path(__file__).parent / "templates" / "search.html"

SCHEMA = """
CREATE TABLE docs (
    id INTEGER PRIMARY KEY,
    iri TEXT NOT NULL,
    source TEXT NOT NULL,
    agency TEXT,
    division TEXT,
    areas TEXT NOT NULL,
    published TEXT,
    url TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    attachments TEXT NOT NULL
);
CREATE VIRTUAL TABLE grams USING fts5(
    t, content='', detail=none, columnsize=0, tokenize='ascii'
);
"""
FTS_SHARD = """
CREATE VIRTUAL TABLE fts_{k} USING fts5(
    title, body, attachments,
    content='docs', content_rowid='id',
    tokenize='trigram', detail=full
);
INSERT INTO fts_{k}(rowid, title, body, attachments)
    SELECT id, title, body, attachments FROM docs WHERE id BETWEEN {first} AND {last};
INSERT INTO fts_{k}(fts_{k}) VALUES ('optimize');
"""
INDEXES = """
CREATE INDEX docs_published ON docs(published);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""
COLUMNS = ("title", "body", "attachments")  # the text columns, as in `fts`
DOC_COLUMNS = "iri, source, agency, division, areas, published, url, title, body, attachments"

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIVISION_RE = re.compile(r"^\d{6}$")
_SOURCE_RE = re.compile(r"^[a-z0-9-]{1,64}$")


class SearchInputError(ValueError):
    """A filter value that cannot be right (bad date, area outside 1-20): a 400 for the user."""


# -- tokens of the `grams` table ---------------------------------------------------------------
@cache
def gram_token(gram: str) -> str:
    """`u7a0e` for 税, `b7f5ax6b3e` for 罚款: ASCII letters and digits only, one token each."""
    return "x".join(f"{ord(c):x}" for c in gram).join(("u" if len(gram) == 1 else "b", ""))


def _text_grams(texts: Iterable[str]) -> set[str]:
    grams: set[str] = set()
    for text in texts:
        for part in text.lower().split():  # the same whitespace a query is split on
            grams.update(part)
            grams.update(map(add, part, part[1:]))
    return grams


def filter_tokens(source: str | None, division: str | None, areas: Iterable[int]) -> list[str]:
    out = [f"a{int(a)}" for a in areas]
    if source:
        out.append("s" + source.encode().hex())
    if division:
        out.append("d" + division)
    return out


def term_tokens(term: str, limit: int | None = None) -> list[str]:
    """Tokens every notice containing `term` has: its character, or its character pairs."""
    t = term.lower()
    grams = [t] if len(t) == 1 else list(dict.fromkeys(map(add, t, t[1:])))
    if limit is not None and len(grams) > limit:  # spread over the phrase
        step = len(grams) / limit
        grams = [grams[int(i * step)] for i in range(limit)]
    return [gram_token(g) for g in grams]


def grams_row(row: tuple) -> str:
    """The `grams` text of a `docs` row (source, division, areas, title, body, attachments)."""
    source, division, areas, title, body, attachments = row
    tokens = list(map(gram_token, _text_grams((title, body, attachments))))
    nums = [int(a) for a in areas.strip(",").split(",") if a.isdigit()]
    return " ".join(tokens + filter_tokens(source, division, nums))


# -- building ----------------------------------------------------------------------------------
def _attachment_text(item: dict[str, Any]) -> str:
    """Text extracted from attachments when the harvester kept it, else their file names."""
    parts: list[str] = []
    extra = item.get("attachment_text")
    if isinstance(extra, str):
        parts.append(extra)
    elif isinstance(extra, list):
        parts.extend(x for x in extra if isinstance(x, str))
    for url in item.get("attachments") or []:
        name = unquote(urlsplit(str(url)).path.rsplit("/", 1)[-1])
        if name:
            parts.append(name)
    return "\n".join(parts)


def _source_rows(data: DataDir, run_id: str, sid: str, src: Any) -> Iterator[tuple]:
    """The `docs` rows of one source's items (`DOC_COLUMNS`), in file order."""
    from harvesters.attachments import texts_by_notice
    from ontology.classify import classify
    from ontology.mapping import notice_key
    from ontology.namespaces import agency_iri, notice_iri
    from ontology.ntriples import iri

    agency = agency_iri(src.agency) if src else None
    division = src.division if src else None
    published_areas = _published_areas(data.graph(run_id, sid))
    seen: dict[str, str] = {}
    # The full text of the attachments read (harvesters/attachments.py), by notice URL.
    texts = texts_by_notice(data, run_id, sid)
    for item in read_jsonl(data.items(run_id, sid)):
        if item.get("url") in texts and not item.get("attachment_text"):
            item["attachment_text"] = list(texts[item["url"]].values())
        # The same keys as pipeline.map_validate_source, so the IRIs are the published ones.
        key = notice_key(item)
        url = item.get("url") or ""
        if key in seen:
            if seen[key] == url:
                continue
            key = f"{key}-{notice_key({'url': url})}"
        seen[key] = url
        subject = notice_iri(sid, key)
        areas = published_areas.get(iri(subject))
        if areas is None:  # not published (quarantined): classified as the mapping would
            areas = {m.area for m in classify(item)} | set(item.get("categories") or [])
        published = item.get("published")
        yield (
            subject,
            sid,
            agency,
            division,
            "," + ",".join(str(a) for a in sorted(areas)) + "," if areas else ",",
            published if isinstance(published, str) and _DATE_RE.match(published) else None,
            url or None,
            item.get("title") or "",
            item.get("body_text") or "",
            _attachment_text(item),
        )


def _published_areas(graph: Path) -> dict[str, set[int]]:
    """Areas (`gk:area`) of each notice (N-Triples subject) of a source's published graph: the
    mapping classified it already, and search filters must agree with the published data."""
    from ontology.namespaces import BASE, category_iri

    try:
        text = graph.read_bytes()
    except FileNotFoundError:
        return {}
    rdf_type = b"<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    notice = f"<{BASE}def/gongkai#Notice>".encode()
    area = f"<{BASE}def/gongkai#area>".encode()
    category = f"<{category_iri(0)[:-1]}".encode()
    wanted = {rdf_type, area}
    split = bytes.split
    lines = (split(line, b" ", 3) for line in text.split(b"\n"))
    found: dict[bytes, set[int]] = {}
    notices: set[bytes] = set()
    for s, p, o, _dot in [t for t in lines if len(t) == 4 and t[1] in wanted]:
        if p == rdf_type:
            if o == notice:
                notices.add(s)
        elif o.startswith(category) and o[len(category) : -1].isdigit():
            found.setdefault(s, set()).add(int(o[len(category) : -1]))
    return {s.decode(): found.get(s, set()) for s in notices}


def _source_ids(data: DataDir, run_id: str, known: dict[str, Any]) -> list[str]:
    items_dir = data.run(run_id) / "items"
    return sorted(set(known) | {p.stem for p in items_dir.glob("*.jsonl")})


def _staged_rows(data: DataDir, run_id: str, sid: str, src: Any) -> list[tuple]:
    """One source's rows, each with its `grams` text last (run in a worker process)."""
    return [
        (*row, grams_row((row[1], row[3], row[4], row[7], row[8], row[9])))
        for row in _source_rows(data, run_id, sid, src)
    ]


def _init_worker() -> None:
    from gongkai.faults import die_with_parent

    die_with_parent(signal.SIGKILL)


def build_index(
    data: DataDir, run_id: str, path: Path | None = None, *, workers: int | None = None
) -> Path:
    """Index every item of a run (all sources); write `{data}/search/index.sqlite` atomically.

    The rows (classification, character pairs: most of the CPU) are made per source in
    `workers` processes (default: one per core) and staged in a scratch SQLite file, which
    sorts them into publication order on disk: memory does not grow with the run."""
    from harvesters.registry import load_sources

    target = Path(path or data.root / "search" / "index.sqlite")
    known = {s.id: s for s in load_sources()}
    sids = _source_ids(data, run_id, known)
    # Largest first, so the last source to finish is a small one.
    sids.sort(key=lambda sid: -_size(data.items(run_id, sid)))
    workers = workers or os.cpu_count() or 1

    def fill(con: sqlite3.Connection) -> None:
        fd, stage_name = tempfile.mkstemp(prefix=".stage-", suffix=".sqlite", dir=target.parent)
        os.close(fd)
        stage = Path(stage_name)
        try:
            con.execute("ATTACH DATABASE ? AS stage", (stage_name,))
            con.execute("PRAGMA stage.journal_mode=OFF")
            con.execute("PRAGMA stage.synchronous=OFF")
            con.execute(f"CREATE TABLE stage.rows ({DOC_COLUMNS}, grams)")
            insert = "INSERT INTO stage.rows VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            if workers > 1 and len(sids) > 1:
                with ProcessPoolExecutor(
                    max_workers=min(workers, len(sids)), initializer=_init_worker
                ) as pool:
                    args = [(data, run_id, sid, known.get(sid)) for sid in sids]
                    for batch in pool.map(_staged_rows, *zip(*args, strict=True)):
                        con.executemany(insert, batch)  # map drops each batch once read
            else:
                for sid in sids:
                    con.executemany(insert, _staged_rows(data, run_id, sid, known.get(sid)))
            # Publication order (undated first, then by date; IRIs are unique): rowid of `ord`.
            con.execute(
                "CREATE TABLE stage.ord AS SELECT rowid AS sid FROM stage.rows"
                " ORDER BY coalesce(published, ''), iri"
            )
            cols = ", ".join(f"r.{c.strip()}" for c in DOC_COLUMNS.split(","))
            con.execute(
                f"INSERT INTO docs(id, {DOC_COLUMNS}) SELECT o.rowid, {cols}"
                " FROM stage.ord o JOIN stage.rows r ON r.rowid = o.sid ORDER BY o.rowid"
            )
            _fts_shards(con)
            con.execute(
                "INSERT INTO grams(rowid, t) SELECT o.rowid, r.grams"
                " FROM stage.ord o JOIN stage.rows r ON r.rowid = o.sid ORDER BY o.rowid"
            )
            con.commit()
            con.execute("DETACH DATABASE stage")
        finally:
            stage.unlink(missing_ok=True)

    return _write(target, run_id, fill)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _fts_shards(con: sqlite3.Connection) -> None:
    top = con.execute("SELECT max(id) FROM docs").fetchone()[0] or 0
    for k in range(max(1, -(-top // SHARD_ROWS))):
        first, last = k * SHARD_ROWS + 1, (k + 1) * SHARD_ROWS
        con.executescript(FTS_SHARD.format(k=k, first=first, last=last))


def write_index(rows: Iterable[tuple], target: Path, run_id: str) -> Path:
    """Write the index of `rows` (`DOC_COLUMNS` tuples, oldest first) to `target` atomically.

    Rows are inserted in the order given (publication order: undated first, then by date), so
    "newest first" is a reverse rowid scan and a date range is a rowid range. The file is built
    beside its target and swapped in with `os.replace`: a reader has the old index or the new
    one open, never half of one.
    """

    def fill(con: sqlite3.Connection) -> None:
        con.executemany(f"INSERT INTO docs({DOC_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        _fts_shards(con)
        docs = con.execute("SELECT id, source, division, areas, title, body, attachments FROM docs")
        con.executemany(
            "INSERT INTO grams(rowid, t) VALUES (?, ?)",
            ((r[0], grams_row(r[1:])) for r in docs),
        )

    return _write(Path(target), run_id, fill)


def _write(target: Path, run_id: str, fill: Any) -> Path:
    """Create the schema in a file beside `target`, `fill(con)` the docs, their trigram shards
    and `grams`, add the indexes and meta, and swap the file in."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".index-", suffix=".sqlite", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("PRAGMA cache_size=-262144")  # 256 MiB while building
            con.executescript(SCHEMA)
            fill(con)
            con.executescript(INDEXES)
            con.execute("INSERT INTO grams(grams) VALUES ('optimize')")
            notices, *avg = con.execute(
                "SELECT count(*), avg(length(title)), avg(length(body)),"
                " avg(length(attachments)) FROM docs"
            ).fetchone()
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("run_id", run_id), ("notices", str(notices)), ("shard_rows", str(SHARD_ROWS))]
                + [(f"avg_{c}", str(a or 0)) for c, a in zip(COLUMNS, avg, strict=True)],
            )
            con.commit()
        finally:
            con.close()
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


# -- querying ----------------------------------------------------------------------------------
@dataclass
class SearchHit:
    iri: str
    title: str
    snippet: str  # plain text with MARK_START / MARK_END around the matches
    published: str | None
    source: str
    url: str | None = None

    def snippet_html(self) -> Markup:
        """The snippet HTML-escaped, matches in <mark>: safe to put in a page as is."""
        text = str(escape(self.snippet))
        return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))

    def snippet_text(self) -> str:
        return self.snippet.replace(MARK_START, "").replace(MARK_END, "")


@dataclass
class SearchResult:
    query: str
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0
    total_is_lower_bound: bool = False  # more than COUNT_LIMIT matches: total is COUNT_LIMIT
    order: str = "rank"  # rank | date
    mode: str = "match"  # match | like | none
    complete: bool = True  # false: the scan stopped at its time budget (see search())
    limit: int = 20
    offset: int = 0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["hits"] = [
            {
                "iri": h.iri,
                "title": h.title,
                "snippet": h.snippet_text(),
                "snippet_html": str(h.snippet_html()),
                "published": h.published,
                "source": h.source,
                "url": h.url,
            }
            for h in self.hits
        ]
        return out


def fts_phrase(term: str) -> str:
    """One user term as an FTS5 string: double quotes doubled, so nothing in it is syntax."""
    return '"' + term.replace('"', '""') + '"'


def _terms(q: str) -> tuple[list[str], list[str]]:
    # NUL ends a C string: inside an FTS5 phrase it left the quote unterminated (a 500).
    terms = [t for t in q[:MAX_QUERY_CHARS].replace("\x00", " ").split() if t]
    return [t for t in terms if len(t) >= 3], [t for t in terms if len(t) < 3]


def _check_date(value: str | None, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise SearchInputError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    if not _DATE_RE.match(value):
        raise SearchInputError(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    return value


@dataclass
class _Filters:
    source: str | None = None
    division: str | None = None
    area: int | None = None
    date_from: str | None = None
    date_to: str | None = None

    def tokens(self) -> list[str]:
        return filter_tokens(self.source, self.division, [self.area] if self.area else [])


def _filters(source, division, area, date_from, date_to) -> _Filters:
    f = _Filters()
    if source:
        if not _SOURCE_RE.match(source):
            raise SearchInputError(f"unknown source {source!r}")
        f.source = source
    if division:
        if not _DIVISION_RE.match(str(division)):
            raise SearchInputError(f"division must be a 6-digit code, got {division!r}")
        f.division = str(division)
    if area not in (None, ""):
        try:
            n = int(area)
        except (TypeError, ValueError):
            raise SearchInputError(f"area must be a number 1-20, got {area!r}") from None
        if not 1 <= n <= 20:
            raise SearchInputError(f"area must be a number 1-20, got {area!r}")
        f.area = n
    f.date_from = _check_date(date_from, "from")
    f.date_to = _check_date(date_to, "to")
    return f


def _shard_rows(con: sqlite3.Connection) -> int:
    found = con.execute("SELECT value FROM meta WHERE key = 'shard_rows'").fetchone()
    return int(found[0]) if found else SHARD_ROWS


def _rowid_range(con: sqlite3.Connection, f: _Filters) -> tuple[int, int]:
    """The rowids published in [from, to] (rowid order is date order), all without dates.

    An empty range comes back as (1, 0). Undated notices have the lowest rowids and are outside
    any range, as `published >= ?` is false for them.
    """
    if not f.date_from and not f.date_to:
        return (1, con.execute("SELECT max(id) FROM docs").fetchone()[0] or 0)
    lo = con.execute(
        "SELECT id FROM docs WHERE published >= ? ORDER BY published, id LIMIT 1",
        [f.date_from or ""],
    ).fetchone()
    if f.date_to:
        hi = con.execute(
            "SELECT id FROM docs WHERE published <= ? AND published >= ?"
            " ORDER BY published DESC, id DESC LIMIT 1",
            [f.date_to, f.date_from or ""],
        ).fetchone()
    else:
        hi = con.execute("SELECT max(id) FROM docs").fetchone()
    if lo is None or hi is None or hi[0] is None or lo[0] > hi[0]:
        return (1, 0)
    return (lo[0], hi[0])


def _like_snippet(title: str, body: str, terms: list[str], width: int = 40) -> str:
    """A snippet for LIKE matches (FTS5's snippet() needs MATCH): a window around the first hit."""
    text = body or title
    low = text.lower()
    pos = min((p for t in terms if (p := low.find(t.lower())) >= 0), default=-1)
    if pos < 0:
        text, low = title, title.lower()
        pos = min((p for t in terms if (p := low.find(t.lower())) >= 0), default=0)
    start = max(0, pos - width // 2)
    window = text[start : start + width]
    for t in sorted(set(terms), key=len, reverse=True):
        window = re.sub(
            re.escape(t), lambda m: MARK_START + m.group() + MARK_END, window, flags=re.I
        )
    return ("…" if start > 0 else "") + window + ("…" if start + width < len(text) else "")


def connect(path: Path) -> sqlite3.Connection:
    """Read-only connection (the index is replaced, never written in place), memory-mapped."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    con.execute("PRAGMA query_only=1")
    con.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return con


def search(
    path: Path,
    q: str,
    *,
    source: str | None = None,
    division: str | None = None,
    area: int | str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: int = 20,
    offset: int = 0,
    budget: float | None = SCAN_BUDGET_S,
) -> SearchResult:
    """Search the index at `path`. Raises SearchInputError for impossible filter values.

    `budget` (seconds, None: unbounded) bounds the index scan: past it the search stops with
    the newest matches it found and `complete` false.
    """
    q = (q or "").strip()
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, min(int(offset), COUNT_LIMIT))
    result = SearchResult(query=q, limit=limit, offset=offset)
    filters = _filters(source, division, area, date_from, date_to)
    long_terms, short_terms = _terms(q)
    if not long_terms and not short_terms:
        result.mode = "none"
        return result
    result.mode = "match" if long_terms else "like"
    con = connect(path)
    try:
        _query(con, result, filters, long_terms, short_terms, budget)
    finally:
        con.close()
    return result


def _query(
    con: sqlite3.Connection,
    result: SearchResult,
    filters: _Filters,
    long_terms: list[str],
    short_terms: list[str],
    budget: float | None,
) -> None:
    where: list[str] = []
    params: list[Any] = []
    gram_tokens = [tok for t in short_terms for tok in term_tokens(t)] + filters.tokens()
    if gram_tokens:
        # `grams` drives; the phrases' character pairs narrow it to near-certain candidates.
        gram_tokens += [tok for t in long_terms for tok in term_tokens(t, PHRASE_GRAMS)]
        key = "g.rowid"
        base = "FROM grams g"
        where.append("grams MATCH ?")
        params.append(" AND ".join(dict.fromkeys(f'"{tok}"' for tok in gram_tokens)))
        if long_terms:  # each candidate is checked against the phrases by rowid
            base += " CROSS JOIN fts_{k} ON fts_{k}.rowid = g.rowid"
    else:
        key = "fts_{k}.rowid"
        base = "FROM fts_{k}"
    if long_terms:
        where.append("fts_{k} MATCH ?")
        params.append(" AND ".join(fts_phrase(t) for t in long_terms))
    lo, hi = _rowid_range(con, filters)
    size = _shard_rows(con)
    # One pass over the matches, newest first (FTS5 hands rowids out in descending order
    # itself), shard by shard: FTS5 applies a rowid bound only to a match, so a phrase whose
    # trigrams are everywhere but which is nowhere reads its doclists to their end, and only
    # a shard's end bounds that.
    want = max(COUNT_LIMIT, RANK_LIMIT, result.offset + result.limit) + 1
    sql = (
        f"SELECT {key} {base} WHERE {' AND '.join(where)} AND {key} BETWEEN ? AND ?"
        f" ORDER BY {key} DESC LIMIT ?"
    )
    deadline = None if budget is None else time.monotonic() + budget
    ids: list[int] = []
    if not long_terms:  # `grams` alone: not sharded, one pass
        shards = [(0, lo, hi)] if hi >= lo else []
    else:
        ks = range((hi - 1) // size, (lo - 1) // size - 1, -1) if hi >= lo else range(0)
        shards = [(k, max(lo, k * size + 1), min(hi, (k + 1) * size)) for k in ks]
    for n, (k, first, last) in enumerate(shards):
        if n and deadline is not None and time.monotonic() > deadline:
            result.complete = False
            break
        found = con.execute(sql.format(k=k), [*params, first, last, want - len(ids)])
        ids += [r[0] for r in found]
        if len(ids) >= want:
            break
    result.total = min(len(ids), COUNT_LIMIT)
    result.total_is_lower_bound = len(ids) > COUNT_LIMIT or not result.complete
    if long_terms and len(ids) <= RANK_LIMIT and result.complete:
        result.order = "rank"
        page = _ranked(con, ids, long_terms, result.limit, result.offset)
    else:
        result.order = "date"
        page = ids[result.offset : result.offset + result.limit]
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT id, iri, title, body, published, source, url FROM docs"
            " WHERE id IN (SELECT value FROM json_each(?))",
            [json.dumps(page)],
        )
    }
    match = " AND ".join(fts_phrase(t) for t in long_terms)
    for rowid in page:
        iri_, title, body, published, src, url = rows[rowid]
        if long_terms:
            fts = f"fts_{(rowid - 1) // size}"
            found = con.execute(
                f"SELECT snippet({fts}, -1, ?, ?, '…', {SNIPPET_TOKENS})"
                f" FROM {fts} WHERE {fts} MATCH ? AND rowid = ?",
                [MARK_START, MARK_END, match, rowid],
            ).fetchone()
            snippet = found[0] if found else ""
        else:
            snippet = _like_snippet(title, body, short_terms)
        result.hits.append(SearchHit(iri_, title, snippet, published, src, url))


def _ranked(
    con: sqlite3.Connection, ids: list[int], terms: list[str], limit: int, offset: int
) -> list[int]:
    """A page of `ids` by relevance: bm25 without the inverse document frequency (every term
    weighs the same), from each phrase's occurrences per column, length-normalised by the
    column averages recorded at build time (k1 = 1.2, b = 0.75); ties newest first.

    FTS5's own bm25() would need a second pass over the index (it counts, for each phrase,
    every notice that has it), and in a join it does so again for every row."""
    avg = dict(con.execute("SELECT key, value FROM meta WHERE key LIKE 'avg_%'").fetchall())
    parts: list[str] = []
    params: list[Any] = []
    for term in terms:
        t = term.lower()
        for col in COLUMNS:
            mean = max(float(avg.get(f"avg_{col}") or 1), 1.0)
            tf = f"((length(d.{col}) - length(replace(lower(d.{col}), ?, ''))) / ?)"
            parts.append(f"({tf} / ({tf} + 1.2 * (0.25 + 0.75 * length(d.{col}) / ?)))")
            params += [t, float(len(t)), t, float(len(t)), mean]
    return [
        r[0]
        for r in con.execute(
            f"SELECT d.id FROM docs d WHERE d.id IN (SELECT value FROM json_each(?))"
            f" ORDER BY ({' + '.join(parts)}) DESC, d.id DESC LIMIT ? OFFSET ?",
            [json.dumps(ids), *params, limit, offset],
        )
    ]


# -- HTTP --------------------------------------------------------------------------------------
def index_path(data: DataDir) -> Path:
    return data.root / "search" / "index.sqlite"


def index_run_id(path: Path) -> str | None:
    """The run an index was built from (its `meta`), None if it cannot be read."""
    try:
        con = connect(path)
        try:
            found = con.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return found[0] if found else None


def _preparing(data: DataDir, path: Path) -> dict[str, Any] | None:
    """The index `gongkai run` is building in the background (endpoint/building.py), with the
    run of the index answering meanwhile (None: no index yet); None when nothing is pending."""
    found = building.read(data, building.SEARCH)
    if found is None:
        return None
    current = index_run_id(path) if path.exists() else None
    if current == found.run_id:  # switched in, the marker not updated yet
        return None
    return {
        "run_id": found.run_id,
        "generation": found.generation,
        "since": found.since,
        "index_run_id": current,
    }


def _environment():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(
        loader=FileSystemLoader(TEMPLATE.parent),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )


def _params(request) -> dict[str, Any]:
    qp = request.query_params

    def num(name: str, default: int) -> int:
        try:
            return int(qp.get(name, default))
        except ValueError:
            raise SearchInputError(f"{name} must be a number") from None

    return {
        "q": qp.get("q", ""),
        "source": qp.get("source") or None,
        "division": qp.get("division") or None,
        "area": qp.get("area") or None,
        "date_from": qp.get("from") or None,
        "date_to": qp.get("to") or None,
        "limit": num("limit", 20),
        "offset": num("offset", 0),
    }


def local_path(iri: str) -> str:
    """An IRI we minted as a path on this server (its /id/ route redirects to the page)."""
    base = base_uri()
    return "/" + iri[len(base) :] if iri.startswith(base) else iri


def routes(data: DataDir) -> list[Any]:
    """`/search` (HTML) and `/search.json` over `{data}/search/index.sqlite`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    env = _environment()

    async def run(request) -> tuple[dict[str, Any], SearchResult | None, str | None, int, Any]:
        path = index_path(data)
        preparing = _preparing(data, path)
        try:
            params = _params(request)
        except SearchInputError as exc:
            return {}, None, str(exc), 400, preparing
        if not path.exists():
            if preparing is not None:
                error = (
                    f"the search index of run {preparing['run_id']} (store generation"
                    f" {preparing['generation']}) is being prepared since {preparing['since']};"
                    " try again later"
                )
                return params, None, error, 503, preparing
            return params, None, "the search index has not been built yet", 503, None
        try:
            res = await run_in_threadpool(search, path, **params)
        except SearchInputError as exc:
            return params, None, str(exc), 400, preparing
        return params, res, None, 200, preparing

    def headers(status: int, preparing: Any) -> dict[str, str]:
        return {"Retry-After": building.RETRY_AFTER} if status == 503 and preparing else {}

    async def search_json(request):
        params, res, error, status, preparing = await run(request)
        extra = {"preparing": preparing} if preparing else {}
        if res is None:
            body = {"error": error, **extra}
            return JSONResponse(body, status_code=status, headers=headers(status, preparing))
        return JSONResponse(res.to_json() | extra)

    async def search_html(request):
        params, res, error, status, preparing = await run(request)
        html = env.get_template(TEMPLATE.name).render(
            params=params,
            result=res,
            error=error,
            preparing=preparing,
            count_limit=COUNT_LIMIT,
            local=local_path,
        )
        return HTMLResponse(html, status_code=status, headers=headers(status, preparing))

    return [
        Route("/search", search_html, methods=["GET", "HEAD"]),
        Route("/search.json", search_json, methods=["GET", "HEAD"]),
    ]
