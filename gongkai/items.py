"""The item schema: what a harvester yields and `gongkai extract` prints (design.md contract)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Field order is the order `gongkai extract` prints them in.
ITEM_FIELDS: tuple[str, ...] = (
    "url",
    "source",
    "title",
    "index_no",
    "doc_no",
    "publisher",
    "written",
    "published",
    "topic",
    "genre",
    "validity",
    "keywords",
    "body_text",
    "attachments",
    "categories",
    "fetched_at",
    "sha256",
)
LIST_FIELDS = frozenset({"keywords", "attachments", "categories"})


def empty_item() -> dict[str, Any]:
    """An item with every field absent: `None`, lists empty. Absent is never guessed."""
    return {f: ([] if f in LIST_FIELDS else None) for f in ITEM_FIELDS}


def normalise_item(fields: dict[str, Any]) -> dict[str, Any]:
    """Complete `fields` to the full schema, in schema order; unknown keys are kept after."""
    item = empty_item()
    for key, value in fields.items():
        if key in LIST_FIELDS and value is None:
            value = []
        item[key] = value
    return item


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file (items, errors, quarantine…); none if it is absent."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
