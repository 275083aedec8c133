"""The SPARQL 1.1 Protocol (query operation only): request parsing, negotiation, responses.

Every update is refused with 403: the public endpoint is read-only by design, the store is
changed only by `publish`. Queries run in worker processes (`workers.py`); this module only
decides *what* to run and *how* to answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

import pyoxigraph as ox
from starlette.requests import Request
from starlette.responses import Response

from endpoint.workers import QueryRequest, QueryResult, rdf_format

SD = "http://www.w3.org/ns/sparql-service-description#"


@dataclass(frozen=True)
class Format:
    key: str  # format= keyword
    media_type: str  # canonical, sent as Content-Type
    aliases: tuple[str, ...] = ()
    explicit_only: bool = False  # never chosen through a wildcard
    iri: str = ""  # http://www.w3.org/ns/formats/…


# Server preference order: the first is the default.
# IRIs from the W3C registry of format URIs (https://www.w3.org/ns/formats/).
_F = "http://www.w3.org/ns/formats/"
RESULTS_FORMATS = (
    Format(
        "json",
        "application/sparql-results+json",
        ("application/json",),
        iri=_F + "SPARQL_Results_JSON",
    ),
    Format("xml", "application/sparql-results+xml", (), iri=_F + "SPARQL_Results_XML"),
    Format("csv", "text/csv", (), iri=_F + "SPARQL_Results_CSV"),
    Format("tsv", "text/tab-separated-values", (), iri=_F + "SPARQL_Results_TSV"),
)
GRAPH_FORMATS = (
    Format("turtle", "text/turtle", (), iri=_F + "Turtle"),
    Format("ntriples", "application/n-triples", (), iri=_F + "N-Triples"),
    Format("rdfxml", "application/rdf+xml", (), iri=_F + "RDF_XML"),
    Format("jsonld", "application/ld+json", ("application/json",), iri=_F + "JSON-LD"),
    Format("nquads", "application/n-quads", (), explicit_only=True, iri=_F + "N-Quads"),
)
_KEYWORDS = {
    "json": ("application/sparql-results+json", "application/ld+json"),
    "srj": ("application/sparql-results+json", None),
    "xml": ("application/sparql-results+xml", "application/rdf+xml"),
    "srx": ("application/sparql-results+xml", None),
    "csv": ("text/csv", None),
    "tsv": ("text/tab-separated-values", None),
    "turtle": (None, "text/turtle"),
    "ttl": (None, "text/turtle"),
    "ntriples": (None, "application/n-triples"),
    "n-triples": (None, "application/n-triples"),
    "nt": (None, "application/n-triples"),
    "rdfxml": (None, "application/rdf+xml"),
    "rdf": (None, "application/rdf+xml"),
    "jsonld": (None, "application/ld+json"),
    "json-ld": (None, "application/ld+json"),
    "nquads": (None, "application/n-quads"),
    "n-quads": (None, "application/n-quads"),
    "nq": (None, "application/n-quads"),
}

PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "dcterms": "http://purl.org/dc/terms/",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "org": "http://www.w3.org/ns/org#",
    "prov": "http://www.w3.org/ns/prov#",
    "dcat": "http://www.w3.org/ns/dcat#",
    "foaf": "http://xmlns.com/foaf/0.1/",
}


class ProtocolError(Exception):
    """A request the protocol rejects: status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- content negotiation -------------------------------------------------------------------


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    q: float
    params: tuple[tuple[str, str], ...] = ()


def parse_accept(header: str | None) -> list[MediaRange]:
    """Parse an Accept header (RFC 9110 §12.5.1); malformed entries are skipped."""
    ranges = []
    for part in (header or "").split(","):
        pieces = [p.strip() for p in part.split(";")]
        if not pieces[0] or "/" not in pieces[0]:
            continue
        type_, _, subtype = pieces[0].lower().partition("/")
        if not type_ or not subtype or (type_ == "*" and subtype != "*"):
            continue
        q = 1.0
        params = []
        for p in pieces[1:]:
            name, _, value = p.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"')
            if name == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
                break  # what follows q are accept-extensions, not media type parameters
            if name:
                params.append((name, value.lower()))
        ranges.append(MediaRange(type_, subtype, q, tuple(params)))
    return ranges


def _match(
    media_type: str, ranges: list[MediaRange], explicit_only: bool
) -> tuple[int, float] | None:
    """(specificity, q) of the most specific range matching `media_type`, None if none does."""
    type_, _, subtype = media_type.partition("/")
    best: tuple[int, float] | None = None
    for r in ranges:
        if r.type == type_ and r.subtype == subtype:
            spec = 3 + len(r.params)
        elif r.type == type_ and r.subtype == "*":
            spec = 1
        elif r.type == "*" and r.subtype == "*":
            spec = 0
        else:
            continue
        if explicit_only and spec < 3:
            continue
        if best is None or spec > best[0]:
            best = (spec, r.q)
    return best


