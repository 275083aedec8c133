"""Dumps: every graph in three formats, everything, notices.csv, catalogue, checksums, latest."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import zlib

import pyoxigraph as ox
import pytest
from ld_data import HOSTILE, NOTICE, RUN_ID, build

from endpoint.dumps import CSV_COLUMNS, latest, notice_rows, snapshots, write_dumps
from endpoint.store import current_generation, publish
from gongkai.config import DataDir
from ontology.namespaces import BASE, graph_iri


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    return build(tmp_path_factory.mktemp("dumps"))


def test_files(dumped: DataDir) -> None:
    folder = dumped.dumps / RUN_ID
    names = {p.name for p in folder.iterdir()}
    for graph in ("yuzhong", "ontology", "reference", "quality", "provenance"):
        assert {f"{graph}.nt.gz", f"{graph}.ttl.gz", f"{graph}.jsonld.gz"} <= names
    assert {
        "all.nq.gz",
        "all.trig.gz",
        "all.jsonld.gz",
        "notices.csv",
        "catalog.ttl",
        "SHA256SUMS",
    } <= names
    assert not [n for n in os.listdir(dumped.dumps) if n.startswith(".")]  # no leftovers


def test_graph_dumps_match_the_store(dumped: DataDir) -> None:
    folder = dumped.dumps / RUN_ID
    store = ox.Store.read_only(str(current_generation(dumped)))
    expected = {
        str(q.triple)
        for q in store.quads_for_pattern(None, None, None, ox.NamedNode(graph_iri("yuzhong")))
    }
    del store
    for name, fmt in (
        ("yuzhong.nt.gz", ox.RdfFormat.N_TRIPLES),
        ("yuzhong.ttl.gz", ox.RdfFormat.TURTLE),
        ("yuzhong.jsonld.gz", ox.RdfFormat.JSON_LD),
    ):
        got = {
            str(q.triple)
            for q in ox.parse(gzip.decompress((folder / name).read_bytes()), format=fmt)
        }
        assert len(got) == len(expected), name
    nq = list(
        ox.parse(gzip.decompress((folder / "all.nq.gz").read_bytes()), format=ox.RdfFormat.N_QUADS)
    )
    assert {q.graph_name.value for q in nq} >= {graph_iri("yuzhong"), graph_iri("reference")}


def test_checksums(dumped: DataDir) -> None:
    folder = dumped.dumps / RUN_ID
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    assert len(lines) == len(list(folder.iterdir())) - 1
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_catalog(dumped: DataDir) -> None:
    folder = dumped.dumps / RUN_ID
    store = ox.Store()
    store.load(path=str(folder / "catalog.ttl"), format=ox.RdfFormat.TURTLE)
    rows = list(
        store.query(f"""
        PREFIX dcat: <http://www.w3.org/ns/dcat#>
        PREFIX spdx: <http://spdx.org/rdf/terms#>
        PREFIX void: <http://rdfs.org/ns/void#>
        SELECT ?url ?size ?sum ?mt ?triples WHERE {{
          <{BASE}downloads/catalog> a dcat:Catalog ; dcat:dataset ?d .
          ?d a dcat:Dataset ; void:triples ?triples ; dcat:distribution ?dist .
          ?dist dcat:downloadURL ?url ; dcat:byteSize ?size ; dcat:mediaType ?mt ;
                spdx:checksum [ spdx:algorithm spdx:checksumAlgorithm_sha256 ; spdx:checksumValue ?sum ] .
        }}""")
    )
    by_name = {r["url"].value.rsplit("/", 1)[1]: r for r in rows}
    assert "yuzhong.nt.gz" in by_name and "notices.csv" in by_name and "all.nq.gz" in by_name
    r = by_name["yuzhong.nt.gz"]
    assert r["url"].value == f"{BASE}downloads/{RUN_ID}/yuzhong.nt.gz"
    assert int(r["size"].value) == (folder / "yuzhong.nt.gz").stat().st_size
    assert r["sum"].value == hashlib.sha256((folder / "yuzhong.nt.gz").read_bytes()).hexdigest()
    assert r["mt"].value.endswith("application/n-triples")
    assert int(r["triples"].value) > 0


def test_notices_csv(dumped: DataDir) -> None:
    raw = (dumped.dumps / RUN_ID / "notices.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3
    by_iri = {r["iri"]: r for r in rows}
    r = by_iri[NOTICE]
    assert r["title"] == "渝中区2024年第1期行政处罚案件信息公开"
    assert r["index_no"] == "11500054B8891CFDDX/2024-00001"
    assert r["source"] == "yuzhong" and r["areas"] == "2" and r["issued"] == "2024-03-05"
    assert r["publisher"] == "重庆市渝中区人民政府" and r["publisher_iri"].endswith(
        "id/agency/yuzhong"
    )
    assert r["source_page"].startswith("https://www.cqyz.gov.cn/")
    assert HOSTILE in {r["title"] for r in rows}  # data kept as harvested
    no_index = [r for r in rows if not r["index_no"]]
    assert len(no_index) == 1


def test_latest_and_pruning(tmp_path) -> None:
    data = build(tmp_path, dumps=False)
    gen = current_generation(data)
    for run in ("20250101T000000Z", "20250102T000000Z", "20250103T000000Z"):
        write_dumps(data, gen, run, keep=2)
        assert latest(data) == run
        assert os.readlink(data.dumps / "latest") == run
    assert snapshots(data) == ["20250103T000000Z", "20250102T000000Z"]
    write_dumps(data, gen, "20250103T000000Z", keep=2)  # the same run again replaces it
    assert latest(data) == "20250103T000000Z"
    with pytest.raises(ValueError):
        write_dumps(data, gen, "../evil", keep=2)


def test_work_folders_of_dead_writers_are_removed(tmp_path) -> None:
    data = build(tmp_path, dumps=False)
    data.dumps.mkdir(parents=True, exist_ok=True)
    dead = data.dumps / ".20250101T000000Z.999999999.partial"  # no such process
    alive = data.dumps / f".20250101T000000Z.{os.getppid()}.partial"  # a live writer's
    for folder in (dead, alive):
        (folder / "parts").mkdir(parents=True)
    write_dumps(data, current_generation(data), "20250102T000000Z", keep=2)
    assert not dead.exists()
    assert (alive / "parts").is_dir()


# -- made from one read per graph: exact content, members, parallel, reuse ------------------------
FORMATS = {
    ".nt.gz": ox.RdfFormat.N_TRIPLES,
    ".ttl.gz": ox.RdfFormat.TURTLE,
    ".jsonld.gz": ox.RdfFormat.JSON_LD,
    ".nq.gz": ox.RdfFormat.N_QUADS,
    ".trig.gz": ox.RdfFormat.TRIG,
}


def _quads(path) -> set[str]:
    fmt = next(f for suffix, f in FORMATS.items() if path.name.endswith(suffix))
    return {str(q) for q in ox.parse(gzip.decompress(path.read_bytes()), format=fmt)}


def _store_quads(generation, graph=None) -> set[str]:
    store = ox.Store.read_only(str(generation))
    try:
        if graph is None:
            return {str(q) for q in store}
        return {str(q.triple) for q in store.quads_for_pattern(None, None, None, graph)}
    finally:
        del store


def test_every_file_holds_exactly_the_store(dumped: DataDir) -> None:
    folder, gen = dumped.dumps / RUN_ID, current_generation(dumped)
    everything = _store_quads(gen)
    assert any(q.startswith("_:") for q in everything)  # blank nodes (quality) are covered
    for name in ("all.nq.gz", "all.trig.gz", "all.jsonld.gz"):
        assert _quads(folder / name) == everything, name
    for graph in ("yuzhong", "ontology", "reference", "quality", "provenance"):
        expected = _store_quads(gen, ox.NamedNode(graph_iri(graph)))
        for suffix in (".nt.gz", ".ttl.gz", ".jsonld.gz"):
            triples = {
                q.removesuffix(" <" + graph_iri(graph) + ">")
                for q in _quads(folder / f"{graph}{suffix}")
            }
            assert triples == expected, graph + suffix


def test_whole_files_are_members_of_the_graph_files(dumped: DataDir) -> None:
    """all.trig.gz and all.jsonld.gz reuse the compressed bodies of the graph files."""
    folder = dumped.dumps / RUN_ID
    trig = (folder / "all.trig.gz").read_bytes()
    ttl = (folder / "yuzhong.ttl.gz").read_bytes()
    text = gzip.decompress(ttl).decode()
    assert text.startswith("@prefix ") and "渝中区2024年第1期" in text
    # The Turtle body (every member after the @prefix member) appears byte for byte in TriG.
    d = zlib.decompressobj(31)
    d.decompress(ttl)
    body = ttl[len(ttl) - len(d.unused_data) :] if d.unused_data else b""
    assert body and body in trig
    jsonld = (folder / "yuzhong.jsonld.gz").read_bytes()
    doc = json.loads(gzip.decompress(jsonld))
    assert isinstance(doc, list) and {n["@id"] for n in doc} >= {NOTICE}
    whole = json.loads(gzip.decompress((folder / "all.jsonld.gz").read_bytes()))
    assert {g["@id"] for g in whole} >= {graph_iri("yuzhong"), graph_iri("quality")}


def test_parallel_writes_the_same_bytes(tmp_path) -> None:
    data = build(tmp_path, dumps=False)
    gen = current_generation(data)
    one = write_dumps(data, gen, "20250101T000000Z", workers=1)
    sums_one = (one / "SHA256SUMS").read_text()
    shutil.rmtree(one)
    two = write_dumps(data, gen, "20250101T000000Z", workers=2)
    sums_two = (two / "SHA256SUMS").read_text()
    # gzip members are deterministic: every file is byte-identical (the catalogue has a time).
    strip = lambda s: sorted(ln for ln in s.splitlines() if not ln.endswith("catalog.ttl"))  # noqa: E731
    assert strip(sums_one) == strip(sums_two) and len(strip(sums_one)) == 19


def test_unchanged_graphs_are_hard_linked(tmp_path) -> None:
    data = build(tmp_path, dumps=False)
    first = write_dumps(data, current_generation(data), "20250101T000000Z")
    second = write_dumps(data, current_generation(data), "20250102T000000Z")
    for name in ("yuzhong.nt.gz", "yuzhong.ttl.gz", "reference.jsonld.gz"):
        assert (first / name).stat().st_ino == (second / name).stat().st_ino, name
    assert (first / "all.nq.gz").read_bytes() == (second / "all.nq.gz").read_bytes()
    # One notice more in yuzhong: its files are new, the others still linked.
    extra = NOTICE + "-new"
    more = tmp_path / "more.nt"
    more.write_text(
        (tmp_path / "in" / "yuzhong.nt").read_text(encoding="utf-8")
        + f'<{extra}> <http://purl.org/dc/terms/title> "新的 \\"公告\\"\\n第二行\\\\" .\n'
        + f"<{extra}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{BASE}def/gongkai#Notice> .\n",
        encoding="utf-8",
    )
    gen = publish(data, {graph_iri("yuzhong"): more}, run_id="20250103T000000Z")
    third = write_dumps(data, gen, "20250103T000000Z")
    assert (third / "yuzhong.nt.gz").stat().st_ino != (second / "yuzhong.nt.gz").stat().st_ino
    assert (third / "reference.ttl.gz").stat().st_ino == (second / "reference.ttl.gz").stat().st_ino
    assert _quads(third / "all.nq.gz") == _store_quads(gen)
    rows = list(csv.DictReader(io.StringIO((third / "notices.csv").read_text("utf-8-sig"))))
    assert {r["title"] for r in rows if r["iri"] == extra} == {'新的 "公告"\n第二行\\'}
    lines = (third / "SHA256SUMS").read_text().splitlines()
    for line in lines:
        digest, name = line.split("  ")
        assert hashlib.sha256((third / name).read_bytes()).hexdigest() == digest


def test_default_graph_and_unnamed_graphs_are_in_the_whole_files(tmp_path) -> None:
    """Triples outside `graph/{name}` have no files of their own but are in all.*."""
    data = build(tmp_path, dumps=False)
    gen = current_generation(data)
    store = ox.Store(str(gen))  # nobody reads this test generation: add to it directly
    odd = ox.NamedNode("urn:example:not-a-graph-name")
    s, p = ox.NamedNode("urn:example:s"), ox.NamedNode("urn:example:p")
    store.add(ox.Quad(s, p, ox.Literal("默认图"), ox.DefaultGraph()))
    store.add(ox.Quad(s, p, ox.Literal("tab\tand \\ slash"), odd))
    store.flush()
    del store
    folder = write_dumps(data, gen, "20250101T000000Z", workers=2)
    everything = _store_quads(gen)
    for name in ("all.nq.gz", "all.trig.gz", "all.jsonld.gz"):
        assert _quads(folder / name) == everything, name
    assert not [p for p in folder.iterdir() if "not-a-graph" in p.name]


def test_notice_rows_read_escaped_literals() -> None:
    store = ox.Store()
    g = ox.NamedNode(graph_iri("yuzhong"))
    n = ox.NamedNode(NOTICE)
    title = '引号" 反斜杠\\ 换行\n制表\t 😀 =1+1'
    store.add(ox.Quad(n, ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                      ox.NamedNode(BASE + "def/gongkai#Notice"), g))  # fmt: skip
    store.add(
        ox.Quad(
            n, ox.NamedNode("http://purl.org/dc/terms/title"), ox.Literal(title, language="zh"), g
        )
    )
    store.add(
        ox.Quad(
            n, ox.NamedNode(BASE + "def/gongkai#area"), ox.NamedNode(BASE + "def/category/12"), g
        )
    )
    store.add(
        ox.Quad(
            n, ox.NamedNode(BASE + "def/gongkai#area"), ox.NamedNode(BASE + "def/category/3"), g
        )
    )
    other = ox.NamedNode(BASE + "id/agency/yuzhong")  # not a notice: no row
    store.add(ox.Quad(other, ox.NamedNode("http://purl.org/dc/terms/title"), ox.Literal("x"), g))
    rows = notice_rows(store.dump(None, ox.RdfFormat.N_TRIPLES, from_graph=g), BASE)
    assert len(rows) == 1
    row = dict(zip(CSV_COLUMNS, rows[0], strict=True))
    assert row["iri"] == NOTICE and row["title"] == title and row["areas"] == "3;12"
