"""Atom 1.0 feeds of the newest notices: all, per agency, per division, per area, withdrawn.

The source of truth is the published store: one SPARQL query per feed over the current
generation (opened read-only; nobody writes a completed generation), newest `dcterms:issued`
first, `FEED_SIZE` entries. Feeds are cached per (generation, feed), so a feed reader polling
every minute costs one query per publish, not one per poll.

Safety: URL parameters never reach query text as typed. An agency slug must match
`[a-z0-9-]+`, a division code six digits, an area a number 1-20; the IRI built from the
checked value is then written with `ontology.ntriples.iri` (which percent-encodes anything an
IRI may not hold). Anything else is a 404 before a query runs. Harvested titles are written
with ElementTree, which escapes them, and control characters XML forbids are dropped.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gongkai.config import DataDir
from ontology.namespaces import BASE, agency_iri, category_iri, division_iri
from ontology.ntriples import iri

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
FEED_SIZE = 50
CACHE_SIZE = 256
GK = BASE + "def/gongkai#"
SLUG_RE = re.compile(r"^[a-z0-9-]{1,80}$")
DIVISION_RE = re.compile(r"^\d{6}$")
AREA_RE = re.compile(r"^(?:[1-9]|1\d|20)$")
_XML_BAD_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

PREFIXES = f"""PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX foaf: <http://xmlns.com/foaf/0.1/>
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX gk: <{GK}>
"""

# {pattern} is one of the fixed patterns below with a checked IRI in it; nothing else varies.
QUERY = (
    PREFIXES
    + """SELECT ?n ?issued ?title ?publisher ?publisherName ?page ?modified ?changed ?withdrawn
