"""Linked Data: every `id/…` and `def/…` IRI we mint dereferences.

- `GET /id/{path}` → 303 to `/doc/{path}` (HTML) or `/doc/{path}.{ttl,nt,jsonld,rdf}` by
  content negotiation (`Accept`); `GET /def/{path}` likewise → `/doc/def/{path}…`.
- `GET /doc/{path}` → the HTML page of the thing; `GET /doc/{path}.{ext}` → its RDF.
- `GET /def/gongkai` → the vocabulary: pyLODE HTML (generated once, cached in the data dir)
  or the Turtle source by negotiation; `/def/gongkai.{ttl,nt,jsonld,rdf}` directly.

Whatever host the server runs on, request paths map to IRIs under `gongkai.config.base_uri()`,
and links in pages to IRIs under that base are rewritten to local paths.

Safety: the IRI of a thing is built only from path segments that match `_SEGMENT` (letters,
digits, `._~-`), then escaped with `ontology.ntriples.iri`, so no request text reaches SPARQL
unchecked. Queries run in the worker pool (time budgets as for `/sparql`). Harvested strings
reach HTML only through Jinja2 autoescape; only http(s) IRIs become links.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from endpoint import sparql
from endpoint.workers import QueryRequest, QueryResult
from gongkai.config import base_uri
from ontology import ONTOLOGY_DIR
from ontology.ntriples import iri as nt_iri
from ontology.ntriples import literal as nt_literal

# Content-Security-Policy of our HTML pages: nothing but our own files, no inline script.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
# pyLODE's page carries its own inline <style> and no script.
CSP_VOCABULARY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

RDF_EXTENSIONS = {
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdf": "application/rdf+xml",
}
FORMAT_NAMES = {"ttl": "Turtle", "nt": "N-Triples", "jsonld": "JSON-LD", "rdf": "RDF/XML"}
_EXT_BY_TYPE = {v: k for k, v in RDF_EXTENSIONS.items()}
_HTML = sparql.Format("html", "text/html", ("application/xhtml+xml",))
_DOC_FORMATS = (_HTML, *[f for f in sparql.GRAPH_FORMATS if f.media_type in _EXT_BY_TYPE])

_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,199}")
MAX_SEGMENTS = 8

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
DCTERMS = "http://purl.org/dc/terms/"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
PROV = "http://www.w3.org/ns/prov#"
SH = "http://www.w3.org/ns/shacl#"
FOAF = "http://xmlns.com/foaf/0.1/"

LIST_LIMIT = 200  # inverse links listed one by one below this count
NEWEST = 20


def gk(base: str) -> str:
    return base + "def/gongkai#"


def prefixes(base: str) -> dict[str, str]:
    return {
        **sparql.PREFIXES,
        "gk": gk(base),
        "eli": "http://data.europa.eu/eli/ontology#",
        "sh": SH,
        "void": "http://rdfs.org/ns/void#",
        "schema": "https://schema.org/",
        "spdx": "http://spdx.org/rdf/terms#",
    }


# Properties whose inverse points from notices: their pages list the newest notices.
def notice_links(base: str) -> tuple[str, ...]:
    return (DCTERMS + "publisher", gk(base) + "area", gk(base) + "source", PROV + "wasGeneratedBy")


_LABEL_PROPS = (SKOS + "prefLabel", RDFS + "label", DCTERMS + "title")
_FIRST_PROPS = (
    DCTERMS + "title",
    SKOS + "prefLabel",
    RDFS + "label",
    SKOS + "altLabel",
    SKOS + "notation",
)
# Short readable names of reused properties (ours have rdfs:label in the vocabulary).
KNOWN_LABELS = {
    DCTERMS + "title": "title",
    DCTERMS + "identifier": "identifier",
    DCTERMS + "publisher": "publisher",
    DCTERMS + "issued": "issued",
    DCTERMS + "created": "created",
    DCTERMS + "date": "date",
    DCTERMS + "description": "description",
    DCTERMS + "source": "source",
    DCTERMS + "hasPart": "has part",
    DCTERMS + "isPartOf": "is part of",
    SKOS + "prefLabel": "name",
    SKOS + "altLabel": "other name",
    SKOS + "notation": "code",
    SKOS + "scopeNote": "scope note",
    SKOS + "inScheme": "in scheme",
    SKOS + "note": "note",
    RDFS + "label": "label",
    RDFS + "comment": "comment",
    RDFS + "isDefinedBy": "defined by",
    RDF_TYPE: "type",
    "http://www.w3.org/ns/org#subOrganizationOf": "part of organisation",
    "http://www.w3.org/ns/org#classification": "kind",
    "http://www.w3.org/ns/org#changedBy": "changed by",
    "http://www.w3.org/ns/org#resultedFrom": "resulted from",
    "http://www.w3.org/ns/org#originalOrganization": "original organisation",
    "http://www.w3.org/ns/org#resultingOrganization": "resulting organisation",
    "http://xmlns.com/foaf/0.1/page": "page",
    "http://xmlns.com/foaf/0.1/homepage": "home page",
    "http://www.w3.org/ns/dcat#keyword": "keyword",
    PROV + "wasGeneratedBy": "generated by",
    PROV + "generatedAtTime": "retrieved at",
    PROV + "startedAtTime": "started",
    PROV + "endedAtTime": "ended",
    PROV + "used": "used",
    PROV + "wasAssociatedWith": "software",
}


# --- paths and IRIs --------------------------------------------------------------------------


def split_extension(path: str) -> tuple[str, str | None]:
    """`a/b.ttl` → (`a/b`, `ttl`); a path without a known RDF extension → (path, None)."""
    stem, dot, ext = path.rpartition(".")
    if dot and ext in RDF_EXTENSIONS and stem and "/" not in ext:
        return stem, ext
    return path, None


def valid_segments(path: str) -> list[str] | None:
    segments = path.split("/")
    if not 1 <= len(segments) <= MAX_SEGMENTS:
        return None
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    return segments


def thing_iri(base: str, doc_path: str) -> str | None:
    """The IRI a `/doc/{doc_path}` page describes, or None when the path is not one we mint.

    `def/…` paths name vocabulary-side things (`def/category/3`); anything else is `id/…`.
    """
    segments = valid_segments(doc_path)
    if segments is None:
        return None
    if segments[0] == "def":
        return base + "/".join(segments) if len(segments) > 1 else None
    return base + "id/" + "/".join(segments)


def doc_path_of(base: str, iri: str) -> str | None:
    """The `/doc/…` path of an IRI under the base (fragment kept), or None."""
    if not iri.startswith(base):
        return None
    rest = iri[len(base) :]
    path, hash_, frag = rest.partition("#")
    if path == "def/gongkai":
        local = "/def/gongkai"
    elif path.startswith("id/") and len(path) > 3:
        local = "/doc/" + path[3:]
    elif path.startswith("def/") and len(path) > 4:
        local = "/doc/" + path
    elif path.startswith("graph/") and len(path) > 6:
        return "/downloads#graph-" + quote(path[6:], safe="")
    elif path.startswith("downloads"):
        local = "/" + path
    else:
        return None
    safe = "/:@!$&'()*+,;=-._~%"
    return quote(local, safe=safe) + (hash_ + quote(frag, safe=safe) if hash_ else "")


def query_link(query: str) -> str:
    """A link that opens (and runs) `query` on the query page."""
    return "/query#query=" + quote(query, safe="")


# --- SPARQL through the pool -----------------------------------------------------------------


class QueryFailed(Exception):
    def __init__(self, result: QueryResult) -> None:
        super().__init__(result.body.decode("utf-8", "replace"))
        self.status = result.status


@dataclass
class Term:
    kind: str  # uri | literal | bnode
    value: str
    lang: str | None = None
    datatype: str | None = None


def _term(b: dict[str, Any]) -> Term:
    return Term(b["type"] if b["type"] != "typed-literal" else "literal", b["value"],
                b.get("xml:lang"), b.get("datatype"))  # fmt: skip


async def select(request: Request, query: str) -> list[dict[str, Term]]:
    pool = request.app.state.pool
    if pool is None:
        raise QueryFailed(QueryResult.error(503, "the query workers are not running"))
    req = QueryRequest(query=query, results_type="application/sparql-results+json",
                       graph_type=None, union_default_graph=True)  # fmt: skip
    result = await pool.execute(req)
    if result.status != 200:
        raise QueryFailed(result)
    data = json.loads(result.body)
    if "boolean" in data:
        return [{"boolean": Term("literal", str(data["boolean"]).lower())}]
    return [{k: _term(v) for k, v in row.items()} for row in data["results"]["bindings"]]


async def construct(request: Request, query: str, media_type: str) -> QueryResult:
    pool = request.app.state.pool
    if pool is None:
        return QueryResult.error(503, "the query workers are not running")
    base = request.app.state.linked_data.base
    req = QueryRequest(query=query, results_type=None, graph_type=media_type,
                       union_default_graph=True, prefixes=prefixes(base))  # fmt: skip
    return await pool.execute(req)


def _limit(request: Request, n: int) -> int:
    return max(1, min(n, request.app.state.settings.max_rows))


# --- page model ------------------------------------------------------------------------------


@dataclass
class Link:
    text: str
    href: str | None
    iri: str | None = None
    lang: str | None = None
    external: bool = False
    note: str | None = None  # e.g. the CURIE or the datatype


@dataclass
class Section:
    title: str
    count: int | None = None
    items: list[Any] = field(default_factory=list)
    query: str | None = None
    kind: str = "links"  # links | notices | years | results


@dataclass
class PropertyRow:
    prop: Link
    values: list[Link]


@dataclass
class Child:
    anchor: str | None
    title: str
    rows: list[PropertyRow]


class LinkedData:
    """What the Linked Data routes share: the base URI, prefixes and the vocabulary cache."""

    def __init__(self, base: str, cache_dir: Path) -> None:
        self.base = base
        self.prefixes = prefixes(base)
        self.cache_dir = cache_dir
        self._vocab_lock = asyncio.Lock()

    def curie(self, iri: str) -> str:
        best = None
        for p, ns in self.prefixes.items():
            if iri.startswith(ns) and (best is None or len(ns) > len(best[1])):
                best = (p, ns)
        if best and re.fullmatch(r"[A-Za-z_][\w.-]*", iri[len(best[1]) :]):
            return f"{best[0]}:{iri[len(best[1]) :]}"
        return iri

    def link(self, iri: str, labels: dict[str, list[Term]] | None = None) -> Link:
        label = pick_label((labels or {}).get(iri, []))
        local = doc_path_of(self.base, iri)
        if local is not None:
            href, external = local, False
        elif iri.startswith(("http://", "https://")):
            href, external = iri, True
        else:
            href, external = None, False  # never a javascript:/data: link from harvested data
        if label is not None:
            return Link(label.value, href, iri, label.lang, external, self.curie(iri))
        text = KNOWN_LABELS.get(iri) or self.curie(iri)
        if local and text == iri:
            text = iri[len(self.base) :]
        return Link(text, href, iri, None, external)

    def prop_link(self, iri: str, labels: dict[str, list[Term]]) -> Link:
        label = pick_label(labels.get(iri, []), prefer=("en", None, "zh"))
        text = KNOWN_LABELS.get(iri) or (label.value if label else self.curie(iri))
        return Link(text, doc_path_of(self.base, iri) or None, iri, None, False, self.curie(iri))

    def value(self, t: Term, labels: dict[str, list[Term]]) -> Link:
        if t.kind == "uri":
            return self.link(t.value, labels)
        if t.kind == "bnode":
            return Link("(blank node)", "#b-" + _anchor(t.value), None)
        return Link(format_literal(t), None, None, t.lang, False, self._datatype_note(t))

    def _datatype_note(self, t: Term) -> str | None:
        if t.datatype and t.datatype not in (XSD + "string",):
            return self.curie(t.datatype)
        return None


def _anchor(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)[:64]


def pick_label(
    terms: list[Term], prefer: tuple[str | None, ...] = ("zh", None, "en")
) -> Term | None:
    if not terms:
        return None
    for lang in prefer:
        for t in terms:
            if (t.lang or None) == lang or (lang and (t.lang or "").startswith(lang + "-")):
                return t
    return terms[0]


def format_literal(t: Term) -> str:
    if t.datatype == XSD + "dateTime":
        m = re.fullmatch(
            r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?", t.value
        )
        if m:
            return f"{m.group(1)} {m.group(2)}" + (f" ({m.group(3)})" if m.group(3) else "")
    if t.datatype == XSD + "boolean":
        return "yes" if t.value in ("true", "1") else "no"
    return t.value


# --- queries ---------------------------------------------------------------------------------


def _values(iris: list[str]) -> str:
    return " ".join(nt_iri(i) for i in iris)


async def labels_of(request: Request, iris: set[str]) -> dict[str, list[Term]]:
    out: dict[str, list[Term]] = {}
    todo = sorted(i for i in iris if i)
    props = " ".join(nt_iri(p) for p in _LABEL_PROPS)
    for i in range(0, len(todo), 200):
        chunk = todo[i : i + 200]
        q = (f"SELECT ?x ?l WHERE {{ VALUES ?x {{ {_values(chunk)} }} VALUES ?lp {{ {props} }} "
             f"?x ?lp ?l }} LIMIT {_limit(request, 2000)}")  # fmt: skip
        for row in await select(request, q):
            out.setdefault(row["x"].value, []).append(row["l"])
    return out


def notices_query(prop: str, thing: str) -> str:
    return (
        "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        "SELECT ?notice ?title ?issued WHERE {\n"
        f"  ?notice {nt_iri(prop)} {nt_iri(thing)} ;\n"
        "          dcterms:title ?title .\n"
        "  OPTIONAL { ?notice dcterms:issued ?issued }\n"
        "}\nORDER BY DESC(?issued)"
    )


def inverse_query(prop: str, thing: str) -> str:
    return (
        "PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
        "SELECT ?thing ?label WHERE {\n"
        f"  ?thing {nt_iri(prop)} {nt_iri(thing)} .\n"
        "  OPTIONAL { ?thing skos:prefLabel|rdfs:label ?label }\n"
        "}"
    )


async def describe(request: Request, iri: str) -> dict[str, Any] | None:
    """Everything the HTML page of `iri` shows, or None when the store knows nothing of it."""
    ld: LinkedData = request.app.state.linked_data
    s = nt_iri(iri)
    out_rows = await select(
        request,
        f"SELECT ?g ?p ?o WHERE {{ GRAPH ?g {{ {s} ?p ?o }} }} LIMIT {_limit(request, 2000)}",
    )
    children_rows = await select(
        request,
        f"SELECT ?c ?p ?o WHERE {{ {s} ?lp ?c . "
        f"FILTER(isBlank(?c) || STRSTARTS(STR(?c), {nt_literal(iri + '#')})) ?c ?p ?o }} "
        f"LIMIT {_limit(request, 2000)}",
    )
    inverse_counts = await select(
        request, f"SELECT ?p (COUNT(?s) AS ?n) WHERE {{ ?s ?p {s} }} GROUP BY ?p LIMIT 100"
    )
    if not out_rows and not inverse_counts:
        return None
    counts = {r["p"].value: int(r["n"].value) for r in inverse_counts}
    notice_props = notice_links(ld.base)
    small = [
        p
        for p, n in counts.items()
        if n <= LIST_LIMIT and p not in notice_props and p != SH + "focusNode"
    ]
    big = [
        p
        for p, n in counts.items()
        if n > LIST_LIMIT and p not in notice_props and p != SH + "focusNode"
    ]
    inverse_rows: list[dict[str, Term]] = []
    if small or big:
        q = (f"SELECT ?s ?p WHERE {{ VALUES ?p {{ {_values(small + big)} }} ?s ?p {s} }} "
             f"LIMIT {_limit(request, LIST_LIMIT * (len(small) + len(big)))}")  # fmt: skip
        inverse_rows = await select(request, q)

    notice_sections: list[tuple[str, list[dict[str, Term]], list[dict[str, Term]]]] = []
    for p in notice_props:
        if p in counts:
            newest = await select(
                request,
                f"SELECT ?n ?title ?issued WHERE {{ ?n {nt_iri(p)} {s} . "
                f"OPTIONAL {{ ?n <{DCTERMS}title> ?title }} OPTIONAL {{ ?n <{DCTERMS}issued> ?issued }} }} "
                f"ORDER BY DESC(?issued) ?n LIMIT {_limit(request, NEWEST)}",
            )
            years = await select(
                request,
                f"SELECT ?year (COUNT(?n) AS ?count) WHERE {{ ?n {nt_iri(p)} {s} . "
                f"OPTIONAL {{ ?n <{DCTERMS}issued> ?d }} BIND(YEAR(?d) AS ?year) }} "
                f"GROUP BY ?year ORDER BY DESC(?year) LIMIT 100",
            )
            notice_sections.append((p, newest, years))
    quality = []
    if SH + "focusNode" in counts:
        quality = await select(
            request,
            f"SELECT ?severity ?path ?message WHERE {{ ?r <{SH}focusNode> {s} . "
            f"OPTIONAL {{ ?r <{SH}resultSeverity> ?severity }} OPTIONAL {{ ?r <{SH}resultPath> ?path }} "
            f"OPTIONAL {{ ?r <{SH}resultMessage> ?message }} }} LIMIT {_limit(request, 200)}",
        )

    # labels of everything shown
    wanted = {iri}
    for rows in (out_rows, children_rows):
        for r in rows:
            wanted.add(r["p"].value)
            if r["o"].kind == "uri":
                wanted.add(r["o"].value)
    wanted.update(counts)
    wanted.update(r["s"].value for r in inverse_rows if r["s"].kind == "uri")
    for r in quality:
        if "path" in r and r["path"].kind == "uri":
            wanted.add(r["path"].value)
    labels = await labels_of(request, wanted)

    graphs = sorted({r["g"].value for r in out_rows})
    types = [r["o"].value for r in out_rows if r["p"].value == RDF_TYPE]
    props = _property_rows(
        ld, [(r["p"], r["o"]) for r in out_rows if r["p"].value != RDF_TYPE], labels
    )

    by_child: dict[str, list[tuple[Term, Term]]] = {}
    child_kind: dict[str, str] = {}
    for r in children_rows:
        by_child.setdefault(r["c"].value, []).append((r["p"], r["o"]))
        child_kind[r["c"].value] = r["c"].kind
    children = []
    for c, pairs in sorted(by_child.items()):
        if child_kind[c] == "bnode":
            anchor, title = "b-" + _anchor(c), "(blank node)"
        else:
            anchor = c.partition("#")[2] or None
            title = "#" + (anchor or "")
        children.append(Child(anchor, title, _property_rows(ld, pairs, labels)))

    sections: list[Section] = []
    for p, newest, years in notice_sections:
        plink = ld.prop_link(p, labels)
        rows = [
            (
                ld.link(r["n"].value, {r["n"].value: [r["title"]]} if "title" in r else labels),
                r["issued"].value if "issued" in r else "",
            )
            for r in newest
        ]
        sections.append(Section(f"Newest notices whose {plink.text} is this", counts[p], rows,
                                notices_query(p, iri), "notices"))  # fmt: skip
        if len(years) > 1 or (years and "year" in years[0]):
            sections.append(Section(f"Notices per year (by {plink.text})", None,
                                    [(r["year"].value if "year" in r else "no date", r["count"].value) for r in years],
                                    None, "years"))  # fmt: skip
    grouped: dict[str, list[Link]] = {}
    for r in inverse_rows:
        grouped.setdefault(r["p"].value, []).append(ld.value(r["s"], labels))
    for p in sorted(grouped, key=lambda p: ld.prop_link(p, labels).text):
        items = sorted(grouped[p], key=lambda lk: lk.text)
        sections.append(Section(f"Linked here as {ld.prop_link(p, labels).text}", counts.get(p), items,
                                inverse_query(p, iri) if counts.get(p, 0) > len(items) or counts.get(p, 0) > 20 else None))  # fmt: skip
    if quality:
        items = [
            (
                ld.value(r["severity"], labels).text if "severity" in r else "",
                ld.value(r["path"], labels) if "path" in r else None,
                r["message"].value if "message" in r else "",
            )
            for r in quality
        ]
        sections.insert(
            0,
            Section(
                "Validation results (why this notice is quarantined)",
                len(items),
                items,
                None,
                "results",
            ),
        )

    label = pick_label(labels.get(iri, []))
    en = next((t.value for t in labels.get(iri, []) if (t.lang or "").startswith("en")), None)
    return {
        "iri": iri,
        "label": label.value if label else iri[len(ld.base) :] if iri.startswith(ld.base) else iri,
        "label_lang": label.lang if label else None,
        "label_en": en if en and label and en != label.value else None,
        "types": [ld.link(t, labels) for t in types],
        "graphs": [ld.link(g, labels) for g in graphs],
        "props": props,
        "children": children,
        "sections": sections,
        "describe_query": f"DESCRIBE {nt_iri(iri)}",
    }


def _property_rows(
    ld: LinkedData, pairs: list[tuple[Term, Term]], labels: dict[str, list[Term]]
) -> list[PropertyRow]:
    by_prop: dict[str, list[Term]] = {}
    for p, o in pairs:
        by_prop.setdefault(p.value, []).append(o)

    def order(p: str) -> tuple[int, str]:
        return (
            _FIRST_PROPS.index(p) if p in _FIRST_PROPS else len(_FIRST_PROPS),
            ld.prop_link(p, labels).text.lower(),
        )

    rows = []
    for p in sorted(by_prop, key=order):
        values = sorted(by_prop[p], key=lambda t: (t.kind, t.lang or "", t.value))
        rows.append(PropertyRow(ld.prop_link(p, labels), [ld.value(v, labels) for v in values]))
    return rows


# --- responses -------------------------------------------------------------------------------


def html(
    request: Request, template: str, status: int = 200, csp: str = CSP, **context: Any
) -> HTMLResponse:
    page = request.app.state.templates.get_template(template).render(**context)
    headers = {"Content-Security-Policy": csp, **SECURITY_HEADERS}
    return HTMLResponse(page, status_code=status, headers=headers)


def not_found(request: Request, what: str) -> HTMLResponse:
    return html(request, "not_found.html", status=404, what=what)


def error_page(request: Request, exc: QueryFailed) -> HTMLResponse:
    status = exc.status if exc.status in (503, 504) else 503
    return html(request, "error.html", status=status, message=str(exc))


def _wants(request: Request) -> str | None:
    return sparql.negotiate(_DOC_FORMATS, request.headers.get("accept"))


def _see_other(request: Request, doc_path: str) -> Response:
    chosen = _wants(request)
    if chosen is None:
        return Response(sparql.not_acceptable_message().replace("this endpoint", "this resource") + "\n",
                        status_code=406, media_type="text/plain; charset=utf-8", headers={"Vary": "Accept"})  # fmt: skip
    target = "/doc/" + doc_path
    if chosen != "text/html":
        target += "." + _EXT_BY_TYPE[chosen]
    return RedirectResponse(target, status_code=303, headers={"Vary": "Accept"})


async def id_route(request: Request) -> Response:
    path = request.path_params["path"]
    if valid_segments(path) is None or path.split("/")[0] == "def":
        return not_found(request, "/id/" + path)
    return _see_other(request, path)


async def def_route(request: Request) -> Response:
    path = request.path_params["path"]
    stem, ext = split_extension(path)
    if stem == "gongkai":
        return await vocabulary(request, ext)
    if valid_segments(path) is None:
        return not_found(request, "/def/" + path)
    return _see_other(request, "def/" + path)


async def doc_route(request: Request) -> Response:
    ld: LinkedData = request.app.state.linked_data
    stem, ext = split_extension(request.path_params["path"])
    if stem == "def/gongkai":
        return RedirectResponse("/def/gongkai" + (f".{ext}" if ext else ""), status_code=301)
    iri = thing_iri(ld.base, stem)
    if iri is None:
        return not_found(request, request.url.path)
    ox.NamedNode(iri)  # cannot fail after validation; a last guard before SPARQL
    if ext is not None:
        return await rdf_document(request, iri, RDF_EXTENSIONS[ext])
    try:
        page = await describe(request, iri)
    except QueryFailed as exc:
        return error_page(request, exc)
    if page is None:
        return not_found(request, iri)
    downloads = [
        (FORMAT_NAMES[ext], f"/doc/{stem}.{ext}", mt) for ext, mt in RDF_EXTENSIONS.items()
    ]
    page["history"] = await notice_history(request, iri)
    return html(request, "thing.html", page=page, downloads=downloads, doc_path=stem)


async def notice_history(request: Request, iri: str) -> dict[str, Any] | None:
    """A notice's versions from the harvest state (gongkai/history.py), or None."""
    if not iri.startswith(request.app.state.linked_data.base + "id/notice/"):
        return None
    rows = await select(
        request, f"SELECT ?page WHERE {{ {nt_iri(iri)} <{FOAF}page> ?page }} LIMIT 1"
    )
    if not rows:
        return None
    from starlette.concurrency import run_in_threadpool

    from gongkai.history import notice_versions

    data = request.app.state.settings.data
    return await run_in_threadpool(notice_versions, data, iri, rows[0]["page"].value)