def _quality(fmt: Format, ranges: list[MediaRange]) -> float:
    """q for a format: the most specific match over its names wins (so q=0 on the canonical
    type is not undone by */* matching an alias)."""
    matches = [
        m for mt in (fmt.media_type, *fmt.aliases) if (m := _match(mt, ranges, fmt.explicit_only))
    ]
    if not matches:
        return 0.0
    top = max(spec for spec, _ in matches)
    return max(q for spec, q in matches if spec == top)


def negotiate(formats: tuple[Format, ...], accept: str | None) -> str | None:
    """The media type to answer with, or None when the client accepts none of `formats`."""
    ranges = parse_accept(accept)
    if not ranges:
        return formats[0].media_type
    best: tuple[float, int] | None = None
    chosen = None
    for order, fmt in enumerate(formats):
        q = _quality(fmt, ranges)
        if q > 0 and (best is None or (q, -order) > best):
            best, chosen = (q, -order), fmt.media_type
    return chosen


def choose_formats(accept: str | None, format_param: str | None) -> tuple[str | None, str | None]:
    """(media type for SELECT/ASK, media type for CONSTRUCT/DESCRIBE) from Accept or format=."""
    if format_param:
        value = format_param.strip().lower()
        if value in _KEYWORDS:
            return _KEYWORDS[value]
        if "/" not in value:
            known = ", ".join(sorted(_KEYWORDS))
            raise ProtocolError(
                400, f"unknown format {format_param!r}; use one of: {known}, or a media type"
            )
        accept = value
    return negotiate(RESULTS_FORMATS, accept), negotiate(GRAPH_FORMATS, accept)


def with_charset(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"


# --- query text ------------------------------------------------------------------------------

_STRIP = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'"
    r"|<[^<>\"{}|^`\\\s]*>"
    r"|#[^\n]*",
    re.DOTALL,
)
_PROLOGUE = re.compile(r"^\s*(?:(?:BASE\s*|PREFIX\s+[^\s:]*:\s*)(?:<>|\s)*)*", re.IGNORECASE)
_UPDATE = re.compile(
    r"^(?:INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD|WITH)\b", re.IGNORECASE
)
# not ?from, $from, ex:from, from:x, ex:a-from
_FROM = re.compile(r"(?<![\w?$:.\-])FROM(?![\w:\-])", re.IGNORECASE)


def _skeleton(query: str) -> str:
    """The query with strings, IRIs and comments blanked out, for keyword checks."""
    return _STRIP.sub(lambda m: "<>" if m.group(0).startswith("<") else " ", query)


def is_update(query: str) -> bool:
    skeleton = _skeleton(query)
    return bool(_UPDATE.match(skeleton[_PROLOGUE.match(skeleton).end() :]))


