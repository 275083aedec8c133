"""Dumps of a published generation: files for people who want the whole thing, not queries.

`write_dumps(data, generation, run_id)` writes `{data}/dumps/{run_id}/`:

- per named graph `graph/{name}`: `{name}.nt.gz`, `{name}.ttl.gz`, `{name}.jsonld.gz`;
- everything: `all.nq.gz` (N-Quads: the graph of each triple is kept), `all.trig.gz` and
  `all.jsonld.gz` (datasets, named graphs kept);
- `notices.csv`: one row per notice for spreadsheets (UTF-8 with a byte-order mark, or Excel
  shows Chinese as mojibake);
- `catalog.ttl`: a DCAT catalogue with VoID statistics and the size, media type and SHA-256 of
  each file; `SHA256SUMS` in `sha256sum -c` format.

Reading the store is what costs (~7 µs a triple: every term of every quad is a RocksDB
look-up; serialising and gzip are cheap next to it), so each graph is read once, as N-Triples,
and everything else is made from that text (docs/performance.md):

- Turtle and JSON-LD by parsing it back (pyoxigraph, in memory, no store);
- the N-Quads lines by appending the graph to each line; the CSV rows by picking lines;
- the whole-dataset files as concatenated gzip members (RFC 1952 allows several; every
  decompressor reads them as one stream): a graph's Turtle body is one member of its
  `.ttl.gz`, after a member holding the `@prefix` lines, and the same bytes are copied into
  `all.trig.gz` between `<graph> {` and `}`; the same for the JSON-LD node list;
- graphs are dumped in parallel, one process per core, largest first;
- a graph whose N-Triples are byte for byte those of the previous snapshot's `{name}.nt.gz`
  keeps its three files, hard-linked (the content key is the text itself: the gzip size
  field first, then the decompressed bytes).

The snapshot is written into a hidden directory and renamed into place, then `dumps/latest` (a
symlink) is replaced atomically. The newest `keep` snapshots are kept.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from endpoint.store import read_manifest
from gongkai.config import DataDir, base_uri
from gongkai.faults import die_with_parent
from ontology.ntriples import XSD, iri, literal, triple

RUN_ID_RE = re.compile(r"^\d{8}T\d{6}Z\Z")
GRAPH_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\Z")
LATEST = "latest"
KEEP = 3

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
VOID = "http://rdfs.org/ns/void#"
SPDX = "http://spdx.org/rdf/terms#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
FOAF = "http://xmlns.com/foaf/0.1/"
IANA = "http://www.iana.org/assignments/media-types/"

CSV_COLUMNS = (
    "iri",
    "source",
    "title",
    "index_no",
    "doc_no",
    "publisher",
    "publisher_iri",
    "issued",
    "created",
    "areas",
    "source_page",
)


MEDIA_TYPES = {
    ".nt.gz": "application/n-triples",
    ".ttl.gz": "text/turtle",
    ".jsonld.gz": "application/ld+json",
    ".nq.gz": "application/n-quads",
    ".trig.gz": "application/trig",
    ".csv": "text/csv",
    ".ttl": "text/turtle",
}


def media_type_of(name: str) -> str:
    for suffix, mt in sorted(MEDIA_TYPES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return mt
    return "text/plain" if name == "SHA256SUMS" else "application/octet-stream"


def graph_name(base: str, graph: str) -> str | None:
    """`{base}graph/x` → `x` when it is a safe file name, else None (the graph is skipped)."""
    prefix = base + "graph/"
    if graph.startswith(prefix) and GRAPH_NAME_RE.match(graph[len(prefix) :]):
        name = graph[len(prefix) :]
        return None if name == "all" else name
    return None


def _prefixes(base: str) -> dict[str, str]:
    from endpoint.linked_data import prefixes

    return prefixes(base)


GZIP_LEVEL = 6
PARALLEL_MIN_TRIPLES = 200_000  # below this one process is faster than starting a pool
NOT_NOTICE_GRAPHS = frozenset({"ontology", "reference", "provenance", "quality", "completeness"})
_PARTS = ".parts"


def _member(data: bytes) -> bytes:
    """One gzip member, deterministic (no name, mtime 0): members concatenate into one file."""
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula: quote it (OWASP)."""
    return "'" + value if value.startswith(_FORMULA) else value


