"""`/completeness` (heatmap page), `/completeness.csv` and `/completeness.json`.

Served from the cube computed at publish time (gongkai/completeness.py): one small JSON file
per period, cached in memory, so a report never queries the store. The same view functions
write the report without a server (`gongkai report completeness`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from gongkai.completeness import (
    AGENCY,
    CAT,
    CHECK_LABELS,
    DIVISION,
    GK,
    RULE_LABELS,
    STATUS_LABELS,
    CubeMissing,
    CubeReader,
    Period,
)
from gongkai.config import DataDir

TEMPLATES = Path(__file__).parent / "templates"
SHORT_AREAS = {
    1: ("行政审批", "Approvals"),
    2: ("行政处罚", "Penalties"),
    3: ("财政预决算", "Budgets"),
    4: ("审计", "Audit"),
    5: ("征地出让", "Land"),
    6: ("房屋征收", "Expropriation"),
    7: ("保障性住房", "Social housing"),
    8: ("政府采购", "Procurement"),
    9: ("工程建设", "Construction"),
    10: ("高校招生财务", "Universities"),
    11: ("科技项目", "Science"),
    12: ("医疗卫生", "Health"),
    13: ("就业社保", "Employment"),
    14: ("环境保护", "Environment"),
    15: ("安全生产", "Work safety"),
    16: ("国企财务", "SOE finances"),
    17: ("食品药品", "Food and drugs"),
    18: ("公开平台", "Platforms"),
    19: ("主动公开", "Proactive"),
    20: ("依申请公开", "On request"),
}
PREFIXES = f"""PREFIX gk: <{GK}>
PREFIX cat: <{CAT}>
PREFIX agency: <{AGENCY}>
PREFIX division: <{DIVISION}>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
"""
CSV_FIELDS = [
    "period",
    "area",
    "area_zh",
    "area_en",
    "body",
    "body_zh",
    "body_en",
    "body_kind",
    "count",
    "first",
    "last",
    "status",
    "obligations",
    "rule_checks",
    "silent_source",
    "sources",
]


class BadRequest(ValueError):
    """A filter that does not name anything (one-line message, HTTP 400)."""


# -- the SPARQL that reproduces a cell ---------------------------------------------------------
def _name(iri: str) -> str:
    """A prefixed name when the local part is safe, else the full IRI."""
    for prefix, ns in (("agency", AGENCY), ("division", DIVISION)):
        local = iri[len(ns) :]
        if iri.startswith(ns) and local.replace("-", "").replace("_", "").isalnum():
            return (
                f"{prefix}:{local}"
                if not local[0].isdigit() or prefix == "division"
                else f"<{iri}>"
            )
    return f"<{iri}>"


def _who(cell: dict[str, Any]) -> str:
    if cell["kind"] == "division":
        return f"  ?notice dcterms:publisher ?publisher .\n  ?publisher gk:division {_name(cell['body'])} ."
    values = " ".join(_name(p) for p in cell["publishers"])
    return f"  VALUES ?publisher {{ {values} }}\n  ?notice dcterms:publisher ?publisher ."


def _where(cell: dict[str, Any], period: Period) -> str:
    return (
        f"{_who(cell)}\n"
        f"  ?notice gk:area cat:{cell['area']} ;\n"
        f"          dcterms:issued ?issued .\n"
        f'  FILTER (?issued >= "{period.start}"^^xsd:date && ?issued <= "{period.end}"^^xsd:date)'
    )


def count_query(cell: dict[str, Any], period: Period) -> str:
    """SPARQL giving the cell's count, first and last date over the published store."""
    return (
        f"{PREFIXES}SELECT (COUNT(DISTINCT ?notice) AS ?count) (MIN(?issued) AS ?first) "
        f"(MAX(?issued) AS ?last)\nWHERE {{\n{_where(cell, period)}\n}}"
    )


def list_query(cell: dict[str, Any], period: Period) -> str:
    """SPARQL listing the notices behind the cell."""
    return (
        f"{PREFIXES}SELECT ?notice ?issued ?title ?publisher\nWHERE {{\n{_where(cell, period)}\n"
        f"  OPTIONAL {{ ?notice dcterms:title ?title }}\n}}\nORDER BY ?issued ?notice"
    )


# -- the view ----------------------------------------------------------------------------------
def _slug(iri: str) -> str:
    return iri.rsplit("/", 1)[-1]


