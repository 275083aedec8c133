"""Dumps: every graph in three formats, everything, notices.csv, catalogue, checksums, latest."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os

import pyoxigraph as ox
import pytest
from ld_data import HOSTILE, NOTICE, RUN_ID, build

from endpoint.dumps import latest, snapshots, write_dumps
from endpoint.store import current_generation
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
