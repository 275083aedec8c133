"""Disclosure-area classification: accuracy on labelled titles, and the hard confusions one by one.

titles_heldout.tsv was written before the rules and is not used to tune them; titles_dev.tsv is.
Its first measurement was 137/138 (99.3%): a land-use-right 成交结果 read as procurement (8). That
rule was then fixed (a dev title and the test below were added), so held-out is no longer blind
for that one case. Run `.venv/bin/pytest tests/ontology/test_classify.py -q` for per-area figures.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from pathlib import Path

import pytest

from gongkai.items import normalise_item
from ontology.classify import RULES_PATH, Match, classify, rule_field, rules_version

FILES = Path(__file__).parent.parent / "files" / "classification"
MIN_ACCURACY = 0.95


def load(name: str) -> list[tuple[dict, set[int]]]:
    with (FILES / name).open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = []
    for row in rows:
        item = normalise_item(
            {
                "title": row["title"],
                "topic": row["topic"] or None,
                "publisher": row["publisher"] or None,
            }
        )
        expected = (
            set() if row["expected"] == "none" else {int(a) for a in row["expected"].split(",")}
        )
        out.append((item, expected))
    return out


def areas(title: str, **fields: str) -> list[int]:
    return [m.area for m in classify(normalise_item({"title": title, **fields}))]


def only(title: str, **fields: str) -> Match:
    (match,) = classify(normalise_item({"title": title, **fields}))
    return match


@pytest.mark.parametrize("name", ["titles_dev.tsv", "titles_heldout.tsv"])
def test_accuracy(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = load(name)
    tp, fp, fn = Counter(), Counter(), Counter()
    exact = 0
    misses = []
    for item, expected in rows:
        got = {m.area for m in classify(item)}
        exact += got == expected
        if got != expected:
            misses.append(
                f"  expected {sorted(expected) or 'none'} got {sorted(got) or 'none'}: {item['title']}"
            )
        for a in got & expected:
            tp[a] += 1
        for a in got - expected:
            fp[a] += 1
        for a in expected - got:
            fn[a] += 1
    accuracy = exact / len(rows)
    lines = [f"{name}: exact-match accuracy {exact}/{len(rows)} = {accuracy:.1%}"]
    lines.append("  area  precision  recall  (tp fp fn)")
    for a in range(1, 21):
        p = tp[a] / (tp[a] + fp[a]) if tp[a] + fp[a] else 1.0
        r = tp[a] / (tp[a] + fn[a]) if tp[a] + fn[a] else 1.0
        lines.append(f"  {a:>4}  {p:>9.2f}  {r:>6.2f}  ({tp[a]} {fp[a]} {fn[a]})")
    lines.extend(misses)
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert accuracy >= MIN_ACCURACY, "\n".join(lines)


def test_labelled_sets_cover_every_area() -> None:
    counts = Counter()
    for name in ("titles_dev.tsv", "titles_heldout.tsv"):
        for _item, expected in load(name):
            counts.update(expected or {0})
    assert sum(counts.values()) >= 260
    assert counts[0] >= 40
    assert all(counts[a] >= 8 for a in range(1, 21)), counts


# --- hard confusions ---------------------------------------------------------------------


def test_works_award_is_construction_tendering() -> None:
    assert areas("重庆市公共资源交易中心关于某某大道改造工程施工中标结果公示") == [9]
    assert areas("某某小学新建工程监理服务中标结果公示") == [9]


def test_goods_award_is_government_procurement() -> None:
    assert areas("某某区人民医院彩超设备采购项目中标（成交）结果公告") == [8]
    assert areas("某某街道物业管理服务项目中标公告") == [8]


def test_procurement_budget_is_not_a_budget_disclosure() -> None:
    assert areas("某某局2024年办公设备采购项目（采购预算80万元）竞争性磋商公告") == [8]


def test_tender_does_not_add_the_domain_of_what_is_bought() -> None:
    assert areas("某某县人民医院医疗设备政府采购项目成交公告") == [8]
    assert areas("某某公租房小区配套道路工程施工招标公告") == [9]


def test_land_and_mining_transactions_are_not_procurement() -> None:
    assert areas("某某区国有建设用地使用权网上挂牌出让成交结果公示") == [5]
    assert areas("某某县建筑石料用灰岩矿采矿权出让成交结果公示") == [5]


def test_medical_insurance_is_social_security_not_health() -> None:
    assert only("关于2025年城乡居民基本医疗保险参保缴费工作的通知").area == 13
    assert only("关于公布医保定点医疗机构名单的通知").area == 13


def test_medical_charges_and_institutions_are_health() -> None:
    assert only("关于规范公立医院医疗服务价格的通知").rule == "a12-medical-charges"
    assert areas("某某区医疗机构校验结果公告") == [12]


def test_drugs_and_devices_are_food_drug_safety_not_health() -> None:
    assert areas("重庆市药品质量公告（2025年第1期）") == [17]
    assert areas("关于第二类医疗器械产品注册的公告") == [17]


def test_audit_of_budget_execution_is_audit_not_budget() -> None:
    m = only("关于2024年度区级预算执行和其他财政收支的审计工作报告")
    assert (m.area, m.rule) == (4, "a04-audit-report")
    assert areas("某某区审计局2025年部门预算") == [3]


def test_annual_disclosure_report_is_proactive_disclosure() -> None:
    m = only("某某区2022年政府信息公开工作年度报告")
    assert (m.area, m.rule) == (19, "a19-annual-report")


def test_agency_name_in_title_is_not_the_subject() -> None:
    assert areas("重庆市生态环境局新闻发言人及联系方式") == [18]
    assert areas("重庆市卫生健康委员会政府信息公开指南") == [19]
    assert areas("重庆市生态环境局召开2025年全市生态环境保护工作会议") == []


def test_higher_education_only() -> None:
    assert areas("重庆市2025年普通高校招生录取工作实施办法") == [10]
    assert areas("关于做好2025年义务教育招生入学工作的通知") == []
    assert areas("关于做好2025年高校毕业生就业工作的通知") == [13]


def test_penalty_adds_its_domain() -> None:
    assert areas("重庆市生态环境局行政处罚决定书（渝环罚〔2025〕1号）") == [2, 14]
    assert areas("某某区市场监督管理局行政处罚决定书（销售不合格食品案）") == [2, 17]


def test_body_is_only_a_fallback() -> None:
    body = "行政处罚决定书 当事人：某某公司 违法事实：经查，当事人……"
    m = only("公告", body_text=body)
    assert (m.area, m.rule) == (2, "a02-body-decision")
    assert areas("关于召开2025年全市农业农村工作会议的通知", body_text=body) == []


def test_body_beyond_first_500_characters_is_ignored() -> None:
    body = "某" * 500 + "行政处罚决定书 当事人 违法事实"
    assert areas("公告", body_text=body) == []


def test_empty_item_has_no_areas() -> None:
    assert classify(normalise_item({})) == []


# --- the Match contract --------------------------------------------------------------------


def test_matches_are_sorted_one_per_area_and_substrings_of_their_field() -> None:
    for name in ("titles_dev.tsv", "titles_heldout.tsv"):
        for item, _expected in load(name):
            matches = classify(item)
            assert [m.area for m in matches] == sorted({m.area for m in matches})
            for m in matches:
                field = rule_field(m.rule)
                source = item["title"] if field == "subject" else item[field]
                assert m.matched and m.matched in source, (m, item["title"])


def test_classify_is_deterministic() -> None:
    item = normalise_item({"title": "荣昌区应急管理局关于某公司安全生产违法行为的行政处罚决定"})
    assert (
        classify(item)
        == classify(dict(item))
        == [
            Match(2, "a02-penalty-decision", "行政处罚决定"),
            Match(15, "a15-work-safety", "安全生产"),
        ]
    )


def test_rules_version_is_the_hash_of_the_rules_file() -> None:
    v = rules_version()
    assert v == rules_version()
    assert v == hashlib.sha256(RULES_PATH.read_bytes()).hexdigest()[:16]


def test_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    items = [item for name in ("titles_dev.tsv", "titles_heldout.tsv") for item, _ in load(name)]
    items = items * (5000 // len(items) + 1)
    start = time.perf_counter()
    for item in items:
        classify(item)
    rate = len(items) / (time.perf_counter() - start)
    with capsys.disabled():
        print(f"\nclassify: {rate:,.0f} items/s (titles, topic, publisher)")
    assert rate >= 5000  # lenient floor for loaded CI machines; the target is 20,000/s