def report_view(reader: CubeReader, params: dict[str, str]) -> dict[str, Any]:
    """The report for the filters in `params` (year, half, area, agency, district)."""
    index = reader.index()
    periods = index["periods"]
    years = sorted({int(p[:4]) for p in periods})
    if not years:
        raise CubeMissing("the completeness cube is empty (no dated notices)")
    year = params.get("year") or ""
    if year:
        if not year.isdigit() or int(year) not in years:
            raise BadRequest(f"no data for year {year!r} (years {years[0]}-{years[-1]})")
        year_n = int(year)
    else:
        year_n = years[-1]
    half = params.get("half") or ""
    if half not in ("", "1", "2"):
        raise BadRequest("half must be 1 or 2")
    period = Period.parse(f"{year_n}" + (f"-H{half}" if half else ""))
    doc = reader.period(period.key)
    area = params.get("area") or ""
    if area and (not area.isdigit() or not 1 <= int(area) <= 20):
        raise BadRequest("area must be 1-20")
    agency = params.get("agency") or ""
    district = params.get("district") or ""
    bodies = index["bodies"]
    if agency and AGENCY + agency not in bodies:
        raise BadRequest(f"unknown agency {agency!r}")
    if district and DIVISION + district not in bodies:
        raise BadRequest(f"unknown district {district!r}")
    cells = []
    for c in doc["cells"]:
        if area and c["area"] != int(area):
            continue
        if agency or district:
            # each filter picks its rows: an agency's row, a district's row, or both
            wanted = (agency and c["kind"] == "agency" and c["body"] == AGENCY + agency) or (
                district and c["kind"] == "division" and c["body"] == DIVISION + district
            )
            if not wanted:
                continue
        cells.append(c)
    areas = {int(k): v for k, v in index["areas"].items()}
    shown_areas = [int(area)] if area else sorted(areas)
    return {
        "run_id": index["run_id"],
        "period": period,
        "year": year_n,
        "half": half,
        "years": years,
        "filters": {
            "year": str(year_n),
            "half": half,
            "area": area,
            "agency": agency,
            "district": district,
        },
        "areas": areas,
        "shown_areas": shown_areas,
        "bodies": bodies,
        "cells": cells,
        "facts": doc["facts"],
        "silent": doc["silent"],
        "index": index,
    }


def _label(bodies: dict[str, Any], iri: str) -> tuple[str, str]:
    b = bodies.get(iri)
    return (b["zh"], b["en"]) if b else (_slug(iri), "")


def _rules_text(cell: dict[str, Any]) -> str:
    parts = []
    for r in cell["rules"]:
        if r["checked"] is None:
            parts.append(f"{r['rule']}:{r['status']}")
        else:
            parts.append(f"{r['rule']}:{r['status']} {r['violations']}/{r['checked']}")
    return "; ".join(parts)


