"""Annual reports (国办公开办函〔2021〕30号 format): recognition, tables, Data Cube, CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pyoxigraph
import pytest

from ontology.annual_report import (
    annual_report_csv,
    annual_report_observations,
    dataset_iri,
    parse_annual_report,
    report_year,
    request_balance,
)
from ontology.namespaces import BASE, agency_iri

FILES = Path(__file__).parents[1] / "files" / "annual_reports"
DISTRICT = (FILES / "district_yuzhong_2023.html").read_text(encoding="utf-8")
DEPARTMENT = (FILES / "department_scjgj_2022.html").read_text(encoding="utf-8")
ODD = (FILES / "county_chengkou_2021_odd.html").read_text(encoding="utf-8")
GK = BASE + "def/gongkai#"
NOTICE = BASE + "id/notice/yuzhong/11500103009337002Y_2024-00007"


def value(html: str, measure: str, applicant: str = "not-applicable") -> Decimal | None:
    found = [
        o.value
        for o in parse_annual_report(html)
        if (o.measure, o.applicant_type) == (measure, applicant)
    ]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("重庆市渝中区人民政府2023年政府信息公开工作年度报告", 2023),
        ("重庆市市场监督管理局2022年度政府信息公开工作年度报告", 2022),
        ("城口县人民政府 2021 年政府信息公开工作年度报告", 2021),
        ("二〇二〇年重庆市财政局政府信息公开年度报告", 2020),
    ],
)
def test_report_title_gives_the_year(title: str, year: int) -> None:
    assert report_year(title) == year


def test_other_titles_are_not_reports() -> None:
    assert report_year("关于做好2023年政府信息公开工作的通知") is None


def test_district_proactive_table() -> None:
    assert value(DISTRICT, "normative-documents-issued") == 14
    assert value(DISTRICT, "normative-documents-in-force") == 87
    assert value(DISTRICT, "licensing-decisions-decisions") == 3412
    assert value(DISTRICT, "penalty-decisions-decisions") == 2265


def test_district_request_matrix_by_applicant() -> None:
    assert value(DISTRICT, "requests-new", "natural-person") == 186
    assert value(DISTRICT, "requests-new", "total") == 220
    assert value(DISTRICT, "unavailable-not-held", "other-organisation") == 2
    assert value(DISTRICT, "requests-carried-out", "total") == 20


def test_district_review_and_litigation() -> None:
    assert value(DISTRICT, "review-total") == 5
    assert value(DISTRICT, "litigation-direct-pending") == 1
    assert value(DISTRICT, "litigation-after-review-total") == 0


def test_department_fee_amount_is_decimal_10k_yuan() -> None:
    assert value(DEPARTMENT, "administrative-fees-amount-10k-yuan") == Decimal("125.36")


def test_department_refused_under_commercial_enterprise() -> None:
    assert value(DEPARTMENT, "refused-state-secret", "commercial-enterprise") == 1


def test_each_report_yields_every_standard_figure() -> None:
    # 10 proactive + 25 request rows x 7 columns + 15 review/litigation cells
    assert len(parse_annual_report(DISTRICT)) == 200
    assert len(parse_annual_report(DEPARTMENT)) == 200


def test_odd_spacing_and_markup_in_cells_are_read() -> None:
    assert value(ODD, "regulations-issued") == 0  # "规　章"
    assert value(ODD, "normative-documents-in-force") == 33  # "行政规范性<br/>文件"
    assert value(ODD, "licensing-decisions-decisions") == 871  # "行政&nbsp;许可"
    assert value(ODD, "requests-new", "natural-person") == 9  # full-width ９ inside <p><span>
    assert value(ODD, "granted", "other-organisation") == 1  # "(一) 予以公开"


def test_blank_cell_is_not_a_zero() -> None:
    assert value(ODD, "requests-carried-in", "research-institution") is None
    assert len(parse_annual_report(ODD)) == 199


@pytest.mark.parametrize("html", [DISTRICT, DEPARTMENT, ODD])
def test_request_matrix_balances(html: str) -> None:
    checks = request_balance(parse_annual_report(html))
    assert len(checks) == 7
    assert all(checks.values())


def test_observations_are_a_data_cube() -> None:
    nt = annual_report_observations(NOTICE, agency_iri("yuzhong"), 2023, DISTRICT)
    store = pyoxigraph.Store()
    store.load(nt.encode(), format=pyoxigraph.RdfFormat.N_TRIPLES)
    ds = dataset_iri(agency_iri("yuzhong"), 2023)
    assert ds == BASE + "id/annual-report/yuzhong/2023"
    rows = list(
        store.query(
            f"""PREFIX qb: <http://purl.org/linked-data/cube#> PREFIX gk: <{GK}>
            SELECT ?n WHERE {{ ?o a qb:Observation ; qb:dataSet <{ds}> ;
              gk:measureKind <{BASE}def/annual-report-measure/requests-new> ;
              gk:applicantType <{BASE}def/applicant-type/total> ; gk:reportYear ?y ; gk:count ?n }}"""
        )
    )
    assert [r["n"].value for r in rows] == ["220"]
    structure = store.query(f"ASK {{ <{ds}> <http://purl.org/linked-data/cube#structure> ?s }}")
    assert bool(structure)


def test_every_observation_has_all_dimensions() -> None:
    nt = annual_report_observations(NOTICE, agency_iri("yuzhong"), 2023, ODD)
    store = pyoxigraph.Store()
    store.load(nt.encode(), format=pyoxigraph.RdfFormat.N_TRIPLES)
    missing = store.query(
        f"""PREFIX qb: <http://purl.org/linked-data/cube#> PREFIX gk: <{GK}>
        SELECT (COUNT(*) AS ?n) WHERE {{ ?o a qb:Observation .
          FILTER NOT EXISTS {{ ?o gk:reportYear ?y ; gk:applicantType ?a ; gk:measureKind ?m ; gk:count ?c }} }}"""
    )
    assert next(iter(missing))["n"].value == "0"


def test_csv_has_bom_and_rows() -> None:
    rows = [
        {"agency": "yuzhong", "year": 2023, **o.__dict__} for o in parse_annual_report(DISTRICT)
    ]
    text = annual_report_csv(rows)
    assert text.startswith("\ufeff")
    parsed = list(csv.DictReader(io.StringIO(text[1:])))
    assert len(parsed) == 200
    first = next(
        r
        for r in parsed
        if r["measure"] == "requests-new" and r["applicant_type"] == "natural-person"
    )
    assert (first["agency"], first["value"], first["applicant_label"]) == (
        "yuzhong",
        "186",
        "自然人",
    )
