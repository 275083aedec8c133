"""The source registry: one YAML file per portal under `harvesters/sources/`.

Sources are data a reviewer can read (as OpenSanctions keeps its datasets): who publishes,
where the live disclosure column is, which CMS family renders it, and how many notices a run
should yield. Adding a portal is adding a file; a portal that deviates gets `overrides`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from harvesters import HARVESTERS_DIR

SOURCES_DIR = HARVESTERS_DIR / "sources"
KINDS = frozenset({"department", "district", "county", "autonomous_county", "special_area"})
FAMILIES = frozenset({"trs", "trs2017", "hanweb", "generic"})
CONFIDENCE = frozenset({"verified", "likely", "guess"})


class RegistryError(ValueError):
    """A registry file that does not say what a source needs; the message names the file."""


@dataclass(frozen=True)
class Source:
    id: str
    name: str
    kind: str
    agency: str
    division: str | None
    family: str
    start_urls: tuple[str, ...]
    domains: tuple[str, ...]
    confidence: str
    expected: tuple[int, int] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict, hash=False)
    short_name: str | None = None

    @property
    def live_path(self) -> str:
        """Path of the first start URL: the sandbox serves the portal under this path too."""
        path = urlsplit(self.start_urls[0]).path or "/"
        return path if path.endswith("/") else path + "/"

    def sandbox_url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.id}{self.live_path}"


def _parse(path: Path, data: Any) -> Source:
    if not isinstance(data, dict):
        raise RegistryError(f"{path.name}: expected a mapping")
    missing = [
        k for k in ("id", "name", "kind", "agency", "family", "start_urls") if not data.get(k)
    ]
    if missing:
        raise RegistryError(f"{path.name}: missing {', '.join(missing)}")
    if data["id"] != path.stem:
        raise RegistryError(f"{path.name}: id {data['id']!r} differs from the file name")
    if data["kind"] not in KINDS:
        raise RegistryError(f"{path.name}: unknown kind {data['kind']!r}")
    if data["family"] not in FAMILIES:
        raise RegistryError(f"{path.name}: unknown family {data['family']!r}")
    confidence = data.get("confidence", "guess")
    if confidence not in CONFIDENCE:
        raise RegistryError(f"{path.name}: unknown confidence {confidence!r}")
    start_urls = tuple(data["start_urls"])
    domains = tuple(data.get("domains") or sorted({urlsplit(u).hostname for u in start_urls}))
    expected = data.get("expected")
    if expected is not None:
        expected = (int(expected["min"]), int(expected["max"]))
    division = data.get("division")
    return Source(
        id=data["id"],
        name=data["name"],
        kind=data["kind"],
        agency=data["agency"],
        division=str(division) if division is not None else None,
        family=data["family"],
        start_urls=start_urls,
        domains=domains,
        confidence=confidence,
        expected=expected,
        overrides=dict(data.get("overrides") or {}),
        short_name=data.get("short_name"),
    )


def load_sources(path: Path | None = None) -> list[Source]:
    """All sources of a registry folder (or one YAML file listing several), sorted by id."""
    path = path or SOURCES_DIR
    sources: list[Source] = []
    if path.is_dir():
        for file in sorted(path.glob("*.yml")):
            sources.append(_parse(file, yaml.safe_load(file.read_text(encoding="utf-8"))))
    else:
        docs = yaml.safe_load(path.read_text(encoding="utf-8"))
        for entry in docs if isinstance(docs, list) else [docs]:
            sources.append(_parse(Path(f"{entry.get('id')}.yml"), entry))
    ids = [s.id for s in sources]
    if len(ids) != len(set(ids)):
        raise RegistryError(f"duplicate source ids in {path}")
    return sorted(sources, key=lambda s: s.id)


def sources_by_id(path: Path | None = None) -> dict[str, Source]:
    return {s.id: s for s in load_sources(path)}
