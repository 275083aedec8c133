"""Finding where a long list lost records by bisection (harvesters/listwalk.py), on lists built
here: yesterday's order, today's list with new documents on top and some withdrawn."""

from __future__ import annotations

import pytest

from harvesters.listwalk import audit_pages, bisect_worthwhile, locate

SIZE = 20


def pages_of(listing: list[str]) -> dict[int, list[str]]:
    return {p: listing[p * SIZE : (p + 1) * SIZE] for p in range(-(-len(listing) // SIZE))}


def resolve(previous: list[str], today: list[str], first: int = 1):
    """Read the top `first` pages, then follow `locate` until it is done; returns the last
    answer and the pages read."""
    served = pages_of(today)
    pages = len(served)
    seen = {p: served[p] for p in range(first)}
    for _ in range(100):
        found = locate(previous, seen, size=SIZE, pages=pages, total=len(today))
        if not found.consistent or found.done:
            return found, seen
        for p in found.probes:
            seen[p] = served[p]
    raise AssertionError("no end")


@pytest.fixture
def yesterday() -> list[str]:
    return [f"d{i}" for i in range(2000)]  # 100 pages


def test_withdrawals_are_found_reading_few_pages(yesterday) -> None:
    gone = {"d137", "d1401", "d1999"}
    today = [f"n{i}" for i in range(7)] + [d for d in yesterday if d not in gone]
    found, seen = resolve(yesterday, today)
    assert found.consistent and sorted(found.candidates) == sorted(gone)
    assert found.fresh == [f"n{i}" for i in range(7)]
    assert len(seen) <= 3 * 8  # ~log2(100) pages a withdrawal, not 100


def test_an_unchanged_list_needs_no_probe(yesterday) -> None:
    today = ["n0", "n1"] + yesterday
    found, seen = resolve(yesterday, today)
    assert found.done and found.candidates == [] and list(seen) == [0]


def test_adjacent_withdrawals_on_a_page_boundary(yesterday) -> None:
    gone = {"d39", "d40", "d41"}
    today = [d for d in yesterday if d not in gone]
    found, _ = resolve(yesterday, today)
    assert sorted(found.candidates) == sorted(gone)


def test_a_new_document_deep_in_the_list_is_inconsistent(yesterday) -> None:
    today = yesterday[:900] + ["late"] + yesterday[900:]
    today.remove("d1500")  # the count alone would say one lost, one new
    served = pages_of(today)
    seen = {0: served[0], 45: served[45]}
    found = locate(yesterday, seen, size=SIZE, pages=len(served), total=len(today) - 1)
    assert not found.consistent and "new document below the top" in found.reason


def test_a_document_moved_down_breaks_the_order(yesterday) -> None:
    today = list(yesterday)
    today.insert(1000, today.pop(10))  # d10 now sits at position 1000
    served = pages_of(today)
    seen = {0: served[0], 50: served[50]}
    found = locate(yesterday, seen, size=SIZE, pages=len(served), total=len(today))
    assert not found.consistent


def test_without_a_stated_count_only_a_shift_seen_is_caught(yesterday) -> None:
    today = [d for d in yesterday if d != "d300"]
    served = pages_of(today)
    quiet = locate(yesterday, {0: served[0]}, size=SIZE, pages=len(served), total=None)
    assert quiet.done
    seen = {0: served[0], 60: served[60]}
    found = locate(yesterday, seen, size=SIZE, pages=len(served), total=None)
    assert not found.consistent


def test_audit_reads_every_page_within_the_period() -> None:
    covered = set()
    for run in range(7):
        covered |= set(audit_pages(100, run))
    assert covered == set(range(100))
    assert len(audit_pages(100, 3)) == 14


@pytest.mark.parametrize(
    ("pages", "lost", "worth"), [(100, 2, True), (100, 20, False), (8, 1, False), (500, 0, False)]
)
def test_bisect_only_when_cheaper_than_a_walk(pages: int, lost: int, worth: bool) -> None:
    assert bisect_worthwhile(pages, lost) is worth


def test_an_audit_every_run_reads_the_whole_list() -> None:
    assert audit_pages(30, 5, every=1) == list(range(30))
