"""Deterministic notices for the sandbox portals.

A notice is a pure function of `(seed, source, n)` and the portal size, so a portal of any size
is served without holding it in memory, and the ground truth can be written line by line.
Notice `n = 0` is the oldest; list pages show the newest first, as real portals do.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from harvesters.registry import Source
from harvesters.sandbox.annual_report import report_tables
from harvesters.sandbox.attachments import KINDS as ATTACHMENT_KINDS
from harvesters.sandbox.attachments import kind_of as attachment_kind

CORPUS = Path(__file__).with_name("corpus.yml")
FIRST_DAY = date(2014, 9, 1)
LAST_DAY = date(2026, 10, 31)
PAGE_SIZE = 20
# Share of notices a faithful pipeline must quarantine: the page prints no title anywhere.
UNTITLED_EVERY = 53


@cache
def corpus() -> dict[str, Any]:
    return yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


@cache
def _area_weights() -> tuple[list[int], list[int]]:
    areas = sorted(int(a) for a in corpus()["areas"])
    # "none" is the most common kind of notice on a real portal.
    weights = [30 if a == 0 else 4 for a in areas]
    return areas, weights


def org_code(source_id: str) -> str:
    """An 18-character unified social credit code, stable per source (sandbox only)."""
    digest = hashlib.sha256(source_id.encode()).hexdigest().upper()
    body = "".join(c for c in digest if c.isalnum())[:11]
    return f"115000{body}X"


def doc_base(source_id: str) -> int:
    """First document id of a source: ids never collide between sources, as on TRS sites."""
    return 1_000_000 + int(hashlib.sha256(source_id.encode()).hexdigest()[:6], 16) * 1000


@dataclass(frozen=True)
class Notice:
    source: str
    n: int
    doc_id: int
    title: str | None
    index_no: str
    doc_no: str | None
    publisher: str
    written: date
    published: date
    topic: str
    genre: str
    validity: str | None
    keywords: list[str]
    body: str
    attachments: list[str] = field(default_factory=list)
    area: int = 0
    #: Generated HTML after the body's paragraphs (the tables of an annual report), trusted.
    tables: str = ""

    @property
    def month_dir(self) -> str:
        return self.published.strftime("%Y%m")

    @property
    def filename(self) -> str:
        return f"t{self.published:%Y%m%d}_{self.doc_id}.html"

    @property
    def expect(self) -> str:
        """What a faithful pipeline ends with for this notice."""
        return "quarantined" if self.title is None else "published"


@cache
def _publisher_names(source: Source) -> tuple[str, ...]:
    """Names a portal prints for its owner: the labels the reference data knows for it."""
    try:
        from ontology.namespaces import agency_iri
        from ontology.resolve import printed_names

        names = tuple(printed_names(agency_iri(source.agency)))
    except (ImportError, FileNotFoundError, KeyError):
        names = ()
    return names or (source.name,)


def template_values(rng: random.Random, org: str, year: int) -> dict[str, Any]:
    """Values for a corpus title template (the order of draws is part of the determinism)."""
    data = corpus()
    return {
        "org": org,
        "year": year,
        "n": rng.randint(1, 30),
        "q": rng.randint(1, 4),
        "place": rng.choice(data["places"]),
        "company": rng.choice(data["companies"]),
        "project": rng.choice(data["projects"]),
        "num": f"{org[:2]}罚〔{year}〕{rng.randint(1, 300)}号",
    }


def published_on(n: int, per_source: int) -> date:
    span = (LAST_DAY - FIRST_DAY).days
    return FIRST_DAY + timedelta(days=(n * span) // max(per_source, 1))


def is_report_slot(n: int, per_source: int) -> bool:
    """Whether notice `n` is its source's annual report: the first notice of a year, if that
    falls in January to March (reports are due by the end of January)."""
    day = published_on(n, per_source)
    return day.month <= 3 and (n == 0 or published_on(n - 1, per_source).year < day.year)


def make_notice(seed: int, source: Source, n: int, per_source: int, scenario: Any = None) -> Notice:
    """Notice `n` of a source; a `scenario` (sandbox/scenarios.py) may then reshape it."""
    notice = _make_notice(seed, source, n, per_source)
    return scenario.apply(notice) if scenario is not None else notice


def _make_notice(seed: int, source: Source, n: int, per_source: int) -> Notice:
    rng = random.Random(f"{seed}:{source.id}:{n}")
    data = corpus()
    areas, weights = _area_weights()
    area = rng.choices(areas, weights)[0]
    spec = data["areas"][area] if area in data["areas"] else data["areas"][str(area)]
    published = published_on(n, per_source)
    written = published - timedelta(days=rng.randint(0, 12))
    org = (source.short_name or source.name).split("/")[0]
    year = published.year
    values = template_values(rng, org, year)
    title = rng.choice(spec["titles"]).format(**values)
    report = is_report_slot(n, per_source)
    if report:  # one 政府信息公开工作年度报告 a year, for the year before (area 19)
        area, title = 19, f"{org}{year - 1}年政府信息公开工作年度报告"
        spec = data["areas"][19] if 19 in data["areas"] else data["areas"]["19"]
    if n % UNTITLED_EVERY == UNTITLED_EVERY - 1:
        title = None
    serial = n + 1
    doc_id = doc_base(source.id) + n
    has_doc_no = rng.random() < 0.6
    doc_no = f"{org[:2]}府发〔{year}〕{rng.randint(1, 200)}号" if has_doc_no else None
    attachments = []
    if rng.random() < 0.3:  # its kind (PDF, scan, DOCX, XLSX, PNG) fixed by the document id
        ext = ATTACHMENT_KINDS[attachment_kind(doc_id)][0]
        attachments.append(f"P0{published:%Y%m%d}{doc_id % 100000:05d}.{ext}")
    body = (
        f"{title or '（无标题）'}\n"
        f"根据《中华人民共和国政府信息公开条例》规定，现将有关事项公开如下。\n"
        f"{org}将认真落实{year}年政务公开工作要点，接受社会监督。"
    )
    return Notice(
        source=source.id,
        n=n,
        doc_id=doc_id,
        title=title,
        index_no=f"{org_code(source.id)}/{year}-{serial:05d}",
        doc_no=doc_no,
        publisher=rng.choice(_publisher_names(source)),
        written=written,
        published=published,
        topic=spec["topic"],
        genre=spec.get("genre") or rng.choice(data["genres"]),
        validity=rng.choice(data["validity"]) or None,
        keywords=rng.sample(data["keywords"], 2),
        body=body,
        attachments=attachments,
        area=area,
        tables=report_tables(seed, source.id, year - 1) if report and title else "",
    )


def _page_fields(notice: Notice, url: str) -> dict[str, Any]:
    """What a notice's page shows: the fields a faithful harvester must read."""
    return {
        "url": url,
        "source": notice.source,
        "title": notice.title,
        "index_no": notice.index_no,
        "doc_no": notice.doc_no,
        "publisher": notice.publisher,
        "written": notice.written.isoformat(),
        "published": notice.published.isoformat(),
        "topic": notice.topic,
        "genre": notice.genre,
        "validity": notice.validity,
        "keywords": notice.keywords,
    }


def truth_record(notice: Notice, url: str) -> dict[str, Any]:
    """One line of truth.jsonl: the URL and the fields a faithful harvester must read."""
    fields = _page_fields(notice, url)
    head = {"url": fields.pop("url"), "source": fields.pop("source"), "doc_id": str(notice.doc_id)}
    return head | fields | {"area": notice.area, "expect": notice.expect}


def harvested_item(notice: Notice, url: str, fetched_at: str) -> dict[str, Any]:
    """The item a faithful harvester reads from the notice's page (benchmarks skip the crawl)."""
    from gongkai.items import normalise_item

    fields = _page_fields(notice, url) | {"body_text": notice.body, "fetched_at": fetched_at}
    return normalise_item(fields)


def notices(seed: int, source: Source, per_source: int) -> Iterator[Notice]:
    for n in range(per_source):
        yield make_notice(seed, source, n, per_source)