def _csv_predicates(base: str) -> dict[bytes, str]:
    gk = base + "def/gongkai#"
    p = {
        "title": DCT + "title",
        "index_no": gk + "indexNumber",
        "doc_no": gk + "documentNumber",
        "publisher": gk + "publisherName",
        "publisher_iri": DCT + "publisher",
        "issued": DCT + "issued",
        "created": DCT + "created",
        "areas": gk + "area",
        "source_page": gk + "sourcePage",
        "source": gk + "source",
    }
    return {f"<{v}>".encode(): k for k, v in p.items()}


def _term_value(term: bytes) -> str:
    """The value of an N-Triples term as pyoxigraph's `.value` gives it (literal: lexical form)."""
    if b"\\" in term:  # an escape: let the real parser read it
        line = b"<urn:x:s> <urn:x:p> " + term + b" .\n"
        return next(iter(ox.parse(line, format=ox.RdfFormat.N_TRIPLES))).object.value
    if term.startswith(b"<"):
        return term[1:-1].decode()
    if term.startswith(b"_:"):
        return term[2:].decode()
    return term[1 : term.rindex(b'"')].decode()


def notice_rows(ntriples: bytes, base: str) -> list[list[str]]:
    """`notices.csv` rows (`CSV_COLUMNS`) of the `gk:Notice`s of one graph, from its N-Triples as
    `Store.dump` writes them (`s p o .`, one space apart), in the order of their subjects."""
    keys = _csv_predicates(base)
    rdf_type = f"<{RDF_TYPE}>".encode()
    notice = f"<{base}def/gongkai#Notice>".encode()
    category = base + "def/category/"
    source_prefix = base + "id/source/"
    values: dict[bytes, dict[str, list[str]]] = {}
    notices: set[bytes] = set()
    wanted = {**keys, rdf_type: ""}
    split = bytes.split
    lines = (split(line, b" ", 2) for line in ntriples.split(b"\n"))
    for s, p, rest in [t for t in lines if len(t) == 3 and t[1] in wanted]:
        o = rest[:-2]  # without " ."
        if p == rdf_type:
            if o == notice:
                notices.add(s)
                values.setdefault(s, {})
            continue
        if b"\\" in o:
            value = _term_value(o)
        elif o[0] == 0x22:  # '"': a literal, its lexical form up to the last quote
            value = o[1 : o.rindex(b'"')].decode()
        elif o[0] == 0x3C:  # '<'
            value = o[1:-1].decode()
        else:
            value = _term_value(o)
        per = values.get(s)
        if per is None:
            per = values[s] = {}
        per.setdefault(keys[p], []).append(value)
    rows = []
    for s, v in values.items():
        if s not in notices:
            continue
        areas = sorted(
            int(a[len(category) :])
            for a in v.get("areas", [])
            if a.startswith(category) and a[len(category) :].isdigit()
        )
        row = {
            "iri": _term_value(s),
            "source": ";".join(x.removeprefix(source_prefix) for x in v.get("source", [])),
            "areas": ";".join(str(a) for a in areas),
        }
        for key in ("title", "index_no", "doc_no", "publisher", "publisher_iri",
                    "issued", "created", "source_page"):  # fmt: skip
            row[key] = ";".join(sorted(v.get(key, [])))
        rows.append([_cell(row[c]) for c in CSV_COLUMNS])
    return rows


# -- one graph, in a worker process --------------------------------------------------------------
@dataclass(frozen=True)
class _Job:
    """One graph to dump. `term` is its N-Quads term (`<iri>`, `_:id`, or "" for the default
    graph); `name` its file stem when it gets files of its own."""

    index: int
    term: str
    name: str | None
    csv: bool


@dataclass(frozen=True)
class _Layout:
    """The fixed members around a graph's body, shared by the per-graph and whole files."""

    ttl_head: bytes  # @prefix lines, compressed
    jsonld_open: bytes  # "[" compressed
    jsonld_close: bytes  # "]" compressed
    ttl_head_text: bytes
    prefixes: dict[str, str]
    base: str


def _layout(base: str, prefixes: dict[str, str]) -> _Layout:
    probe = ox.Triple(ox.NamedNode("urn:x:s"), ox.NamedNode("urn:x:p"), ox.NamedNode("urn:x:o"))
    text = ox.serialize([probe], None, ox.RdfFormat.TURTLE, prefixes=prefixes)
    head = text[: text.rstrip(b"\n").rfind(b"\n") + 1]  # all but the probe's line
    return _Layout(_member(head), _member(b"["), _member(b"]"), head, prefixes, base)


_STORES: dict[str, ox.Store] = {}


