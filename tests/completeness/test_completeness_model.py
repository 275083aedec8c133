"""The completeness model without a pipeline: streaming aggregation, statuses, succession, scenarios."""

from datetime import date

import pytest

from gongkai import completeness as C
from harvesters.registry import load_sources
from harvesters.sandbox.generate import make_notice, truth_record
from harvesters.sandbox.scenarios import Scenario, ScenarioError

N = "https://gongkai.example.org/id/notice/czj/"
GK = C.GK
DCT = C.DCT


def _notice(key: str, issued: str, areas: list[int], title: str, publisher: str = "czj") -> str:
    s = f"<{N}{key}>"
    lines = [
        f"{s} <{C.RDF_TYPE}> <{GK}Notice> .",
        f'{s} <{DCT}title> "{title}"@zh .',
        f"{s} <{DCT}publisher> <{C.AGENCY}{publisher}> .",
        f'{s} <{DCT}issued> "{issued}"^^<http://www.w3.org/2001/XMLSchema#date> .',
    ]
    for a in areas:
        lines.append(f"{s} <{GK}area> <{C.CAT}{a}> .")
        lines.append(f"<{N}{key}#area-{a}> <{GK}area> <{C.CAT}{a}> .")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def ref():
    return C.load_reference()


def test_streaming_pass_counts_per_area_publisher_and_half():
    text = (
        _notice("a", "2024-03-01", [3], "市财政局2024年部门预算公开")
        + _notice("b", "2024-09-01", [3], "市财政局2024年部门预算公开")
        + _notice("c", "2024-05-01", [3, 8], "市财政局2023年部门决算公开")
        + _notice("d", "2024-10-01", [19], "政策解读")
    )
    agg = C.aggregate_lines(text.splitlines(keepends=True))
    assert agg["notices"] == 4
    h1 = agg["cells"][f"3|{C.AGENCY}czj|2024-H1"]
    h2 = agg["cells"][f"3|{C.AGENCY}czj|2024-H2"]
    assert h1[C.C_COUNT] == 2 and h1[C.C_FIRST] == "2024-03-01" and h1[C.C_LAST] == "2024-05-01"
    assert (h1[C.C_BUDGET], h1[C.C_FINAL], h1[C.C_FINAL_H1]) == (1, 1, 1)
    assert (h2[C.C_BUDGET], h2[C.C_BUDGET_H2]) == (1, 1)
    assert agg["cells"][f"8|{C.AGENCY}czj|2024-H1"][C.C_COUNT] == 1
    assert agg["dates"] == ["2024-03-01", "2024-05-01", "2024-09-01", "2024-10-01"]


def _obligation(ref, oid):
    return next(o for o in ref.obligations if o.id == oid)


def _counters(**halves):
    out = {}
    for half, fields in halves.items():
        c = C._empty()
        for k, v in fields.items():
            c[getattr(C, k)] = v
        out[half.replace("_", "-")] = c
    return out


def test_a_budget_after_june_is_late(ref):
    o = _obligation(ref, "3a")
    year = C.Period.parse("2024")
    late = _counters(**{"2024_H2": {"C_COUNT": 1, "C_BUDGET": 1, "C_BUDGET_H2": 1}})
    on_time = _counters(**{"2024_H1": {"C_COUNT": 1, "C_BUDGET": 1}})
    assert C.obligation_status(o, year, late) == "late"
    assert C.obligation_status(o, year, on_time) == "met"
    assert C.obligation_status(o, year, {}) == "missing"
    assert C.obligation_status(o, C.Period.parse("2024-H2"), on_time) == "not-due"
    assert C.obligation_status(o, C.Period.parse("2024-H1"), late) == "missing"


def test_a_continuous_obligation_needs_one_notice_in_the_period(ref):
    o = _obligation(ref, "14b")
    assert C.obligation_status(o, C.Period.parse("2024-H2"), {}) == "missing"
    some = _counters(**{"2024_H2": {"C_COUNT": 2}})
    assert C.obligation_status(o, C.Period.parse("2024-H2"), some) == "met"