def rows(view: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per cell: the CSV and the JSON carry these same numbers."""
    out = []
    for c in view["cells"]:
        zh, en = _label(view["bodies"], c["body"])
        azh, aen = view["areas"][c["area"]]
        out.append(
            {
                "period": view["period"].key,
                "area": c["area"],
                "area_zh": azh,
                "area_en": aen,
                "body": c["body"],
                "body_zh": zh,
                "body_en": en,
                "body_kind": c["kind"],
                "count": c["count"],
                "first": c["first"] or "",
                "last": c["last"] or "",
                "status": c["status"],
                "obligations": "; ".join(f"{o['id']}:{o['status']}" for o in c["obligations"]),
                "rule_checks": _rules_text(c),
                "silent_source": "yes" if c["silent"] else "",
                "sources": " ".join(c["sources"]),
            }
        )
    return out


def to_csv(view: dict[str, Any]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows(view))
    return "\ufeff" + buf.getvalue()


def to_json(view: dict[str, Any]) -> dict[str, Any]:
    period = view["period"]
    cells = []
    for c, row in zip(view["cells"], rows(view), strict=True):
        cells.append(
            {
                **row,
                "publishers": c["publishers"],
                "obligations": c["obligations"],
                "rule_checks": c["rules"],
                "silent_source": c["silent"],
                "sources": c["sources"],
                "sparql": count_query(c, period),
            }
        )
    return {
        "run_id": view["run_id"],
        "period": period.key,
        "period_label": {"zh": period.label, "en": period.label_en},
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "filters": view["filters"],
        "facts_published": view["facts"],
        "silent_sources": view["silent"],
        "statuses": {k: {"zh": v[0], "en": v[1]} for k, v in STATUS_LABELS.items()},
        "cells": cells,
    }


# -- HTML --------------------------------------------------------------------------------------
_ENV: Environment | None = None


def _env() -> Environment:
    global _ENV
    if _ENV is None:
        _ENV = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
    return _ENV


def _grid(view: dict[str, Any], kind: str, base: str) -> list[dict[str, Any]]:
    period = view["period"]
    by_body: dict[str, dict[int, dict[str, Any]]] = {}
    for c in view["cells"]:
        if c["kind"] == kind:
            by_body.setdefault(c["body"], {})[c["area"]] = c
    grid = []
    for body, cells in by_body.items():
        zh, en = _label(view["bodies"], body)
        row = {"iri": body, "slug": _slug(body), "zh": zh, "en": en, "cells": []}
        for area in view["shown_areas"]:
            c = cells.get(area)
            if c is None:
                row["cells"].append(None)
                continue
            broken = [r for r in c["rules"] if r["status"] == "broken"]
            row["cells"].append(
                {
                    **c,
                    "broken": broken,
                    "notices_url": f"{base}completeness/notices?"
                    + urlencode({"period": period.key, "area": c["area"], "body": c["body"]}),
                    "query": count_query(c, period),
                }
            )
        grid.append(row)
    grid.sort(key=lambda r: r["zh"])
    return grid


def to_html(
    view: dict[str, Any], base: str = "/", annual_reports: dict[str, Any] | None = None
) -> str:
    index = view["index"]
    agencies = sorted(
        (iri for iri, b in view["bodies"].items() if b["kind"] == "agency"),
        key=lambda i: view["bodies"][i]["zh"],
    )
    used = {c["body"] for c in view["cells"]} | {AGENCY + view["filters"]["agency"]}
    agencies = [a for a in agencies if a in used or a in index["departments"]]
    totals: dict[str, int] = {}
    for c in view["cells"]:
        totals[c["status"]] = totals.get(c["status"], 0) + 1
    return (
        _env()
        .get_template("completeness.html")
        .render(
            view=view,
            period=view["period"],
            base=base,
            agency_grid=_grid(view, "agency", base),
            division_grid=_grid(view, "division", base),
            short=SHORT_AREAS,
            statuses=STATUS_LABELS,
            checks=CHECK_LABELS,
            rule_labels=RULE_LABELS,
            agencies=[(_slug(a), *_label(view["bodies"], a)) for a in agencies],
            districts=[(_slug(d), *_label(view["bodies"], d)) for d in index["divisions"]],
            totals=totals,
            gk=GK,
            csv_url=f"{base}completeness.csv?" + urlencode(view["filters"]),
            json_url=f"{base}completeness.json?" + urlencode(view["filters"]),
            annual_reports=annual_reports,
        )
    )


# -- routes ------------------------------------------------------------------------------------
def _reader(request: Request) -> CubeReader:
    reader = getattr(request.app.state, "completeness", None)
    if reader is None:
        reader = request.app.state.completeness = CubeReader(request.app.state.settings.data)
    return reader


def _params(request: Request) -> dict[str, str]:
    keys = ("year", "half", "area", "agency", "district")
    return {k: request.query_params.get(k, "").strip() for k in keys}


def _view_or_error(request: Request) -> dict[str, Any] | Response:
    try:
        return report_view(_reader(request), _params(request))
    except BadRequest as exc:
        return Response(f"{exc}\n", status_code=400, media_type="text/plain; charset=utf-8")
    except CubeMissing as exc:
        return Response(f"{exc}\n", status_code=404, media_type="text/plain; charset=utf-8")


async def completeness_page(request: Request) -> Response:
    view = _view_or_error(request)
    if isinstance(view, Response):
        return view
    from endpoint.annual_reports_routes import summary

    base = str(request.base_url)
    base = base if base.endswith("/") else base + "/"
    reports = summary(request.app.state.settings.data)
    return HTMLResponse(to_html(view, base=base, annual_reports=reports))


async def completeness_csv(request: Request) -> Response:
    view = _view_or_error(request)
    if isinstance(view, Response):
        return view
    name = f"completeness-{view['period'].key}.csv"
    return Response(
        to_csv(view).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def completeness_json(request: Request) -> Response:
    view = _view_or_error(request)
    if isinstance(view, Response):
        return view
    return JSONResponse(to_json(view))


async def completeness_notices(request: Request) -> Response:
    """The notices behind one cell: a redirect to /sparql with the cell's list query."""
    q = request.query_params
    try:
        period = Period.parse(q.get("period", ""))
        doc = _reader(request).period(period.key)
    except (ValueError, CubeMissing) as exc:
        return Response(f"{exc}\n", status_code=404, media_type="text/plain; charset=utf-8")
    for c in doc["cells"]:
        if str(c["area"]) == q.get("area") and c["body"] == q.get("body"):
            url = (
                str(request.base_url).rstrip("/")
                + "/sparql?"
                + urlencode({"query": list_query(c, period)})
            )
            return RedirectResponse(url, status_code=303)
    return Response("no such cell\n", status_code=404, media_type="text/plain; charset=utf-8")


def completeness_routes(data: DataDir | None = None) -> list[Route]:
    """The three routes; mount with `routes.extend(completeness_routes(data))`."""
    return [
        Route("/completeness", completeness_page, methods=["GET", "HEAD"]),
        Route("/completeness.csv", completeness_csv, methods=["GET", "HEAD"]),
        Route("/completeness.json", completeness_json, methods=["GET", "HEAD"]),
        Route("/completeness/notices", completeness_notices, methods=["GET", "HEAD"]),
    ]


# -- without a server (gongkai report completeness) --------------------------------------------
def write_report(
    data: DataDir, *, year: int | None, half: int | None, fmt: str, **filters: str
) -> str:
    """The report as text (html, csv or json) for the current generation's cube."""
    params = {"year": str(year or ""), "half": str(half or "")}
    params |= {k: v or "" for k, v in filters.items()}
    view = report_view(CubeReader(data), params)
    if fmt == "csv":
        return to_csv(view)
    if fmt == "json":
        return json.dumps(to_json(view), ensure_ascii=False, indent=1)
    return to_html(view, base="http://127.0.0.1:8000/")