def _graph(term: str) -> ox.NamedNode | ox.BlankNode | ox.DefaultGraph:
    if not term:
        return ox.DefaultGraph()
    if term.startswith("_:"):
        return ox.BlankNode(term[2:])
    return ox.NamedNode(term[1:-1])


def _write(path: Path, *members: bytes) -> tuple[int, str]:
    data = b"".join(members)
    path.write_bytes(data)
    return len(data), hashlib.sha256(data).hexdigest()


def _unchanged(previous: Path, name: str, nt: bytes, lay: _Layout) -> bool:
    """True when the previous snapshot's files of `name` hold exactly `nt`, in this layout."""
    files = [previous / f"{name}{suffix}" for suffix in (".nt.gz", ".ttl.gz", ".jsonld.gz")]
    if not all(f.is_file() and not f.is_symlink() for f in files):
        return False
    nt_gz, ttl_gz, jsonld_gz = files
    with open(nt_gz, "rb") as fh:
        fh.seek(-4, os.SEEK_END)
        if int.from_bytes(fh.read(4), "little") != len(nt) & 0xFFFFFFFF:  # ISIZE
            return False
    with open(ttl_gz, "rb") as fh:
        if fh.read(len(lay.ttl_head)) != lay.ttl_head:
            return False
    j = jsonld_gz.read_bytes()
    if not (j.startswith(lay.jsonld_open) and j.endswith(lay.jsonld_close)):
        return False
    try:
        return gzip.decompress(nt_gz.read_bytes()) == nt
    except (OSError, EOFError, zlib.error):
        return False


def _dump_graph(generation: str, work: str, previous: str | None, lay: _Layout, job: _Job) -> dict:
    """Dump one graph: its own files (or links to unchanged ones), its parts of the whole-dataset
    files (member ranges: path, offset, length) and its CSV rows; sizes and digests."""
    store = _STORES.get(generation)
    if store is None:
        store = _STORES.setdefault(generation, ox.Store.read_only(generation))
    work_dir, parts = Path(work), Path(work) / _PARTS
    nt = store.dump(None, ox.RdfFormat.N_TRIPLES, from_graph=_graph(job.term))
    out: dict[str, Any] = {"index": job.index, "triples": nt.count(b"\n"), "files": {}}
    nq = nt.replace(b" .\n", f" {job.term} .\n".encode()) if job.term else nt
    nq_part = parts / f"{job.index}.nq.gz"
    size, _ = _write(nq_part, _member(nq))
    out["nq"] = (str(nq_part), 0, size)
    del nq
    if job.name is not None and previous and _unchanged(Path(previous), job.name, nt, lay):
        for suffix in (".nt.gz", ".ttl.gz", ".jsonld.gz"):
            src, dst = Path(previous) / f"{job.name}{suffix}", work_dir / f"{job.name}{suffix}"
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
            out["files"][dst.name] = (dst.stat().st_size, _sha256(dst))
    else:
        triples = [q.triple for q in ox.parse(nt, format=ox.RdfFormat.N_TRIPLES)]
        ttl = ox.serialize(triples, None, ox.RdfFormat.TURTLE, prefixes=lay.prefixes)
        if ttl and not ttl.startswith(lay.ttl_head_text):
            raise RuntimeError(f"unexpected Turtle header for graph {job.term or 'default'}")
        ttl_body = _member(ttl[len(lay.ttl_head_text) :]) if ttl else b""
        del ttl
        jsonld = ox.serialize(triples, None, ox.RdfFormat.JSON_LD)
        del triples
        if not (jsonld.startswith(b"[") and jsonld.endswith(b"]")):
            raise RuntimeError(f"unexpected JSON-LD shape for graph {job.term or 'default'}")
        jsonld_body = _member(jsonld[1:-1]) if len(jsonld) > 2 else b""
        del jsonld
        if job.name is not None:
            files = out["files"]
            files[f"{job.name}.nt.gz"] = _write(work_dir / f"{job.name}.nt.gz", _member(nt))
            files[f"{job.name}.ttl.gz"] = _write(
                work_dir / f"{job.name}.ttl.gz", lay.ttl_head, ttl_body
            )
            files[f"{job.name}.jsonld.gz"] = _write(
                work_dir / f"{job.name}.jsonld.gz", lay.jsonld_open, jsonld_body, lay.jsonld_close
            )
        else:  # no files of its own (no safe name): its parts only
            _write(parts / f"{job.index}.ttl.gz", lay.ttl_head, ttl_body)
            _write(parts / f"{job.index}.jsonld.gz", lay.jsonld_open, jsonld_body, lay.jsonld_close)
    ttl_path = work_dir / f"{job.name}.ttl.gz" if job.name else parts / f"{job.index}.ttl.gz"
    jsonld_path = (
        work_dir / f"{job.name}.jsonld.gz" if job.name else parts / f"{job.index}.jsonld.gz"
    )
    n = len(lay.ttl_head)
    out["ttl"] = (str(ttl_path), n, ttl_path.stat().st_size - n)
    n, m = len(lay.jsonld_open), len(lay.jsonld_close)
    out["jsonld"] = (str(jsonld_path), n, jsonld_path.stat().st_size - n - m)
    if job.csv:
        rows = notice_rows(nt, lay.base)
        buf = io.StringIO()
        csv.writer(buf).writerows(rows)
        csv_part = parts / f"{job.index}.csv"
        csv_part.write_text(buf.getvalue(), encoding="utf-8", newline="")
        out["csv"] = (str(csv_part), len(rows))
    return out


