"""The vocabulary's human-readable page, generated with pyLODE so it cannot drift from the TTL."""

from __future__ import annotations

from pathlib import Path

from rdflib import Graph

ONTOLOGY_DIR = Path(__file__).resolve().parent


def vocabulary_graph() -> Graph:
    """The vocabulary with its rules and periods (gongkai.ttl), as pyLODE documents it."""
    return Graph().parse(ONTOLOGY_DIR / "gongkai.ttl", format="turtle")


def build_vocabulary_html(out: Path) -> Path:
    """Write the vocabulary's HTML documentation to `out` (a file path) and return it."""
    from pylode import OntPub  # heavy import, only needed here

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    OntPub(vocabulary_graph()).make_html(destination=out)
    return out
