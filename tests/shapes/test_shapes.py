"""Shape tests in the W3C manner: each case is a data file and the report it must produce.

`cases/{name}.data.ttl` holds the notices; `cases/{name}.expected.ttl` a sh:ValidationReport with
sh:conforms (no notice has a violation) and the exact set of results as (focus, path,
severity, source shape). Adding a case is adding two files. Each runs under both engines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, SH

from ontology.namespaces import GK
from shapes.validate import ENGINE_ENV, ENGINES, Verdict, load_shapes, validate_batch

CASES = Path(__file__).parent / "cases"
NAMES = sorted(p.name.removesuffix(".data.ttl") for p in CASES.glob("*.data.ttl"))

Result = tuple[str, str, str, str]


@pytest.fixture(params=ENGINES, autouse=True)
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs under both engines (tests/shapes/test_compiled_engine.py compares
    them verdict for verdict)."""
    monkeypatch.setenv(ENGINE_ENV, request.param)
    return request.param


def _results(report: Graph) -> set[Result]:
    out = set()
    for r in report.objects(None, SH.result):
        out.add(
            tuple(
                str(report.value(r, p))
                for p in (SH.focusNode, SH.resultPath, SH.resultSeverity, SH.sourceShape)
            )
        )
    return out


def _run(name: str) -> tuple[dict[str, Verdict], Graph]:
    data = Graph().parse(CASES / f"{name}.data.ttl", format="turtle")
    return validate_batch(data.serialize(format="nt")), data


def test_every_case_has_its_expectation() -> None:
    assert NAMES, "no shape cases found"
    for name in NAMES:
        assert (CASES / f"{name}.expected.ttl").exists(), name


@pytest.mark.parametrize("name", NAMES)
def test_case(name: str) -> None:
    verdicts, data = _run(name)
    expected = Graph().parse(CASES / f"{name}.expected.ttl", format="turtle")

    notices = {str(s) for s in data.subjects(RDF.type, None) if (s, RDF.type, GK.Notice) in data}
    notices |= {str(s) for s in data.subjects(RDF.type, URIRef(str(GK.PenaltyNotice)))}
    assert set(verdicts) == notices, "a verdict for every notice, and only for notices"

    got: set[Result] = set()
    for verdict in verdicts.values():
        got |= _results(Graph().parse(data=verdict.ttl, format="turtle"))
    assert got == _results(expected)

    report = next(expected.subjects(RDF.type, SH.ValidationReport))
    assert (
        all(v.conforms for v in verdicts.values()) == expected.value(report, SH.conforms).toPython()
    )


@pytest.mark.parametrize("name", NAMES)
def test_verdict_counts_and_text(name: str) -> None:
    verdicts, _ = _run(name)
    for iri, v in verdicts.items():
        report = Graph().parse(data=v.ttl, format="turtle")
        severities = [report.value(r, SH.resultSeverity) for r in report.objects(None, SH.result)]
        assert v.violations == severities.count(SH.Violation)
        assert v.warnings == severities.count(SH.Warning)
        assert v.conforms == (v.violations == 0)
        assert (next(report.objects(None, SH.conforms))) == Literal(v.conforms)
        if severities:
            assert iri in v.text
            # Every result reads in both languages.
            lines = v.text.splitlines()[1:]
            assert len(lines) == len(severities)
            for r in report.objects(None, SH.result):
                langs = {m.language for m in report.objects(r, SH.resultMessage)}
                assert {"zh", "en"} <= langs
        else:
            assert v.text == ""


def test_batch_without_notices() -> None:
    assert validate_batch("") == {}


def test_every_shape_is_named_and_explained_in_both_languages() -> None:
    shapes = load_shapes()
    named = set(shapes.subjects(RDF.type, SH.NodeShape)) | set(
        shapes.subjects(RDF.type, SH.PropertyShape)
    )
    assert len(named) > 20
    for shape in named:
        names = {n.language for n in shapes.objects(shape, SH.name)}
        assert {"zh", "en"} <= names, shape
        # A shape with a SPARQL constraint carries its message on the constraint.
        holders = [shape, *shapes.objects(shape, SH.sparql)]
        langs = {m.language for h in holders for m in shapes.objects(h, SH.message)}
        assert {"zh", "en"} <= langs, shape


def test_core_is_violation_and_the_rest_warning() -> None:
    shapes = load_shapes()
    for shape in shapes.subjects(SH.group, None):
        group = str(shapes.value(shape, SH.group)).rsplit("#", 1)[-1]
        severity = shapes.value(shape, SH.severity)
        assert severity == (SH.Violation if group == "Core" else SH.Warning), shape
