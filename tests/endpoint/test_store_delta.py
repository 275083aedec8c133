"""Incremental publishing: a small change is applied to a backup of the current generation and
ends with exactly the quads of a fresh build; anything it cannot compare is replaced whole."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyoxigraph as ox
import pytest

from endpoint import store as st
from gongkai.config import DataDir

EX = "http://example.org/"
BIG, SMALL, BNODES, GONE, NEW = (
    f"{EX}graph/{n}" for n in ("big", "small", "bnodes", "gone", "new")
)
_BNODE = re.compile(r"_:\S+")


def line(i: int, value: str | None = None) -> str:
    kinds = [
        f'"{value or i}"',
        f'"名称 {value or i}"@zh',
        f'"{value or i}"^^<http://www.w3.org/2001/XMLSchema#integer>',
        f'"tab\\there \\"{value or i}\\""',
        f"<{EX}o{value or i}>",
    ]
    return f"<{EX}s{i}> <{EX}p{i % 3}> {kinds[i % len(kinds)]} .\n"


def write(path: Path, lines: list[str]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)  # a new file, as map+validate writes them
    return path


def quads(gen: Path) -> list[str]:
    store = ox.Store.read_only(str(gen))
    try:
        return sorted(_BNODE.sub("_:b", str(q)) for q in store.quads_for_pattern(None, None, None))
    finally:
        del store


def fresh_quads(tmp: Path, graphs: dict[str, Path]) -> tuple[list[str], dict[str, int]]:
    data = DataDir(tmp / "fresh")
    gen = st.publish(data, graphs, run_id="fresh", replace_all=True)
    assert st.read_manifest(gen)["built"] == "fresh"
    return quads(gen), st.graph_counts(gen)


@pytest.fixture
def day1(tmp_path: Path) -> tuple[DataDir, dict[str, Path]]:
    files = tmp_path / "in"
    files.mkdir()
    graphs = {
        BIG: write(files / "big.nt", [line(i) for i in range(3000)]),
        SMALL: write(files / "small.nt", [line(i) for i in range(40)]),
        BNODES: write(files / "bnodes.nt", [f'_:r{i} <{EX}p> "{i}" .\n' for i in range(20)]),
        GONE: write(files / "gone.nt", [line(i) for i in range(5)]),
    }
    data = DataDir(tmp_path / "var")
    gen = st.publish(data, graphs, run_id="d1")
    assert st.read_manifest(gen)["built"] == "fresh"
    assert (gen / st.read_manifest(gen)["inputs"][BIG]["file"]).samefile(graphs[BIG])
    return data, graphs


def test_a_small_change_is_applied_as_a_delta_and_equals_a_fresh_build(day1, tmp_path) -> None:
    data, graphs = day1
    old = st.current_generation(data)
    before = quads(old)
    reader = ox.Store.read_only(str(old))
    files = tmp_path / "in"
    big = [line(i) for i in range(3000) if i % 100 != 7] + [line(i) for i in range(3000, 3030)]
    big[10] = line(10, "edited")
    big.append(big[20])  # a duplicate line is one triple
    day2 = {
        BIG: write(files / "big.nt", big),
        SMALL: graphs[SMALL],  # the very same file: nothing to compare
        BNODES: write(files / "bnodes.nt", [f'_:x{i} <{EX}p> "{i}" .\n' for i in range(21)]),
        GONE: write(files / "gone.nt", []),  # emptied: the graph goes
        NEW: write(files / "new.nt", [line(i, "new") for i in range(4)]),
    }
    gen = st.publish(data, day2, run_id="d2")
    manifest = st.read_manifest(gen)
    assert manifest["built"] == "delta"
    assert manifest["removed"] == 30 + 1 + 5 and manifest["added"] == 30 + 1
    assert manifest["replaced_whole"] == sorted([BNODES, NEW])  # blank nodes; no earlier file
    expected, counts = fresh_quads(tmp_path, day2)
    assert quads(gen) == expected
    assert st.graph_counts(gen) == counts and GONE not in counts
    assert counts[BIG] == 3000 - 30 + 30
    # the previous generation, and a reader holding it open, are untouched
    assert sorted(_BNODE.sub("_:b", str(q)) for q in reader) == before == quads(old)
    del reader


def test_an_input_rewritten_in_place_is_replaced_whole(day1, tmp_path) -> None:
    data, graphs = day1
    with open(graphs[SMALL], "w", encoding="utf-8") as f:  # same inode: the link sees it too
        f.write("".join(line(i, "rewritten") for i in range(40)))
    gen = st.publish(data, {SMALL: graphs[SMALL]}, run_id="d2")
    manifest = st.read_manifest(gen)
    assert manifest["built"] == "delta" and manifest["replaced_whole"] == [SMALL]
    expected, counts = fresh_quads(tmp_path, graphs)
    assert quads(gen) == expected and st.graph_counts(gen) == counts


def test_a_large_change_builds_fresh(day1, tmp_path) -> None:
    data, graphs = day1
    big = write(tmp_path / "in" / "big.nt", [line(i, "allnew") for i in range(3000)])
    gen = st.publish(data, {BIG: big}, run_id="d2")
    assert st.read_manifest(gen)["built"] == "fresh"
    expected, counts = fresh_quads(tmp_path, graphs)
    assert quads(gen) == expected and st.graph_counts(gen) == counts
    # kept graphs came from their recorded files: the next small change is a delta again
    gen = st.publish(data, {BIG: write(big, [line(i, "allnew") for i in range(2999)])}, run_id="d3")
    assert st.read_manifest(gen)["built"] == "delta"
    assert quads(gen) == fresh_quads(tmp_path / "again", graphs)[0]


def test_a_bad_line_in_a_delta_fails_and_keeps_the_current_generation(day1, tmp_path) -> None:
    data, graphs = day1
    current = st.current_generation(data)
    bad = write(tmp_path / "in" / "big.nt", [line(i) for i in range(3000)] + ["not a triple\n"])
    with pytest.raises(SyntaxError):
        st.publish(data, {BIG: bad}, run_id="d2")
    assert st.current_generation(data) == current
    assert sorted(p.name for p in data.store.glob("gen-*")) == [current.name]
