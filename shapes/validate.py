"""Batched SHACL validation: one pySHACL run per batch, one verdict per notice.

pySHACL's cost is mostly per call and per triple, so a batch of ~500 notices is validated at
once and the report is split by focus node afterwards (docs/architecture.md). Each notice gets
its own readable text and Turtle report, kept with it when it is quarantined.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyshacl
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH
from rdflib.plugins.sparql import processor as _sparql
from rdflib.term import Node

from gongkai.config import DEFAULT_BASE_URI
from ontology.namespaces import BASE, DCAT, DCTERMS, FOAF, GK, PROV, SKOS, XSD

SHAPES_DIR = Path(__file__).resolve().parent
ONTOLOGY_DIR = SHAPES_DIR.parent / "ontology"
SHAPE_FILES = ("core.ttl", "recommended.ttl", "areas.ttl")
SHAPES_NS = BASE + "def/shapes#"

_PREFIXES = {
    "gk": str(GK),
    "gksh": SHAPES_NS,
    "cat": BASE + "def/category/",
    "dcterms": str(DCTERMS),
    "dcat": str(DCAT),
    "foaf": str(FOAF),
    "prov": str(PROV),
    "skos": str(SKOS),
    "sh": str(SH),
    "xsd": str(XSD),
}


@dataclass(frozen=True)
class Verdict:
    """The validation outcome of one notice: publishable when `conforms` (no violation)."""

    conforms: bool
    text: str
    ttl: str
    warnings: int = 0
    violations: int = 0


def read_turtle(path: Path) -> Graph:
    """Parse one of our Turtle files, rebased when GONGKAI_BASE_URI names another domain."""
    text = path.read_text(encoding="utf-8")
    if BASE != DEFAULT_BASE_URI:
        text = text.replace(DEFAULT_BASE_URI, BASE)
    return Graph().parse(data=text, format="turtle")


@lru_cache(maxsize=512)
def _prepared(query: str, base: str | None, init_ns: tuple) -> object:
    return _sparql.translateQuery(_sparql.parseQuery(query), base, dict(init_ns))


def _cache_sparql_parsing() -> None:
    """Parse each SPARQL text once per process, not once per pySHACL call.

    pySHACL hands rdflib the text of every SPARQL target and constraint (areas.ttl) on every
    call, and rdflib parses it with pyparsing each time: a dozen parses of ~20 ms a batch,
    a third of pySHACL's time (docs/performance.md). A translated query is what rdflib's own
    `prepareQuery` returns for reuse, so evaluating the cached one is the same query.
    """
    cls = _sparql.SPARQLProcessor
    if getattr(cls.query, "_gongkai_cached", False):
        return
    original = cls.query

    def query(self, strOrQuery, initBindings=None, initNs=None, base=None, DEBUG=False):  # noqa: N803
        if isinstance(strOrQuery, str):
            try:
                key = tuple(sorted((initNs or {}).items()))
                hash(key)
            except TypeError:
                key = None
            if key is not None:
                strOrQuery = _prepared(strOrQuery, base, key)
        return original(self, strOrQuery, initBindings, initNs, base, DEBUG)

    query._gongkai_cached = True  # type: ignore[attr-defined]
    cls.query = query  # type: ignore[method-assign]


@lru_cache(maxsize=1)
def _shapes() -> Graph:
    g = Graph()
    for name in SHAPE_FILES:
        g += read_turtle(SHAPES_DIR / name)
    return g


def load_shapes() -> Graph:
    """Core, recommended and per-area shapes in one graph (a copy: callers may change it)."""
    g = Graph()
    g += _shapes()
    for prefix, ns in _PREFIXES.items():
        g.bind(prefix, ns)
    return g


@lru_cache(maxsize=1)
def _support() -> tuple[frozenset[URIRef], tuple[tuple[Node, Node, Node], ...]]:
    """The notice classes, and their rdfs:subClassOf triples for the data graph.

    With inference off, sh:targetClass gk:Notice reaches a gk:PenaltyNotice only through a
    subClassOf triple in the data graph. Nothing else of the vocabulary is added: the areas
    are checked with sh:in, and every added triple is paid for in every batch.
    """
    vocab = read_turtle(ONTOLOGY_DIR / "gongkai.ttl")
    notice = URIRef(str(GK.Notice))
    subclasses = [s for s in vocab.transitive_subjects(RDFS.subClassOf, notice) if s != notice]
    triples = tuple(
        (s, RDFS.subClassOf, o) for s in subclasses for o in vocab.objects(s, RDFS.subClassOf)
    )
    return frozenset({notice, *subclasses}), triples


def _notices(data: Graph, classes: Iterable[URIRef]) -> list[URIRef]:
    found: dict[URIRef, None] = {}
    for cls in classes:
        for s in data.subjects(RDF.type, cls):
            if isinstance(s, URIRef):
                found[s] = None
    return list(found)


def _owner(focus: Node, data: Graph, notices: set[Node], depth: int = 3) -> Node | None:
    """The notice a result belongs to: the focus itself, or the notice that links to it."""
    frontier = [focus]
    for _ in range(depth + 1):
        nxt = []
        for node in frontier:
            if node in notices:
                return node
            nxt.extend(data.subjects(None, node))
        frontier = nxt
    return None


def _term(node: Node, report: Graph, names: Graph, indent: str) -> str:
    if isinstance(node, BNode):
        return _node_turtle(report, node, names, indent + "    ")
    if isinstance(node, Literal) and not node.language and node.datatype is None:
        node = Literal(str(node), lang=_lang(node))  # an untagged message: tag it again
    return node.n3(names.namespace_manager)


def _node_turtle(report: Graph, node: Node, names: Graph, indent: str) -> str:
    """A result as a Turtle blank node, written by hand: rdflib's serializer per notice costs
    more than validating it. The SPARQL text of sh:sourceConstraint is left out (noise)."""
    parts = []
    for p, o in sorted(report.predicate_objects(node)):
        if p == SH.sourceConstraint and isinstance(o, BNode):
            continue
        verb = "a" if p == RDF.type else p.n3(names.namespace_manager)
        parts.append(f"{verb} {_term(o, report, names, indent)}")
    inner = f" ;\n{indent}    ".join(parts)
    return f"[ {inner}\n{indent}]"


def _turtle(report: Graph, results: list[Node], conforms: bool, names: Graph) -> str:
    body = ",\n    ".join(sorted(_node_turtle(report, r, names, "    ") for r in results))
    return (
        _prefix_block()
        + "[] a sh:ValidationReport ;\n"
        + f"    sh:conforms {'true' if conforms else 'false'} ;\n"
        + f"    sh:result {body} .\n"
    )


@lru_cache(maxsize=1)
def _prefix_block() -> str:
    return "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in _PREFIXES.items()) + "\n"


def _lang(message: Literal) -> str:
    """The message's language; pySHACL drops it from templated SPARQL messages (0.40)."""
    if message.language:
        return message.language
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in str(message)) else "en"


