"""Item → a small RDF graph per notice, written as N-Triples.

What each field becomes is documented in docs/model.md. The mapping records what it saw and
what it could not resolve (`problems`); it never invents a value the page did not print.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from harvesters.registry import Source
from ontology.namespaces import (
    DCAT,
    DCTERMS,
    FOAF,
    GK,
    PROV,
    RDF,
    category_iri,
    notice_iri,
    run_iri,
    source_iri,
)
from ontology.ntriples import XSD, NotAnIRI, iri, literal, triple

# Areas whose notices carry structured facts the founding notice names (ontology/facts.py).
FACT_AREAS = frozenset({2, 3, 8, 9})
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KEY_UNSAFE_RE = re.compile(r"[^A-Za-z0-9._~-]+")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})$")
#: Characters of an attachment's text written into the graph (gk:attachmentText).
ATTACHMENT_TEXT_CHARS = 20_000
_DOC_ID_RE = re.compile(r"t\d{8}_(\d+)(?:_[a-z]+)?\.html?$")


def notice_key(item: dict[str, Any]) -> str:
    """Path-safe key: from 索引号 (`/` → `_`), else the portal's document id, else a URL hash."""
    index_no = (item.get("index_no") or "").strip()
    if index_no:
        key = _KEY_UNSAFE_RE.sub("_", index_no.replace("/", "_")).strip("_")
        if key and not index_no.isascii():
            # Non-ASCII index numbers exist (mangled pages); keep keys unique and readable.
            key = f"{key}-{hashlib.sha1(index_no.encode()).hexdigest()[:8]}"
        if key:
            return key
    if m := _DOC_ID_RE.search(item.get("url") or ""):
        return f"doc-{m.group(1)}"
    return "url-" + hashlib.sha1((item.get("url") or "").encode()).hexdigest()[:16]


@dataclass
class MappedNotice:
    iri: str
    key: str
    ntriples: str
    problems: list[str] = field(default_factory=list)


def _date(value: Any) -> str | None:
    """A calendar date as xsd:date wants it; "2020-02-30" has the shape but is no date (an
    ill-typed literal would reach the date comparisons of the shapes and fail the batch)."""
    if not (isinstance(value, str) and _DATE_RE.match(value)):
        return None
    try:
        date.fromisoformat(value)
    except ValueError:
        return None
    return value


