"""The map cache hands back stored N-Triples the same way whether it reads a few entries by key
or the whole table in one pass (a daily run reuses nearly every entry)."""

from __future__ import annotations

from gongkai.mapcache import SCAN_MIN, Entry, MapCache, line_digest


def test_one_pass_and_lookups_by_key_agree(tmp_path) -> None:
    cache = MapCache(tmp_path / "src.sqlite3", "fp")
    lines = [line_digest(f"item {i}".encode()) for i in range(SCAN_MIN + 500)]
    for i, line in enumerate(lines):
        entry = Entry(b"ctx", f"http://x/{i}", f"k{i}", str(i), 1, False, f"urn:n{i}", True, ())
        report = (None, None) if i % 7 else (f"report {i}", "@prefix sh: <x> .")
        annual = (b"", b"") if i % 11 else (f"<a{i}> <p> <o> .\n".encode(), b"{}\n")
        cache.put(line, entry, f"<urn:n{i}> <p> {i} .\n".encode(), report, annual)
    cache.used.update(lines)  # as a run that used them all (unused ones are dropped)
    cache.close()
    cache = MapCache(tmp_path / "src.sqlite3", "fp")
    whole = cache.texts(lines[:-1])  # most of the table: one pass
    few = cache.texts(lines[:40])  # by key
    assert len(whole) == len(lines) - 1 and lines[-1] not in whole
    assert all(few[line] == whole[line] for line in lines[:40])
    assert whole[lines[7]] == (b"<urn:n7> <p> 7 .\n", "report 7", "@prefix sh: <x> .", b"", b"")
    assert whole[lines[22]][3] == b"<a22> <p> <o> .\n"
    assert cache.get(lines[3]) == Entry(
        b"ctx", "http://x/3", "k3", "3", 1, False, "urn:n3", True, ()
    )
    cache.close()
