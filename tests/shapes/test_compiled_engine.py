"""The compiled SHACL engine against pySHACL: identical verdicts, or a clear refusal.

`validate_batch` promises the same Verdict (conforms, counts, text, Turtle byte for byte) from
either engine (docs/architecture.md); the quarantine and the quality reports are written from it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pytest
from rdflib import Graph
from shape_data import SCENARIO, mapped_sandbox

from shapes import validate as V
from shapes.compiled import CompiledShapes, Unsupported
from shapes.validate import ENGINE_ENV, FALLBACKS, load_shapes, validate_batch

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.name.removesuffix(".data.ttl") for p in CASES.glob("*.data.ttl"))


def both(text: str) -> tuple[dict, dict, bool]:
    """Verdicts of pySHACL and of the compiled engine, and whether the compiled one ran."""
    before = sum(FALLBACKS.values())
    got = validate_batch(text, engine="compiled")
    ran = sum(FALLBACKS.values()) == before
    return validate_batch(text, engine="pyshacl"), got, ran


@pytest.fixture(scope="module")
def sandbox_notices() -> list[str]:
    """2,120 notices: plain sandbox ones (the every-53rd untitled among them) and a scenario's."""
    return mapped_sandbox(10, 106) + mapped_sandbox(10, 106, seed=7, scenario=SCENARIO)


@pytest.mark.parametrize("name", NAMES)
def test_case_same_under_both_engines(name: str) -> None:
    data = Graph().parse(CASES / f"{name}.data.ttl", format="turtle")
    want, got, ran = both(data.serialize(format="nt"))
    assert ran, "the compiled engine handed the case to pySHACL"
    assert got == want


def test_sandbox_notices_identical(sandbox_notices: list[str]) -> None:
    shapes: Counter[str] = Counter()
    violating = 0
    for i in range(0, len(sandbox_notices), 500):
        want, got, ran = both("".join(sandbox_notices[i : i + 500]))
        assert ran
        assert got == want
        for v in want.values():
            shapes.update(re.findall(r"sh:sourceShape gksh:(\w+)", v.ttl))
            violating += not v.conforms
    assert len(sandbox_notices) == 2120
    # the sample reaches the core, recommended, node-shape and SPARQL-based shapes (final
    # accounts get no gk:budgetKind from a sandbox body: the mutation tests cover that shape)
    assert violating >= 20  # untitled notices
    for shape in (
        "TitleShape",
        "AreaPresentShape",
        "CaseNameShape",
        "ViolationFactsShape",
        "PublicityEndShape",
        "BidPublicityPeriodShape",
        "BudgetFirstHalfShape",
    ):
        assert shapes[shape] > 0, shape


def test_templated_messages_and_values_agree(sandbox_notices: list[str]) -> None:
    """SPARQL results carry filled-in templates ({?start}, {?value}) and rebuilt tags."""
    text = "".join(n for n in sandbox_notices if "publicityEnd" in n or "budgetKind" in n)
    want, got, _ = both(text)
    assert got == want
    texts = "\n".join(v.text for v in got.values())
    assert re.search(r"公示期少于3天（\d{4}-\d{2}-\d{2} 至 \d{4}-\d{2}-\d{2}）", texts)
    assert 'value: "20' in texts


def test_env_selects_the_engine(monkeypatch: pytest.MonkeyPatch, sandbox_notices) -> None:
    text = "".join(sandbox_notices[:50])
    monkeypatch.setenv(ENGINE_ENV, "pyshacl")

    def no(*_a, **_k):
        raise AssertionError("the compiled engine was used")

    monkeypatch.setattr(V, "compiled_engine", no)
    assert len(validate_batch(text)) == 50
    monkeypatch.setenv(ENGINE_ENV, "sparql-magic")
    with pytest.raises(ValueError, match=ENGINE_ENV):
        validate_batch(text)


