"""aggregate_source reads a source's N-Triples as bytes, a run of lines per match; it must give
exactly what the line-by-line pass (aggregate_lines) gives, for any file."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gongkai import completeness as C
from ontology.namespaces import agency_iri, category_iri, notice_iri
from ontology.ntriples import iri, literal, triple

GK, DCT, XSD = C.GK, C.DCT, "http://www.w3.org/2001/XMLSchema#"
TYPE = iri(C.RDF_TYPE)


def _p(name: str) -> str:
    return iri(GK + name)


def _notice(
    key: str,
    *,
    issued: str | None = "2024-03-01",
    areas: tuple[int, ...] = (3,),
    title: str = "市财政局2024年部门预算公开",
    genre: str = "其他",
    typed: str = "Notice",
    facts: tuple[tuple[str, str], ...] = (),
    attachments: int = 0,
) -> str:
    """One notice as ontology/mapping.py writes it: its own lines, a classification node per
    area between them, its facts, then its attachments' texts."""
    s = iri(notice_iri("czj", key))
    out = [
        triple(s, TYPE, iri(GK + typed)),
        triple(s, iri(DCT + "title"), literal(title, lang="zh")),
        triple(s, _p("indexNumber"), literal(f"11500000/{key}")),
        triple(s, iri(DCT + "publisher"), iri(agency_iri("czj"))),
        triple(s, iri(DCT + "created"), literal("2024-02-27", datatype=XSD + "date")),
    ]
    if issued is not None:
        out.append(triple(s, iri(DCT + "issued"), literal(issued, datatype=XSD + "date")))
    out.append(triple(s, _p("genre"), literal(genre, lang="zh")))
    urls = [f"http://127.0.0.1:8000/czj/{key}-{n}.pdf" for n in range(attachments)]
    out += [triple(s, _p("attachment"), iri(u)) for u in urls]
    out.append(triple(s, iri("http://www.w3.org/ns/prov#wasGeneratedBy"), iri(GK + "run")))
    for a in areas:
        node = iri(notice_iri("czj", f"{key}#area-{a}"))
        out += [
            triple(s, _p("area"), iri(category_iri(a))),
            triple(s, _p("classification"), node),
            triple(node, TYPE, iri(GK + "Classification")),
            triple(node, _p("area"), iri(category_iri(a))),
            triple(node, _p("matchedText"), literal("预算", lang="zh")),
        ]
    out += [triple(s, _p(p), o) for p, o in facts]
    out += [triple(iri(u), _p("attachmentText"), literal("附件 一", lang="zh")) for u in urls]
    return "".join(out)


MAPPED = "".join(
    [
        _notice("a", issued="2024-03-01", areas=(3,)),
        _notice("b", issued="2024-09-01", areas=(3, 8), title="市财政局2023年部门决算公开"),
        _notice("c", issued="2024-05-01", areas=(7,), attachments=2),
        _notice("d", issued=None, areas=(19,)),
        _notice("e", issued="2023-12-31", areas=()),
        _notice("f", areas=(2,), title="行政处罚决定书（渝财罚〔2024〕1号）"),
        _notice("g", areas=(2,), title="处罚信息", genre="行政处罚决定"),
        _notice("h", areas=(9,), title="中标结果公示"),
        _notice("i", areas=(2, 9), title="中标结果公示", genre="行政处罚决定"),
    ]
)
RARER = "".join(
    [
        _notice(
            "p",
            areas=(2,),
            typed="PenaltyNotice",
            title="处罚",
            facts=(("legalBasis", '"《条例》"@zh'),),
        ),
        _notice(
            "q",
            areas=(2,),
            title="行政处罚决定书",
            facts=tuple((p, '"x"@zh') for p in C.PENALTY_PROPS + ("caseName",)),
        ),
        _notice("r", areas=(3,), title="公开", facts=(("budgetKind", iri(GK + "FinalAccounts")),)),
        _notice(
            "t",
            areas=(9,),
            facts=(
                ("publicityStart", f'"2024-03-01"^^<{XSD}date>'),
                ("publicityEnd", f'"2024-03-02"^^<{XSD}date>'),
            ),
        ),
        _notice("u", areas=(1, 4, 6, 20)),
        _notice("v", issued="2024-07-01T08:00:00+08:00"),
    ]
)


def _reference(path) -> dict:
    with open(path, encoding="utf-8") as f:
        return C.aggregate_lines(f)


def _same(got: dict, expected: dict) -> None:
    assert got == expected
    assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)


