"""Settings in one place: data directory, base URI, data-dir layout.

Every stage reads and writes under one data directory (`--data-dir`, else `$GONGKAI_DATA`,
else `./var`), so a stage can be re-run alone and a DAG task only needs the path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_URI = "https://gongkai.example.org/"
USER_AGENT = os.environ.get(
    "GONGKAI_USER_AGENT",
    "gongkai/0.1 (+https://gongkai.example.org/about; open-data research harvester; contact: data@gongkai.example.org)",
)


def base_uri() -> str:
    """The URI base of everything we mint (configurable for a deployment's own domain)."""
    base = os.environ.get("GONGKAI_BASE_URI", DEFAULT_BASE_URI)
    return base if base.endswith("/") else base + "/"


def default_data_dir() -> Path:
    return Path(os.environ.get("GONGKAI_DATA", "var"))


@dataclass(frozen=True)
class DataDir:
    """The layout of a data directory. Paths only: nothing here touches the disk."""

    root: Path

    @property
    def sandbox(self) -> Path:
        return self.root / "sandbox"

    @property
    def truth(self) -> Path:
        """Ground truth written by the sandbox: one JSON line per notice it serves."""
        return self.sandbox / "truth.jsonl"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def run(self, run_id: str) -> Path:
        return self.runs / run_id

    def items(self, run_id: str, source: str) -> Path:
        """Harvested items of one source in one run (JSON lines, the design's item schema)."""
        return self.run(run_id) / "items" / f"{source}.jsonl"

    def errors(self, run_id: str, source: str) -> Path:
        """Pages that could not be turned into items: one JSON line {url, reason, ...} each."""
        return self.run(run_id) / "errors" / f"{source}.jsonl"

    def health(self, run_id: str, source: str) -> Path:
        """Per-source crawl statistics of one run (JSON)."""
        return self.run(run_id) / "health" / f"{source}.json"

    def graph(self, run_id: str, source: str) -> Path:
        """Valid notices of one source, as N-Triples, ready to publish as the source's graph."""
        return self.run(run_id) / "graphs" / f"{source}.nt"

    def report(self, run_id: str) -> Path:
        return self.run(run_id) / "report.json"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def quarantined(self, source: str) -> Path:
        """Invalid notices of a source: one JSON line {item, key, report_text, report_ttl}."""
        return self.quarantine / f"{source}.jsonl"

    @property
    def warc(self) -> Path:
        return self.root / "warc"

    @property
    def store(self) -> Path:
        """Store generations live here; `current` names the one being served."""
        return self.root / "store"

    @property
    def dumps(self) -> Path:
        return self.root / "dumps"

    @property
    def building(self) -> Path:
        """What `gongkai run` is still building while it serves (endpoint/building.py)."""
        return self.root / "building.json"

    @property
    def attachment_cache(self) -> Path:
        """Extracted attachment text by sha256 of the file (SQLite), shared by every run."""
        return self.root / "cache" / "attachments.sqlite"

    @property
    def state(self) -> Path:
        """Harvest state kept between runs (ETags, seen documents) for incremental runs."""
        return self.root / "state"


def data_dir(path: str | os.PathLike[str] | None = None) -> DataDir:
    return DataDir(Path(path) if path is not None else default_data_dir())
