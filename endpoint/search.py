"""Full-text search over harvested notices: an embedded SQLite FTS5 index, `/search` and `/search.json`.

Chinese has no spaces between words, so a word tokenizer would need a segmenter (and its
dictionary); FTS5's `trigram` tokenizer indexes every three-character window instead, so any
substring of three or more characters is found without segmentation. Shorter queries (one or
two characters, e.g. 税, 罚款) have no trigram: they fall back to `LIKE '%…%'` on the same
table, which scans it (fine for thousands of notices, slow at a million: documented limit).

Layout (one file, `{data}/search/index.sqlite`, rebuilt per publish and swapped atomically):
- `docs`: one row per notice, rowid in publication order (oldest first), with the text
  (title, body, attachment text) and the filter columns (source, agency IRI, division code,
  areas as ",2,14,", published ISO date), B-tree indexes on the filters;
- `fts`: an external-content FTS5 table over `docs(title, body, attachments)`, `tokenize=trigram`
  and `detail=full` (required: a query of four or more characters is a phrase of trigrams, and
  FTS5 refuses phrase queries with `detail=column|none`).

Queries: the user's text is split on whitespace; each term of ≥ 3 characters becomes an FTS5
phrase (double quotes doubled, so the user never writes FTS5 syntax), terms are ANDed; shorter
terms add a `LIKE` condition with `%`, `_` and `\\` escaped. Every value is an SQL parameter.
Results are ordered by `rank` (bm25) when a query matches at most `RANK_LIMIT` notices, and by
recency (rowid descending, no scoring) beyond that, so a query matching half a million notices
still answers from the first LIMIT rowids; the total is counted up to `COUNT_LIMIT` and
reported as "at least" beyond it.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from markupsafe import Markup, escape

from gongkai.config import DataDir

MARK_START = "\ue000"  # private-use characters: never in harvested text, replaced on output
MARK_END = "\ue001"
COUNT_LIMIT = 1_000
RANK_LIMIT = 1_000
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
SNIPPET_TOKENS = 24
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
CREATE VIRTUAL TABLE fts USING fts5(
    title, body, attachments,
    content='docs', content_rowid='id',
    tokenize='trigram', detail=full
);
"""
INDEXES = """
CREATE INDEX docs_source ON docs(source, published);
CREATE INDEX docs_division ON docs(division, published);
CREATE INDEX docs_published ON docs(published);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIVISION_RE = re.compile(r"^\d{6}$")
_SOURCE_RE = re.compile(r"^[a-z0-9-]{1,64}$")


class SearchInputError(ValueError):
    """A filter value that cannot be right (bad date, area outside 1-20): a 400 for the user."""


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


def _read_items(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _rows(data: DataDir, run_id: str, sources: list[Any]) -> Iterator[tuple]:
    from harvesters.attachments import texts_by_notice
    from ontology.classify import classify
    from ontology.mapping import notice_key
    from ontology.namespaces import agency_iri, notice_iri

    known = {s.id: s for s in sources}
    items_dir = data.run(run_id) / "items"
    ids = sorted(set(known) | {p.stem for p in items_dir.glob("*.jsonl")})
    for sid in ids:
        src = known.get(sid)
        agency = agency_iri(src.agency) if src else None
        division = src.division if src else None
        seen: dict[str, str] = {}
        # The full text of the attachments read (harvesters/attachments.py), by notice URL.
        texts = texts_by_notice(data, run_id, sid)
        for item in _read_items(data.items(run_id, sid)):
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
            areas = {m.area for m in classify(item)} | set(item.get("categories") or [])
            published = item.get("published")
            yield (
                notice_iri(sid, key),
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


def build_index(data: DataDir, run_id: str, path: Path | None = None) -> Path:
    """Index every item of a run (all sources); write `{data}/search/index.sqlite` atomically.

    Rows are inserted oldest first, so rowid order is publication order and "newest first" is
    a reverse rowid scan. The file is built beside its target and swapped in with `os.replace`:
    a reader has the old index or the new one open, never half of one.
    """
    from harvesters.registry import load_sources

    target = path or data.root / "search" / "index.sqlite"
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(_rows(data, run_id, load_sources()), key=lambda r: (r[5] or "", r[0]))
    fd, tmp_name = tempfile.mkstemp(prefix=".index-", suffix=".sqlite", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.executescript(SCHEMA)
            con.executemany(
                "INSERT INTO docs(iri, source, agency, division, areas, published, url, title,"
                " body, attachments) VALUES (?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            con.execute("INSERT INTO fts(fts) VALUES ('rebuild')")
            con.executescript(INDEXES)
            con.execute("INSERT INTO fts(fts) VALUES ('optimize')")
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("run_id", run_id), ("notices", str(len(rows)))],
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


def like_pattern(term: str) -> str:
    r"""`%term%` for `LIKE ... ESCAPE '\'` with the wildcards of the user's text escaped."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


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


