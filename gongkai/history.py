"""Point in time: what the harvest knew to be published on a given day, from its state.

The harvest state (`state/{src}.sqlite3`, harvesters/state.py) keeps every version of every
document with the run that first saw it (`versions`: doc_id, version, sha256, run_id, item
JSON) and the day a document disappeared (`docs.withdrawn`, a China Standard Time date).
Run ids are UTC start times; a run's day is its CST calendar date.

- `published_on(data, day)`: notices first seen on or before `day` and not withdrawn before
  it, each with the version current on that day;
- `versions_of(data, source, doc_id)`: every version of one notice;
- `version_runs(data, source)`: (doc_id, version) → run id, for `dcterms:modified`.

What this cannot say: a notice is known from the first harvest that saw it, so a day before
the first run knows nothing, even of notices the portal says it published earlier.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from gongkai.config import DataDir

CST = timezone(timedelta(hours=8))


def run_time(run_id: str) -> datetime:
    """A run id (`YYYYMMDDTHHMMSSZ`, UTC) as an aware datetime."""
    return datetime.strptime(run_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def run_day(run_id: str) -> str:
    """The CST calendar day of a run."""
    return run_time(run_id).astimezone(CST).date().isoformat()


def run_datetime(run_id: str) -> str:
    """xsd:dateTime of a run's start, in CST (`2024-03-06T10:00:00+08:00`)."""
    return run_time(run_id).astimezone(CST).isoformat(timespec="seconds")


def last_run_of_day(day: date) -> str:
    """The greatest run id whose CST day is `day` (run ids sort as text)."""
    end = datetime.combine(day, datetime.max.time().replace(microsecond=0), CST)
    return end.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _connect(path: Path) -> sqlite3.Connection | None:
    if not path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None


def _state_files(data: DataDir, source: str | None = None) -> Iterator[tuple[str, Path]]:
    if source is not None:
        yield source, data.state / f"{source}.sqlite3"
        return
    if data.state.is_dir():
        for path in sorted(data.state.glob("*.sqlite3")):
            yield path.stem, path


def _notice_iri(source: str, item: dict[str, Any]) -> str:
    from ontology.mapping import notice_key
    from ontology.namespaces import notice_iri

    return notice_iri(source, notice_key(item))


_AT_DAY = """
SELECT v.doc_id, v.version, v.sha256, v.run_id, v.item, d.first_seen, d.withdrawn, d.url
FROM versions v JOIN docs d ON d.doc_id = v.doc_id
WHERE v.run_id <= :cutoff
  AND v.version = (SELECT MAX(w.version) FROM versions w
                   WHERE w.doc_id = v.doc_id AND w.run_id <= :cutoff)
  AND (d.withdrawn IS NULL OR d.withdrawn >= :day)
"""