def has_dataset_clause(query: str) -> bool:
    """FROM / FROM NAMED in the query (only the outer query may have one)."""
    return bool(_FROM.search(_skeleton(query)))


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedRequest:
    query: str | None  # None: no query at all (the service description is wanted)
    default_graph_uris: tuple[str, ...]
    named_graph_uris: tuple[str, ...]
    format: str | None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProtocolError(413, f"request body larger than {limit:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ProtocolError(413, f"request body larger than {limit:,} bytes")
    return bytes(body)


_READ_ONLY = "this endpoint is read-only: SPARQL Update is not accepted"


async def parse_request(request: Request, max_body: int) -> ParsedRequest:
    """Apply the protocol's rules for GET, POST form and POST direct to one request."""
    params = list(request.query_params.multi_items())
    body_query: list[str] = []
    if request.method == "POST":
        ctype = _media_type(request.headers.get("content-type"))
        if ctype == "application/sparql-update":
            raise ProtocolError(403, _READ_ONLY)
        if ctype == "application/x-www-form-urlencoded":
            raw = await read_body(request, max_body)
            try:
                text = raw.decode("utf-8")
                params += parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
            except UnicodeDecodeError:
                raise ProtocolError(400, "the form body is not UTF-8") from None
        elif ctype == "application/sparql-query":
            raw = await read_body(request, max_body)
            try:
                body_query.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise ProtocolError(400, "the query is not UTF-8") from None
        else:
            shown = ctype or "no Content-Type"
            raise ProtocolError(
                415,
                f"unsupported media type {shown}: POST a query as application/sparql-query "
                "or as application/x-www-form-urlencoded with query=",
            )
    if any(name in ("update", "using-graph-uri", "using-named-graph-uri") for name, _ in params):
        raise ProtocolError(403, _READ_ONLY)
    queries = body_query + [v for k, v in params if k == "query"]
    if len(queries) > 1:
        raise ProtocolError(400, "the query parameter was given more than once")
    dg = tuple(v for k, v in params if k == "default-graph-uri")
    ng = tuple(v for k, v in params if k == "named-graph-uri")
    for iri in (*dg, *ng):
        try:
            ox.NamedNode(iri)
        except ValueError:
            raise ProtocolError(
                400, f"not an absolute IRI in default-graph-uri/named-graph-uri: {iri!r}"
            ) from None
    formats = [v for k, v in params if k in ("format", "output")]
    query = queries[0] if queries else None
    if query is None and (dg or ng or request.method == "POST"):
        raise ProtocolError(400, "missing the query parameter")
    return ParsedRequest(query, dg, ng, formats[-1] if formats else None)


def build_query_request(parsed: ParsedRequest, accept: str | None, base_iri: str) -> QueryRequest:
    """Check the query text and negotiate, before any worker is busy with it."""
    assert parsed.query is not None
    if is_update(parsed.query):
        raise ProtocolError(403, _READ_ONLY)
    results_type, graph_type = choose_formats(accept, parsed.format)
    if results_type is None and graph_type is None:
        raise ProtocolError(406, not_acceptable_message())
    return QueryRequest(
        query=parsed.query,
        results_type=results_type,
        graph_type=graph_type,
        default_graph_uris=parsed.default_graph_uris,
        named_graph_uris=parsed.named_graph_uris,
        union_default_graph=not (
            parsed.default_graph_uris or parsed.named_graph_uris or has_dataset_clause(parsed.query)
        ),
        base_iri=base_iri,
        prefixes=PREFIXES,
    )


def not_acceptable_message() -> str:
    offered = ", ".join(f.media_type for f in (*RESULTS_FORMATS, *GRAPH_FORMATS))
    return f"no acceptable media type; this endpoint offers {offered}"


# --- responses -------------------------------------------------------------------------------

COMMON_HEADERS = {"Vary": "Accept", "Access-Control-Allow-Origin": "*"}


def error_response(status: int, message: str) -> Response:
    return Response(
        message.rstrip("\n") + "\n",
        status_code=status,
        media_type="text/plain; charset=utf-8",
        headers=COMMON_HEADERS,
    )


def result_response(result: QueryResult) -> Response:
    if result.status != 200:
        return error_response(result.status, result.body.decode("utf-8", "replace"))
    headers = dict(COMMON_HEADERS)
    if result.generation:
        headers["X-Gongkai-Generation"] = result.generation
    return Response(
        result.body, status_code=200, media_type=with_charset(result.content_type), headers=headers
    )


def service_description(endpoint: str, graphs: dict[str, int]) -> str:
    """SPARQL 1.1 Service Description of this endpoint, as Turtle."""

    def iri(value: str) -> str:
        return str(ox.NamedNode(value))  # <…>, escaped; ValueError if not an IRI

    result_formats = ", ".join(iri(f.iri) for f in (*RESULTS_FORMATS, *GRAPH_FORMATS))
    named = "".join(
        f"""
        sd:namedGraph [ a sd:NamedGraph ; sd:name {iri(g)} ;
            sd:graph [ a sd:Graph ; void:triples {n} ] ] ;"""
        for g, n in sorted(graphs.items())
    )
    total = sum(graphs.values())
    return f"""@prefix sd: <{SD}> .
@prefix void: <http://rdfs.org/ns/void#> .
@prefix dcterms: <http://purl.org/dc/terms/> .

{iri(endpoint)} a sd:Service ;
    sd:endpoint {iri(endpoint)} ;
    sd:supportedLanguage sd:SPARQL11Query ;
    sd:feature sd:UnionDefaultGraph ;
    sd:defaultEntailmentRegime <http://www.w3.org/ns/entailment/Simple> ;
    sd:resultFormat {result_formats} ;
    sd:defaultDataset [
        a sd:Dataset ;
        dcterms:title "Chongqing government information disclosure notices (gongkai)"@en ;
        sd:defaultGraph [ a sd:Graph ; void:triples {total} ] ;{named}
    ] .
"""


def service_description_response(
    endpoint: str, graphs: dict[str, int], accept: str | None, format_param: str | None
) -> Response:
    _, media_type = choose_formats(accept, format_param)
    if media_type is None or media_type == "application/n-quads":
        return error_response(
            406,
            "the service description is available as "
            + ", ".join(f.media_type for f in GRAPH_FORMATS[:4]),
        )
    turtle = service_description(endpoint, graphs)
    if media_type == "text/turtle":
        body = turtle.encode("utf-8")
    else:
        triples = [q.triple for q in ox.parse(turtle, format=ox.RdfFormat.TURTLE)]
        body = ox.serialize(
            triples,
            format=rdf_format(media_type),
            prefixes={"sd": SD} if media_type == "application/rdf+xml" else None,
        )
    return Response(body, media_type=with_charset(media_type), headers=COMMON_HEADERS)