def _filters(source, division, area, date_from, date_to) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if source:
        if not _SOURCE_RE.match(source):
            raise SearchInputError(f"unknown source {source!r}")
        where.append("d.source = ?")
        params.append(source)
    if division:
        if not _DIVISION_RE.match(str(division)):
            raise SearchInputError(f"division must be a 6-digit code, got {division!r}")
        where.append("d.division = ?")
        params.append(str(division))
    if area not in (None, ""):
        try:
            n = int(area)
        except (TypeError, ValueError):
            raise SearchInputError(f"area must be a number 1-20, got {area!r}") from None
        if not 1 <= n <= 20:
            raise SearchInputError(f"area must be a number 1-20, got {area!r}")
        where.append("d.areas LIKE ?")
        params.append(f"%,{n},%")
    if d := _check_date(date_from, "from"):
        where.append("d.published >= ?")
        params.append(d)
    if d := _check_date(date_to, "to"):
        where.append("d.published <= ?")
        params.append(d)
    return where, params


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
    """Read-only connection (the index is replaced, never written in place)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    con.execute("PRAGMA query_only=1")
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
) -> SearchResult:
    """Search the index at `path`. Raises SearchInputError for impossible filter values."""
    q = (q or "").strip()
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, min(int(offset), COUNT_LIMIT))
    result = SearchResult(query=q, limit=limit, offset=offset)
    where, params = _filters(source, division, area, date_from, date_to)
    long_terms, short_terms = _terms(q)
    if not long_terms and not short_terms:
        result.mode = "none"
        return result
    for t in short_terms:
        where.append(
            "(d.title LIKE ? ESCAPE '\\' OR d.body LIKE ? ESCAPE '\\'"
            " OR d.attachments LIKE ? ESCAPE '\\')"
        )
        params += [like_pattern(t)] * 3
    con = connect(path)
    try:
        if long_terms:
            match = " AND ".join(fts_phrase(t) for t in long_terms)
            base = "FROM fts JOIN docs d ON d.id = fts.rowid WHERE fts MATCH ?"
            all_params = [match, *params]
            result.mode = "match"
        else:
            result.mode = "like"
            base = "FROM docs d WHERE 1"
            all_params = list(params)
        cond = "".join(f" AND {w}" for w in where)
        bound = max(COUNT_LIMIT, RANK_LIMIT) + 1
        # Without filters the count needs the FTS index alone (no row of docs is read).
        count_from = base if where or not long_terms else "FROM fts WHERE fts MATCH ?"
        counted = con.execute(
            f"SELECT count(*) FROM (SELECT 1 {count_from}{cond} LIMIT {bound})", all_params
        ).fetchone()[0]
        result.total = min(counted, COUNT_LIMIT)
        result.total_is_lower_bound = counted > COUNT_LIMIT
        if long_terms and counted <= RANK_LIMIT:
            order = "fts.rank"
            result.order = "rank"
        else:
            # FTS5 hands rowids out in descending order itself: no scoring, no sort.
            order = "fts.rowid DESC" if long_terms else "d.id DESC"
            result.order = "date"
        if long_terms:
            cols = (
                f"d.iri, d.title, snippet(fts, -1, '{MARK_START}', '{MARK_END}', '…', "
                f"{SNIPPET_TOKENS}), d.published, d.source, d.url"
            )
        else:
            cols = "d.iri, d.title, d.body, d.published, d.source, d.url"
        rows = con.execute(
            f"SELECT {cols} {base}{cond} ORDER BY {order} LIMIT ? OFFSET ?",
            [*all_params, limit, offset],
        ).fetchall()
    finally:
        con.close()
    for iri_, title, text, published, src, url in rows:
        snippet = text if long_terms else _like_snippet(title, text, short_terms)
        result.hits.append(SearchHit(iri_, title, snippet, published, src, url))
    return result


# -- HTTP --------------------------------------------------------------------------------------
def index_path(data: DataDir) -> Path:
    return data.root / "search" / "index.sqlite"


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


def routes(data: DataDir) -> list[Any]:
    """`/search` (HTML) and `/search.json` over `{data}/search/index.sqlite`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    env = _environment()

    async def run(request) -> tuple[dict[str, Any], SearchResult | None, str | None, int]:
        try:
            params = _params(request)
        except SearchInputError as exc:
            return {}, None, str(exc), 400
        path = index_path(data)
        if not path.exists():
            return params, None, "the search index has not been built yet", 503
        try:
            res = await run_in_threadpool(search, path, **params)
        except SearchInputError as exc:
            return params, None, str(exc), 400
        return params, res, None, 200

    async def search_json(request):
        params, res, error, status = await run(request)
        if res is None:
            return JSONResponse({"error": error}, status_code=status)
        return JSONResponse(res.to_json())

    async def search_html(request):
        params, res, error, status = await run(request)
        html = env.get_template(TEMPLATE.name).render(
            params=params, result=res, error=error, count_limit=COUNT_LIMIT
        )
        return HTMLResponse(html, status_code=status)

    return [
        Route("/search", search_html, methods=["GET", "HEAD"]),
        Route("/search.json", search_json, methods=["GET", "HEAD"]),
    ]
