"""What can go wrong on a sandbox portal, decided from `(profile, epoch, source, n)` alone.

The plan is deterministic, so the ground truth can say for every notice what a faithful
harvester must end with (`expect`), and a test can hold the pipeline to it.

Always on (they are how real portals look, not faults):
- layout variants of some district TRS portals: mangled labels ("[ 索号 ]", "[ 有性 ]") with
  blank values, `dl` pairs, `th`/`td` pairs, `span` pairs, GBK bytes with the charset only in a
  `<meta>` tag;
- epochs: epoch 2 adds notices, edits some titles and withdraws some notices. By default
  (the fault and crash tests) two notices a source and about 6 % edited, 5 % withdrawn; with a
  `Churn` (`--new-fraction`, a benchmark's daily run) each epoch is one day that adds a share of
  the portal at the top of its lists, dated that day, and edits and withdraws small shares.

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
from datetime import date, timedelta

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


@dataclass(frozen=True)
class Churn:
    """What one epoch (one day) changes on every portal, as shares of its first-epoch size.

    New notices appear at the top of the lists dated the epoch's day; edits (a changed title)
    and withdrawals fall on first-epoch notices, drawn per notice, and accumulate over epochs.
    """

    new: float = 0.01
    edited: float = 0.001
    withdrawn: float = 0.0002

    def __post_init__(self) -> None:
        for name in ("new", "edited", "withdrawn"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"churn {name} must be a share between 0 and 1, not {value}")


#: A quiet day of a large portal: 1 % new notices, 0.1 % edited, 0.02 % withdrawn.
DAILY = Churn()


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
    def __init__(
        self,
        profile: str | None,
        epoch: int,
        source_ids: set[str],
        churn: Churn | None = None,
        per_source: int = 20,
    ):
        if profile not in (None, "", "none", *PROFILES):
            raise ValueError(f"unknown fault profile {profile!r} (known: {', '.join(PROFILES)})")
        self.on = profile == "realistic"
        self.epoch = max(1, epoch)
        self.churn = churn
        self.per_source = per_source
        self.robots_source = next((s for s in ROBOTS_SOURCES if s in source_ids), None)
        self.challenge_source = next((s for s in CHALLENGE_SOURCES if s in source_ids), None)
        if not self.on:
            self.robots_source = self.challenge_source = None

    # -- whole portals -------------------------------------------------------------------------
    def challenged(self, source: Source) -> bool:
        return source.id == self.challenge_source

    @property
    def new_per_epoch(self) -> int:
        if self.churn is None:
            return NEW_PER_EPOCH
        return max(1, round(self.churn.new * self.per_source)) if self.churn.new else 0

    def extra(self, source: Source) -> int:
        """Notices added since epoch 1."""
        return self.new_per_epoch * (self.epoch - 1)

    def added_on(self, n: int, last_day: date) -> date:
        """The day notice `n` (added after epoch 1) appeared: with a churn, its epoch's day
        (epoch e is `last_day` + e - 1 days); otherwise `last_day`."""
        if self.churn is None or not self.new_per_epoch:
            return last_day
        epoch = 2 + (n - self.per_source) // self.new_per_epoch
        return last_day + timedelta(days=epoch - 1)

    def _drawn(self, kind: str, source: Source, n: int, share: float) -> bool:
        """Notice n is hit by `kind` in one of the epochs so far (first-epoch notices only)."""
        if n >= self.per_source or not share:
            return False
        return _h(kind, source.id, n) / 2**32 < share * (self.epoch - 1)

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
        if self.epoch < 2 or self._failing(source, n):
            return False
        if self.churn is not None:
            return self._drawn("withdrawn", source, n, self.churn.withdrawn)
        return n % 19 == 8

    def edited(self, source: Source, n: int) -> bool:
        if self.epoch < 2 or self._failing(source, n):
            return False
        if self.churn is not None:
            return self._drawn("edited", source, n, self.churn.edited)
        return n % 17 == 3

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
