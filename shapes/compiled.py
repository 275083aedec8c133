"""A compiled SHACL engine for our shapes, with pySHACL kept as the reference.

pySHACL spends ~0.9 ms of Python per notice walking its generic machinery, and rdflib another
~0.3 ms building the data graph. Our shapes use a small part of SHACL, so they are compiled
once per process into plain checks run over a dict index of the batch's N-Triples (a strict
parser of what `ontology.ntriples` writes). What the checks must agree with is pySHACL 0.40 as
`shapes.validate` calls it (inference none, advanced, allow_warnings), result for result:

- the shapes are read through pySHACL's own `ShapesGraph`/`Shape` objects, so which nodes are
  shapes, their targets, severities, messages, paths and SPARQL prefixes are pySHACL's reading;
- terms handed to reports are rdflib terms built exactly as rdflib's N-Triples parser builds
  them (typed literals keyed by their normalised lexical form, as an rdflib graph dedupes them);
- SPARQL targets and `sh:sparql` constraints are evaluated by rdflib's own SPARQL engine,
  with the same pre-binding of `$this` pySHACL uses, over a read-only rdflib store that serves
  the batch index: no graph is built, and the semantics are rdflib's by construction.

Anything outside that subset is refused: `Unsupported` at compile time (an unknown constraint
component or target, a non-IRI path, a shape that would need pySHACL's generic messages, ...),
and `None` from `CompiledShapes.validate` for a batch outside the parser's subset (blank nodes,
comments, other escapes). `shapes.validate` then falls back to pySHACL, which stays the
definition. tests/shapes/test_compiled_engine*.py hold both engines to identical verdicts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from rdflib import BNode, Graph, Literal, URIRef, Variable
from rdflib.namespace import RDF, RDFS, SH, XSD
from rdflib.plugins.sparql.algebra import translateQuery
from rdflib.plugins.sparql.parser import parseQuery
from rdflib.plugins.stores.memory import Memory
from rdflib.term import Node

Pairs = tuple[tuple[Node, Node], ...]  # one validation result: its (predicate, object) pairs


class Unsupported(ValueError):
    """The shapes graph uses something this engine does not implement (pySHACL is used)."""


# -- the batch: a strict N-Triples parser and a dict index ----------------------------------------
# One line as ontology/ntriples.py writes it (and rdflib's serializer, which leaves tabs raw):
# IRIs without escapes or spaces, literals with the five escapes we write, lower-case language
# tags. Anything else (blank nodes, comments, \u escapes, other spacing) is left to pySHACL.
_IRI = r'<[^\x00-\x20<>"{}|^`\\:]++:[^\x00-\x20<>"{}|^`\\]*+>'  # possessive: ~10% faster
_STRING = r'"[^"\\\x00-\x08\x0a-\x1f]*+(?:\\[\\"nrt][^"\\\x00-\x08\x0a-\x1f]*+)*+"'
_LINE = re.compile(
    rf"^(?:({_IRI}) ({_IRI}) ({_IRI}|{_STRING}(?:@[a-z]+(?:-[a-z0-9]+)*|\^\^{_IRI})?) \.)?\n",
    re.M,
)
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n", "\\r": "\r", "\\t": "\t"}
_UNESCAPE_RE = re.compile(r'\\[\\"nrt]')
_ESCAPE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_RE = re.compile(r'[\\"\n\r\t]')
_CACHE_LIMIT = 50_000
_ALLOWED = frozenset({SH.Info, SH.Warning})  # severities allow_warnings lets conform
_TYPE, _RESULT, _COMPONENT, _SHAPE = (
    RDF.type,
    SH.ValidationResult,
    SH.sourceConstraintComponent,
    SH.sourceShape,
)
_SEVERITY, _FOCUS, _VALUE, _PATH = SH.resultSeverity, SH.focusNode, SH.value, SH.resultPath
_SOURCE_CONSTRAINT, _MESSAGE = SH.sourceConstraint, SH.resultMessage


def _unescape(body: str) -> str:
    return _UNESCAPE_RE.sub(lambda m: _UNESCAPE[m.group(0)], body) if "\\" in body else body


def _escape(text: str) -> str:
    return _ESCAPE_RE.sub(lambda m: _ESCAPE[m.group(0)], text)


def _split_literal(tok: str) -> tuple[str, str | None, str | None]:
    """Lexical form, language, datatype IRI of a literal token."""
    q = tok.rindex('"')
    lex, rest = _unescape(tok[1:q]), tok[q + 1 :]
    if not rest:
        return lex, None, None
    if rest[0] == "@":
        return lex, rest[1:], None
    return lex, None, rest[3:-1]


class _Terms:
    """Token ⇄ rdflib term, cached per process (bounded)."""

    def __init__(self) -> None:
        self.canon: dict[str, str | None] = {}
        self.terms: dict[str, Node] = {}

    def canonical(self, tok: str) -> str | None:
        """The token of the rdflib term a literal token parses to; None if out of our subset.

        rdflib normalises typed literals (`"01"^^xsd:integer` is `"1"`, a date's offset is
        dropped) and a graph dedupes by the normalised term, so tokens must be normalised too.
        """
        got = self.canon.get(tok, "")
        if got != "":
            return got
        lex, lang, dt = _split_literal(tok)
        if dt is None:
            out: str | None = '"' + _escape(lex) + '"' + ("@" + lang if lang else "")
        elif dt == str(RDF.langString):
            out = None  # rdflib's handling of an explicit rdf:langString is its own
        else:
            lit = Literal(lex, datatype=URIRef(dt))
            out = '"' + _escape(str(lit)) + '"^^<' + dt + ">"
            if _CONTROL.search(str(lit)):
                out = None
        if len(self.canon) > _CACHE_LIMIT:
            self.canon.clear()
        self.canon[tok] = out
        return out

    def term(self, tok: str) -> Node:
        got = self.terms.get(tok)
        if got is None:
            if tok[0] == "<":
                got = URIRef(tok[1:-1])
            else:
                lex, lang, dt = _split_literal(tok)
                # as rdflib's N-Triples parser does: Literal(lexical, lang, datatype)
                got = Literal(lex, lang, URIRef(dt) if dt is not None else None)
            if len(self.terms) > _CACHE_LIMIT:
                self.terms.clear()
            self.terms[tok] = got
        return got

    def token(self, term: Node) -> str | None:
        """The token of an rdflib term (None for blank nodes: none are in a compiled batch)."""
        if isinstance(term, URIRef):
            return "<" + str(term) + ">"
        if isinstance(term, Literal):
            body = '"' + _escape(str(term)) + '"'
            if term.language:
                return body + "@" + term.language.lower()  # rdflib compares tags caselessly
            if term.datatype is not None:
                return self.canonical(body + "^^<" + str(term.datatype) + ">")
            return body
        return None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class Batch:
    """The triples of one batch, indexed subject → predicate → objects (ordered sets)."""

    __slots__ = ("spo", "_by_p", "_all_p", "_rev")

    def __init__(self) -> None:
        self.spo: dict[str, dict[str, dict[str, None]]] = {}
        self._by_p: dict[str, dict[str, list[str]]] = {}
        self._all_p = False
        self._rev: dict[str, list[str]] | None = None

    def add(self, s: str, p: str, o: str) -> None:
        """Add a triple (before any index is read: the lazy indexes are not updated)."""
        po = self.spo.get(s)
        if po is None:
            po = self.spo[s] = {}
        objs = po.get(p)
        if objs is None:
            po[p] = {o: None}
        else:
            objs[o] = None

    @property
    def count(self) -> int:
        return sum(len(objs) for po in self.spo.values() for objs in po.values())

    def objects(self, s: str, p: str) -> Iterable[str]:
        po = self.spo.get(s)
        if po is None:
            return ()
        return po.get(p, ())

    def by_predicate(self, p: str) -> dict[str, list[str]]:
        """object → subjects of one predicate, built on first use."""
        got = self._by_p.get(p)
        if got is None:
            got = {}
            for s, po in self.spo.items():
                objs = po.get(p)
                if objs is not None:
                    for o in objs:
                        subs = got.get(o)
                        if subs is None:
                            got[o] = [s]
                        else:
                            subs.append(s)
            self._by_p[p] = got
        return got

    def predicates(self) -> list[str]:
        if not self._all_p:
            for po in list(self.spo.values()):
                for p in po:
                    if p not in self._by_p:
                        self.by_predicate(p)
            self._all_p = True
        return list(self._by_p)

    def subjects_linking(self, o: str) -> list[str]:
        """Subjects of every triple with object `o` (any predicate), built on first use."""
        if self._rev is None:
            rev: dict[str, list[str]] = {}
            for s, po in self.spo.items():
                for objs in po.values():
                    for obj in objs:
                        subs = rev.get(obj)
                        if subs is None:
                            rev[obj] = [s]
                        else:
                            subs.append(s)
            self._rev = rev
        return self._rev.get(o, [])


def parse_batch(ntriples: str, terms: _Terms) -> Batch | None:
    """Index a batch; None when a line is outside the subset we parse (pySHACL then runs)."""
    batch = Batch()
    if not ntriples:
        return batch
    if ntriples[-1] != "\n":
        return None
    rows = _LINE.findall(ntriples)
    if len(rows) != ntriples.count("\n"):  # anchored at line starts: every line matched whole
        return None
    spo = batch.spo
    canonical = terms.canonical
    last = None
    po: dict[str, dict[str, None]] = {}
    for s, p, o in rows:
        if not s:
            continue  # an empty line
        if o[0] == '"' and (o[-1] == ">" or "\t" in o):
            o = canonical(o)
            if o is None:
                return None
        if s != last:
            got = spo.get(s)
            if got is None:
                got = spo[s] = {}
            po, last = got, s
        objs = po.get(p)
        if objs is None:
            po[p] = {o: None}
        else:
            objs[o] = None
    return batch


# -- rdflib's SPARQL engine over the batch index --------------------------------------------------
class _IndexStore(Memory):
    """A read-only rdflib store serving the current batch's index (namespaces are Memory's)."""

    def __init__(self, terms: _Terms) -> None:
        super().__init__()
        self.terms = terms
        self.batch = Batch()

    def __len__(self, context: Any = None) -> int:
        return self.batch.count

    def contexts(self, triple: Any = None) -> Iterator[Any]:
        return iter(())

    def triples(self, triple_pattern: Any, context: Any = None) -> Iterator[Any]:  # type: ignore[override]
        s, p, o = triple_pattern
        token, term, batch = self.terms.token, self.terms.term, self.batch
        ts = token(s) if s is not None else None
        tp = token(p) if p is not None else None
        to = token(o) if o is not None else None
        if (s is not None and ts is None) or (p is not None and tp is None):
            return
        if o is not None and to is None:
            return
        none: Iterator[Any] = iter(())
        if ts is not None:
            po = batch.spo.get(ts)
            if not po:
                return
            items = [(tp, po[tp])] if tp is not None and tp in po else []
            if tp is None:
                items = list(po.items())
            for pt, objs in items:
                if to is not None:
                    if to in objs:
                        yield (term(ts), term(pt), term(to)), none
                else:
                    for ot in list(objs):
                        yield (term(ts), term(pt), term(ot)), none
            return
        preds = [tp] if tp is not None else batch.predicates()
        for pt in preds:
            by_o = batch.by_predicate(pt)
            if to is not None:
                for st in by_o.get(to, ()):
                    yield (term(st), term(pt), term(to)), none
            else:
                for ot, subs in list(by_o.items()):
                    for st in subs:
                        yield (term(st), term(pt), term(ot)), none


# -- compiled shapes -------------------------------------------------------------------------------
@dataclass(eq=False)
class _Shape:
    node: Node
    path: str | None  # token of the (IRI) path of a property shape
    path_term: URIRef | None
    severity: Node
    messages: tuple[Node, ...]
    deactivated: bool
    min_count: int = 0  # sh:minCount (0: none), checked inline: most shapes have one
    max_count: int | None = None
    checks: list[Callable[..., None]] = field(default_factory=list)  # per value node
    focus_checks: list[Callable[..., None]] = field(default_factory=list)  # per focus (SPARQL)
    classes: tuple[str, ...] = ()
    subjects_of: tuple[str, ...] = ()
    objects_of: tuple[str, ...] = ()
    nodes: tuple[str, ...] = ()
    sparql_targets: list[Any] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(
            self.min_count or self.max_count is not None or self.checks or self.focus_checks
        )

    @property
    def targeted(self) -> bool:
        return bool(
            self.classes or self.subjects_of or self.objects_of or self.nodes or self.sparql_targets
        )


@dataclass(frozen=True)
class _Sparql:
    """A SPARQL-based constraint, prepared once: rdflib runs it per focus node like pySHACL."""

    node: Node
    query: Any
    binds_this: bool
    constants: tuple[tuple[str, Node], ...]
    messages: tuple[Node, ...]


class _Run:
    """One batch being validated (the engine's SPARQL store serves the same batch)."""

    def __init__(self, engine: CompiledShapes, batch: Batch) -> None:
        self.engine = engine
        self.batch = batch
        self.term = engine.terms.term

    def evaluate(self, shape: _Shape, foci: Iterable[str], out: list) -> None:
        if shape.deactivated:
            return
        spo, path = self.batch.spo, shape.path
        for f in foci:
            if path is None:
                values: Any = (f,)
            else:
                po = spo.get(f)
                values = po.get(path, ()) if po is not None else ()
            self.check(shape, f, values, out)

    def evaluate_group(self, shapes: list[_Shape], foci: Iterable[str], out: list) -> None:
        """Shapes with the same targets, focus node by focus node (one index lookup each)."""
        spo = self.batch.spo
        check = self.check
        for f in foci:
            po = spo.get(f) or {}
            for shape in shapes:
                path = shape.path
                check(shape, f, (f,) if path is None else po.get(path, ()), out)

    def check(self, shape: _Shape, f: str, values: Any, out: list) -> None:
        """Every constraint of a shape on one focus node and its value nodes."""
        n = len(values)
        if n < shape.min_count:
            self.result(out, self.term(f), shape, SH.MinCountConstraintComponent)
        if shape.max_count is not None and n > shape.max_count:
            self.result(out, self.term(f), shape, SH.MaxCountConstraintComponent)
        if n:  # the value-node constraints have nothing to say about no values
            for c in shape.checks:
                c(self, shape, f, values, out)
        for c in shape.focus_checks:
            c(self, shape, f, values, out)

    def conforms(self, shape: _Shape, focus: str) -> bool:
        """pySHACL's conformance of a shape-expecting value (sh:or), with allow_warnings."""
        if shape.deactivated or shape.severity in _ALLOWED:
            return True
        out: list = []
        self.evaluate(shape, (focus,), out)
        return all(r[1] in _ALLOWED for r in out)

    def result(
        self,
        out: list,
        focus: Node,
        shape: _Shape,
        component: URIRef,
        value: Node | None = None,
        path: Node | None = None,
        source_constraint: Node | None = None,
        messages: Iterable[Node] | None = None,
    ) -> None:
        """Append (focus, severity, pairs): the triples pySHACL's make_v_result writes."""
        pairs = {
            (_TYPE, _RESULT),
            (_COMPONENT, component),
            (_SHAPE, shape.node),
            (_SEVERITY, shape.severity),
            (_FOCUS, focus),
        }
        if value is not None:
            pairs.add((_VALUE, value))
        if path is None:
            path = shape.path_term
        if path is not None:
            pairs.add((_PATH, path))
        if source_constraint is not None and not isinstance(source_constraint, BNode):
            pairs.add((_SOURCE_CONSTRAINT, source_constraint))
        for m in shape.messages if messages is None else messages:
            pairs.add((_MESSAGE, m))
        out.append((focus, shape.severity, pairs))


# Checks: (run, shape, focus token, value tokens, out). Each mirrors pySHACL 0.40's component;
# sh:minCount and sh:maxCount are checked inline by _Run.check.
_KINDS: dict[Node, type | tuple[type, ...]] = {
    XSD.string: (str, bytes),
    RDF.langString: (str, bytes),
    XSD.integer: int,
    XSD.float: float,
    XSD.decimal: Decimal,
    XSD.boolean: bool,
    XSD.date: date,
    XSD.time: time,
    XSD.dateTime: datetime,
}


def _typed_matches(v: Literal, rule: URIRef) -> bool:
    """pySHACL's DatatypeConstraintComponent for one literal (rdflib's parsed value)."""
    datatype, lang = v.datatype, v.language
    if datatype == rule:
        if getattr(v, "ill_typed", None) is True:
            return False
        kind = _KINDS.get(rule)
        return True if kind is None else isinstance(v.value, kind)
    if rule == RDFS.Literal:
        return True
    if rule == RDFS.Datatype and datatype:
        return True
    if datatype is None and lang is None and rule == XSD.string:
        return isinstance(v.value, (str, bytes))
    if rule == RDF.langString and lang:
        return isinstance(v.value, (str, bytes))
    return False


def _datatype(rule: URIRef) -> Callable[..., None]:
    # an untyped literal's value is its lexical form (a str) in rdflib, so these need no term
    plain_ok = rule in (RDFS.Literal, XSD.string)
    lang_ok = rule in (RDFS.Literal, RDF.langString)
    memo: dict[str, bool] = {}

    def ok(run: _Run, tok: str) -> bool:
        if tok[0] != '"':
            return False
        if tok[-1] == '"':
            return plain_ok
        if tok[tok.rindex('"') + 1] == "@":
            return lang_ok
        got = memo.get(tok)
        if got is None:
            got = _typed_matches(run.term(tok), rule)  # type: ignore[arg-type]
            if len(memo) > 4096:
                memo.clear()
            memo[tok] = got
        return got

    def check(run: _Run, shape: _Shape, f: str, values: Any, out: list) -> None:
        for v in values:
            if not ok(run, v):
                comp = SH.DatatypeConstraintComponent
                run.result(out, run.term(f), shape, comp, run.term(v))

    return check


def _node_kind(kind: URIRef) -> Callable[..., None]:
    iri_ok = kind in (SH.IRI, SH.IRIOrLiteral, SH.BlankNodeOrIRI)
    literal_ok = kind in (SH.Literal, SH.BlankNodeOrLiteral, SH.IRIOrLiteral)

    def check(run: _Run, shape: _Shape, f: str, values: list[str], out: list) -> None:
        for v in values:
            if not (iri_ok if v[0] == "<" else literal_ok):
                comp = SH.NodeKindConstraintComponent
                run.result(out, run.term(f), shape, comp, run.term(v))

    return check


def _pattern(regexes: list[re.Pattern[str]]) -> Callable[..., None]:
    def text(v: str) -> str:
        # pySHACL matches a literal's lexical form (its value, for strings) and an IRI's text
        return v[1:-1] if v[0] == "<" else _split_literal(v)[0]

    def check(run: _Run, shape: _Shape, f: str, values: list[str], out: list) -> None:
        for rx in regexes:
            for v in values:
                if rx.search(text(v)) is None:
                    comp = SH.PatternConstraintComponent
                    run.result(out, run.term(f), shape, comp, run.term(v))

    return check


def _in(allowed: frozenset[str]) -> Callable[..., None]:
    def check(run: _Run, shape: _Shape, f: str, values: list[str], out: list) -> None:
        for v in values:
            if v not in allowed:
                run.result(out, run.term(f), shape, SH.InConstraintComponent, run.term(v))

    return check


def _or(alternatives: list[_Shape]) -> Callable[..., None]:
    def check(run: _Run, shape: _Shape, f: str, values: list[str], out: list) -> None:
        for v in values:
            if not any([run.conforms(alt, v) for alt in alternatives]):
                run.result(out, run.term(f), shape, SH.OrConstraintComponent, run.term(v))

    return check


def _less_than_or_equals(other: str) -> Callable[..., None]:
    def as_comparable(node: Node) -> tuple[Any, bool]:
        if isinstance(node, URIRef):
            return str(node), True
        if isinstance(node, Literal) and isinstance(node.value, str):
            return node.value, True
        return node, False

    memo: dict[tuple[str, str], bool] = {}

    def fails(run: _Run, v: str, c: str) -> bool:
        got = memo.get((v, c))
        if got is None:  # rdflib's Literal comparison is slow; dates repeat
            left, left_is_string = as_comparable(run.term(v))
            right, right_is_string = as_comparable(run.term(c))
            got = left_is_string != right_is_string or not left <= right
            if len(memo) > 16384:
                memo.clear()
            memo[(v, c)] = got
        return got

    def check(run: _Run, shape: _Shape, f: str, values: Any, out: list) -> None:
        compare = run.batch.objects(f, other)
        if not compare:
            return
        for v in values:
            for c in compare:
                if fails(run, v, c):
                    comp = SH.LessThanOrEqualsConstraintComponent
                    run.result(out, run.term(f), shape, comp, run.term(v))

    return check


def _property(shapes: list[_Shape]) -> Callable[..., None]:
    def check(run: _Run, shape: _Shape, f: str, values: list[str], out: list) -> None:
        for ps in shapes:
            run.evaluate(ps, values, out)

    return check


def _format_message(msg: str, bound: dict[str, Node]) -> str:
    """pySHACL's template filling of a SPARQL-based result message ({?var} / {$var})."""
    for var, val in bound.items():
        msg = re.sub(f"{{[?$]{var}}}", str(val), msg)
    return msg


def _sparql(constraints: list[_Sparql]) -> Callable[..., None]:
    def check(run: _Run, shape: _Shape, f: str, values: list[str], out: list) -> None:
        focus = run.term(f)
        for c in constraints:
            binds = {k: v for k, v in c.constants}
            if c.binds_this:
                binds["this"] = focus
            results = run.engine.graph.query(c.query, initBindings=binds)
            if not results or len(results.bindings) < 1:
                continue
            rows: list[tuple[Any, Any, Any, dict]] = []
            for r in results:
                var_dict = r.asdict()
                if var_dict.pop("failure", None) is not None:
                    raise Unsupported("?failure")  # refused at compile time; never here
                p = var_dict.pop("path", None)
                v = var_dict.pop("value", None)
                t = var_dict.pop("this", None)
                if (p is not None or v is not None or t is not None) and (
                    t,
                    p,
                    v,
                    var_dict,
                ) not in rows:
                    rows.append((t, p, v, var_dict))
            result_val = focus if shape.path is None else None
            for t, p, v, var_dict in rows:
                if v is None:
                    v = result_val
                bound = dict(var_dict)
                for name, val in (("this", t), ("path", p), ("value", v)):
                    if val is not None:
                        bound[name] = val
                messages: list[Node] = []
                own = list(shape.messages)
                for m in c.messages:
                    if m in own:
                        continue
                    if isinstance(m, Literal):
                        m = Literal(_format_message(str(m.value), bound))
                    messages.append(m)
                for m in own:
                    if isinstance(m, Literal):
                        m = Literal(_format_message(str(m.value), bound))
                    messages.append(m)
                run.result(
                    out,
                    t or focus,
                    shape,
                    SH.SPARQLConstraintComponent,
                    v,
                    p,
                    source_constraint=c.node,
                    messages=messages,
                )

    return check


# -- the compiler ------------------------------------------------------------------------------------
_SUPPORTED = {
    SH.minCount,
    SH.maxCount,
    SH.datatype,
    SH.nodeKind,
    SH.pattern,
    SH["in"],
    SH["or"],
    SH.lessThanOrEquals,
    SH.property,
    SH.sparql,
}
_UNSUPPORTED_FEATURES = (SH.rule, SH.expression, SH.js, SH.jsFunctionName, SH.jsLibrary)
_UNSUPPORTED_TYPES = (
    SH.ConstraintComponent,
    SH.Function,
    SH.SPARQLFunction,
    SH.TargetType,
    SH.SPARQLTargetType,
    SH.JSTarget,
    SH.JSFunction,
    SH.SPARQLRule,
    SH.TripleRule,
)


class CompiledShapes:
    """The shapes graph compiled for one process; `validate` runs it over a batch (one batch
    at a time: the SPARQL store holds the current one)."""

    def __init__(self, shapes_graph: Graph, support: Iterable[tuple[Node, Node, Node]]) -> None:
        from pyshacl.constraints import ALL_CONSTRAINT_PARAMETERS
        from pyshacl.shapes_graph import ShapesGraph

        self.terms = _Terms()
        self.graph = Graph(store=_IndexStore(self.terms))
        # initNs as pySHACL's query on an rdflib data graph gets it: the graph's namespaces
        self._init_ns = dict(Graph().namespaces())
        self.support = [self._support_tokens(t) for t in support]
        g = shapes_graph
        for p in _UNSUPPORTED_FEATURES:
            if next(g.subject_objects(p), None) is not None:
                raise Unsupported(f"{p.n3()} is not compiled")
        for t in _UNSUPPORTED_TYPES:
            if next(g.subjects(RDF.type, t), None) is not None:
                raise Unsupported(f"instances of {t.n3()} are not compiled")
        try:
            self._sg = ShapesGraph(g)
            pyshapes = {s.node: s for s in self._sg.shapes}
        except Exception as exc:  # pySHACL refuses the shapes graph: so do we
            raise Unsupported(f"pySHACL cannot load the shapes: {exc}") from exc
        self._params = set(ALL_CONSTRAINT_PARAMETERS) | {SH.expression, SH.js}
        self._py = pyshapes
        self._compiled: dict[Node, _Shape] = {}
        self._stack: list[Node] = []
        self._rdf_type = "<" + str(RDF.type) + ">"
        self._subclass_of = "<" + str(RDFS.subClassOf) + ">"
        compiled = [self._compile(node, reports=False) for node in pyshapes]
        self.top = [s for s in compiled if s.targeted and not s.deactivated and s.active]
        groups: dict[tuple, list[_Shape]] = {}
        for shape in self.top:
            key = (
                shape.classes,
                shape.subjects_of,
                shape.objects_of,
                shape.nodes,
                tuple(id(q) for q in shape.sparql_targets),
            )
            groups.setdefault(key, []).append(shape)
        self.groups = list(groups.values())

    def _support_tokens(self, triple: tuple[Node, Node, Node]) -> tuple[str, str, str]:
        toks = tuple(self.terms.token(t) for t in triple)
        if None in toks:
            raise Unsupported("support triples must be IRIs and literals")
        return toks  # type: ignore[return-value]

    def _tok(self, node: Node, what: str) -> str:
        tok = self.terms.token(node)
        if tok is None:
            raise Unsupported(f"{what} {node!r} is a blank node")
        return tok

    def _compile(self, node: Node, reports: bool) -> _Shape:
        """Compile one shape; `reports`: its results reach the report (messages needed)."""
        if node in self._stack:
            raise Unsupported(f"recursive shapes ({node})")
        done = self._compiled.get(node)
        if done is not None and (not reports or getattr(done, "_reports", False)):
            return done
        py = self._py.get(node)
        if py is None:
            raise Unsupported(f"{node} is not a shape pySHACL knows")
        self._stack.append(node)
        try:
            shape = self._build(py, node, reports)
        finally:
            self._stack.pop()
        shape._reports = reports  # type: ignore[attr-defined]
        self._compiled[node] = shape
        return shape

    def _build(self, py: Any, node: Node, reports: bool) -> _Shape:
        g = self._sg.graph
        path = py.path() if py.is_property_shape else None
        if path is not None and not isinstance(path, URIRef):
            raise Unsupported(f"{node}: only IRI paths are compiled")
        severities = set(g.objects(node, SH.severity))
        if len(severities) > 1:
            raise Unsupported(f"{node}: more than one sh:severity")
        shape = _Shape(
            node=node,
            path=self._tok(path, "path") if path is not None else None,
            path_term=path,
            severity=py.severity,
            messages=tuple(py.message),
            deactivated=bool(py.deactivated),
        )
        targets = [list(t) for t in py.target()]
        nodes, classes, implicit, objects_of, subjects_of = targets
        shape.nodes = tuple(self._tok(n, "sh:targetNode") for n in nodes)
        shape.classes = tuple(self._tok(c, "sh:targetClass") for c in [*classes, *implicit])
        shape.subjects_of = tuple(self._tok(p, "sh:targetSubjectsOf") for p in subjects_of)
        shape.objects_of = tuple(self._tok(p, "sh:targetObjectsOf") for p in objects_of)
        for target_node in g.objects(node, SH.target):
            shape.sparql_targets.append(self._sparql_target(py, target_node))
        if shape.targeted:
            reports = True
        if reports and isinstance(node, BNode):
            raise Unsupported("a reporting shape that is a blank node")

        params = {p for p, _ in g.predicate_objects(node) if p in self._params}
        unknown = params - _SUPPORTED
        if unknown:
            raise Unsupported(f"{node}: {', '.join(sorted(p.n3() for p in unknown))} not compiled")
        if reports and params - {SH.property, SH.sparql} and not shape.messages:
            raise Unsupported(f"{node}: no sh:message (pySHACL would write its own text)")
        one = self._one
        if SH.minCount in params:
            shape.min_count = max(0, int(one(node, SH.minCount).value))
        if SH.maxCount in params:
            shape.max_count = int(one(node, SH.maxCount).value)
        if SH.datatype in params:
            shape.checks.append(_datatype(one(node, SH.datatype)))
        if SH.nodeKind in params:
            shape.checks.append(_node_kind(one(node, SH.nodeKind)))
        if SH.pattern in params:
            shape.checks.append(_pattern(self._patterns(node)))
        if SH["in"] in params:
            items = list(g.items(one(node, SH["in"])))
            shape.checks.append(_in(frozenset(self._tok(i, "sh:in member") for i in items)))
        if SH["or"] in params:
            for lst in g.objects(node, SH["or"]):
                alts = [self._compile(m, reports=False) for m in set(g.items(lst))]
                if not alts:
                    raise Unsupported(f"{node}: empty sh:or")
                shape.checks.append(_or(alts))
        if SH.lessThanOrEquals in params:
            if path is None:
                raise Unsupported(f"{node}: sh:lessThanOrEquals on a node shape")
            for other in g.objects(node, SH.lessThanOrEquals):
                if not isinstance(other, URIRef):
                    raise Unsupported(f"{node}: sh:lessThanOrEquals must name an IRI")
                shape.checks.append(_less_than_or_equals(self._tok(other, "property")))
        if SH.property in params:
            nested = []
            for ps in g.objects(node, SH.property):
                compiled = self._compile(ps, reports=reports)
                if compiled.path is None:
                    raise Unsupported(f"{ps} is referenced by sh:property but has no path")
                nested.append(compiled)
            shape.checks.append(_property(nested))
        if SH.sparql in params:
            shape.focus_checks.append(_sparql(self._sparql_constraints(py, shape, reports)))
        return shape

    def _one(self, node: Node, p: URIRef) -> Any:
        values = list(self._sg.graph.objects(node, p))
        if len(values) != 1:
            raise Unsupported(f"{node}: {len(values)} values of {p.n3()}")
        value = values[0]
        if p in (SH.minCount, SH.maxCount) and not (
            isinstance(value, Literal) and isinstance(value.value, int)
        ):
            raise Unsupported(f"{node}: {p.n3()} is not an integer")
        return value

    def _patterns(self, node: Node) -> list[re.Pattern[str]]:
        g = self._sg.graph
        flags_found = list(g.objects(node, SH.flags))
        if len(flags_found) > 1:
            raise Unsupported(f"{node}: more than one sh:flags")
        re_flags = 0
        if flags_found:
            flags = str(flags_found[0].value).lower()
            re_flags |= re.I if "i" in flags else 0
            re_flags |= re.M if "m" in flags else 0
        out = []
        for p in g.objects(node, SH.pattern):
            if not isinstance(p, Literal):
                raise Unsupported(f"{node}: sh:pattern is not a literal")
            text = str(p.value) if p.value is not None and len(p.value) > 1 else str(p)
            out.append(re.compile(text, re_flags))
        return out

    def _prepare(self, text: str) -> Any:
        try:
            return translateQuery(parseQuery(text), None, self._init_ns)
        except Exception as exc:
            raise Unsupported(f"SPARQL rdflib cannot prepare: {exc}") from exc

    def _sparql_target(self, py: Any, target_node: Node) -> Any:
        targets = py.advanced_target()
        ct = targets.get(target_node)
        if not ct or ct.get("type") != SH.SPARQLTarget or "qh" not in ct:
            raise Unsupported(f"{py.node}: only sh:SPARQLTarget with sh:select is compiled")
        qh = ct["qh"]
        query = self._prepare(qh.apply_prefixes(qh.select_text))
        if Variable("this") not in (query.algebra.get("PV") or []):
            raise Unsupported(f"{py.node}: the SPARQL target does not select ?this")
        return query

    def _sparql_constraints(self, py: Any, shape: _Shape, reports: bool) -> list[_Sparql]:
        from pyshacl.constraints.sparql.sparql_based_constraints import SPARQLBasedConstraint

        try:
            component = SPARQLBasedConstraint(py)
        except Exception as exc:
            raise Unsupported(f"{py.node}: pySHACL cannot load its sh:sparql: {exc}") from exc
        out = []
        sentinel = URIRef("urn:gongkai:compiled:focus")
        for qh in component.sparql_constraints:
            if qh.deactivated:
                continue
            try:
                binds, text = qh.pre_bind_variables(sentinel)
            except Exception as exc:
                raise Unsupported(f"{py.node}: {exc}") from exc
            query = self._prepare(qh.apply_prefixes(text))
            if Variable("failure") in (query.algebra.get("PV") or []):
                raise Unsupported(f"{py.node}: ?failure results are not compiled")
            messages = tuple(qh.messages or ())
            if reports and not messages and not shape.messages:
                raise Unsupported(f"{py.node}: a SPARQL constraint without sh:message")
            for m in messages:
                if isinstance(m, Literal) and not isinstance(m.value, str):
                    raise Unsupported(f"{py.node}: a message that is not a string")
            constants = tuple((k, v) for k, v in binds.items() if k != "this")
            out.append(_Sparql(qh.node, query, "this" in binds, constants, messages))
        return out

    # -- running -------------------------------------------------------------------------------------
    def validate(
        self, ntriples: str, notice_classes: Iterable[Node]
    ) -> tuple[list[URIRef], dict[URIRef, list[Pairs]]] | None:
        """Notices of the batch and their results (as `Pairs`); None: not ours, use pySHACL."""
        batch = parse_batch(ntriples, self.terms)
        if batch is None:
            return None
        # the notices as shapes.validate._notices finds them: before the support triples
        rdf_type = self._rdf_type
        classes = {self._tok(c, "class") for c in notice_classes}
        notice_toks: dict[str, None] = {}
        for s, po in batch.spo.items():
            types = po.get(rdf_type)
            if types and s[0] == "<" and not classes.isdisjoint(types):
                notice_toks[s] = None
        if not notice_toks:
            return [], {}
        notices = [URIRef(s[1:-1]) for s in notice_toks]
        for s, p, o in self.support:
            batch.add(s, p, o)

        self.graph.store.batch = batch  # type: ignore[attr-defined]
        run = _Run(self, batch)
        out: list = []
        for shapes in self.groups:
            foci = self._focus_nodes(shapes[0], batch)
            if foci:
                run.evaluate_group(shapes, foci, out)

        by_notice: dict[URIRef, list[Pairs]] = {}
        for focus, _severity, pairs in out:
            ftok = self.terms.token(focus)
            owner = _owner(ftok, batch, notice_toks) if ftok is not None else None
            if owner is not None:
                by_notice.setdefault(URIRef(owner[1:-1]), []).append(tuple(pairs))
        return notices, by_notice

    def _focus_nodes(self, shape: _Shape, batch: Batch) -> list[str]:
        """pySHACL's Shape.focus_nodes: a set, in any order (results are sorted later)."""
        found: dict[str, None] = dict.fromkeys(shape.nodes)
        if shape.classes:
            by_type = batch.by_predicate(self._rdf_type)
            sub = batch.by_predicate(self._subclass_of)
            for tc in shape.classes:
                seen = {tc}
                frontier = [tc]
                while frontier:  # rdfs:subClassOf* in the data graph
                    nxt = []
                    for c in frontier:
                        found.update(dict.fromkeys(by_type.get(c, ())))
                        for s in sub.get(c, ()):
                            if s not in seen:
                                seen.add(s)
                                nxt.append(s)
                    frontier = nxt
        for p in shape.subjects_of:
            for subs in batch.by_predicate(p).values():
                found.update(dict.fromkeys(subs))
        for p in shape.objects_of:
            found.update(dict.fromkeys(batch.by_predicate(p)))
        for query in shape.sparql_targets:
            results = self.graph.query(query)
            if not results or len(results.bindings) < 1:
                continue
            for r in results:
                tok = self.terms.token(r["this"])
                if tok is None:
                    raise Unsupported("a SPARQL target selected a blank node")
                found[tok] = None
        return list(found)


def _owner(focus: str, batch: Batch, notices: dict[str, None], depth: int = 3) -> str | None:
    """shapes.validate._owner over the index: the nearest notice, the least IRI on a tie."""
    frontier = [focus]
    for _ in range(depth + 1):
        hits = [n for n in frontier if n in notices]
        if hits:
            return min(hits)
        nxt: list[str] = []
        for node in frontier:
            nxt.extend(batch.subjects_linking(node))
        frontier = nxt
    return None


__all__ = ["Batch", "CompiledShapes", "Pairs", "Unsupported", "parse_batch"]