def _pick(messages: list[Literal], lang: str) -> str | None:
    for m in messages:
        if _lang(m) == lang:
            return str(m)
    return None


def _describe(report: Graph, result: Node, owner: Node, names: Graph) -> str:
    severity = report.value(result, SH.resultSeverity)
    sev = severity.split("#")[-1] if severity else "Result"
    messages = [m for m in report.objects(result, SH.resultMessage) if isinstance(m, Literal)]
    zh, en = _pick(messages, "zh"), _pick(messages, "en")
    message = " / ".join(m for m in (zh, en) if m) or (str(messages[0]) if messages else "")
    if not message:
        component = report.value(result, SH.sourceConstraintComponent)
        message = str(component).split("#")[-1] if component else "constraint not met"
    parts = [f"[{sev}] {message}"]
    path = report.value(result, SH.resultPath)
    if path is not None:
        parts.append(f"path: {path.n3(names.namespace_manager)}")
    value = report.value(result, SH.value)
    if value is not None:
        parts.append(f"value: {value.n3(names.namespace_manager)}")
    focus = report.value(result, SH.focusNode)
    if focus is not None and focus != owner:
        parts.append(f"focus: {focus.n3(names.namespace_manager)}")
    return " | ".join(parts)


def _report_graph() -> Graph:
    g = Graph(bind_namespaces="core")
    for prefix, ns in _PREFIXES.items():
        g.bind(prefix, ns)
    return g


@lru_cache(maxsize=1)
def _conforming_ttl() -> str:
    g = _report_graph()
    report = BNode()
    g.add((report, RDF.type, SH.ValidationReport))
    g.add((report, SH.conforms, Literal(True)))
    return g.serialize(format="turtle")


def validate_batch(ntriples: str) -> dict[str, Verdict]:
    """Validate a batch of notices (N-Triples); return a verdict for every gk:Notice in it."""
    _cache_sparql_parsing()  # installed by the first validation, not by importing
    data = Graph()
    data.parse(data=ntriples, format="nt")
    classes, support = _support()
    notices = _notices(data, classes)
    if not notices:
        return {}
    for triple in support:
        data.add(triple)

    _conforms, report, _text = pyshacl.validate(
        data,
        shacl_graph=_shapes(),
        inference="none",
        advanced=True,
        allow_warnings=True,
        inplace=True,
    )

    notice_set: set[Node] = set(notices)
    by_notice: dict[Node, list[Node]] = defaultdict(list)
    for result in report.objects(None, SH.result):
        focus = report.value(result, SH.focusNode)
        owner = _owner(focus, data, notice_set) if focus is not None else None
        if owner is not None:
            by_notice[owner].append(result)

    names = _report_graph()
    verdicts: dict[str, Verdict] = {}
    for notice in notices:
        results = by_notice.get(notice)
        if not results:
            verdicts[str(notice)] = Verdict(True, "", _conforming_ttl(), 0, 0)
            continue
        violations = sum(1 for r in results if report.value(r, SH.resultSeverity) == SH.Violation)
        warnings = sum(1 for r in results if report.value(r, SH.resultSeverity) == SH.Warning)
        conforms = violations == 0
        lines = sorted(_describe(report, r, notice, names) for r in results)
        head = (
            f"{notice.n3()}: {'conforms' if conforms else 'does not conform'}"
            f" ({violations} violations, {warnings} warnings)"
        )
        verdicts[str(notice)] = Verdict(
            conforms,
            "\n".join([head, *("  " + line for line in lines)]),
            _turtle(report, results, conforms, names),
            warnings,
            violations,
        )
    return verdicts


__all__ = ["SHAPE_FILES", "Verdict", "load_shapes", "read_turtle", "validate_batch"]