def test_default_engine_is_compiled(monkeypatch: pytest.MonkeyPatch, sandbox_notices) -> None:
    monkeypatch.delenv(ENGINE_ENV, raising=False)
    calls = []
    real = V.compiled_engine()
    monkeypatch.setattr(V, "compiled_engine", lambda: calls.append(1) or real)
    validate_batch("".join(sandbox_notices[:20]))
    assert calls


@pytest.mark.parametrize(
    "extra, reason",
    [
        (
            "ex:S a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path dcterms:title ; "
            'sh:message "m"@en ; sh:minLength 3 .',
            "minLength",
        ),
        (
            "ex:S a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path ( dcterms:title gk:x ) ; "
            'sh:message "m"@en ; sh:minCount 1 .',
            "IRI paths",
        ),
        (
            'ex:S a sh:NodeShape ; sh:targetClass gk:Notice ; sh:node ex:T ; sh:message "m"@en .\n'
            'ex:T a sh:NodeShape ; sh:message "t"@en ; sh:nodeKind sh:IRI .',
            "node",
        ),
        (
            "ex:S a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path dcterms:title ; "
            "sh:maxCount 3 .",
            "no sh:message",
        ),
        ("ex:S a sh:NodeShape ; sh:targetClass gk:Notice ; sh:rule [ a sh:TripleRule ] .", "rule"),
        (
            "ex:S a sh:NodeShape ; sh:target [ a sh:SPARQLTarget ; "
            'sh:select "SELECT ?x WHERE { ?x a ?y }" ] ; sh:property gksh:CaseNameShape .',
            "?this",
        ),
    ],
    ids=["unknown-component", "sequence-path", "sh-node", "no-message", "rules", "target-no-this"],
)
def test_the_compiler_refuses_what_it_does_not_do(extra: str, reason: str) -> None:
    shapes = _with(extra)
    with pytest.raises(Unsupported, match=re.escape(reason)):
        CompiledShapes(shapes, V._support()[1])


def _with(extra: str) -> Graph:
    prefixes = "".join(f"@prefix {p}: <{ns}> .\n" for p, ns in V._PREFIXES.items())
    prefixes += "@prefix ex: <https://example.org/> .\n"
    prefixes += "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
    g = load_shapes()
    g.parse(data=prefixes + extra, format="turtle")
    return g


def test_unsupported_shapes_fall_back_to_pyshacl_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, sandbox_notices
) -> None:
    shapes = _with(
        "ex:S a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path dcterms:title ; "
        'sh:message "短"@zh, "short"@en ; sh:severity sh:Warning ; sh:minLength 40 .'
    )
    monkeypatch.setattr(V, "_shapes", lambda: shapes)
    V.compiled_engine.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="shapes.validate"):
            text = "".join(sandbox_notices[:30])
            first = validate_batch(text, engine="compiled")
            second = validate_batch(text, engine="compiled")
        assert first == second == validate_batch(text, engine="pyshacl")
        assert sum(v.warnings for v in first.values()) > 0  # sh:minLength did run (pySHACL)
        refusals = [r for r in caplog.records if "not compiled" in r.getMessage()]
        assert len(refusals) == 1 and "minLength" in refusals[0].getMessage()
    finally:
        V.compiled_engine.cache_clear()


