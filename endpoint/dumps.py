"""Dumps of a published generation: files for people who want the whole thing, not queries.

`write_dumps(data, generation, run_id)` writes `{data}/dumps/{run_id}/`:

- per named graph `graph/{name}`: `{name}.nt.gz`, `{name}.ttl.gz`, `{name}.jsonld.gz`;
- everything: `all.nq.gz` (N-Quads: the graph of each triple is kept), `all.trig.gz` and
  `all.jsonld.gz` (datasets, named graphs kept);
- `notices.csv`: one row per notice for spreadsheets (UTF-8 with a byte-order mark, or Excel
  shows Chinese as mojibake);
- `catalog.ttl`: a DCAT catalogue with VoID statistics and the size, media type and SHA-256 of
  each file; `SHA256SUMS` in `sha256sum -c` format.

Every file is streamed from the store opened read-only (`Store.dump(output=…)`, quad pattern
lookups for the CSV), so a large dump never sits in memory. The snapshot is written into a
hidden directory and renamed into place, then `dumps/latest` (a symlink) is replaced
atomically. The newest `keep` snapshots are kept.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyoxigraph as ox

from endpoint.store import read_manifest
from gongkai.config import DataDir, base_uri
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


@dataclass(frozen=True)
class Kind:
    suffix: str
    media_type: str
    fmt: ox.RdfFormat | None
    label: str


GRAPH_KINDS = (
    Kind(".nt.gz", "application/n-triples", ox.RdfFormat.N_TRIPLES, "N-Triples"),
    Kind(".ttl.gz", "text/turtle", ox.RdfFormat.TURTLE, "Turtle"),
    Kind(".jsonld.gz", "application/ld+json", ox.RdfFormat.JSON_LD, "JSON-LD"),
)
ALL_KINDS = (
    Kind(".nq.gz", "application/n-quads", ox.RdfFormat.N_QUADS, "N-Quads"),
    Kind(".trig.gz", "application/trig", ox.RdfFormat.TRIG, "TriG"),
    Kind(".jsonld.gz", "application/ld+json", ox.RdfFormat.JSON_LD, "JSON-LD"),
)
CSV_KIND = Kind(".csv", "text/csv", None, "CSV")
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


@contextlib.contextmanager
def _gzip_out(path: Path) -> Iterator[gzip.GzipFile]:
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
    ):
        yield gz


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


def write_notices_csv(store: ox.Store, graphs: list[ox.NamedNode], out: Path, base: str) -> int:
    """One row per notice (by pattern lookups, one notice at a time); returns the row count."""
    gk = base + "def/gongkai#"
    notice = ox.NamedNode(gk + "Notice")
    rdf_type = ox.NamedNode(RDF_TYPE)
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
    by_iri = {v: k for k, v in p.items()}
    category = base + "def/category/"
    source_prefix = base + "id/source/"
    rows = 0
    with open(out, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for g in graphs:
            for q in store.quads_for_pattern(None, rdf_type, notice, g):
                s = q.subject
                values: dict[str, list[str]] = {}
                for t in store.quads_for_pattern(s, None, None, g):
                    key = by_iri.get(t.predicate.value)
                    if key is not None:
                        values.setdefault(key, []).append(t.object.value)
                areas = sorted(
                    int(a[len(category) :])
                    for a in values.get("areas", [])
                    if a.startswith(category) and a[len(category) :].isdigit()
                )
                sources = [v.removeprefix(source_prefix) for v in values.get("source", [])]
                row = {
                    "iri": s.value,
                    "source": ";".join(sources),
                    "areas": ";".join(str(a) for a in areas),
                }
                for key in ("title", "index_no", "doc_no", "publisher", "publisher_iri",
                            "issued", "created", "source_page"):  # fmt: skip
                    row[key] = ";".join(sorted(values.get(key, [])))
                writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
                rows += 1
    return rows


def _count(store: ox.Store, graph: ox.NamedNode) -> int:
    return sum(1 for _ in store.quads_for_pattern(None, None, None, graph))


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


def write_dumps(data: DataDir, generation: Path, run_id: str, *, keep: int | None = None) -> Path:
    """Write the dumps of `generation` under `data.dumps / run_id`, switch `latest`, prune."""
    if not RUN_ID_RE.match(run_id):
        raise ValueError(f"not a run id: {run_id!r}")
    keep = keep if keep is not None else int(os.environ.get("GONGKAI_KEEP_DUMPS", KEEP))
    base = base_uri()
    data.dumps.mkdir(parents=True, exist_ok=True)
    target = data.dumps / run_id
    work = data.dumps / f".{run_id}.{os.getpid()}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    created = datetime.now(UTC).isoformat(timespec="seconds")
    prefixes = _prefixes(base)
    try:
        store = ox.Store.read_only(str(generation))
        try:
            manifest_counts = read_manifest(generation).get("graphs", {})
            graphs = sorted(
                (g for g in store.named_graphs() if isinstance(g, ox.NamedNode)),
                key=lambda g: g.value,
            )
            datasets: dict[str, dict] = {}
            named: list[tuple[str, ox.NamedNode]] = []
            for g in graphs:
                name = graph_name(base, g.value)
                if name is None:
                    continue
                named.append((name, g))
                n = manifest_counts.get(g.value)
                datasets[name] = {
                    "title": f"named graph {name}",
                    "graph": g.value,
                    "triples": int(n) if n is not None else _count(store, g),
                }
            total = sum(d["triples"] for d in datasets.values())
            datasets = {"all": {"title": "all named graphs", "triples": total}, **datasets}
            for name, g in named:
                for kind in GRAPH_KINDS:
                    with _gzip_out(work / f"{name}{kind.suffix}") as out:
                        store.dump(out, kind.fmt, from_graph=g,
                                   prefixes=prefixes if kind.fmt == ox.RdfFormat.TURTLE else None)  # fmt: skip
            for kind in ALL_KINDS:
                with _gzip_out(work / f"all{kind.suffix}") as out:
                    store.dump(
                        out, kind.fmt, prefixes=prefixes if kind.fmt == ox.RdfFormat.TRIG else None
                    )
            notice_graphs = [
                g
                for name, g in named
                if name not in ("ontology", "reference", "provenance", "quality", "completeness")
            ]
            write_notices_csv(store, notice_graphs, work / "notices.csv", base)
        finally:
            del store
        files = {p.name: (p.stat().st_size, _sha256(p)) for p in sorted(work.iterdir())}
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