async def rdf_document(request: Request, iri: str, media_type: str) -> Response:
    s = nt_iri(iri)
    try:
        exists = await select(request, f"ASK {{ {{ {s} ?p ?o }} UNION {{ ?x ?p {s} }} }}")
    except QueryFailed as exc:
        return sparql.error_response(exc.status, str(exc))
    if exists[0]["boolean"].value != "true":
        return Response(
            f"nothing is known about <{iri}>\n",
            status_code=404,
            media_type="text/plain; charset=utf-8",
        )
    query = (
        f"CONSTRUCT {{ {s} ?p ?o . ?c ?cp ?co }} WHERE {{ {{ {s} ?p ?o }} UNION "
        f"{{ {s} ?lp ?c . FILTER(isBlank(?c) || STRSTARTS(STR(?c), {nt_literal(iri + '#')})) ?c ?cp ?co }} }}"
    )
    result = await construct(request, query, media_type)
    if result.status != 200:
        return sparql.error_response(result.status, result.body.decode("utf-8", "replace"))
    return Response(
        result.body,
        media_type=sparql.with_charset(media_type),
        headers={"Access-Control-Allow-Origin": "*", "Vary": "Accept"},
    )


# --- the vocabulary --------------------------------------------------------------------------

VOCABULARY_TTL = ONTOLOGY_DIR / "gongkai.ttl"