WHERE {
  { SELECT ?n ?issued WHERE {
      ?n a gk:Notice ; dcterms:issued ?issued .
      {pattern}
    } ORDER BY DESC(?issued) DESC(?n) LIMIT {limit} }
  OPTIONAL { ?n dcterms:title ?title }
  OPTIONAL { ?n dcterms:publisher ?publisher }
  OPTIONAL { ?n gk:publisherName ?publisherName }
  OPTIONAL { ?n foaf:page ?page }
  OPTIONAL { ?n dcterms:modified ?modified }
  OPTIONAL { ?n gk:previousVersion ?changed }
  OPTIONAL { ?n gk:withdrawn ?withdrawn }
}
ORDER BY DESC(?issued) DESC(?n)"""
)
NOT_WITHDRAWN = "FILTER NOT EXISTS { ?n gk:withdrawn true }"
# Changed notices by the time the harvest saw the change (dcterms:modified, mapping.py).
CHANGED_QUERY = (
    QUERY.replace("SELECT ?n ?issued WHERE {", "SELECT ?n ?issued ?m WHERE {")
    .replace(
        "?n a gk:Notice ; dcterms:issued ?issued .",
        "?n a gk:Notice ; dcterms:issued ?issued ; dcterms:modified ?m .",
    )
    .replace("ORDER BY DESC(?issued) DESC(?n)", "ORDER BY DESC(?m) DESC(?n)")
)


@dataclass(frozen=True)
class FeedSpec:
    key: str  # path below /feeds/, e.g. "agency/scjgj.atom"
    title: str
    pattern: str  # graph pattern on ?n, built only from checked values


def spec_all() -> FeedSpec:
    return FeedSpec("all.atom", "全部新公告 · All new and changed notices", NOT_WITHDRAWN)


def spec_changed() -> FeedSpec:
    return FeedSpec(
        "changed.atom",
        "已修改公告 · Changed notices",
        f"?n gk:previousVersion ?previous . {NOT_WITHDRAWN}",
    )


def spec_withdrawn() -> FeedSpec:
    return FeedSpec("withdrawn.atom", "已撤下公告 · Withdrawn notices", "?n gk:withdrawn true .")


def spec_agency(slug: str) -> FeedSpec | None:
    if not SLUG_RE.match(slug):
        return None
    a = iri(agency_iri(slug))
    return FeedSpec(
        f"agency/{slug}.atom",
        f"机构 {slug} 的新公告",
        f"?n dcterms:publisher {a} . {NOT_WITHDRAWN}",
    )


def spec_division(code: str) -> FeedSpec | None:
    if not DIVISION_RE.match(code):
        return None
    d = iri(division_iri(code))
    # A notice belongs to a division through its portal (source) or its publisher.
    pattern = (
        f"{{ ?n gk:source/gk:division {d} }} UNION {{ ?n dcterms:publisher/gk:division {d} }} "
        + NOT_WITHDRAWN
    )
    return FeedSpec(f"division/{code}.atom", f"行政区划 {code} 的新公告", pattern)


def spec_area(n: str) -> FeedSpec | None:
    if not AREA_RE.match(n):
        return None
    c = iri(category_iri(int(n)))
    return FeedSpec(
        f"area/{n}.atom", f"第{n}项公开领域的新公告", f"?n gk:area {c} . {NOT_WITHDRAWN}"
    )


def feed_query(spec: FeedSpec, limit: int = FEED_SIZE) -> str:
    query = CHANGED_QUERY if spec.key == "changed.atom" else QUERY
    return query.replace("{pattern}", spec.pattern).replace("{limit}", str(int(limit)))


# -- query + XML -------------------------------------------------------------------------------
def _value(term: Any) -> str | None:
    return None if term is None else term.value


def _clean(text: str) -> str:
    return _XML_BAD_RE.sub("", text)


def _datetime(value: str | None) -> str | None:
    """An RFC 3339 date-time from an xsd:date or xsd:dateTime (portal dates are UTC+8)."""
    if not value:
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return value + "T00:00:00+08:00"
    if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", value):
        return value if re.search(r"(Z|[+-]\d{2}:\d{2})$", value) else value + "+08:00"
    return None


def doc_url(notice: str) -> str:
    """The HTML page of an `id/…` thing is at `doc/…` (design.md URIs)."""
    return BASE + "doc/" + notice[len(BASE) + 3 :] if notice.startswith(BASE + "id/") else notice


def query_entries(store: Any, spec: FeedSpec, limit: int = FEED_SIZE) -> list[dict[str, Any]]:
    """The feed's notices, newest first, one dict per notice (several titles: the first)."""
    entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for row in store.query(feed_query(spec, limit), use_default_graph_as_union=True):
        n = row["n"].value
        e = entries.get(n)
        if e is None:
            e = entries[n] = {
                "iri": n,
                "issued": _value(row["issued"]),
                "title": None,
                "publisher": None,
                "publisher_name": None,
                "page": None,
                "modified": None,
                "changed": False,
                "withdrawn": False,
            }
        for key, var in (
            ("title", "title"),
            ("publisher", "publisher"),
            ("publisher_name", "publisherName"),
            ("page", "page"),
            ("modified", "modified"),
        ):
            if e[key] is None and row[var] is not None:
                e[key] = row[var].value
        e["changed"] = e["changed"] or row["changed"] is not None
        e["withdrawn"] = e["withdrawn"] or _value(row["withdrawn"]) in ("true", "1")
    return list(entries.values())