def _file(tmp_path, text: str, name: str = "src.nt"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def test_mapped_notices_take_the_fast_pass(tmp_path):
    path = _file(tmp_path, MAPPED)
    got = C._aggregate_bytes(path)
    assert got is not None
    _same(got, _reference(path))
    assert got["notices"] == 9 and got["undated"] == 1
    assert got["cells"][f"3|{agency_iri('czj')}|2024-H2"][C.C_FINAL] == 1
    assert got["cells"][f"2|{agency_iri('czj')}|2024-H1"][C.C_PENALTY] == 3


def test_rarer_facts_take_the_fast_pass(tmp_path):
    path = _file(tmp_path, RARER)
    got = C._aggregate_bytes(path)
    assert got is not None
    _same(got, _reference(path))
    assert got["facts"] == {"penalty": True, "publicity": True, "budget_kind": True}


@pytest.mark.parametrize("block", [64, 300, 4096])
def test_runs_split_between_blocks(tmp_path, block):
    path = _file(tmp_path, MAPPED + RARER)
    _same(C._aggregate_bytes(path, block=block), _reference(path))


S = iri(notice_iri("czj", "x"))
TYPED = triple(S, TYPE, iri(GK + "Notice"))
ISSUED = triple(S, iri(DCT + "issued"), literal("2024-01-02", datatype=XSD + "date"))


@pytest.mark.parametrize(
    "text",
    [
        MAPPED.replace("\n", "\r\n"),  # text mode reads '\r' as a line end
        TYPED + "\n" + ISSUED,  # one subject in two runs, a blank line between
        _notice("w", areas=(1, 2, 3, 4, 5)),  # more areas than captured
        TYPED + triple(S, TYPE, iri(GK + "A")) + triple(S, TYPE, iri(GK + "B")),
        TYPED + ISSUED + triple(S, iri(DCT + "issued"), '"2024-01-03"'),  # issued twice
    ],
    ids=["crlf", "two-runs", "five-areas", "two-types", "issued-twice"],
)
def test_unexpected_bytes_go_through_the_line_pass(tmp_path, text):
    path = _file(tmp_path, text)
    assert C._aggregate_bytes(path) is None
    _same(C.aggregate_source(path), _reference(path))


@pytest.mark.parametrize(
    "text", ["", TYPED + ISSUED.rstrip("\n"), "\n\n" + TYPED + ISSUED, "_:b <p> <o> .\n" + TYPED]
)
def test_empty_unterminated_and_skipped_lines(tmp_path, text):
    path = _file(tmp_path, text)
    _same(C.aggregate_source(path), _reference(path))


# Lines from a few subjects, predicates and objects, in any order: runs interrupted by other
# subjects and by skipped lines, predicates close to the WANTED ones, objects as the mapping
# writes them and otherwise.
SUBJECTS = [S, iri(notice_iri("czj", "y")), iri(notice_iri("czj", "x#area-2")), "<urn:a>"]
PREDICATES = sorted(C.WANTED) + [
    _p("areaCode"),
    _p("genr"),
    iri(DCT + "identifier"),
    iri("https://" + "x" * (len(GK) - 8) + "area"),  # a namespace of the same length
    iri("http://www.w3.org/ns/dcat#keyword"),
]
OBJECTS = [
    iri(GK + "Notice"),
    iri(GK + "PenaltyNotice"),
    iri(GK + "Classification"),
    iri(GK + "Budget"),
    iri(category_iri(2)),
    iri(category_iri(3)),
    iri(category_iri(17)),
    iri(agency_iri("czj")),
    literal("2024-06-30", datatype=XSD + "date"),
    literal("2023-07-01T00:00:00+08:00", datatype=XSD + "dateTime"),
    literal("2025-01-01"),
    literal(""),
    literal('市财政局2024年"决算"公开', lang="zh"),
    literal("行政处罚决定书", lang="zh"),
    literal("处罚决定", lang="zh"),
]
ENDS = [" .\n", " .  \n", "\n", "  .\n"]
OTHER_LINES = ["\n", "_:b <urn:p> <urn:o> .\n", f"{S} x .\n"]
LINE = st.one_of(
    st.tuples(
        st.sampled_from(SUBJECTS),
        st.sampled_from(PREDICATES),
        st.sampled_from(OBJECTS),
        st.sampled_from(ENDS),
    ).map(lambda t: f"{t[0]} {t[1]} {t[2]}{t[3]}"),
    st.sampled_from(OTHER_LINES),
)


def _outcome(aggregate, path) -> tuple:
    """The aggregate as JSON, or the error: a file the line pass fails on fails both ways."""
    try:
        return "ok", json.dumps(aggregate(path), ensure_ascii=False)
    except ValueError as e:
        return "error", type(e).__name__, str(e)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(lines=st.lists(LINE, max_size=60), block=st.sampled_from([64, 1 << 18]))
def test_any_lines_aggregate_as_the_line_pass(tmp_path, lines, block):
    path = _file(tmp_path, "".join(lines))
    expected = _outcome(_reference, path)
    assert _outcome(C.aggregate_source, path) == expected
    fast = _outcome(lambda p: C._aggregate_bytes(p, block=block), path)
    assert fast in (expected, ("ok", "null"))  # null: left to the line pass
