"""The reference data: divisions, agencies and the 2018 succession, as generated Turtle."""

from __future__ import annotations

import re
from pathlib import Path

import pyoxigraph as ox
import pytest
import rdflib
from rdflib import Literal, URIRef

from harvesters.registry import load_sources
from ontology.namespaces import DCTERMS, GK, ORG, PROV, RDF, RDFS, SKOS
from ontology.reference import build_reference
from ontology.resolve import REFERENCE_DIR, PublisherResolver

BASE = "https://gongkai.example.org/"
FILES = ("divisions.ttl", "agencies.ttl", "succession.ttl")
GKNS = BASE + "def/gongkai#"  # the files are written against the default base
DIVISION_CODES = [
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
QUERY = Path(REFERENCE_DIR.parent / "queries" / "successor_on_date.rq")


def agency(slug: str) -> URIRef:
    return URIRef(f"{BASE}id/agency/{slug}")


def division(code: str) -> URIRef:
    return URIRef(f"{BASE}id/division/{code}")


@pytest.fixture(scope="module")
def graph() -> rdflib.Graph:
    g = rdflib.Graph()
    for name in FILES:
        g.parse(REFERENCE_DIR / name, format="turtle")
    return g


@pytest.fixture(scope="module")
def sources():
    return load_sources()


@pytest.mark.parametrize("name", FILES)
def test_turtle_file_parses(name):
    assert len(rdflib.Graph().parse(REFERENCE_DIR / name, format="turtle")) > 100


@pytest.mark.parametrize("name", FILES)
def test_generated_file_is_up_to_date(name, tmp_path):
    build_reference.build_all(tmp_path)
    assert (tmp_path / name).read_text(encoding="utf-8") == (REFERENCE_DIR / name).read_text(
        encoding="utf-8"
    ), "run `python -m ontology.reference.build_reference` and commit the output"


def test_every_source_has_its_own_agency(graph, sources):
    agencies = {s.agency for s in sources}
    assert len(agencies) == len(sources) == 85
    missing = [a for a in agencies if (agency(a), RDF.type, ORG.Organization) not in graph]
    assert missing == []


def test_all_38_divisions_have_their_code(graph):
    for code in DIVISION_CODES:
        assert (division(code), RDF.type, URIRef(GKNS + "Division")) in graph
        assert (division(code), SKOS.notation, Literal(code)) in graph
        assert (division(code), ORG.subOrganizationOf, division("500000")) in graph


def test_division_has_zh_and_en_labels(graph):
    labels = set(graph.objects(division("500103"), SKOS.prefLabel))
    assert labels == {Literal("渝中区", lang="zh"), Literal("Yuzhong District", lang="en")}


def test_autonomous_county_is_classified(graph):
    kind = URIRef(f"{BASE}def/division-kind/autonomous_county")
    assert (division("500240"), ORG.classification, kind) in graph


@pytest.mark.parametrize("slug", ["liangjiang", "gaoxin", "wansheng", "jingkai"])
def test_special_area_is_a_division_without_code(graph, slug):
    assert (division(slug), RDF.type, URIRef(GKNS + "Division")) in graph
    assert graph.value(division(slug), SKOS.notation) is None
    assert (agency(slug), URIRef(GKNS + "division"), division(slug)) in graph


def test_bishan_change_is_dated_by_state_council_approval(graph):
    event = graph.value(division("500120"), ORG.resultedFrom)
    assert graph.value(event, ORG.originalOrganization) == division("500227")
    assert graph.value(event, DCTERMS.date) == Literal("2014-05-02", datatype=rdflib.XSD.date)


def test_old_kai_county_code_is_marked_unverified(graph):
    assert (division("500234"), RDFS.comment, Literal("unverified", lang="en")) in graph
    assert graph.value(division("500234"), PROV.invalidatedAtTime) == Literal(
        "2016", datatype=rdflib.XSD.gYear
    )


def test_verified_old_code_has_no_unverified_mark(graph):
    assert graph.value(division("500227"), RDFS.comment) is None


def test_department_is_a_formal_suborganisation_of_the_government(graph):
    assert (agency("fzggw"), RDF.type, ORG.FormalOrganization) in graph
    assert (agency("fzggw"), ORG.subOrganizationOf, agency("szf")) in graph
    assert (agency("fzggw"), URIRef(GKNS + "division"), division("500000")) in graph


def test_department_abbreviation(graph):
    assert graph.value(agency("fzggw"), URIRef(GKNS + "abbreviation")) == Literal(
        "市发展改革委", lang="zh"
    )


def test_district_department_belongs_to_the_district_government(graph):
    assert (agency("yubei-scjgj"), ORG.subOrganizationOf, agency("yubei")) in graph
    assert graph.value(agency("yubei-scjgj"), SKOS.prefLabel) in {
        Literal("重庆市渝北区市场监督管理局", lang="zh"),
        Literal("Yubei District Administration for Market Regulation", lang="en"),
    }


def test_relative_form_is_not_a_label(graph):
    labels = {str(o) for o in graph.objects(agency("yubei-scjgj"), SKOS.altLabel)}
    assert "渝北区市场监管局" in labels
    assert "区市场监管局" not in labels


def test_every_district_has_its_common_departments(graph, sources):
    districts = [s.agency for s in sources if s.kind != "department"]
    assert len(districts) == 42
    for d in districts:
        for dept in ("fzggw", "czj", "scjgj", "gaj", "whlyw"):
            assert (agency(f"{d}-{dept}"), ORG.subOrganizationOf, agency(d)) in graph


def test_every_registry_agency_resolves_by_its_preferred_label(graph, sources):
    resolver = PublisherResolver.load()
    for s in sources:
        zh = next(o for o in graph.objects(agency(s.agency), SKOS.prefLabel) if o.language == "zh")
        assert resolver.resolve(str(zh)) == str(agency(s.agency)), s.id


@pytest.mark.parametrize(
    "predecessor", ["hbj", "gtfgj", "cxjw", "ajj", "spypjgj", "wsjsw", "kw", "fzb", "bb", "xwb"]
)
def test_predecessor_has_a_change_event_and_an_end(graph, predecessor):
    event = graph.value(agency(predecessor), ORG.changedBy)
    assert (event, RDF.type, ORG.ChangeEvent) in graph
    assert graph.value(event, DCTERMS.date) is not None
    assert graph.value(agency(predecessor), PROV.invalidatedAtTime) is not None
    assert any(str(c).startswith("confidence: ") for c in graph.objects(event, RDFS.comment))


def test_land_and_housing_split_names_the_areas_of_each_successor(graph):
    event = URIRef(f"{BASE}id/succession/gtfgj")
    areas = {
        str(graph.value(part, ORG.resultingOrganization)).rsplit("/", 1)[-1]: sorted(
            int(str(a).rsplit("/", 1)[-1]) for a in graph.objects(part, URIRef(GKNS + "area"))
        )
        for part in graph.objects(event, DCTERMS.hasPart)
    }
    assert areas == {"ghzrzyj": [5], "zfcxjw": [6, 7]}


def test_environment_bureau_change_is_dated_2018_10_01(graph):
    event = URIRef(f"{BASE}id/succession/hbj")
    assert graph.value(event, DCTERMS.date) == Literal("2018-10-01", datatype=rdflib.XSD.date)
    assert (event, RDFS.comment, Literal("confidence: verified", lang="en")) in graph


def test_gk_terms_used_exist_in_the_vocabulary_module(graph):
    used = {str(p) for p in graph.predicates() if str(p).startswith(GKNS)}
    used |= {str(o) for o in graph.objects() if str(o).startswith(GKNS)}
    unknown = [u for u in used if not hasattr(GK, u[len(GKNS) :])]
    assert used
    assert unknown == []


# --- the successor query ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def store() -> ox.Store:
    st = ox.Store()
    for name in FILES:
        st.load(path=REFERENCE_DIR / name, format=ox.RdfFormat.TURTLE)
    return st


def successors(store: ox.Store, predecessor: str, date: str) -> list[tuple[str, str | None]]:
    query = re.sub(
        r"\(<[^>]+> \"[^\"]+\"\^\^xsd:date\)",
        f'(<{agency(predecessor)}> "{date}"^^xsd:date)',
        QUERY.read_text(encoding="utf-8"),
    )
    return [
        (row["label"].value, row["area"].value.rsplit("/", 1)[-1] if row["area"] else None)
        for row in store.query(query)
    ]


def test_environment_obligation_is_carried_by_the_ecology_bureau_in_2020(store):
    assert successors(store, "hbj", "2020-01-01") == [("重庆市生态环境局", "14")]


def test_environment_obligation_was_carried_by_the_environment_bureau_in_2015(store):
    assert successors(store, "hbj", "2015-01-01") == [("重庆市环境保护局", None)]


def test_land_obligations_are_split_in_2019(store):
    assert sorted(successors(store, "gtfgj", "2019-01-01")) == [
        ("重庆市住房和城乡建设委员会", "6"),
        ("重庆市住房和城乡建设委员会", "7"),
        ("重庆市规划和自然资源局", "5"),
    ]


def test_unchanged_agency_carries_its_own_obligation(store):
    assert successors(store, "czj", "2020-01-01") == [("重庆市财政局", None)]