def atom_feed(
    spec: FeedSpec, entries: list[dict[str, Any]], self_url: str, generated: str
) -> bytes:
    """An Atom 1.0 document (RFC 4287): feed id/title/updated/link, one entry per notice."""
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
        if text is not None:
            el.text = _clean(text)
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    sub(feed, "id", f"{BASE}feeds/{spec.key}")
    sub(feed, "title", spec.title)
    updated = [u for e in entries if (u := _datetime(e["modified"]) or _datetime(e["issued"]))]
    sub(feed, "updated", max(updated) if updated else generated)
    sub(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    sub(feed, "link", rel="alternate", href=BASE + "search", type="text/html")
    author = sub(feed, "author")
    sub(author, "name", "gongkai")
    sub(feed, "generator", "gongkai", uri=BASE)
    for e in entries:
        entry = sub(feed, "entry")
        sub(entry, "id", e["iri"])
        title = e["title"] or e["iri"]
        if e["withdrawn"]:
            title = "[已撤下 withdrawn] " + title
        elif e["changed"]:
            title = "[已修改 changed] " + title
        sub(entry, "title", title, type="text")
        sub(entry, "updated", _datetime(e["modified"]) or _datetime(e["issued"]) or generated)
        if _datetime(e["issued"]):
            sub(entry, "published", _datetime(e["issued"]))
        sub(entry, "link", rel="alternate", href=doc_url(e["iri"]), type="text/html")
        if e["page"] and e["page"].startswith(("http://", "https://")):
            sub(entry, "link", rel="via", href=e["page"], type="text/html")
        a = sub(entry, "author")
        sub(a, "name", e["publisher_name"] or e["publisher"] or "未知 unknown")
        if e["publisher"]:
            sub(a, "uri", e["publisher"])
        if e["withdrawn"]:
            sub(entry, "category", term="withdrawn", scheme=GK)
        elif e["changed"]:
            sub(entry, "category", term="changed", scheme=GK)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")


# -- HTTP --------------------------------------------------------------------------------------
class FeedCache:
    """Rendered feeds per (generation, feed key); the store of the newest generation kept open."""

    def __init__(self, data: DataDir, size: int = CACHE_SIZE) -> None:
        self.data = data
        self.size = size
        self._feeds: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
        self._store: tuple[Path, Any] | None = None
        self._lock = threading.Lock()

    def _generation(self) -> Path | None:
        from endpoint.store import current_generation

        return current_generation(self.data)

    def _open(self, gen: Path) -> Any:
        import pyoxigraph

        with self._lock:
            if self._store is None or self._store[0] != gen:
                self._store = (gen, pyoxigraph.Store.read_only(str(gen)))
            return self._store[1]

    def render(self, spec: FeedSpec, self_url: str) -> bytes | None:
        gen = self._generation()
        if gen is None:
            return None
        key = (str(gen), spec.key, self_url)
        with self._lock:
            if key in self._feeds:
                self._feeds.move_to_end(key)
                return self._feeds[key]
        from datetime import UTC, datetime

        store = self._open(gen)
        generated = datetime.now(UTC).replace(microsecond=0).isoformat()
        body = atom_feed(spec, query_entries(store, spec), self_url, generated)
        with self._lock:
            self._feeds[key] = body
            while len(self._feeds) > self.size:
                self._feeds.popitem(last=False)
        return body


def routes(data: DataDir) -> list[Any]:
    """The five feed routes; a parameter that fails its check is a 404 before any query."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    cache = FeedCache(data)

    def handler(make):
        async def endpoint(request):
            spec = make(**request.path_params)
            if spec is None:
                return PlainTextResponse("no such feed", status_code=404)
            body = await run_in_threadpool(cache.render, spec, str(request.url))
            if body is None:
                return PlainTextResponse("nothing published yet", status_code=503)
            return Response(body, media_type=ATOM_TYPE)

        return endpoint

    return [
        Route("/feeds/all.atom", handler(spec_all), methods=["GET", "HEAD"]),
        Route("/feeds/withdrawn.atom", handler(spec_withdrawn), methods=["GET", "HEAD"]),
        Route("/feeds/changed.atom", handler(spec_changed), methods=["GET", "HEAD"]),
        Route("/feeds/agency/{slug}.atom", handler(spec_agency), methods=["GET", "HEAD"]),
        Route("/feeds/division/{code}.atom", handler(spec_division), methods=["GET", "HEAD"]),
        Route("/feeds/area/{n}.atom", handler(spec_area), methods=["GET", "HEAD"]),
    ]
