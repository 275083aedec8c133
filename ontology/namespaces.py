"""Every IRI we mint or reuse, in one module: a misspelt term is an AttributeError, not a bad IRI."""

from __future__ import annotations

from rdflib import Namespace
from rdflib.namespace import (
    DCAT,
    DCTERMS,
    FOAF,
    OWL,
    PROV,
    RDF,
    RDFS,
    SH,
    SKOS,
    XSD,
    DefinedNamespace,
)

from gongkai.config import base_uri

ORG = Namespace("http://www.w3.org/ns/org#")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
QB = Namespace("http://purl.org/linked-data/cube#")
VOID = Namespace("http://rdfs.org/ns/void#")
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
SCHEMA = Namespace("https://schema.org/")

BASE = base_uri()
VOCAB_IRI = BASE + "def/gongkai"


class GK(DefinedNamespace):
    """gongkai vocabulary terms (ontology/gongkai.ttl defines them with labels and definitions)."""

    _NS = Namespace(BASE + "def/gongkai#")
    _fail = True

    # classes
    Notice: object
    NoticeVersion: object
    HarvestRun: object
    Source: object
    Obligation: object
    Rule: object
    Classification: object
    Division: object
    Area: object
    # properties
    source: object
    sourcePage: object
    indexNumber: object
    documentNumber: object
    publisherName: object
    topic: object
    genre: object
    validity: object
    area: object
    classification: object
    matchedRule: object
    matchedText: object
    attachment: object
    bodyText: object
    sha256: object
    withdrawn: object
    previousVersion: object
    attachmentText: object
    obligedArea: object
    leadAgency: object
    everyDivision: object
    period: object
    rule: object
    basis: object
    cmsFamily: object
    division: object
    startUrl: object
    abbreviation: object
    SourceHealth: object
    health: object
    pages: object
    items: object
    newItems: object
    changedItems: object
    withdrawnItems: object
    errors: object
    durationSeconds: object
    flag: object
    # added with ontology/gongkai.ttl: classes
    PenaltyNotice: object
    Provision: object
    AgencyGroup: object
    Period: object
    BudgetKind: object
    # periods, budget kinds, agency groups, rules (individuals)
    Continuous: object
    RealTime: object
    Periodic: object
    Yearly: object
    HalfYearly: object
    Budget: object
    FinalAccounts: object
    PenaltyAuthorities: object
    ApprovalAuthorities: object
    ApprovalItemFields: object
    PenaltyCaseFields: object
    BudgetInFirstHalf: object
    FinalAccountsInSecondHalf: object
    BidPublicityThreeDays: object
    MinimumWagePeriodically: object
    AirQualityRealTime: object
    # properties: area rules (2, 9, 3) and obligations
    caseName: object
    penalisedParty: object
    violationFacts: object
    penaltyKind: object
    legalBasis: object
    penaltyResult: object
    publicityStart: object
    publicityEnd: object
    budgetKind: object
    obligedAgency: object
    everyDepartment: object
    basisText: object
    requiredField: object
    requiredProperty: object
    minimumDuration: object


def notice_iri(source: str, key: str) -> str:
    return f"{BASE}id/notice/{source}/{key}"


def agency_iri(slug: str) -> str:
    return f"{BASE}id/agency/{slug}"


def division_iri(code: str) -> str:
    return f"{BASE}id/division/{code}"


def category_iri(n: int) -> str:
    return f"{BASE}def/category/{n}"


def graph_iri(name: str) -> str:
    return f"{BASE}graph/{name}"


def run_iri(run_id: str) -> str:
    return f"{BASE}id/run/{run_id}"


def source_iri(source: str) -> str:
    return f"{BASE}id/source/{source}"


__all__ = [
    "BASE",
    "DCAT",
    "DCTERMS",
    "ELI",
    "FOAF",
    "GK",
    "ORG",
    "OWL",
    "PROV",
    "QB",
    "RDF",
    "RDFS",
    "SCHEMA",
    "SD",
    "SH",
    "SKOS",
    "VOID",
    "XSD",
    "agency_iri",
    "category_iri",
    "division_iri",
    "graph_iri",
    "notice_iri",
    "run_iri",
    "source_iri",
]
