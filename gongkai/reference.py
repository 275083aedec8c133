"""The graphs published beside the sources': ontology, reference data, provenance, quality.

Turtle files are converted to one N-Triples file per graph with pyoxigraph (fast, and blank
nodes stay distinct between files), so publishing is one bulk load per graph.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph as ox

from gongkai import __version__
from gongkai.config import DataDir
from harvesters.registry import Source
from ontology import ONTOLOGY_DIR
from ontology.namespaces import (
    DCTERMS,
    FOAF,
    GK,
    PROV,
    RDF,
    RDFS,
    agency_iri,
    division_iri,
    graph_iri,
    run_iri,
    source_iri,
)
from ontology.ntriples import XSD, iri, literal, triple


def turtle_files_to_ntriples(files: Iterable[Path], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as sink:
        for path in files:
            triples = ox.parse(path=str(path), format=ox.RdfFormat.TURTLE)
            ox.serialize(triples, sink, format=ox.RdfFormat.N_TRIPLES)
    return out


def ontology_files() -> list[Path]:
    return sorted(ONTOLOGY_DIR.glob("*.ttl"))


def reference_files() -> list[Path]:
    return sorted((ONTOLOGY_DIR / "reference").glob("*.ttl"))


def sources_ntriples(sources: Iterable[Source]) -> str:
    """The registry as RDF: which portal belongs to which agency, family and start URL."""
    out = []
    for src in sources:
        s = iri(source_iri(src.id))
        out.append(triple(s, iri(str(RDF.type)), iri(str(GK.Source))))
        out.append(triple(s, iri(str(RDFS.label)), literal(src.name, lang="zh")))
        out.append(triple(s, iri(str(DCTERMS.publisher)), iri(agency_iri(src.agency))))
        out.append(triple(s, iri(str(GK.cmsFamily)), literal(src.family)))
        if src.division:
            out.append(triple(s, iri(str(GK.division)), iri(division_iri(src.division))))
        for url in src.start_urls:
            out.append(triple(s, iri(str(GK.startUrl)), iri(url)))
            out.append(triple(s, iri(str(FOAF.homepage)), iri(url)))
    return "".join(out)


def provenance_ntriples(run_id: str, results: dict[str, Any], started: str | None = None) -> str:
    """The harvest run as a PROV activity, with the software that ran it."""
    r = iri(run_iri(run_id))
    start = started or datetime.strptime(run_id, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).isoformat()
    out = [
        triple(r, iri(str(RDF.type)), iri(str(GK.HarvestRun))),
        triple(r, iri(str(RDF.type)), iri(str(PROV.Activity))),
        triple(r, iri(str(PROV.startedAtTime)), literal(start, datatype=XSD + "dateTime")),
        triple(
            r,
            iri(str(PROV.endedAtTime)),
            literal(datetime.now(UTC).isoformat(timespec="seconds"), datatype=XSD + "dateTime"),
        ),
        triple(
            r,
            iri(str(PROV.wasAssociatedWith)),
            iri(f"https://gongkai.example.org/id/software/gongkai/{__version__}"),
        ),
        triple(r, iri(str(RDFS.label)), literal(f"harvest run {run_id}", lang="en")),
    ]
    for sid in sorted(results):
        out.append(triple(r, iri(str(PROV.used)), iri(source_iri(sid))))
    return "".join(out)


HEALTH_FIELDS = (
    ("pages", "pages", "integer"),
    ("items", "items", "integer"),
    ("new", "newItems", "integer"),
    ("changed", "changedItems", "integer"),
    ("withdrawn", "withdrawnItems", "integer"),
    ("errors", "errors", "integer"),
    ("duration_s", "durationSeconds", "decimal"),
)


def health_ntriples(data: DataDir, run_id: str, source_ids: Iterable[str]) -> str:
    """Each source's crawl statistics and flags of the run, as `gk:SourceHealth` nodes."""
    run = iri(run_iri(run_id))
    out = []
    for sid in sorted(source_ids):
        path = data.health(run_id, sid)
        if not path.exists():
            continue
        health = json.loads(path.read_text(encoding="utf-8"))
        h = iri(f"{run_iri(run_id)}/health/{sid}")
        out.append(triple(run, iri(str(GK.health)), h))
        out.append(triple(h, iri(str(RDF.type)), iri(str(GK.SourceHealth))))
        out.append(triple(h, iri(str(GK.source)), iri(source_iri(sid))))
        for key, term, kind in HEALTH_FIELDS:
            value = health.get(key)
            if isinstance(value, int | float):
                out.append(triple(h, iri(str(GK[term])), literal(str(value), datatype=XSD + kind)))
        for flag in health.get("flags") or []:
            out.append(triple(h, iri(str(GK.flag)), literal(str(flag))))
    return "".join(out)


def write_static_graphs(
    data: DataDir, run_id: str, sources: list[Source], results: dict[str, Any]
) -> dict[str, Path]:
    run_dir = data.run(run_id) / "graphs"
    run_dir.mkdir(parents=True, exist_ok=True)
    graphs = {
        graph_iri("ontology"): turtle_files_to_ntriples(ontology_files(), run_dir / "_ontology.nt"),
    }
    ref = turtle_files_to_ntriples(reference_files(), run_dir / "_reference.nt")
    with ref.open("a", encoding="utf-8") as f:
        f.write(sources_ntriples(sources))
    graphs[graph_iri("reference")] = ref
    # This run's provenance is kept in its run directory; the published graph holds every run's.
    this_run = run_dir / "_provenance_run.nt"
    this_run.write_text(
        provenance_ntriples(run_id, results) + health_ntriples(data, run_id, results),
        encoding="utf-8",
    )
    prov = run_dir / "_provenance.nt"
    with prov.open("w", encoding="utf-8") as out:
        for path in sorted(data.runs.glob("*/graphs/_provenance_run.nt")):
            out.write(path.read_text(encoding="utf-8"))
    graphs[graph_iri("provenance")] = prov
    quality = run_dir / "_quality.nt"
    with quality.open("wb") as sink:
        for src in sources:
            path = data.quarantined(src.id)
            if not path.exists():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                report = json.loads(line).get("report_ttl")
                if report:
                    triples = ox.parse(report, format=ox.RdfFormat.TURTLE)
                    ox.serialize(triples, sink, format=ox.RdfFormat.N_TRIPLES)
    graphs[graph_iri("quality")] = quality
    return graphs
