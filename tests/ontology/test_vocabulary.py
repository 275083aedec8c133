"""The vocabulary, the 20 areas and the obligations, checked against the founding notice."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import rdflib.namespace as rns
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS, SKOS

from ontology.namespaces import BASE, DCTERMS, GK, VOCAB_IRI, category_iri

ONTOLOGY = Path(__file__).resolve().parents[2] / "ontology"
SEED_NAME = "000_aa3f85cc65dcbca9.txt"
NUMERALS = [
    "一",
    "二",
    "三",
    "四",
    "五",
    "六",
    "七",
    "八",
    "九",
    "十",
    "十一",
    "十二",
    "十三",
    "十四",
    "十五",
    "十六",
    "十七",
    "十八",
    "十九",
    "二十",
]


def _seed_path() -> Path | None:
    """The founding notice as published (kept beside the project in ../shared/seeds/)."""
    candidates = (
        [Path(os.environ["GONGKAI_SEEDS"]) / SEED_NAME] if "GONGKAI_SEEDS" in os.environ else []
    )
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "seeds" / SEED_NAME)
    return next((p for p in candidates if p.exists()), None)


@pytest.fixture(scope="module")
def seed() -> str:
    path = _seed_path()
    if path is None:
        pytest.skip("the founding notice's text (shared/seeds) is not available")
    return path.read_text(encoding="utf-8")


def _areas_of(text: str) -> dict[int, tuple[str, str]]:
    """Area n → (heading, body): the body runs to the line closing with 牵头负责）."""
    lines = text.split("\n")
    pattern = re.compile(r"^(" + "|".join(sorted(NUMERALS, key=len, reverse=True)) + r")、(.+)$")
    areas: dict[int, tuple[str, str]] = {}
    for i, line in enumerate(lines):
        m = pattern.match(line)
        if not m or NUMERALS.index(m.group(1)) + 1 in areas:
            continue
        body = []
        for following in lines[i + 1 :]:
            body.append(following)
            if following.rstrip().endswith("牵头负责）"):
                break
        areas[NUMERALS.index(m.group(1)) + 1] = (m.group(2), "\n".join(body))
    return areas


@pytest.fixture(scope="module")
def vocab() -> Graph:
    return Graph().parse(ONTOLOGY / "gongkai.ttl", format="turtle")


@pytest.fixture(scope="module")
def categories() -> Graph:
    return Graph().parse(ONTOLOGY / "categories.ttl", format="turtle")


@pytest.fixture(scope="module")
def obligations() -> Graph:
    return Graph().parse(ONTOLOGY / "obligations.ttl", format="turtle")


def _langs(g: Graph, s: URIRef, p: URIRef) -> set[str | None]:
    return {o.language for o in g.objects(s, p) if isinstance(o, Literal)}


def test_ontology_header(vocab: Graph) -> None:
    onto = URIRef(VOCAB_IRI)
    assert (onto, RDF.type, OWL.Ontology) in vocab
    for p in (DCTERMS.title, DCTERMS.description):
        assert {"zh", "en"} <= _langs(vocab, onto, p)
    for p in (OWL.versionInfo, DCTERMS.creator, DCTERMS.license):
        assert vocab.value(onto, p) is not None, p


def test_every_gk_term_is_defined_in_both_languages(vocab: Graph) -> None:
    python_terms = {URIRef(str(GK[name])) for name in GK.__annotations__}
    defined = {
        s for s in vocab.subjects(RDFS.isDefinedBy, URIRef(VOCAB_IRI)) if isinstance(s, URIRef)
    }
    assert python_terms <= defined, sorted(python_terms - defined)
    in_ns = {s for s in vocab.subjects() if isinstance(s, URIRef) and str(s).startswith(str(GK))}
    assert in_ns <= python_terms, (
        f"in gongkai.ttl but not in namespaces.GK: {sorted(in_ns - python_terms)}"
    )
    for term in python_terms:
        assert {"zh", "en"} <= _langs(vocab, term, RDFS.label), term
        definitions = _langs(vocab, term, SKOS.definition) | _langs(vocab, term, RDFS.comment)
        assert {"zh", "en"} <= definitions, term


def test_classes_and_properties_link_to_reused_vocabularies(vocab: Graph) -> None:
    expected = {
        GK.Notice: RDFS.subClassOf,
        GK.HarvestRun: RDFS.subClassOf,
        GK.Division: RDFS.subClassOf,
        GK.area: RDFS.subPropertyOf,
        GK.sourcePage: RDFS.subPropertyOf,
        GK.indexNumber: RDFS.subPropertyOf,
        GK.previousVersion: RDFS.subPropertyOf,
    }
    for term, link in expected.items():
        supers = set(vocab.objects(URIRef(str(term)), link))
        assert supers and all(not str(s).startswith(str(GK)) for s in supers), term


def test_twenty_concepts(categories: Graph) -> None:
    scheme = URIRef(BASE + "def/category")
    assert (scheme, RDF.type, SKOS.ConceptScheme) in categories
    concepts = set(categories.subjects(SKOS.inScheme, scheme))
    assert concepts == {URIRef(category_iri(n)) for n in range(1, 21)}
    for n in range(1, 21):
        c = URIRef(category_iri(n))
        assert (c, RDF.type, SKOS.Concept) in categories
        assert (c, SKOS.topConceptOf, scheme) in categories
        assert categories.value(c, SKOS.notation) == Literal(n)
        assert categories.value(c, SKOS.notation).datatype == rns.XSD.integer
        assert {"zh", "en"} <= _langs(categories, c, SKOS.prefLabel)
        assert len(list(categories.objects(c, SKOS.prefLabel))) == 2
        assert list(categories.objects(c, GK.leadAgency)), c


def test_labels_and_scope_notes_are_the_notice_text(categories: Graph, seed: str) -> None:
    areas = _areas_of(seed)
    assert sorted(areas) == list(range(1, 21))
    for n, (heading, body) in areas.items():
        c = URIRef(category_iri(n))
        zh = {str(o) for o in categories.objects(c, SKOS.prefLabel) if o.language == "zh"}
        assert zh == {heading.removeprefix("切实做好").replace(" ", "")}, n
        notes = [o for o in categories.objects(c, SKOS.scopeNote)]
        assert len(notes) == 1 and notes[0].language == "zh"
        assert str(notes[0]) == body, n


def test_lead_agencies_as_named_in_the_notice(categories: Graph) -> None:
    def leads(n: int) -> set[str]:
        return {
            str(o).rsplit("/", 1)[-1]
            for o in categories.objects(URIRef(category_iri(n)), GK.leadAgency)
        }

    assert leads(1) == {"bb", "fzb"}
    assert leads(2) == {str(GK.PenaltyAuthorities).rsplit("/", 1)[-1]}
    assert leads(14) == {"hbj"}
    assert leads(18) == {"szf", "xwb"}


def test_founding_notice_is_described(categories: Graph) -> None:
    law = URIRef(BASE + "id/notice-law/yfbf-2014-87")
    assert categories.value(law, DCTERMS.identifier) == Literal("渝府办发〔2014〕87号")
    assert categories.value(law, DCTERMS.issued) == Literal("2014-08-15", datatype=rns.XSD.date)
    for n in range(1, 21):
        assert (URIRef(category_iri(n)), DCTERMS.source, law) in categories


def test_obligations_query_covers_all_areas(obligations: Graph) -> None:
    query = (ONTOLOGY / "queries" / "obligations.rq").read_text(encoding="utf-8")
    rows = list(obligations.query(query))
    assert {str(r.area) for r in rows} == {category_iri(n) for n in range(1, 21)}
    periods = {GK.Continuous, GK.RealTime, GK.Periodic, GK.Yearly, GK.HalfYearly}
    assert {r.period for r in rows} <= {URIRef(str(p)) for p in periods}


def test_every_obligation_is_complete(obligations: Graph, vocab: Graph) -> None:
    rules = set(vocab.subjects(RDF.type, URIRef(str(GK.Rule))))
    for o in obligations.subjects(RDF.type, URIRef(str(GK.Obligation))):
        for p in (GK.everyDivision, GK.everyDepartment):
            assert obligations.value(o, URIRef(str(p))) in (Literal(True), Literal(False)), (o, p)
        assert obligations.value(o, DCTERMS.description) is not None, o
        assert _langs(obligations, o, RDFS.comment) == {"en"}, o
        assert list(obligations.objects(o, URIRef(str(GK.basis)))), o
        for rule in obligations.objects(o, URIRef(str(GK.rule))):
            assert rule in rules, rule


def test_everyone_areas(obligations: Graph) -> None:
    """Divisions are obliged where the notice says 各区县 (or 各级) must disclose."""
    obliged = {
        int(str(obligations.value(o, URIRef(str(GK.obligedArea)))).rsplit("/", 1)[-1])
        for o in obligations.subjects(URIRef(str(GK.everyDivision)), Literal(True))
    }
    assert obliged == {1, 3, 5, 9, 10, 19, 20}


def test_hard_rules_are_attached(obligations: Graph) -> None:
    by_area: dict[int, set[URIRef]] = {}
    for o in obligations.subjects(RDF.type, URIRef(str(GK.Obligation))):
        area = int(str(obligations.value(o, URIRef(str(GK.obligedArea)))).rsplit("/", 1)[-1])
        by_area.setdefault(area, set()).update(obligations.objects(o, URIRef(str(GK.rule))))
    expected = {
        1: {GK.ApprovalItemFields},
        2: {GK.PenaltyCaseFields},
        3: {GK.BudgetInFirstHalf, GK.FinalAccountsInSecondHalf},
        9: {GK.BidPublicityThreeDays},
        13: {GK.MinimumWagePeriodically},
        14: {GK.AirQualityRealTime},
    }
    for area, rules in expected.items():
        assert {URIRef(str(r)) for r in rules} <= by_area[area], area


def test_rule_fields(vocab: Graph) -> None:
    def fields(rule: object) -> set[str]:
        return {str(o) for o in vocab.objects(URIRef(str(rule)), GK.requiredField)}

    assert fields(GK.PenaltyCaseFields) == {
        "案件名称",
        "被处罚者姓名或单位名称",
        "主要违法事实",
        "处罚种类",
        "依据",
        "结果",
    }
    assert fields(GK.ApprovalItemFields) == {
        "项目名称",
        "设立依据",
        "实施机构",
        "审批类别",
        "审批流程",
        "申请材料",
        "审批时限",
        "收费标准",
    }


def test_basis_texts_are_verbatim(vocab: Graph, obligations: Graph, seed: str) -> None:
    texts = [str(t) for g in (vocab, obligations) for t in g.objects(None, GK.basisText)]
    assert len(texts) > 40
    for text in texts:
        assert text in seed, text


def test_shapes_area_list_matches_the_scheme(categories: Graph) -> None:
    shapes = Graph().parse(ONTOLOGY.parent / "shapes" / "core.ttl", format="turtle")
    listed = set(shapes.items(URIRef(BASE + "def/shapes#Areas")))
    assert listed == set(categories.subjects(RDF.type, SKOS.Concept))


def test_vocabulary_page(tmp_path: Path) -> None:
    pytest.importorskip("pylode")
    from ontology.docs import build_vocabulary_html

    page = build_vocabulary_html(tmp_path / "gongkai.html")
    html = page.read_text(encoding="utf-8")
    assert "政府信息公开公告" in html and "penalisedParty" in html