def _init_worker() -> None:
    die_with_parent(signal.SIGKILL)


# -- assembling ------------------------------------------------------------------------------------
class _HashingWriter:
    def __init__(self, path: Path):
        self.fh = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.h = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.fh.write(data)
        self.h.update(data)
        self.size += len(data)

    def copy(self, part: tuple[str, int, int]) -> None:
        path, offset, length = part
        with open(path, "rb") as fh:
            fh.seek(offset)
            while length > 0:
                chunk = fh.read(min(length, 1 << 20))
                if not chunk:
                    raise RuntimeError(f"{path} is shorter than expected")
                self.write(chunk)
                length -= len(chunk)

    def close(self) -> tuple[int, str]:
        self.fh.close()
        return self.size, self.h.hexdigest()


def _whole_files(work: Path, jobs: list[_Job], results: dict[int, dict], lay: _Layout) -> dict:
    """all.nq.gz, all.trig.gz, all.jsonld.gz from the graphs' members, in graph order."""
    nq, trig, jsonld = (
        _HashingWriter(work / f"all{k}") for k in (".nq.gz", ".trig.gz", ".jsonld.gz")
    )
    trig.write(lay.ttl_head)
    jsonld.write(lay.jsonld_open)
    first = True
    for job in jobs:
        r = results[job.index]
        if r["triples"] == 0:
            continue
        nq.copy(r["nq"])
        trig.write(_member(f"{job.term} {{\n".lstrip().encode()))
        trig.copy(r["ttl"])
        trig.write(_member(b"}\n"))
        if not first:
            jsonld.write(_member(b","))
        first = False
        if job.term:
            gid = job.term[1:-1] if job.term.startswith("<") else job.term
            jsonld.write(
                _member(b'{"@id":' + json.dumps(gid, ensure_ascii=False).encode() + b',"@graph":[')
            )
            jsonld.copy(r["jsonld"])
            jsonld.write(_member(b"]}"))
        else:  # the default graph: its nodes at the top level
            jsonld.copy(r["jsonld"])
    jsonld.write(lay.jsonld_close)
    return {
        f"all{k}": w.close()
        for k, w in zip((".nq.gz", ".trig.gz", ".jsonld.gz"), (nq, trig, jsonld), strict=True)
    }


def _notices_csv(work: Path, jobs: list[_Job], results: dict[int, dict]) -> tuple[int, str]:
    out = _HashingWriter(work / "notices.csv")
    head = io.StringIO()
    csv.writer(head).writerow(CSV_COLUMNS)
    out.write(codecs.BOM_UTF8 + head.getvalue().encode())
    for job in jobs:
        part = results[job.index].get("csv")
        if part is not None:
            out.copy((part[0], 0, Path(part[0]).stat().st_size))
    return out.close()


