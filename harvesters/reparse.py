"""Rebuild a run's items from the raw archive, without fetching (`gongkai reparse`).

For each source, the WARC files of every run up to the given one are read in order; the newest
capture of each document decides: a 200 page is parsed again (a better parser gives better
items from the same bytes), a 404/410 after it marks the notice withdrawn, a 304 keeps the
capture before it. Versions are counted from the distinct page digests seen, as the harvester
does. The run's `items/{source}.jsonl` and `withdrawn/{source}.jsonl` are written again; its
`errors/` stay as the crawl left them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from gongkai.config import DataDir
from gongkai.items import normalise_item
from harvesters.extract import NotADetailPage, extract
from harvesters.registry import Source
from harvesters.state import doc_id_of
from harvesters.warc import KIND_FIELD

CST = timezone(timedelta(hours=8))
DETAIL_KINDS = ("detail", "recheck")


@dataclass
class Capture:
    item: dict[str, Any]
    date: str
    shas: list[str] = field(default_factory=list)
    gone: str | None = None


def _when(warc_date: str) -> datetime:
    return datetime.fromisoformat(warc_date.replace("Z", "+00:00")).astimezone(CST)


def captures(paths: Iterable[Path], family: str | None = None) -> dict[str, Capture]:
    """Newest capture that parses, per document id, over the given WARC files in order (a
    truncated answer that was fetched again is no version of its own)."""
    docs: dict[str, Capture] = {}
    for path in paths:
        with path.open("rb") as f:
            for record in ArchiveIterator(f):
                if record.rec_type != "response":
                    continue
                if record.rec_headers.get_header(KIND_FIELD) not in DETAIL_KINDS:
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                date = record.rec_headers.get_header("WARC-Date")
                status = int(record.http_headers.get_statuscode())
                doc_id = doc_id_of(url)
                body = record.content_stream().read()
                old = docs.get(doc_id)
                if status == 200:
                    headers = {k.lower(): v for k, v in record.http_headers.headers}
                    try:
                        item = extract(body, url, headers, family=family)
                    except NotADetailPage:
                        continue
                    shas = list(old.shas) if old else []
                    if not shas or shas[-1] != item["sha256"]:
                        shas.append(item["sha256"])
                    docs[doc_id] = Capture(item, date, shas)
                elif status in (404, 410) and old is not None and old.gone is None:
                    old.gone = _when(date).date().isoformat()
    return docs


def reparse_source(data: DataDir, run_id: str, source: Source) -> int:
    folder = data.warc / source.id
    paths = sorted(p for p in folder.glob("*.warc.gz") if p.name.split(".")[0] <= run_id)
    family = source.overrides.get("detail_family", source.family)
    items: list[dict[str, Any]] = []
    withdrawn: list[dict[str, Any]] = []
    for doc_id, capture in captures(paths, family).items():
        item, shas = capture.item, capture.shas
        item["source"] = source.id
        item["fetched_at"] = _when(capture.date).isoformat(timespec="seconds")
        item |= {"doc_id": doc_id, "version": len(shas), "withdrawn": capture.gone}
        item["previous_sha256"] = shas[-2] if len(shas) > 1 else None
        items.append(item)
        if capture.gone:
            withdrawn.append(item)
    _write(data.items(run_id, source.id), items)
    _write(data.run(run_id) / "withdrawn" / f"{source.id}.jsonl", withdrawn)
    return len(items)


def _write(path: Path, items: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for item in items:
            out.write(json.dumps(normalise_item(item), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def reparse(data: DataDir, run_id: str, sources: Iterable[Source]) -> dict[str, int]:
    """Items per source rebuilt for `run_id` from the archive."""
    return {s.id: reparse_source(data, run_id, s) for s in sources if (data.warc / s.id).is_dir()}