def test_succession_by_date(ref):
    hbj, sthjj = C.AGENCY + "hbj", C.AGENCY + "sthjj"
    assert C.carriers(ref, hbj, 14, date(2017, 12, 31)) == [hbj]
    assert C.carriers(ref, hbj, 14, date(2018, 12, 31)) == [sthjj]
    split = C.carriers(ref, C.AGENCY + "gtfgj", 7, date(2020, 12, 31))
    assert split == [C.AGENCY + "zfcxjw"]
    assert C.publishers_for(ref, sthjj, 14) == {sthjj, hbj}


def test_bodies_of_an_every_division_obligation_include_every_division(ref):
    o = _obligation(ref, "9a")
    bodies = C.bodies_of(ref, o, C.Period.parse("2024"), {})
    assert ("agency", C.AGENCY + "zfcxjw") in bodies
    assert sum(kind == "division" for kind, _ in bodies) == len(ref.divisions) == 42


def test_silent_source():
    dates = ["2023-01-05", "2023-03-01"]
    assert C._silent(dates, date(2023, 12, 31))
    assert not C._silent(dates, date(2023, 6, 30))
    assert not C._silent(dates, date(2022, 12, 31))  # not started yet


def test_period_parse():
    p = C.Period.parse("2024-H2")
    assert (p.start, p.end, p.halves) == (date(2024, 7, 1), date(2024, 12, 31), ("2024-H2",))
    with pytest.raises(ValueError):
        C.Period.parse("2024-H3")


# -- scenarios ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sources():
    return {s.id: s for s in load_sources()}


def test_omit_redraws_the_area_and_the_truth_follows(sources):
    sc = Scenario.from_dict({"rules": [{"sources": ["sthjj"], "areas": [14], "omit": True}]})
    src = sources["sthjj"]
    before = [make_notice(2014, src, n, 120) for n in range(120)]
    after = [make_notice(2014, src, n, 120, sc) for n in range(120)]
    assert any(n.area == 14 for n in before)
    assert not any(n.area == 14 for n in after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b.area == 14]
    for b, a in changed:
        assert a.area == 0 and a.title != b.title and a.doc_id == b.doc_id
        assert truth_record(a, "u")["area"] == 0


def test_publish_month_moves_dates_and_keeps_written_before_published(sources):
    sc = Scenario.from_dict({"rules": [{"sources": ["czj"], "publish_month": 9}]})
    n = make_notice(2014, sources["czj"], 50, 120, sc)
    assert n.published.month == 9 and n.written <= n.published


def test_compliant_baseline_and_broken_rules(sources):
    sc = Scenario.from_dict(
        {
            "baseline": "compliant",
            "rules": [
                {"sources": ["zfcxjw"], "areas": [9], "bid_publicity_days": 1},
                {"sources": ["scjgj"], "areas": [2], "penalty_fields": False},
            ],
        }
    )
    for sid in ("zfcxjw", "scjgj", "czj"):
        for i in range(120):
            n = make_notice(2014, sources[sid], i, 120, sc)
            if n.area == 3 and "预算" in (n.title or "") and "决算" not in n.title:
                assert n.published.month <= 6 or n.published <= date(2014, 12, 31)
            if n.area == 2:
                assert ("主要违法事实" in n.body) == (sid != "scjgj")
            if n.area == 9 and "中标" in (n.title or ""):
                days = 1 if sid == "zfcxjw" else 5
                assert "公示期" in n.body and n.body.count("公示期") == 1, (days, n.body)


def test_bad_scenarios_are_one_line_errors(tmp_path):
    with pytest.raises(ScenarioError, match="unknown keys"):
        Scenario.from_dict({"rules": [{"sources": ["x"], "omitt": True}]})
    with pytest.raises(ScenarioError, match="changes nothing"):
        Scenario.from_dict({"rules": [{"sources": ["x"]}]})
    path = tmp_path / "s.yml"
    path.write_text("rules: [{sources: [czj], publish_month: 13}]", encoding="utf-8")
    with pytest.raises(ScenarioError, match="1-12"):
        Scenario.load(path)