def item_to_ntriples(
    item: dict[str, Any],
    run_id: str,
    resolver: Any,
    source: Source,
    *,
    key: str | None = None,
    classify: Any = None,
) -> MappedNotice:
    """Map one harvested item; `resolver` turns the printed publisher into an agency IRI."""
    key = key or notice_key(item)
    subject_iri = notice_iri(source.id, key)
    s = iri(subject_iri)
    out: list[str] = []
    problems: list[str] = []

    def add(p, o: str) -> None:
        out.append(triple(s, iri(str(p)), o))

    def text(p, value: Any) -> None:
        if isinstance(value, str) and value.strip():
            add(p, literal(value.strip(), lang="zh"))

    add(RDF.type, iri(str(GK.Notice)))
    text(DCTERMS.title, item.get("title"))
    if item.get("index_no"):
        add(GK.indexNumber, literal(item["index_no"]))
        add(DCTERMS.identifier, literal(item["index_no"]))
    if item.get("doc_no"):
        add(GK.documentNumber, literal(item["doc_no"]))
    printed = (item.get("publisher") or "").strip()
    if printed:
        add(GK.publisherName, literal(printed, lang="zh"))
        agency = resolver.resolve(printed, source) if resolver is not None else None
        if agency:
            add(DCTERMS.publisher, iri(agency))
        else:
            problems.append(f"publisher not resolved: {printed}")
    else:
        # No publisher printed: the portal's owner published it on its own disclosure column.
        from ontology.namespaces import agency_iri

        add(DCTERMS.publisher, iri(agency_iri(source.agency)))
    for field_name, prop in (("written", DCTERMS.created), ("published", DCTERMS.issued)):
        value = item.get(field_name)
        if value:
            if _date(value):
                add(prop, literal(value, datatype=XSD + "date"))
            else:
                problems.append(f"{field_name} is not a date: {value}")
    text(GK.topic, item.get("topic"))
    text(GK.genre, item.get("genre"))
    text(GK.validity, item.get("validity"))
    for keyword in item.get("keywords") or []:
        text(DCAT.keyword, keyword)

    def link(what: str, url: str) -> str | None:
        """A harvested link as an IRI, or None (and a problem) when it cannot be one."""
        try:
            return iri(url)
        except NotAnIRI as exc:
            problems.append(f"{what} is not an IRI: {exc}")
            return None

    if item.get("url") and (page := link("page URL", item["url"])):
        add(GK.sourcePage, page)
        add(FOAF.page, page)
    texts = item.get("attachment_texts") or {}
    tail: list[str] = []  # triples of other subjects, after the notice's (kept contiguous)
    for attachment in item.get("attachments") or []:
        if not (a := link("attachment link", attachment)):
            continue
        add(GK.attachment, a)
        text_of = texts.get(attachment)
        if isinstance(text_of, str) and text_of.strip():
            # What the file says (harvesters/attachments.py), bounded; the search index has it all.
            value = text_of.strip()[:ATTACHMENT_TEXT_CHARS]
            tail.append(triple(a, iri(str(GK.attachmentText)), literal(value, lang="zh")))
    if item.get("sha256"):
        add(GK.sha256, literal(item["sha256"]))
    if item.get("withdrawn"):
        # Gone from the portal: kept, marked, with the day it was found missing (UTC+8).
        add(GK.withdrawn, literal("true", datatype=XSD + "boolean"))
        if _date(item["withdrawn"]):
            day = f"{item['withdrawn']}T00:00:00+08:00"
            add(PROV.invalidatedAtTime, literal(day, datatype=XSD + "dateTime"))
    version = item.get("version")
    if isinstance(version, int) and version > 1 and item.get("previous_sha256"):
        # Edited since first seen: the previous version is a node of its own with its hash.
        previous = iri(f"{subject_iri}#v{version - 1}")
        add(GK.previousVersion, previous)
        out.append(triple(previous, iri(str(RDF.type)), iri(str(GK.NoticeVersion))))
        out.append(triple(previous, iri(str(GK.sha256)), literal(item["previous_sha256"])))
        if isinstance(item.get("modified"), str) and _DATETIME_RE.match(item["modified"]):
            # When the harvest saw this version first (the run that fetched it): feeds sort on it.
            add(DCTERMS.modified, literal(item["modified"], datatype=XSD + "dateTime"))
    add(GK.source, iri(source_iri(source.id)))
    add(PROV.wasGeneratedBy, iri(run_iri(run_id)))
    if item.get("fetched_at"):
        add(PROV.generatedAtTime, literal(item["fetched_at"], datatype=XSD + "dateTime"))

    matches = classify(item) if classify is not None else []
    areas = sorted({m.area for m in matches} | set(item.get("categories") or []))
    for area in areas:
        add(GK.area, iri(category_iri(area)))
    for m in matches:
        c = iri(f"{subject_iri}#area-{m.area}")
        add(GK.classification, c)
        out.append(triple(c, iri(str(RDF.type)), iri(str(GK.Classification))))
        out.append(triple(c, iri(str(GK.area)), iri(category_iri(m.area))))
        out.append(triple(c, iri(str(GK.matchedRule)), literal(m.rule)))
        out.append(triple(c, iri(str(GK.matchedText)), literal(m.matched, lang="zh")))
    if areas and FACT_AREAS.intersection(areas):
        from ontology.facts import extract_facts, facts_ntriples

        facts = extract_facts(item)
        if facts.get("kind"):
            out.append(facts_ntriples(subject_iri, facts))
    out.extend(tail)
    return MappedNotice(subject_iri, key, "".join(out), problems)
