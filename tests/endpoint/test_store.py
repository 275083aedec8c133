"""Store generations: publish, replace graphs, switch CURRENT, prune, fail cleanly."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from endpoint_data import EX, GRAPH_A, GRAPH_B, NT_A, NT_B, write
from pyoxigraph import BlankNode

from endpoint import store as st
from gongkai.config import DataDir


def generations(data: DataDir) -> list[str]:
    return sorted(p.name for p in data.store.iterdir() if p.name.startswith("gen-"))


def values(data: DataDir, graph: str) -> set[str]:
    s = st.open_read_only(data)
    assert s is not None
    q = f"SELECT ?o WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}"
    try:
        return {row["o"].value for row in s.query(q)}
    finally:
        del s


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    return DataDir(tmp_path / "var")


def test_nothing_published(data: DataDir) -> None:
    assert st.current_generation(data) is None
    assert st.open_read_only(data) is None


def test_publish_twice_replaces_graph_and_switches_current(data: DataDir, tmp_path: Path) -> None:
    a = write(tmp_path / "a.nt", NT_A)
    b = write(tmp_path / "b.nt", NT_B)
    g1 = st.publish(data, {GRAPH_A: a, GRAPH_B: b}, run_id="r1")
    assert g1 == data.store / "gen-000001"
    assert st.current_generation(data) == g1
    assert (data.store / "CURRENT").read_text().strip() == "gen-000001"
    assert st.graph_counts(g1) == {GRAPH_A: 4, GRAPH_B: 1}

    a2 = write(tmp_path / "a2.ttl", f'@prefix ex: <{EX}> .\nex:a9 ex:p "new" .\n')
    g2 = st.publish(data, {GRAPH_A: a2}, run_id="r2")
    assert st.current_generation(data) == g2 == data.store / "gen-000002"
    assert values(data, GRAPH_A) == {"new"}  # replaced, not merged
    assert values(data, GRAPH_B) == {"beta"}  # untouched graph carried over
    assert st.graph_counts(g2) == {GRAPH_A: 1, GRAPH_B: 1}
    manifest = json.loads((g2 / "MANIFEST.json").read_text())
    assert manifest["run_id"] == "r2"
    assert manifest["previous"] == "gen-000001"
    assert manifest["replaced"] == [GRAPH_A]
    assert manifest["triples"] == 2
    # the previous generation is intact (a reader may still use it)
    assert st.graph_counts(g1) == {GRAPH_A: 4, GRAPH_B: 1}


def test_replace_all_drops_other_graphs(data: DataDir, tmp_path: Path) -> None:
    st.publish(
        data,
        {GRAPH_A: write(tmp_path / "a.nt", NT_A), GRAPH_B: write(tmp_path / "b.nt", NT_B)},
        run_id="r1",
    )
    gen = st.publish(data, {GRAPH_B: tmp_path / "b.nt"}, run_id="r2", replace_all=True)
    assert st.graph_counts(gen) == {GRAPH_B: 1}
    assert values(data, GRAPH_A) == set()


def test_old_generations_pruned(data: DataDir, tmp_path: Path) -> None:
    b = write(tmp_path / "b.nt", NT_B)
    for i in range(5):
        st.publish(data, {GRAPH_B: b}, run_id=f"r{i}")
    assert generations(data) == ["gen-000003", "gen-000004", "gen-000005"]
    assert st.current_generation(data).name == "gen-000005"


def test_failed_load_leaves_current_and_no_partial(data: DataDir, tmp_path: Path) -> None:
    good = st.publish(data, {GRAPH_A: write(tmp_path / "a.nt", NT_A)}, run_id="r1")
    bad = write(tmp_path / "bad.nt", f"<{EX}x> <{EX}p> <{EX}y> .\nthis is not N-Triples\n")
    with pytest.raises(SyntaxError):
        st.publish(data, {GRAPH_B: write(tmp_path / "b.nt", NT_B), GRAPH_A: bad}, run_id="r2")
    assert st.current_generation(data) == good
    assert generations(data) == ["gen-000001"]
    assert values(data, GRAPH_A) >= {"alpha"}
    # and the next publish still works, numbered after the failed attempt's slot
    again = st.publish(data, {GRAPH_B: tmp_path / "b.nt"}, run_id="r3")
    assert st.current_generation(data) == again


def test_checked_files_load_to_the_same_quads_as_a_strict_load(tmp_path: Path) -> None:
    text = (
        NT_A
        + f"""<{EX}id/a4> <{EX}page> <http://a.example/附件/预算%25zz.pdf#p1> .
<{EX}id/a4> <{EX}when> "2021-05-10T00:00:00+08:00"^^<http://www.w3.org/2001/XMLSchema#dateTime> .
_:b1 <{EX}p> "tab\\tand \\u00e9 and \\U0001F600"@zh-Hans .
<{EX}id/a4> <{EX}q> _:b1 .
"""
    )
    graphs = {GRAPH_A: write(tmp_path / "a.nt", text), GRAPH_B: write(tmp_path / "b.nt", NT_B)}
    quads = []
    for checked in (False, True):
        data = DataDir(tmp_path / f"var-{checked}")
        gen = st.publish(data, graphs, run_id="r1", checked=checked)
        assert st.graph_counts(gen) == {GRAPH_A: 8, GRAPH_B: 1}
        s = st.open_read_only(data)
        assert s is not None
        rows = s.query("SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }")
        # blank node labels differ between loads: compare them as "_"
        quads.append(sorted(tuple("_" if isinstance(t, BlankNode) else str(t) for t in r)
                            for r in rows))  # fmt: skip
        del s
    assert quads[0] == quads[1]


def test_bad_inputs_fail_before_any_work(data: DataDir, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        st.publish(data, {GRAPH_A: tmp_path / "missing.nt"}, run_id="r")
    with pytest.raises(ValueError):
        st.publish(data, {GRAPH_A: write(tmp_path / "a.json", "{}")}, run_id="r")
    with pytest.raises(ValueError):
        st.publish(data, {"not an iri": write(tmp_path / "a.nt", NT_A)}, run_id="r")
    assert st.current_generation(data) is None


def test_publish_lock_excludes_a_second_publisher(data: DataDir, tmp_path: Path) -> None:
    b = write(tmp_path / "b.nt", NT_B)
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with st._publish_lock(data.store, None):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(5)
        started = time.monotonic()
        with pytest.raises(st.PublishLockedError):
            st.publish(data, {GRAPH_B: b}, run_id="r", lock_timeout=0.3)
        assert time.monotonic() - started < 5
    finally:
        release.set()
        t.join()
    assert st.publish(data, {GRAPH_B: b}, run_id="r", lock_timeout=5).is_dir()