def write_catalog(
    out: Path,
    *,
    base: str,
    run_id: str,
    files: dict[str, tuple[int, str]],
    datasets: dict[str, dict],
    created: str,
) -> None:
    """DCAT catalogue + VoID: datasets (all, one per graph), a distribution per file."""
    dl = base + "downloads/"
    cat = iri(dl + "catalog")
    t: list[str] = []

    def add(s: str, p: str, o: str) -> None:
        t.append(triple(s, iri(p), o))

    add(cat, RDF_TYPE, iri(DCAT + "Catalog"))
    add(
        cat,
        DCT + "title",
        literal(
            "gongkai: Chongqing government information disclosure notices, downloads", lang="en"
        ),
    )
    add(cat, DCT + "title", literal("重庆市政府信息公开目录数据下载", lang="zh"))
    add(cat, DCT + "modified", literal(created, datatype=XSD + "dateTime"))
    add(cat, FOAF + "homepage", iri(dl))
    dataset_iris: dict[str, str] = {}
    for name, info in datasets.items():
        d = iri(dl + "dataset/" + name)
        dataset_iris[name] = d
        add(cat, DCAT + "dataset", d)
        add(d, RDF_TYPE, iri(DCAT + "Dataset"))
        add(d, RDF_TYPE, iri(VOID + "Dataset"))
        add(d, DCT + "title", literal(info["title"], lang="en"))
        add(d, DCT + "identifier", literal(name))
        add(d, DCT + "modified", literal(created, datatype=XSD + "dateTime"))
        add(d, VOID + "triples", literal(str(info["triples"]), datatype=XSD + "integer"))
        add(d, VOID + "sparqlEndpoint", iri(base + "sparql"))
        add(d, DCAT + "accessURL", iri(dl))
        if info.get("graph"):
            add(d, DCT + "isPartOf", iri(dl + "dataset/all"))
            add(d, "http://www.w3.org/ns/sparql-service-description#name", iri(info["graph"]))
        else:
            add(d, VOID + "uriSpace", literal(base + "id/"))
            add(d, VOID + "vocabulary", iri(base + "def/gongkai#"))
            for other in datasets:
                if other != name:
                    add(d, VOID + "subset", iri(dl + "dataset/" + other))
    for fname, (size, digest) in sorted(files.items()):
        owner = fname.split(".", 1)[0] if fname != "notices.csv" else "notices"
        dist = iri(f"{dl}{run_id}/{fname}#distribution")
        dataset = dataset_iris.get(owner, dataset_iris.get("all"))
        add(dataset, DCAT + "distribution", dist)
        add(dist, RDF_TYPE, iri(DCAT + "Distribution"))
        add(dist, DCT + "title", literal(fname))
        add(dist, DCAT + "downloadURL", iri(f"{dl}{run_id}/{fname}"))
        add(dist, DCAT + "accessURL", iri(f"{dl}{LATEST}/{fname}"))
        add(dist, DCAT + "mediaType", iri(IANA + media_type_of(fname)))
        if fname.endswith(".gz"):
            add(dist, DCAT + "compressFormat", iri(IANA + "application/gzip"))
        add(dist, DCAT + "byteSize", literal(str(size), datatype=XSD + "nonNegativeInteger"))
        add(dist, DCT + "issued", literal(created, datatype=XSD + "dateTime"))
        ck = "_:ck" + hashlib.sha1(fname.encode()).hexdigest()[:12]
        add(dist, SPDX + "checksum", ck)
        add(ck, RDF_TYPE, iri(SPDX + "Checksum"))
        add(ck, SPDX + "algorithm", iri(SPDX + "checksumAlgorithm_sha256"))
        add(ck, SPDX + "checksumValue", literal(digest, datatype=XSD + "hexBinary"))
    triples = [q.triple for q in ox.parse("".join(t), format=ox.RdfFormat.N_TRIPLES)]
    with open(out, "wb") as fh:
        ox.serialize(triples, fh, ox.RdfFormat.TURTLE, prefixes={
            "dcat": DCAT, "dcterms": DCT, "void": VOID, "spdx": SPDX, "xsd": XSD, "foaf": FOAF,
            "sd": "http://www.w3.org/ns/sparql-service-description#",
        })  # fmt: skip


def snapshots(data: DataDir) -> list[str]:
    """Run ids of complete snapshots, newest first."""
    if not data.dumps.is_dir():
        return []
    names = [
        p.name
        for p in data.dumps.iterdir()
        if RUN_ID_RE.match(p.name)
        and p.is_dir()
        and not p.is_symlink()
        and (p / "SHA256SUMS").is_file()
    ]
    return sorted(names, reverse=True)


def latest(data: DataDir) -> str | None:
    """The run id `dumps/latest` points to, when it is a valid snapshot."""
    try:
        target = os.readlink(data.dumps / LATEST)
    except OSError:
        return None
    name = Path(target).name
    return name if RUN_ID_RE.match(name) and (data.dumps / name / "SHA256SUMS").is_file() else None


def _switch_latest(dumps: Path, run_id: str) -> None:
    tmp = dumps / f".{LATEST}.{os.getpid()}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(run_id, tmp)
    os.replace(tmp, dumps / LATEST)