async def vocabulary_html_path(ld: LinkedData) -> Path:
    """pyLODE's page of the vocabulary, generated once per version of gongkai.ttl."""
    digest = hashlib.sha256(VOCABULARY_TTL.read_bytes()).hexdigest()[:16]
    path = ld.cache_dir / f"vocabulary-{digest}.html"
    if path.exists():
        return path
    async with ld._vocab_lock:
        if not path.exists():
            await asyncio.to_thread(_build_vocabulary, path)
    return path


def _build_vocabulary(path: Path) -> None:
    from ontology.docs import build_vocabulary_html

    tmp = path.with_name(path.name + ".tmp")
    build_vocabulary_html(tmp)
    tmp.replace(path)


async def vocabulary(request: Request, ext: str | None) -> Response:
    ld: LinkedData = request.app.state.linked_data
    media_type = RDF_EXTENSIONS[ext] if ext else _wants(request)
    if media_type is None:
        return Response(
            "no acceptable media type\n", status_code=406, media_type="text/plain; charset=utf-8"
        )
    headers = {"Vary": "Accept", "Access-Control-Allow-Origin": "*"}
    if media_type == "text/html":
        try:
            path = await vocabulary_html_path(ld)
        except Exception as exc:  # pyLODE failing must not take the server down
            return html(
                request,
                "error.html",
                status=500,
                message=f"the vocabulary page could not be built: {exc}",
            )
        body = path.read_text(encoding="utf-8")
        return HTMLResponse(
            body, headers={**headers, "Content-Security-Policy": CSP_VOCABULARY, **SECURITY_HEADERS}
        )
    if media_type == "text/turtle":
        return Response(
            VOCABULARY_TTL.read_bytes(), media_type="text/turtle; charset=utf-8", headers=headers
        )
    fmt = {
        "application/n-triples": ox.RdfFormat.N_TRIPLES,
        "application/ld+json": ox.RdfFormat.JSON_LD,
        "application/rdf+xml": ox.RdfFormat.RDF_XML,
    }[media_type]
    triples = [q.triple for q in ox.parse(path=str(VOCABULARY_TTL), format=ox.RdfFormat.TURTLE)]
    body = ox.serialize(
        triples, format=fmt, prefixes=ld.prefixes if fmt == ox.RdfFormat.RDF_XML else None
    )
    return Response(body, media_type=sparql.with_charset(media_type), headers=headers)


def routes() -> list[Route]:
    return [
        Route("/id/{path:path}", id_route, methods=["GET", "HEAD"]),
        Route("/def/{path:path}", def_route, methods=["GET", "HEAD"]),
        Route("/doc/{path:path}", doc_route, methods=["GET", "HEAD"]),
    ]


def setup(app: Any, cache_dir: Path) -> None:
    app.state.linked_data = LinkedData(base_uri(), cache_dir)
