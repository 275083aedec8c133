"""The source registry: one YAML file per portal of portals.csv."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlsplit

import pyoxigraph as ox
import pytest

from harvesters.registry import CONFIDENCE, FAMILIES, KINDS, SOURCES_DIR, load_sources
from ontology.resolve import REFERENCE_DIR, PublisherResolver

DIVISION_CODES = set(
    [
        "500101",
        "500102",
        "500103",
        "500104",
        "500105",
        "500106",
        "500107",
        "500108",
        "500109",
        "500110",
        "500111",
        "500112",
        "500113",
        "500114",
        "500115",
        "500116",
        "500117",
        "500118",
        "500119",
        "500120",
        "500151",
        "500152",
        "500153",
        "500154",
        "500155",
        "500156",
        "500229",
        "500230",
        "500231",
        "500233",
        "500235",
        "500236",
        "500237",
        "500238",
        "500240",
        "500241",
        "500242",
        "500243",
    ]
)
# The lead agencies in brackets at the end of the founding notice's 20 areas (渝府办发〔2014〕87号).
NOTICE_LEADS = [
    "市编办",
    "市政府法制办",
    "市财政局",
    "市审计局",
    "市国土房管局",
    "市城乡建委",
    "市教委",
    "市科委",
    "市卫生计生委",
    "市人力社保局",
    "市环保局",
    "市安监局",
    "市国资委",
    "市食品药品监管局",
    "市政府办公厅",
    "市政府新闻办",
]
# 市政府新闻办 became a name of 市委宣传部, a Party body without a disclosure portal; its area
# (18) is co-led by 市政府办公厅, which has one.
NO_PORTAL = {"xwb": {"swxcb"}}


@pytest.fixture(scope="module")
def sources():
    return load_sources()


def test_all_85_sources_load(sources):
    assert len(sources) == 85


def test_ids_are_unique_and_match_file_names(sources):
    assert len({s.id for s in sources}) == 85
    assert sorted(p.stem for p in SOURCES_DIR.glob("*.yml")) == [s.id for s in sources]


def test_kinds_families_and_confidence_are_known(sources):
    assert {s.kind for s in sources} <= KINDS
    assert {s.family for s in sources} <= FAMILIES
    assert {s.confidence for s in sources} <= CONFIDENCE


def test_every_family_is_represented(sources):
    assert Counter(s.family for s in sources) == {
        "trs": 77,
        "trs2017": 4,
        "hanweb": 3,
        "generic": 1,
    }


def test_all_38_districts_and_counties_with_their_codes(sources):
    divisions = [s for s in sources if s.kind in ("district", "county", "autonomous_county")]
    assert {s.division for s in divisions} == DIVISION_CODES
    assert len(divisions) == 38


def test_county_kinds(sources):
    kinds = Counter(s.kind for s in sources)
    assert (kinds["district"], kinds["county"], kinds["autonomous_county"]) == (26, 8, 4)


def test_four_special_areas_without_code(sources):
    special = {s.id: s.division for s in sources if s.kind == "special_area"}
    assert special == {"liangjiang": None, "gaoxin": None, "wansheng": None, "jingkai": None}


def test_at_least_40_departments(sources):
    assert sum(s.kind == "department" for s in sources) >= 40


def test_district_source_is_its_own_agency(sources):
    yuzhong = next(s for s in sources if s.id == "yuzhong")
    assert (yuzhong.agency, yuzhong.division) == ("yuzhong", "500103")


def test_start_urls_stay_inside_the_domains(sources):
    for s in sources:
        assert all(urlsplit(u).hostname in s.domains for u in s.start_urls), s.id


def test_www_domains_also_list_the_bare_domain(sources):
    for s in sources:
        for d in s.domains:
            if d.startswith("www."):
                assert d[4:] in s.domains, s.id


def test_expected_volume_is_set(sources):
    assert {s.expected for s in sources} == {(1, 200000)}


@pytest.fixture(scope="module")
def successors_of():
    store = ox.Store()
    store.load(path=REFERENCE_DIR / "succession.ttl", format=ox.RdfFormat.TURTLE)
    rows = store.query(
        "SELECT ?old ?new WHERE { ?e <http://www.w3.org/ns/org#originalOrganization> ?old ;"
        " <http://www.w3.org/ns/org#resultingOrganization> ?new }"
    )
    out: dict[str, set[str]] = {}
    for row in rows:
        out.setdefault(row["old"].value.rsplit("/", 1)[-1], set()).add(
            row["new"].value.rsplit("/", 1)[-1]
        )
    return out


@pytest.mark.parametrize("lead", NOTICE_LEADS)
def test_every_lead_agency_of_the_notice_or_its_successor_has_a_source(
    lead, sources, successors_of
):
    iri = PublisherResolver.load().resolve(lead)
    assert iri, lead
    slug = iri.rsplit("/", 1)[-1]
    if slug in NO_PORTAL:
        assert successors_of[slug] == NO_PORTAL[slug]
        return
    carriers = {slug} | successors_of.get(slug, set())
    assert carriers & {s.agency for s in sources}, (lead, carriers)
