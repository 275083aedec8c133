"""Where a list lost records, found without walking it: the arithmetic of incremental list walks.

A portal's list shows its documents newest first, a fixed number a page. The harvest state keeps
the order a list showed last time (`SourceState.list_order`). On the next day the list shows
the new documents on top, then the old ones in the same order, less the withdrawn ones. So an
old document found at list position P, at index i of the old order, below F new documents, has
`i - (P - F)` withdrawn documents above it: its *shift*. The shift grows from 0 at the top to
the number of records the list lost (the count it stated last time, plus the new ones, minus
the count it states now), and it grows exactly where documents went missing.

`locate` reads the pages fetched so far and says which further pages to fetch (the middle
page of each stretch whose shift changes: a bisection, about log2(pages) pages a withdrawal)
and which old documents to check again (those in a stretch where every position was seen and
the shift still grew: they are not on the list any more). Anything that does not fit this
picture (an old document below where it belongs, a new one deep in the list, a shift that
shrinks) makes it `consistent=False`: the caller walks the whole list, as without an order.

`audit_pages` spreads a full walk over several days: an edit that leaves a notice where it
was on its list (a corrected title) shows only on its list page, and every page is read again
within `every` runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

#: Lists of at most this many pages are walked whole whenever they changed: bisecting and
#: auditing them saves nothing worth the bookkeeping.
SMALL_LIST_PAGES = 8
#: Each incremental run reads one page in `AUDIT_EVERY` of a long list again (beyond the top).
AUDIT_EVERY = 7


@dataclass
class Located:
    """What the pages fetched so far tell about a list's withdrawals."""

    consistent: bool
    fresh: list[str] = field(default_factory=list)  # new documents at the top, in list order
    probes: list[int] = field(default_factory=list)  # pages to fetch next
    candidates: list[str] = field(default_factory=list)  # old documents no longer listed
    reason: str = ""

    @property
    def done(self) -> bool:
        return self.consistent and not self.probes


def _fresh_top(
    pos: Mapping[str, int], seen: Mapping[int, Sequence[str]], pages: int
) -> tuple[list[str], int] | None:
    """The new documents above the first old one, and the page that old one is on; None when
    the pages on top were not all fetched before an old document shows."""
    fresh: list[str] = []
    for page in range(pages):
        if page not in seen:
            return None
        for doc in seen[page]:
            if doc in pos:
                return fresh, page
            fresh.append(doc)
    return fresh, pages


def locate(
    previous: Sequence[str],
    seen: Mapping[int, Sequence[str]],
    *,
    size: int,
    pages: int,
    total: int | None,
) -> Located:
    """Pages to fetch next and documents to check again, from the pages `seen` (page → the
    document ids it lists, in order), the list's `previous` order and the record count it
    states now (`total`; None: not stated, then only consistency is checked)."""
    pos: dict[str, int] = {}
    for i, doc in enumerate(previous):
        pos.setdefault(doc, i)
    if size <= 0:
        return Located(False, reason="unknown page size")
    top = _fresh_top(pos, seen, pages)
    if top is None:
        return Located(False, reason="the top of the list was not read")
    fresh, first_old_page = top
    count = len(fresh)
    # anchors: (page, index in the old order, shift); a virtual one above the first old
    # document and one below the last
    anchors: list[tuple[int, int, int]] = [(min(first_old_page, pages - 1), -1, 0)]
    for page in sorted(seen):
        for j, doc in enumerate(seen[page]):
            where = page * size + j
            if where < count:
                continue  # the new documents on top
            i = pos.get(doc)
            if i is None:
                return Located(False, fresh, reason=f"a new document below the top: {doc}")
            anchors.append((page, i, i - (where - count)))
    lost = None if total is None else len(previous) + count - total
    if lost is not None:
        anchors.append((pages, len(previous), lost))
    probes: list[int] = []
    candidates: list[str] = []
    for (pa, ia, sa), (pb, ib, sb) in pairwise(anchors):
        if ib <= ia or sb < sa or sa < 0:
            return Located(False, fresh, reason="the old order does not hold")
        if sb == sa:
            continue  # nothing went missing between them
        between = range(max(pa, 0), min(pb, pages - 1) + 1)
        unread = [p for p in between if p not in seen]
        if not unread:  # every position between them was read: the documents between are gone
            candidates.extend(previous[ia + 1 : ib])
        else:
            probes.append(unread[len(unread) // 2])
    if lost is None and anchors[-1][2] != 0:
        return Located(False, fresh, reason="records lost, their count not stated")
    return Located(True, fresh, sorted(set(probes)), candidates)


def audit_pages(pages: int, run: int, every: int = AUDIT_EVERY) -> list[int]:
    """The pages of a long list this run reads again: every `every`-th one, a different
    residue each run, so every page is read within `every` runs."""
    if every <= 1:
        return list(range(pages))
    return [p for p in range(pages) if p % every == run % every]


def bisect_worthwhile(pages: int, lost: int) -> bool:
    """Whether finding `lost` withdrawals by bisection costs fewer pages than a whole walk."""
    if pages <= SMALL_LIST_PAGES or lost <= 0:
        return False
    return lost * max(1, pages.bit_length()) < pages
