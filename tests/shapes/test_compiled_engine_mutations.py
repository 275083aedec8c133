"""Mutated notices: the compiled engine and pySHACL must still agree, verdict for verdict.

Mapped sandbox notices are broken the ways real pages and a buggy mapping break them: triples
dropped, duplicated, retyped, altered (bad dates, bad patterns, wrong datatypes, blank values),
extra or foreign areas, shared nodes, extra types. A seeded-random sweep covers many at once; a
Hypothesis test finds (and shrinks) a failing combination. Both engines either give the same
verdicts or raise the same error (the compiled one hands a batch it cannot do to pySHACL).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shape_data import SCENARIO, mapped_sandbox

from ontology.namespaces import DCTERMS, GK, PROV, category_iri
from shapes.validate import FALLBACKS, validate_batch

XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_TYPE = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
SUBCLASS = "<http://www.w3.org/2000/01/rdf-schema#subClassOf>"


def P(term) -> str:  # noqa: N802 - an N-Triples IRI token
    return f"<{term}>"


TITLE, ISSUED, CREATED = P(DCTERMS.title), P(DCTERMS.issued), P(DCTERMS.created)
PUBLISHER = P(DCTERMS.publisher)
INDEX, DOCNO, AREA, SHA = P(GK.indexNumber), P(GK.documentNumber), P(GK.area), P(GK.sha256)
SOURCE_PAGE, SOURCE, ATTACH = P(GK.sourcePage), P(GK.source), P(GK.attachment)
CLASSIFICATION, RULE = P(GK.classification), P(GK.matchedRule)
FETCHED, RUN_OF = P(PROV.generatedAtTime), P(PROV.wasGeneratedBy)
START, END, BUDGET_KIND = P(GK.publicityStart), P(GK.publicityEnd), P(GK.budgetKind)

Lines = list[tuple[str, str, str]]


def split(nt: str) -> Lines:
    out = []
    for line in nt.splitlines():
        s, p, rest = line.split(" ", 2)
        out.append((s, p, rest[:-2]))
    return out


def join(lines: Lines) -> str:
    return "".join(f"{s} {p} {o} .\n" for s, p, o in lines)


def typed(lex: str, dt: str) -> str:
    return f'"{lex}"^^<{XSD}{dt}>'


DATES = [
    typed("2020-02-30", "date"),  # ill-typed
    typed("2020-13-01", "date"),
    typed("2020-1-1", "date"),
    typed("2020-01-01+08:00", "date"),  # rdflib drops the offset: a normalised term
    typed("2020-01-01Z", "date"),
    typed("2020-07-15", "date"),
    typed("2019-12-31", "date"),
    typed("2021-03-01T00:00:00+08:00", "dateTime"),
    typed("2021", "gYear"),
    '"2020-07-15"',
    '"2020-07-15"@zh',
    typed("20200715", "integer"),
    f"<{category_iri(3)}>",
]
TEXTS = [
    '"   "@zh',  # blank: sh:pattern \S fails
    '""',
    '"x"',
    '"title"@en',
    '"一个标题"@zh-hans',
    typed("a title", "string"),
    typed("12", "integer"),
    '"with \\"quotes\\" and \\\\ and \\n newline and \\t tab"@zh',
    '"raw\ttab"@zh',
    "<https://example.org/a-title>",
]
INDEX_NUMBERS = [
    '"009315877/2017-00733"',
    '"11500383009338112H/2021-00021"',
    '"11341702486344515H/202110-00013"',
    '"bad index"',
    '"009315877/17-733"',
    typed("009315877/2017-00733", "string"),
    '"009315877/2017-00733"@zh',
    typed("5", "integer"),
]
DOC_NUMBERS = ['"渝府办发〔2014〕87号"', '"渝府令第123号"', '"渝府办发[2014]87号"', '"n/a"@zh']
SHAS = ['"' + "a" * 64 + '"', '"' + "A" * 64 + '"', '"abc"', typed("0" * 64, "string")]
FETCH_TIMES = [
    typed("2026-11-26T10:00:00", "dateTime"),  # no offset: a warning
    typed("2026-11-26T10:00:00Z", "dateTime"),
    typed("2026-11-26T10:00:00.000+08:00", "dateTime"),  # normalised by rdflib
    typed("2026-11-26 10:00", "dateTime"),  # ill-typed
    typed("2026-11-26", "date"),
]
AREAS = [
    f"<{category_iri(0)}>",
    f"<{category_iri(21)}>",
    f"<{category_iri(3)}>",
    f"<{category_iri(9)}>",
    '"3"',
    typed("3", "integer"),
    "<https://example.org/area/3>",
]
OBJECT_SWAPS = ['"an IRI expected"@zh', "<https://example.org/x>", typed("1", "integer")]


def _pick_line(rng: random.Random, lines: Lines, pred: str | None = None) -> int | None:
    idx = [i for i, (_, p, _) in enumerate(lines) if pred is None or p == pred]
    return rng.choice(idx) if idx else None


def _set(lines: Lines, subject: str, pred: str, obj: str, replace: bool) -> Lines:
    if replace:
        lines = [t for t in lines if not (t[0] == subject and t[1] == pred)]
    return [*lines, (subject, pred, obj)]


def m_drop(rng, lines, notice):
    i = _pick_line(rng, lines)
    return lines if i is None else lines[:i] + lines[i + 1 :]


def m_duplicate(rng, lines, notice):
    i = _pick_line(rng, lines)
    return lines if i is None else [*lines, lines[i]]


def m_drop_required(rng, lines, notice):
    pred = rng.choice([TITLE, SOURCE_PAGE, SOURCE, PUBLISHER, RUN_OF, ISSUED, INDEX, AREA, RULE])
    return [t for t in lines if t[1] != pred]


def m_retype(rng, lines, notice):
    literals = [i for i, t in enumerate(lines) if t[2].startswith('"')]
    if not literals:
        return lines
    i = rng.choice(literals)
    s, p, o = lines[i]
    lex = o[1 : o.rindex('"')]
    form = rng.choice(["plain", "zh", "en", "string", "date", "dateTime", "integer", "iri"])
    new = {
        "plain": f'"{lex}"',
        "zh": f'"{lex}"@zh',
        "en": f'"{lex}"@en',
        "string": typed(lex, "string"),
        "date": typed(lex, "date"),
        "dateTime": typed(lex, "dateTime"),
        "integer": typed(lex, "integer"),
        "iri": "<https://example.org/retyped>",
    }[form]
    return [*lines[:i], (s, p, new), *lines[i + 1 :]]


def m_date(rng, lines, notice):
    pred = rng.choice([ISSUED, CREATED, START, END])
    return _set(lines, notice, pred, rng.choice(DATES), rng.random() < 0.7)


def m_text(rng, lines, notice):
    pred = rng.choice([TITLE, TITLE, INDEX, DOCNO])
    return _set(lines, notice, pred, rng.choice(TEXTS), rng.random() < 0.6)


def m_index(rng, lines, notice):
    return _set(lines, notice, INDEX, rng.choice(INDEX_NUMBERS), rng.random() < 0.7)


def m_docno(rng, lines, notice):
    return _set(lines, notice, DOCNO, rng.choice(DOC_NUMBERS), rng.random() < 0.7)


def m_sha(rng, lines, notice):
    return _set(lines, notice, SHA, rng.choice(SHAS), rng.random() < 0.7)


def m_fetched(rng, lines, notice):
    return _set(lines, notice, FETCHED, rng.choice(FETCH_TIMES), rng.random() < 0.7)


def m_area(rng, lines, notice):
    return _set(lines, notice, AREA, rng.choice(AREAS), rng.random() < 0.3)


def m_object_kind(rng, lines, notice):
    pred = rng.choice([PUBLISHER, SOURCE_PAGE, SOURCE, RUN_OF, ATTACH])
    return _set(lines, notice, pred, rng.choice(OBJECT_SWAPS), rng.random() < 0.5)


def m_classification(rng, lines, notice):
    node = f"<{notice[1:-1]}#area-x{rng.randint(1, 3)}>"
    out = [*lines, (notice, CLASSIFICATION, node)]
    if rng.random() < 0.7:
        out.append((node, AREA, rng.choice(AREAS)))
    if rng.random() < 0.6:
        out.append((node, RULE, rng.choice(['"r1"', '"r2"', typed("r", "string"), '"r"@zh'])))
    if rng.random() < 0.2:
        out.append((notice, CLASSIFICATION, '"a literal classification"'))
    return out


def m_penalty(rng, lines, notice):
    out = [*lines, (notice, RDF_TYPE, P(GK.PenaltyNotice))]
    if rng.random() < 0.5:
        out.append((notice, P(GK.caseName), '"某案"@zh'))
    return out


def m_subclass(rng, lines, notice):
    cls = "<https://example.org/LocalNotice>"
    return [*lines, (notice, RDF_TYPE, cls), (cls, SUBCLASS, P(GK.Notice))]


def m_untype(rng, lines, notice):
    return [t for t in lines if not (t[0] == notice and t[1] == RDF_TYPE)]


def m_bid(rng, lines, notice):
    out = _set(lines, notice, AREA, f"<{category_iri(9)}>", False)
    if rng.random() < 0.5:
        out = _set(out, notice, TITLE, '"某工程中标结果公示"@zh', True)
    out = _set(out, notice, START, rng.choice(DATES[5:8] + [typed("2020-07-14", "date")]), True)
    return _set(out, notice, END, rng.choice(DATES[4:8] + [typed("2020-07-16", "date")]), True)


def m_budget(rng, lines, notice):
    out = _set(lines, notice, AREA, f"<{category_iri(3)}>", False)
    kind = rng.choice([P(GK.Budget), P(GK.FinalAccounts), '"Budget"'])
    out = _set(out, notice, BUDGET_KIND, kind, True)
    return _set(out, notice, ISSUED, rng.choice(DATES[3:8]), True)


def m_order(rng, lines, notice):
    """created after issued (sh:lessThanOrEquals), sometimes of another datatype."""
    out = _set(lines, notice, CREATED, rng.choice(DATES[5:8]), True)
    return _set(out, notice, ISSUED, rng.choice(DATES[5:7] + ['"2020-07-15"']), True)


MUTATIONS: dict[str, Callable] = {
    f.__name__[2:]: f
    for f in (
        m_drop,
        m_duplicate,
        m_drop_required,
        m_retype,
        m_date,
        m_text,
        m_index,
        m_docno,
        m_sha,
        m_fetched,
        m_area,
        m_object_kind,
        m_classification,
        m_penalty,
        m_subclass,
        m_untype,
        m_bid,
        m_budget,
        m_order,
    )
}


def mutate(nt: str, names: list[str], seed: int) -> str:
    lines = split(nt)
    notice = lines[0][0]
    rng = random.Random(seed)
    for name in names:
        lines = MUTATIONS[name](rng, lines, notice)
    return join(lines)


def outcome(text: str, engine: str):
    try:
        return validate_batch(text, engine=engine)
    except Exception as exc:  # both engines must fail alike on what pySHACL cannot do
        return type(exc).__name__


@pytest.fixture(scope="module")
def pool() -> list[str]:
    return mapped_sandbox(6, 60) + mapped_sandbox(6, 30, seed=7, scenario=SCENARIO)


def test_seeded_mutations_identical_under_both_engines(pool: list[str]) -> None:
    rng = random.Random(2014)
    names = sorted(MUTATIONS)
    validated, compiled_ran, failed = 0, 0, 0
    components: Counter[str] = Counter()
    for b in range(40):
        notices = []
        for _ in range(25):
            base = rng.choice(pool)
            ops = [rng.choice(names) for _ in range(rng.randint(1, 3))]
            notices.append(mutate(base, ops, rng.randrange(1 << 30)))
        text = "".join(notices)
        want = outcome(text, "pyshacl")
        before = sum(FALLBACKS.values())
        got = outcome(text, "compiled")
        assert got == want, f"batch {b} differs"
        if isinstance(want, dict):
            validated += 1
            compiled_ran += sum(FALLBACKS.values()) == before
            for v in want.values():
                components.update(re.findall(r"sh:sourceConstraintComponent sh:(\w+)", v.ttl))
        else:
            failed += 1  # pySHACL itself fails on the batch (e.g. an ill-typed date compared)
    # the sweep exercises the compiled engine on every batch pySHACL can validate
    assert compiled_ran == validated >= 30, (compiled_ran, validated, failed)
    # every constraint component our shapes use produced results somewhere in the sweep
    for component in (
        "MinCount",
        "MaxCount",
        "Datatype",
        "NodeKind",
        "Pattern",
        "In",
        "Or",
        "LessThanOrEquals",
        "SPARQL",
    ):
        assert components[component + "ConstraintComponent"] >= 5, (component, components)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    picks=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=10_000),
            st.lists(st.sampled_from(sorted(MUTATIONS)), min_size=1, max_size=4),
            st.integers(min_value=0, max_value=1 << 30),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_hypothesis_mutations_identical(pool: list[str], picks) -> None:
    text = "".join(mutate(pool[i % len(pool)], ops, seed) for i, ops, seed in picks)
    assert outcome(text, "compiled") == outcome(text, "pyshacl")


@pytest.mark.parametrize(
    "edit",
    [
        lambda nt: nt.replace('"@zh .', '"@ZH .', 1),  # a tag rdflib compares caselessly
        lambda nt: nt.replace('"@zh .', '\\u0041"@zh .', 1),  # an escape we never write
        lambda nt: nt + "_:b0 <https://example.org/p> <https://example.org/o> .\n",
        lambda nt: nt + "# a comment\n",
        lambda nt: nt.replace(" .\n", "  .\n", 1),
    ],
    ids=["uppercase-tag", "unicode-escape", "blank-node", "comment", "spacing"],
)
def test_batches_outside_the_parsed_subset_go_to_pyshacl(pool: list[str], edit) -> None:
    text = edit("".join(pool[:5]))
    before = FALLBACKS["outside the parsed subset"]
    assert outcome(text, "compiled") == outcome(text, "pyshacl")
    assert FALLBACKS["outside the parsed subset"] == before + 1


@pytest.mark.slow
def test_many_seeded_mutations(pool: list[str]) -> None:
    rng = random.Random(99)
    names = sorted(MUTATIONS)
    for b in range(150):
        notices = []
        for _ in range(60):
            ops = [rng.choice(names) for _ in range(rng.randint(1, 4))]
            notices.append(mutate(rng.choice(pool), ops, rng.randrange(1 << 30)))
        text = "".join(notices)
        assert outcome(text, "compiled") == outcome(text, "pyshacl"), f"batch {b} differs"