GENERAL = """
ex:Targeted a sh:NodeShape ;
    sh:targetNode <https://gongkai.example.org/id/notice/beibei/x>, "a literal focus" ;
    sh:property ex:Keyword .
ex:Keyword a sh:PropertyShape ; sh:path dcat:keyword ; sh:message "kw"@en ; sh:severity sh:Info ;
    sh:maxCount 1 ; sh:pattern "^[a-z]" ; sh:flags "i" .
ex:Validity a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path gk:validity ;
    sh:message "validity"@en ; sh:severity sh:Warning ; sh:in ( "有效"@zh "废止"@ZH ) .
ex:Off a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path dcterms:title ;
    sh:message "off"@en ; sh:maxCount 0 ; sh:deactivated true .
ex:ShortKeyword a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path dcat:keyword ;
    sh:severity sh:Warning ;
    sh:sparql [ a sh:SPARQLConstraint ; sh:message "keyword {?value} of {$this}"@en ;
        sh:prefixes <https://gongkai.example.org/def/shapes> ;
        sh:select "SELECT $this ?value WHERE { $this $PATH ?value . FILTER (STRLEN(STR(?value)) < 3) }" ] .
ex:Genre a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path gk:genre ;
    sh:message "genre"@en ; sh:severity sh:Warning ;
    sh:or ( [ sh:datatype xsd:integer ] [ sh:nodeKind sh:IRI ] ) .
ex:GenreLenient a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path gk:genre ;
    sh:message "lenient"@en ; sh:or ( [ sh:datatype xsd:integer ; sh:severity sh:Warning ] ) .
ex:FetchedIsDate a sh:PropertyShape ; sh:targetClass gk:Notice ; sh:path prov:generatedAtTime ;
    sh:message "a date"@en ; sh:severity sh:Warning ; sh:datatype xsd:date .
ex:ClassificationKind a sh:PropertyShape ; sh:targetSubjectsOf gk:classification ;
    sh:path gk:classification ; sh:message "kind"@en ; sh:severity sh:Warning ;
    sh:nodeKind sh:BlankNodeOrLiteral .
ex:Local a rdfs:Class, sh:NodeShape ; sh:property ex:LocalTitle .
ex:LocalTitle a sh:PropertyShape ; sh:path dcterms:title ; sh:message "local"@en ;
    sh:minCount 2 .
"""


def test_general_shapes_identical(sandbox_notices: list[str]) -> None:
    """Features our shapes do not use today still agree: targetNode (IRI and literal),
    implicit class targets, sh:flags, literal sh:in with a tag in capitals, sh:deactivated,
    $PATH in a property shape's SPARQL, sh:or with a warning alternative, severities."""
    shapes = _with(GENERAL)
    engine = CompiledShapes(shapes, V._support()[1])
    classes = V._support()[0]
    notices = sandbox_notices[:200]
    first = notices[0].split(" ", 1)[0]
    extra = (
        f"{first} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <https://example.org/Local> .\n"
    )
    text = "".join(notices) + extra
    text = text.replace("<https://gongkai.example.org/id/notice/beibei/x>", first)
    got = engine.validate(text, classes)
    assert got is not None
    compiled = V._verdicts(*got, V._no_nested)
    reference = V._verdicts(*V._pyshacl_results(text, shapes))
    assert compiled == reference
    found = Counter(
        re.findall(
            r"sh:sourceShape <https://example.org/(\w+)>", "".join(v.ttl for v in compiled.values())
        )
    )
    for shape in ("Validity", "ShortKeyword", "Genre", "FetchedIsDate", "LocalTitle"):
        assert found[shape] > 0, (shape, found)
    assert not found["Off"] and not found["GenreLenient"]


def test_a_node_two_notices_share_belongs_to_the_least_iri(sandbox_notices) -> None:
    a, b = sandbox_notices[0], sandbox_notices[1]
    ia, ib = a.split(" ", 1)[0], b.split(" ", 1)[0]
    node = "<https://example.org/shared-classification>"
    cls = "<https://gongkai.example.org/def/gongkai#classification>"
    text = a + b + f"{ia} {cls} {node} .\n{ib} {cls} {node} .\n"
    want, got, ran = both(text)
    assert ran and got == want
    least = min(ia, ib)[1:-1]
    assert "shared-classification" in got[least].text
    other = max(ia, ib)[1:-1]
    assert "shared-classification" not in got[other].text


@pytest.mark.slow
def test_more_sandbox_notices_identical() -> None:
    notices = mapped_sandbox(85, 40, seed=11) + mapped_sandbox(85, 40, seed=12, scenario=SCENARIO)
    for i in range(0, len(notices), 500):
        want, got, ran = both("".join(notices[i : i + 500]))
        assert ran and got == want