def published_on(
    data: DataDir, day: date | str, *, source: str | None = None
) -> list[dict[str, Any]]:
    """Notices first seen on or before `day` and not withdrawn before it, with the version
    current on that day; newest publication date first.

    Each: {source, doc_id, iri, url, title, published, version, sha256, first_seen (run id),
    version_seen (run id of that version), withdrawn (a later day, or None)}."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    cutoff = last_run_of_day(day)
    out: list[dict[str, Any]] = []
    for sid, path in _state_files(data, source):
        con = _connect(path)
        if con is None:
            continue
        try:
            rows = con.execute(_AT_DAY, {"cutoff": cutoff, "day": day.isoformat()}).fetchall()
        except sqlite3.Error:
            rows = []
        finally:
            con.close()
        for doc_id, version, sha, run_id, item_json, first_seen, withdrawn, url in rows:
            item = json.loads(item_json)
            out.append(
                {
                    "source": sid,
                    "doc_id": doc_id,
                    "iri": _notice_iri(sid, item),
                    "url": item.get("url") or url,
                    "title": item.get("title"),
                    "published": item.get("published"),
                    "version": version,
                    "sha256": sha,
                    "first_seen": first_seen,
                    "version_seen": run_id,
                    "withdrawn": withdrawn,
                }
            )
    out.sort(key=lambda r: (r["published"] or "", r["source"], r["doc_id"]), reverse=True)
    return out


def versions_of(data: DataDir, source: str, doc_id: str) -> list[dict[str, Any]]:
    """Every version of one document, oldest first: {version, sha256, run_id, seen (CST day),
    title, published, url}; [] when the state does not know it."""
    con = _connect(data.state / f"{source}.sqlite3")
    if con is None:
        return []
    try:
        rows = con.execute(
            "SELECT version, sha256, run_id, item FROM versions WHERE doc_id = ? ORDER BY version",
            (doc_id,),
        ).fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        con.close()
    out = []
    for version, sha, run_id, item_json in rows:
        item = json.loads(item_json)
        out.append(
            {
                "version": version,
                "sha256": sha,
                "run_id": run_id,
                "seen": run_day(run_id),
                "title": item.get("title"),
                "published": item.get("published"),
                "url": item.get("url"),
            }
        )
    return out


def version_runs(data: DataDir, source: str) -> dict[tuple[str, int], str]:
    """(doc_id, version) → the run that first saw that version."""
    con = _connect(data.state / f"{source}.sqlite3")
    if con is None:
        return {}
    try:
        return {
            (d, v): r for d, v, r in con.execute("SELECT doc_id, version, run_id FROM versions")
        }
    except sqlite3.Error:
        return {}
    finally:
        con.close()


def withdrawn_of(data: DataDir, source: str, doc_id: str) -> str | None:
    con = _connect(data.state / f"{source}.sqlite3")
    if con is None:
        return None
    try:
        row = con.execute("SELECT withdrawn FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
    except sqlite3.Error:
        row = None
    finally:
        con.close()
    return row[0] if row else None


# -- web: /history?date=YYYY-MM-DD (HTML) and /history.json -------------------------------------
HISTORY_LIMIT = 500


def routes() -> list[Any]:
    """`/history` and `/history.json`: what was published on a day (mounted in server.py)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from endpoint.linked_data import html
    from ontology.namespaces import BASE

    def params(request) -> tuple[date | None, str | None, int, int, str | None]:
        q = request.query_params
        raw, source = q.get("date", ""), q.get("source") or None
        try:
            day = date.fromisoformat(raw) if raw else None
            limit = min(max(int(q.get("limit", 100)), 1), HISTORY_LIMIT)
            offset = max(int(q.get("offset", 0)), 0)
        except ValueError:
            return None, source, 100, 0, "date must be YYYY-MM-DD; limit and offset numbers"
        if source is not None and not re_source(source):
            return None, None, limit, offset, "source must be a source id"
        return day, source, limit, offset, None

    async def answer(request, as_json: bool):
        day, source, limit, offset, error = params(request)
        data = request.app.state.settings.data
        rows = (
            await run_in_threadpool(published_on, data, day, source=source)
            if day and not error
            else []
        )
        page = rows[offset : offset + limit]
        for r in page:
            iri = r["iri"]
            r["doc"] = "/doc/" + iri[len(BASE) + 3 :] if iri.startswith(BASE + "id/") else iri
        body = {
            "date": day.isoformat() if day else None,
            "source": source,
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "notices": page,
        }
        if as_json:
            if error or day is None:
                return JSONResponse({"error": error or "date=YYYY-MM-DD is required"}, 400)
            return JSONResponse(body)
        return html(request, "history.html", status=400 if error else 200, error=error, **body)

    async def history_html(request):
        return await answer(request, False)

    async def history_json(request):
        return await answer(request, True)

    return [
        Route("/history", history_html, methods=["GET", "HEAD"]),
        Route("/history.json", history_json, methods=["GET", "HEAD"]),
    ]


def re_source(value: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9-]{1,80}", value) is not None


def notice_versions(data: DataDir, notice_iri: str, page_url: str | None) -> dict[str, Any] | None:
    """The versions of a published notice (for its page), found by its source (from the IRI)
    and its document id (from its portal URL); None when the state does not know it."""
    from harvesters.state import doc_id_of
    from ontology.namespaces import BASE

    prefix = BASE + "id/notice/"
    if not notice_iri.startswith(prefix) or not page_url:
        return None
    source = notice_iri[len(prefix) :].split("/", 1)[0]
    if not re_source(source):
        return None
    doc_id = doc_id_of(page_url)
    versions = versions_of(data, source, doc_id)
    if not versions:
        return None
    return {"versions": versions, "withdrawn": withdrawn_of(data, source, doc_id)}
