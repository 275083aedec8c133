"""Batched SHACL validation: one run per batch of notices, one verdict per notice.

A batch of ~500 notices is validated at once and the results are split by the notice they
belong to (docs/architecture.md). Each notice gets its own readable text and Turtle report,
kept with it when it is quarantined. Two engines produce the results: shapes/compiled.py (the
default: the shapes compiled to checks over an index of the batch, ~8x less CPU) and pySHACL
(the reference, and the fallback for shapes or input the compiled engine does not cover).
Both feed the same `_verdicts`, and tests/shapes/test_compiled_engine*.py hold them to
identical Verdicts. `GONGKAI_SHACL_ENGINE=pyshacl|compiled` picks one.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pyshacl
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SH
from rdflib.plugins.sparql import processor as _sparql
from rdflib.term import Node

from gongkai.config import DEFAULT_BASE_URI
from ontology.namespaces import BASE, DCAT, DCTERMS, FOAF, GK, PROV, SKOS, XSD

if TYPE_CHECKING:
    from shapes.compiled import CompiledShapes

Pairs = tuple[tuple[Node, Node], ...]  # one result: its (predicate, object) pairs

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
    """The notice a result belongs to: the focus itself, or the nearest notice linking to it.

    A node two notices link to at the same distance belongs to the least IRI, so the verdict
    does not depend on rdflib's iteration order (shapes/compiled.py follows the same rule).
    """
    frontier = [focus]
    for _ in range(depth + 1):
        hits = [node for node in frontier if node in notices]
        if hits:
            return min(hits, key=str)
        nxt = []
        for node in frontier:
            nxt.extend(data.subjects(None, node))
        frontier = nxt
    return None


Nested = Callable[[BNode], list[tuple[Node, Node]]]


def _no_nested(node: BNode) -> list[tuple[Node, Node]]:
    raise ValueError(f"a result refers to blank node {node} the engine did not report")


def _sort_pairs(pairs: Iterable[tuple[Node, Node]]) -> list[tuple[Node, Node]]:
    """`sorted(pairs)` as rdflib orders terms, cheaper and independent of the input order.

    Predicates are IRIs, which rdflib orders as strings; only objects of the same predicate
    (the messages) need rdflib's term order, and a tie keeps a fixed order (stable sort).
    """
    by_p: dict[Node, list[Node]] = {}
    for p, o in pairs:
        by_p.setdefault(p, []).append(o)
    out = []
    for p in sorted(by_p, key=str):
        objs = by_p[p]
        if len(objs) > 1:
            objs = sorted(sorted(objs, key=_term_key))
        out.extend((p, o) for o in objs)
    return out


def _term_key(node: Node) -> tuple[str, str, str, str]:
    lang = getattr(node, "language", None) or ""
    datatype = getattr(node, "datatype", None) or ""
    return (type(node).__name__, str(node), lang, str(datatype))


class _Names:
    """The report's namespace manager, with each term's Turtle text computed once a batch."""

    def __init__(self) -> None:
        self.graph = _report_graph()
        self.manager = self.graph.namespace_manager
        self._n3: dict[tuple[str, str, str, str], str] = {}

    def n3(self, node: Node) -> str:
        key = _term_key(node)
        got = self._n3.get(key)
        if got is None:
            got = self._n3[key] = node.n3(self.manager)
        return got


def _term(node: Node, nested: Nested, names: _Names, indent: str) -> str:
    if isinstance(node, BNode):
        return _node_turtle(nested(node), nested, names, indent + "    ")
    if isinstance(node, Literal) and not node.language and node.datatype is None:
        node = Literal(str(node), lang=_lang(node))  # an untagged message: tag it again
    return names.n3(node)


def _node_turtle(
    pairs: Iterable[tuple[Node, Node]], nested: Nested, names: _Names, indent: str
) -> str:
    """A result as a Turtle blank node, written by hand: rdflib's serializer per notice costs
    more than validating it. The SPARQL text of sh:sourceConstraint is left out (noise)."""
    parts = []
    for p, o in _sort_pairs(pairs):
        if p == SH.sourceConstraint and isinstance(o, BNode):
            continue
        verb = "a" if p == RDF.type else names.n3(p)
        parts.append(f"{verb} {_term(o, nested, names, indent)}")
    inner = f" ;\n{indent}    ".join(parts)
    return f"[ {inner}\n{indent}]"


def _turtle(results: list[Pairs], conforms: bool, nested: Nested, names: _Names) -> str:
    body = ",\n    ".join(sorted(_node_turtle(r, nested, names, "    ") for r in results))
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


def _value(pairs: Pairs, p: Node) -> Node | None:
    for q, o in pairs:
        if q == p:
            return o
    return None


def _describe(pairs: Pairs, owner: Node, names: _Names) -> str:
    severity = _value(pairs, SH.resultSeverity)
    sev = severity.split("#")[-1] if severity else "Result"
    messages = [o for p, o in pairs if p == SH.resultMessage and isinstance(o, Literal)]
    zh, en = _pick(messages, "zh"), _pick(messages, "en")
    message = " / ".join(m for m in (zh, en) if m) or (str(messages[0]) if messages else "")
    if not message:
        component = _value(pairs, SH.sourceConstraintComponent)
        message = str(component).split("#")[-1] if component else "constraint not met"
    parts = [f"[{sev}] {message}"]
    path = _value(pairs, SH.resultPath)
    if path is not None:
        parts.append(f"path: {names.n3(path)}")
    value = _value(pairs, SH.value)
    if value is not None:
        parts.append(f"value: {names.n3(value)}")
    focus = _value(pairs, SH.focusNode)
    if focus is not None and focus != owner:
        parts.append(f"focus: {names.n3(focus)}")
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


def _verdicts(
    notices: list[URIRef], by_notice: dict[URIRef, list[Pairs]], nested: Nested
) -> dict[str, Verdict]:
    """One Verdict per notice from its results, the same text and Turtle for either engine."""
    names = _Names()
    verdicts: dict[str, Verdict] = {}
    for notice in notices:
        results = by_notice.get(notice)
        if not results:
            verdicts[str(notice)] = Verdict(True, "", _conforming_ttl(), 0, 0)
            continue
        severities = [_value(r, SH.resultSeverity) for r in results]
        violations = severities.count(SH.Violation)
        warnings = severities.count(SH.Warning)
        conforms = violations == 0
        lines = sorted(_describe(r, notice, names) for r in results)
        head = (
            f"{notice.n3()}: {'conforms' if conforms else 'does not conform'}"
            f" ({violations} violations, {warnings} warnings)"
        )
        verdicts[str(notice)] = Verdict(
            conforms,
            "\n".join([head, *("  " + line for line in lines)]),
            _turtle(results, conforms, nested, names),
            warnings,
            violations,
        )
    return verdicts


def _pyshacl_results(
    ntriples: str, shapes: Graph | None = None
) -> tuple[list[URIRef], dict[URIRef, list[Pairs]], Nested]:
    """The reference: one rdflib graph and one pySHACL call for the batch."""
    _cache_sparql_parsing()  # installed by the first validation, not by importing
    data = Graph()
    data.parse(data=ntriples, format="nt")
    classes, support = _support()
    notices = _notices(data, classes)
    if not notices:
        return [], {}, _no_nested
    for triple in support:
        data.add(triple)

    _conforms, report, _text = pyshacl.validate(
        data,
        shacl_graph=_shapes() if shapes is None else shapes,
        inference="none",
        advanced=True,
        allow_warnings=True,
        inplace=True,
    )

    notice_set: set[Node] = set(notices)
    by_notice: dict[URIRef, list[Pairs]] = defaultdict(list)
    for result in report.objects(None, SH.result):
        focus = report.value(result, SH.focusNode)
        owner = _owner(focus, data, notice_set) if focus is not None else None
        if owner is not None:
            by_notice[owner].append(tuple(report.predicate_objects(result)))

    def nested(node: BNode) -> list[tuple[Node, Node]]:
        return list(report.predicate_objects(node))

    return notices, by_notice, nested


# -- engine selection --------------------------------------------------------------------------
ENGINE_ENV = "GONGKAI_SHACL_ENGINE"
ENGINES = ("compiled", "pyshacl")
log = logging.getLogger(__name__)
#: batches the compiled engine handed to pySHACL in this process, by reason (tests, benchmarks)
FALLBACKS: Counter[str] = Counter()


@lru_cache(maxsize=1)
def compiled_engine() -> CompiledShapes | None:
    """The shapes compiled once per process, or None (logged once) when they cannot be."""
    from shapes.compiled import CompiledShapes, Unsupported

    classes, support = _support()
    try:
        return CompiledShapes(_shapes(), support)
    except Unsupported as exc:
        log.warning("SHACL shapes not compiled, pySHACL validates every batch: %s", exc)
        return None


def _engine(engine: str | None) -> str:
    name = (engine or os.environ.get(ENGINE_ENV) or "compiled").strip().lower()
    if name not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={name!r}: expected one of {', '.join(ENGINES)}")
    return name


def validate_batch(ntriples: str, *, engine: str | None = None) -> dict[str, Verdict]:
    """Validate a batch of notices (N-Triples); return a verdict for every gk:Notice in it.

    `engine` (default: $GONGKAI_SHACL_ENGINE, else "compiled") picks shapes/compiled.py or
    pySHACL; both give identical verdicts, and the compiled engine hands pySHACL any shapes
    or batch it does not cover.
    """
    if _engine(engine) == "compiled" and (compiled := compiled_engine()) is not None:
        classes, _ = _support()
        try:
            got = compiled.validate(ntriples, classes)
        except Exception as exc:  # a bug or an edge the engine missed: pySHACL decides
            log.debug("compiled SHACL engine failed on a batch (%r); pySHACL validates it", exc)
            FALLBACKS[type(exc).__name__] += 1
            got = None
        else:
            if got is None:
                FALLBACKS["outside the parsed subset"] += 1
        if got is not None:
            notices, by_notice = got
            return _verdicts(notices, by_notice, _no_nested)
    notices, by_notice, nested = _pyshacl_results(ntriples)
    return _verdicts(notices, by_notice, nested)


__all__ = [
    "ENGINES",
    "ENGINE_ENV",
    "SHAPE_FILES",
    "Verdict",
    "compiled_engine",
    "load_shapes",
    "read_turtle",
    "validate_batch",
]