def prune(data: DataDir, keep: int) -> None:
    current = latest(data)
    for name in snapshots(data)[keep:]:
        if name != current:
            shutil.rmtree(data.dumps / name, ignore_errors=True)


def write_dumps(
    data: DataDir,
    generation: Path,
    run_id: str,
    *,
    keep: int | None = None,
    workers: int | None = None,
) -> Path:
    """Write the dumps of `generation` under `data.dumps / run_id`, switch `latest`, prune.

    `workers`: processes dumping graphs (default: one per core, one for a small store)."""
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    keep = keep if keep is not None else int(os.environ.get("GONGKAI_KEEP_DUMPS", KEEP))
    base = base_uri()
    data.dumps.mkdir(parents=True, exist_ok=True)
    target = data.dumps / run_id
    work = data.dumps / f".{run_id}.{os.getpid()}.partial"
    created = datetime.now(UTC).isoformat(timespec="seconds")
    lay = _layout(base, _prefixes(base))
    previous = latest(data) or next(iter(snapshots(data)), None)
    # work folders of dumps that died (killed, power lost): nobody else will remove them
    for stale in data.dumps.glob(".*.partial") if Path("/proc/self").exists() else ():
        pid = stale.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)
    try:
        (work / _PARTS).mkdir(parents=True)
        manifest = read_manifest(generation)
        counts = {k: int(v) for k, v in manifest.get("graphs", {}).items()}
        store = ox.Store.read_only(str(generation))
        try:
            graphs = sorted(store.named_graphs(), key=str)
            has_default = next(store.quads_for_pattern(None, None, None, ox.DefaultGraph()), None)
        finally:
            del store
        jobs = [_Job(0, "", None, False)] if has_default is not None else []
        for g in graphs:
            name = graph_name(base, g.value) if isinstance(g, ox.NamedNode) else None
            csv_ = name is not None and name not in NOT_NOTICE_GRAPHS
            jobs.append(_Job(len(jobs), str(g), name, csv_))
        total = sum(counts.values()) if counts else None
        if workers is None:
            small = total is not None and total < PARALLEL_MIN_TRIPLES
            workers = 1 if small else (os.cpu_count() or 1)
        prev = str(data.dumps / previous) if previous else None
        args = (str(generation), str(work), prev, lay)
        results: dict[int, dict] = {}
        # Largest first, so the last job to finish is a small one.
        order = sorted(jobs, key=lambda j: -counts.get(j.term[1:-1], 0) if j.term else 0)
        if workers > 1 and len(jobs) > 1:
            with ProcessPoolExecutor(
                max_workers=min(workers, len(jobs)), initializer=_init_worker
            ) as pool:
                futures = [pool.submit(_dump_graph, *args, job) for job in order]
                for f in futures:
                    r = f.result()
                    results[r["index"]] = r
        else:
            try:
                for job in order:
                    results[job.index] = _dump_graph(*args, job)
            finally:
                _STORES.pop(str(generation), None)  # close it: the caller may remove it
        files: dict[str, tuple[int, str]] = {}
        for r in results.values():
            files |= r["files"]
        files |= _whole_files(work, jobs, results, lay)
        files["notices.csv"] = _notices_csv(work, jobs, results)
        shutil.rmtree(work / _PARTS)
        datasets: dict[str, dict] = {}
        for job in jobs:
            if job.name is not None:
                datasets[job.name] = {
                    "title": f"named graph {job.name}",
                    "graph": job.term[1:-1],
                    "triples": results[job.index]["triples"],
                }
        total = sum(d["triples"] for d in datasets.values())
        datasets = {"all": {"title": "all named graphs", "triples": total}, **datasets}
        write_catalog(work / "catalog.ttl", base=base, run_id=run_id, files=files,
                      datasets=datasets, created=created)  # fmt: skip
        files["catalog.ttl"] = (
            (work / "catalog.ttl").stat().st_size,
            _sha256(work / "catalog.ttl"),
        )
        (work / "SHA256SUMS").write_text(
            "".join(f"{digest}  {name}\n" for name, (_size, digest) in sorted(files.items())),
            encoding="utf-8",
        )
        old = None
        if target.exists():
            old = data.dumps / f".{run_id}.{os.getpid()}.old"
            os.replace(target, old)
        os.replace(work, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    _switch_latest(data.dumps, run_id)
    prune(data, keep)
    return target
