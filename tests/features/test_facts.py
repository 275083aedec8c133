"""Structured facts from notice text, measured on a labelled set (tests/files/facts/*.json).

Each file holds a realistic notice (title, body text as the harvester renders it, categories)
and the fields a reader would take from it; `null` means the notice does not state the field,
so an extracted value there counts as wrong (no invented facts). The set was written alongside
the extractor ("dev"), except the files marked `"split": "holdout"`, written after it and never
used to change it; the figures are printed per split. Neither replaces a sample of live pages.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ontology.facts import (
    amount_yuan,
    cn_number,
    extract_facts,
    facts_ntriples,
    publicity_period,
)
from ontology.namespaces import BASE

FILES = sorted((Path(__file__).parents[1] / "files" / "facts").glob("*.json"))
GK = BASE + "def/gongkai#"
NOTICE = BASE + "id/notice/scjgj/11500000MB1502365L_2024-00012"


def _norm(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    text = re.sub(r"\s+", "", str(value))
    return text.rstrip("。；;，,")


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def field_results() -> list[tuple[str, str, Any, Any, str]]:
    rows = []
    for path in FILES:
        case = _load(path)
        got = extract_facts(case)
        for field, want in case["expected"].items():
            rows.append(
                (path.stem, field, _norm(want), _norm(got.get(field)), case.get("split", "dev"))
            )
    return rows


def test_labelled_set_has_at_least_40_notices() -> None:
    kinds = {p.stem.split("_")[0] for p in FILES}
    assert len(FILES) >= 40
    assert kinds == {"penalty", "bid", "budget"}


def test_field_accuracy_is_at_least_95_percent() -> None:
    rows = field_results()
    right = [r for r in rows if r[2] == r[3]]
    by_kind: dict[str, list[bool]] = {}
    for name, _, want, got, split in rows:
        by_kind.setdefault(name.split("_")[0], []).append(want == got)
        by_kind.setdefault(f"split={split}", []).append(want == got)
    print(f"\nfacts field accuracy: {len(right)}/{len(rows)} = {len(right) / len(rows):.1%}")
    for kind, oks in sorted(by_kind.items()):
        print(f"  {kind}: {sum(oks)}/{len(oks)} = {sum(oks) / len(oks):.1%}")
    for name, field, want, got, _ in rows:
        if want != got:
            print(f"  WRONG {name}.{field}: want {want!r} got {got!r}")
    assert len(right) / len(rows) >= 0.95


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("贰万", 20000),
        ("壹万伍仟", 15000),
        ("壹拾贰万叁仟", 123000),
        ("十万", 100000),
        ("三千", 3000),
        ("1,234.50", Decimal("1234.50")),
    ],
)
def test_chinese_and_arabic_numerals(text: str, value: Decimal) -> None:
    assert cn_number(text) == value


def test_amount_in_wan_yuan_becomes_yuan() -> None:
    assert amount_yuan("2.5万元") == Decimal(25000)
    assert amount_yuan("人民币贰万元整") == Decimal(20000)
    assert amount_yuan("￥12,000.00元") == Decimal(12000)
    assert amount_yuan("36.8", default_unit="万元") == Decimal(368000)


def test_publicity_days_count_both_ends() -> None:
    start, end, days = publicity_period("公示期：2023年9月4日至2023年9月6日")
    assert (start.isoformat(), end.isoformat(), days) == ("2023-09-04", "2023-09-06", 3)


def test_publicity_end_without_year_takes_the_start_year() -> None:
    _, end, days = publicity_period("公示期：2024年3月1日至3月5日")
    assert (end.isoformat(), days) == ("2024-03-05", 5)


def test_notice_without_facts_has_no_kind() -> None:
    assert extract_facts(
        {"title": "关于召开2024年春季运动会的通知", "body_text": "各单位：现将有关事项通知如下。"}
    ) == {"kind": None}


def test_penalty_facts_become_typed_triples() -> None:
    case = _load(next(p for p in FILES if p.stem == "penalty_02_colon_lines"))
    nt = facts_ntriples(NOTICE, extract_facts(case))
    assert (
        f'<{NOTICE}> <{GK}penaltyAmount> "230000"^^<http://www.w3.org/2001/XMLSchema#decimal> .'
        in nt
    )
    assert f'<{NOTICE}> <{GK}penalisedParty> "重庆长江化工有限公司"@zh .' in nt


def test_bid_facts_become_typed_triples() -> None:
    case = _load(next(p for p in FILES if p.stem == "bid_01_colon_lines"))
    nt = facts_ntriples(NOTICE, extract_facts(case))
    assert (
        f'<{NOTICE}> <{GK}publicityStart> "2023-09-04"^^<http://www.w3.org/2001/XMLSchema#date> .'
        in nt
    )
    assert (
        f'<{NOTICE}> <{GK}contractAmount> "12845360.52"^^<http://www.w3.org/2001/XMLSchema#decimal> .'
        in nt
    )


def test_budget_kind_is_an_iri() -> None:
    nt = facts_ntriples(
        NOTICE, {"budget_kind": "final_accounts", "three_public_reception": Decimal("1.42")}
    )
    assert f"<{NOTICE}> <{GK}budgetKind> <{GK}FinalAccounts> ." in nt
    assert '"1.42"^^<http://www.w3.org/2001/XMLSchema#decimal>' in nt


def test_absent_facts_write_no_triples() -> None:
    assert facts_ntriples(NOTICE, {"winner": None, "contract_amount": None}) == ""


def test_facts_ntriples_parse_as_ntriples() -> None:
    import pyoxigraph

    text = "".join(facts_ntriples(NOTICE, extract_facts(_load(p))) for p in FILES)
    quads = list(pyoxigraph.parse(text.encode(), format=pyoxigraph.RdfFormat.N_TRIPLES))
    assert len(quads) > 200
