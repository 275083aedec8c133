"""What can go wrong on a sandbox portal, decided from `(profile, epoch, source, n)` alone.

The plan is deterministic, so the ground truth can say for every notice what a faithful
harvester must end with (`expect`), and a test can hold the pipeline to it.

Always on (they are how real portals look, not faults):
- layout variants of some district TRS portals: mangled labels ("[ 索号 ]", "[ 有性 ]") with
  blank values, `dl` pairs, `th`/`td` pairs, `span` pairs, GBK bytes with the charset only in a
  `<meta>` tag;
- epochs: epoch 2 adds notices, edits some titles and withdraws some notices.

With `--faults realistic`:
- 5xx: transient on a share of detail pages and on every second list page (the first attempt
  fails), permanent (HTTP 500) on a few detail pages;
- timeouts: a few detail pages answer slower than the harvester's download timeout, once;
- truncated pages: cut inside `<head>`, once on some pages, always on a few;
- GBK pages with no charset anywhere (neither header nor `<meta>`);
- duplicates: list links to `_app.html`/`_wap.html` copies, and a 专栏 column listing the same
  documents under another path;
- robots.txt: one portal disallows a sub-path that holds some of its notices;
- a bot challenge: one portal answers everything with HTTP 521 and a cookie script.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from harvesters.registry import Source

PROFILES = ("realistic",)
#: Layouts a TRS district portal may use (weights by repetition: most are standard).
TRS_VARIANTS = ("standard", "standard", "mangled", "dl", "thtd", "span", "gbk")
#: Notices added per source in each epoch after the first.
NEW_PER_EPOCH = 2
#: Seconds a slow page waits before answering (more than the sandbox-mode download timeout).
SLOW_SECONDS = 4.0

ROBOTS_PATH = "nbgl/"  # 内部管理: the disallowed sub-path of the robots portal
SPECIAL_COLUMN = "zl/"  # 专栏: a second column listing some documents again

# Portals the realistic profile picks for its one-off faults (first one present wins).
ROBOTS_SOURCES = ("jiangbei", "banan", "beibei")
CHALLENGE_SOURCES = ("dazu", "bishan", "changshou")


def _h(*parts: object) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def variant(source: Source) -> str:
    """Markup variant of a source's detail pages (TRS districts only)."""
    if source.family != "trs" or source.kind == "department":
        return "standard"
    return TRS_VARIANTS[_h("variant", source.id) % len(TRS_VARIANTS)]


@dataclass(frozen=True)
class Fault:
    kind: str  # 5xx | 500 | slow | truncated | truncated-always | gbk-bare
    transient: bool

    @property
    def expect(self) -> str | None:
        """The report reason a harvester ends with, or None when it must recover."""
        if self.transient:
            return None
        return {"500": "reported:HTTP 500", "truncated-always": "reported:truncated page"}[
            self.kind
        ]


class Plan:
    def __init__(self, profile: str | None, epoch: int, source_ids: set[str]):
        if profile not in (None, "", "none", *PROFILES):
            raise ValueError(f"unknown fault profile {profile!r} (known: {', '.join(PROFILES)})")
        self.on = profile == "realistic"
        self.epoch = max(1, epoch)
        self.robots_source = next((s for s in ROBOTS_SOURCES if s in source_ids), None)
        self.challenge_source = next((s for s in CHALLENGE_SOURCES if s in source_ids), None)
        if not self.on:
            self.robots_source = self.challenge_source = None

    # -- whole portals -------------------------------------------------------------------------
    def challenged(self, source: Source) -> bool:
        return source.id == self.challenge_source

    def extra(self, source: Source) -> int:
        """Notices added since epoch 1."""
        return NEW_PER_EPOCH * (self.epoch - 1)

    def special_column(self, source: Source) -> bool:
        return self.on and source.family in ("trs", "trs2017")

    # -- single notices ------------------------------------------------------------------------
    def disallowed(self, source: Source, n: int) -> bool:
        return source.id == self.robots_source and n % 6 == 1

    def detail_fault(self, source: Source, n: int) -> Fault | None:
        if not self.on:
            return None
        if n % 97 == 11:
            return Fault("500", transient=False)
        if n % 89 == 30:
            return Fault("truncated-always", transient=False)
        if n % 23 == 4:
            return Fault("5xx", transient=True)
        if n % 29 == 13:
            return Fault("truncated", transient=True)
        if n % 41 == 9 and _h("slow", source.id) % 3 == 0:
            return Fault("slow", transient=True)
        if n % 13 == 6 and source.family in ("trs", "trs2017", "generic"):
            return Fault("gbk-bare", transient=True)
        return None

    def list_fault(self, source: Source, page: int) -> bool:
        """Transient 5xx on the first attempt of every second list page."""
        return self.on and page % 2 == 1

    def copy_suffix(self, source: Source, n: int) -> str:
        if not self.on or source.family not in ("trs", "trs2017"):
            return ""
        return {2: "_app", 5: "_wap"}.get(n % 7, "")

    def in_special_column(self, source: Source, n: int) -> bool:
        return self.special_column(source) and n % 5 == 0 and not self.disallowed(source, n)

    def _failing(self, source: Source, n: int) -> bool:
        fault = self.detail_fault(source, n)
        return self.disallowed(source, n) or (fault is not None and not fault.transient)

    def withdrawn(self, source: Source, n: int) -> bool:
        """Withdrawn from epoch 2 on (never one the harvester could not read in epoch 1)."""
        return self.epoch >= 2 and n % 19 == 8 and not self._failing(source, n)

    def edited(self, source: Source, n: int) -> bool:
        return self.epoch >= 2 and n % 17 == 3 and not self._failing(source, n)

    def expect(self, source: Source, n: int, base: str) -> str:
        """What a faithful harvester ends with for notice n (`base`: published/quarantined)."""
        if self.challenged(source):
            return "reported:bot challenge"
        if self.withdrawn(source, n):
            return "withdrawn"
        if self.disallowed(source, n):
            return "reported:disallowed by robots.txt"
        fault = self.detail_fault(source, n)
        if fault is not None and fault.expect:
            return fault.expect
        return base
