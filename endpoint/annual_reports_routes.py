"""/annual-reports.csv: the figures of every 政府信息公开工作年度报告 read by the last publish.

The CSV is written by `gongkai.pipeline.publish` (`annual_reports/annual_reports.csv` in the
data directory); the observations themselves are the graph `graph/annual-reports` (qb:).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gongkai.config import DataDir


def csv_path(data: DataDir) -> Path:
    return data.root / "annual_reports" / "annual_reports.csv"


def summary(data: DataDir) -> dict[str, Any] | None:
    """Agencies × years with a report read, for the /completeness page; None before a build."""
    path = csv_path(data)
    if not path.exists():
        return None
    years: dict[tuple[str, str], set[int]] = {}
    with path.open(encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            key = (row.get("agency_name") or row.get("agency") or "", row.get("agency") or "")
            years.setdefault(key, set()).add(int(row["year"]))
    all_years = sorted({y for ys in years.values() for y in ys})
    rows = [
        {"name": name, "agency": agency, "years": [y in ys for y in all_years]}
        for (name, agency), ys in sorted(years.items())
    ]
    return {"years": all_years, "rows": rows}


async def annual_reports_csv(request: Request) -> Response:
    path = csv_path(request.app.state.settings.data)
    if not path.exists():
        return Response(
            "no annual reports built yet: run `gongkai run` (or publish) with sources whose "
            "政府信息公开工作年度报告 were harvested\n",
            status_code=404,
            media_type="text/plain; charset=utf-8",
        )
    return Response(
        path.read_bytes(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="annual-reports.csv"'},
    )


def annual_reports_routes() -> list[Route]:
    return [Route("/annual-reports.csv", annual_reports_csv, methods=["GET", "HEAD"])]
