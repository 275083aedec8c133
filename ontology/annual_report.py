"""政府信息公开工作年度报告: recognise one, read its standard tables, write them as RDF Data Cube.

Since 2021 every agency reports in the format of 国办公开办函〔2021〕30号: section 二 (主动公开)
tables keyed to Article 20 (规章 / 行政规范性文件 made, repealed, in force; 行政许可 / 行政处罚 /
行政强制 decisions; 行政事业性收费 amount), section 三 the request matrix (rows 一 … 四 with the
outcomes of (一)–(七), columns 自然人, 法人或其他组织 (商业企业, 科研机构, 社会公益组织, 法律服务
机构, 其他), 总计), section 四 the review and litigation counts (15 cells).

Tables are read as grids (rowspan/colspan expanded), so merged cells and odd spacing do not
matter: labels are matched with all whitespace removed and brackets unified. A blank cell is
not a zero: it yields no observation.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import html as lxml_html

from ontology.namespaces import BASE
from ontology.ntriples import XSD, iri, literal, triple

GK = BASE + "def/gongkai#"
QB = "http://purl.org/linked-data/cube#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
DCTERMS = "http://purl.org/dc/terms/"
DSD = GK + "AnnualReportStructure"
MEASURE_BASE = BASE + "def/annual-report-measure/"
APPLICANT_BASE = BASE + "def/applicant-type/"

_TITLE_RE = re.compile(
    r"([12]\d{3}|[〇零一二三四五六七八九]{4})\s*年(?:度)?.{0,40}?政府信息公开(?:工作)?年度报告"
)
_CN_YEAR = str.maketrans("〇零一二三四五六七八九", "00123456789")

APPLICANTS: dict[str, str] = {
    "自然人": "natural-person",
    "商业企业": "commercial-enterprise",
    "科研机构": "research-institution",
    "社会公益组织": "public-interest-organisation",
    "法律服务机构": "legal-service-organisation",
    "其他": "other-organisation",
    "总计": "total",
}
NOT_APPLICABLE = "not-applicable"
APPLICANT_LABELS = {v: k for k, v in APPLICANTS.items()} | {NOT_APPLICABLE: "不适用"}

# Section 二: row label → slug; column header → measure suffix.
PROACTIVE_ROWS = {
    "规章": "regulations",
    "行政规范性文件": "normative-documents",
    "行政许可": "licensing-decisions",
    "行政处罚": "penalty-decisions",
    "行政强制": "enforcement-decisions",
    "行政事业性收费": "administrative-fees",
}
PROACTIVE_COLS = {
    "本年制发件数": "issued",
    "本年新制作数量": "issued",
    "本年废止件数": "repealed",
    "现行有效件数": "in-force",
    "处理决定数量": "decisions",
    "本年处理决定数量": "decisions",
    "收费金额": "amount-10k-yuan",
    "本年收费金额": "amount-10k-yuan",
}

# Section 三: (group, item) → slug and label. Group numbers are the report's own.
REQUEST_ROWS: dict[tuple[str, str], tuple[str, str]] = {
    ("一", ""): ("requests-new", "本年新收政府信息公开申请数量"),
    ("二", ""): ("requests-carried-in", "上年结转政府信息公开申请数量"),
    ("三一", ""): ("granted", "予以公开"),
    ("三二", ""): ("partially-granted", "部分公开"),
    ("三三", "1"): ("refused-state-secret", "不予公开：属于国家秘密"),
    ("三三", "2"): ("refused-prohibited-by-law", "不予公开：其他法律行政法规禁止公开"),
    ("三三", "3"): ("refused-three-securities-one-stability", "不予公开：危及“三安全一稳定”"),
    ("三三", "4"): ("refused-third-party-rights", "不予公开：保护第三方合法权益"),
    ("三三", "5"): ("refused-internal-affairs", "不予公开：属于三类内部事务信息"),
    ("三三", "6"): ("refused-process-information", "不予公开：属于四类过程性信息"),
    ("三三", "7"): ("refused-enforcement-files", "不予公开：属于行政执法案卷"),
    ("三三", "8"): ("refused-query-matters", "不予公开：属于行政查询事项"),
    ("三四", "1"): ("unavailable-not-held", "无法提供：本机关不掌握相关政府信息"),
    ("三四", "2"): ("unavailable-needs-creation", "无法提供：没有现成信息需要另行制作"),
    ("三四", "3"): ("unavailable-unclear", "无法提供：补正后申请内容仍不明确"),
    ("三五", "1"): ("not-processed-petition", "不予处理：信访举报投诉类申请"),
    ("三五", "2"): ("not-processed-repeated", "不予处理：重复申请"),
    ("三五", "3"): ("not-processed-publications", "不予处理：要求提供公开出版物"),
    ("三五", "4"): ("not-processed-mass-repeated", "不予处理：无正当理由大量反复申请"),
    ("三五", "5"): ("not-processed-confirmation", "不予处理：要求行政机关确认或重新出具已获取信息"),
    ("三六", "1"): ("other-no-correction", "其他处理：申请人无正当理由逾期不补正"),
    ("三六", "2"): ("other-fee-unpaid", "其他处理：申请人逾期未缴纳费用"),
    ("三六", "3"): ("other", "其他处理：其他"),
    ("三七", ""): ("handled-total", "办理结果总计"),
    ("四", ""): ("requests-carried-out", "结转下年度继续办理"),
}
# Section 四: the 15 cells in the standard order.
REVIEW_COLS = [
    ("review-upheld", "行政复议：结果维持"),
    ("review-corrected", "行政复议：结果纠正"),
    ("review-other", "行政复议：其他结果"),
    ("review-pending", "行政复议：尚未审结"),
    ("review-total", "行政复议：总计"),
]
for _prefix, _label in (
    ("litigation-direct", "未经复议直接起诉"),
    ("litigation-after-review", "复议后起诉"),
):
    for _suffix, _l in (
        ("upheld", "结果维持"),
        ("corrected", "结果纠正"),
        ("other", "其他结果"),
        ("pending", "尚未审结"),
        ("total", "总计"),
    ):
        REVIEW_COLS.append((f"{_prefix}-{_suffix}", f"行政诉讼：{_label}：{_l}"))

_WS_RE = re.compile(r"[\s\u3000\xa0\u200b]+")
_BRACKETS = str.maketrans("()（）０１２３４５６７８９．，", "（）（）0123456789.,")
_GROUP_RE = re.compile(r"^([一二三四])、")
_SUB_RE = re.compile(r"[（(]([一二三四五六七])[)）]")
_ITEM_RE = re.compile(r"^(\d)[.．、]")


@dataclass(frozen=True)
class Observation:
    section: str  # "2" proactive | "3" requests | "4" review and litigation
    measure: str  # slug (IRI segment)
    measure_label: str
    applicant_type: str  # slug, NOT_APPLICABLE outside section 三
    value: Decimal


def report_year(title: str) -> int | None:
    """The year of a 政府信息公开工作年度报告 from its title, else None (not an annual report)."""
    m = _TITLE_RE.search(_WS_RE.sub("", title or ""))
    if not m:
        return None
    year = int(m.group(1).translate(_CN_YEAR))
    return year if 2000 <= year <= 2100 else None


def is_annual_report(title: str) -> bool:
    return report_year(title) is not None


def _text(cell: Any) -> str:
    return _WS_RE.sub("", cell.text_content()).translate(_BRACKETS)


def table_grid(table: Any) -> list[list[str]]:
    """A table as a rectangular grid of cell texts, rowspan and colspan copied into each slot."""
    grid: dict[tuple[int, int], str] = {}
    rows = [tr for tr in table.iter("tr") if tr.getparent() is not None]
    width = 0
    for r, tr in enumerate(rows):
        c = 0
        for cell in tr:
            if cell.tag not in ("td", "th"):
                continue
            while (r, c) in grid:
                c += 1
            try:
                rs = max(1, min(int(cell.get("rowspan") or 1), 100))
                cs = max(1, min(int(cell.get("colspan") or 1), 50))
            except ValueError:
                rs = cs = 1
            text = _text(cell)
            for dr in range(rs):
                for dc in range(cs):
                    grid[(r + dr, c + dc)] = text
            c += cs
            width = max(width, c)
    height = max((r for r, _ in grid), default=-1) + 1
    return [[grid.get((r, c), "") for c in range(width)] for r in range(height)]


def _number(text: str) -> Decimal | None:
    text = text.replace(",", "")
    if not re.fullmatch(r"\d+(?:\.\d+)?", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _proactive(grid: list[list[str]]) -> list[Observation]:
    out: list[Observation] = []
    header: list[str | None] = []
    header_text: list[str] = []
    seen: set[str] = set()
    for row in grid:
        cols = [next((v for k, v in PROACTIVE_COLS.items() if k in cell), None) for cell in row]
        if any(cols):
            header, header_text = cols, row
            continue
        label = row[0] if row else ""
        slug = PROACTIVE_ROWS.get(label)
        if slug is None or not header:
            continue
        for i, cell in enumerate(row[1:], start=1):
            col = header[i] if i < len(header) else None
            n = _number(cell)
            if col and n is not None and f"{slug}-{col}" not in seen:
                seen.add(f"{slug}-{col}")  # a merged cell repeats its value across the span
                text = header_text[i]
                out.append(Observation("2", f"{slug}-{col}", f"{label}：{text}", NOT_APPLICABLE, n))
    return out


def _applicant_columns(grid: list[list[str]]) -> dict[int, str]:
    cols: dict[int, str] = {}
    for row in grid[:6]:
        for i, cell in enumerate(row):
            if cell in APPLICANTS:
                cols[i] = APPLICANTS[cell]  # the deepest header row wins (其他 under 法人…)
    return cols


def _request_key(labels: list[str]) -> tuple[str, str] | None:
    group = sub = item = ""
    for text in labels:
        if m := _GROUP_RE.match(text):
            group = m.group(1)
        if m := _SUB_RE.match(text):
            sub = m.group(1)
        if m := _ITEM_RE.match(text):
            item = m.group(1)
    if not group:
        return None
    return (group + sub if group == "三" else group, item)


def _requests(grid: list[list[str]]) -> list[Observation]:
    cols = _applicant_columns(grid)
    if not cols:
        return []
    first = min(cols)
    out: list[Observation] = []
    seen: set[str] = set()
    for row in grid:
        labels = list(dict.fromkeys(c for c in row[:first] if c))
        key = _request_key(labels)
        if key is None or key not in REQUEST_ROWS:
            continue
        slug, label = REQUEST_ROWS[key]
        if slug in seen:
            continue
        seen.add(slug)
        for i, applicant in sorted(cols.items()):
            n = _number(row[i]) if i < len(row) else None
            if n is not None:
                out.append(Observation("3", slug, label, applicant, n))
    return out


def _review(grid: list[list[str]]) -> list[Observation]:
    for row in grid:
        numbers = [c for c in row if c]
        if len(numbers) == len(REVIEW_COLS) and all(_number(c) is not None for c in numbers):
            return [
                Observation("4", slug, label, NOT_APPLICABLE, _number(c))  # type: ignore[arg-type]
                for (slug, label), c in zip(REVIEW_COLS, numbers, strict=True)
            ]
    return []


def parse_annual_report(html: str | bytes) -> list[Observation]:
    """Every figure of the standard tables found in the report's HTML body."""
    doc = lxml_html.fromstring(html if html else "<html/>")
    out: list[Observation] = []
    for table in doc.iter("table"):
        if table.xpath("ancestor::table"):
            continue  # nested layout tables are read as part of their parent
        grid = table_grid(table)
        flat = "".join("".join(r) for r in grid)
        if "商业企业" in flat and "自然人" in flat:
            out += _requests(grid)
        elif "行政复议" in flat and "行政诉讼" in flat:
            out += _review(grid)
        elif any(k in flat for k in PROACTIVE_COLS):
            out += _proactive(grid)
    return out


def request_balance(observations: Iterable[Observation]) -> dict[str, bool]:
    """The format's own check per applicant column: 一 + 二 = (七)总计 + 四."""
    by: dict[tuple[str, str], Decimal] = {
        (o.applicant_type, o.measure): o.value for o in observations
    }
    out = {}
    for applicant in {a for a, _ in by}:
        get = lambda m, a=applicant: by.get((a, m), Decimal(0))  # noqa: E731
        if (applicant, "handled-total") in by:
            out[applicant] = get("requests-new") + get("requests-carried-in") == get(
                "handled-total"
            ) + get("requests-carried-out")
    return out


def dataset_iri(agency_iri: str, year: int) -> str:
    slug = agency_iri.rstrip("/").rsplit("/", 1)[-1]
    return f"{BASE}id/annual-report/{slug}/{int(year)}"


def structure_ntriples() -> str:
    """The data structure definition shared by every annual-report data set."""
    d = iri(DSD)
    out = [triple(d, iri(RDF_TYPE), iri(QB + "DataStructureDefinition"))]
    for i, (prop, kind) in enumerate(
        (
            ("reportYear", "dimension"),
            ("applicantType", "dimension"),
            ("measureKind", "dimension"),
            ("count", "measure"),
        )
    ):
        c = iri(f"{DSD}/component/{prop}")
        out.append(triple(d, iri(QB + "component"), c))
        out.append(triple(c, iri(QB + kind), iri(GK + prop)))
        out.append(triple(c, iri(QB + "order"), literal(str(i + 1), datatype=XSD + "integer")))
    return "".join(out)


def annual_report_observations(
    notice_iri: str, agency_iri: str, year: int, html: str | bytes
) -> str:
    """A `qb:DataSet` per agency-year with one `qb:Observation` per figure, as N-Triples."""
    ds_iri = dataset_iri(agency_iri, year)
    ds = iri(ds_iri)
    y = literal(str(int(year)), datatype=XSD + "gYear")
    out = [
        structure_ntriples(),
        triple(ds, iri(RDF_TYPE), iri(QB + "DataSet")),
        triple(ds, iri(QB + "structure"), iri(DSD)),
        triple(ds, iri(DCTERMS + "publisher"), iri(agency_iri)),
        triple(ds, iri(DCTERMS + "source"), iri(notice_iri)),
        triple(ds, iri(GK + "reportYear"), y),
    ]
    for o in parse_annual_report(html):
        obs = iri(f"{ds_iri}/{o.measure}/{o.applicant_type}")
        m = iri(MEASURE_BASE + o.measure)
        is_int = o.value == o.value.to_integral() and not o.measure.endswith("amount-10k-yuan")
        value = literal(
            str(int(o.value)) if is_int else format(o.value, "f"),
            datatype=XSD + ("integer" if is_int else "decimal"),
        )
        out += [
            triple(obs, iri(RDF_TYPE), iri(QB + "Observation")),
            triple(obs, iri(QB + "dataSet"), ds),
            triple(obs, iri(GK + "reportYear"), y),
            triple(obs, iri(GK + "applicantType"), iri(APPLICANT_BASE + o.applicant_type)),
            triple(obs, iri(GK + "measureKind"), m),
            triple(obs, iri(GK + "count"), value),
            triple(m, iri(RDFS_LABEL), literal(o.measure_label, lang="zh")),
        ]
    return "".join(out)


CSV_FIELDS = ("section", "measure", "measure_label", "applicant_type", "applicant_label", "value")


def annual_report_csv(rows: Iterable[Observation | Mapping[str, Any]]) -> str:
    """Rows as CSV for spreadsheets: UTF-8 with a byte-order mark (Excel reads Chinese right).

    Extra keys of mapping rows (e.g. agency, year) become leading columns.
    """
    dicts = []
    for r in rows:
        d = asdict(r) if isinstance(r, Observation) else dict(r)
        d.setdefault("applicant_label", APPLICANT_LABELS.get(d.get("applicant_type", ""), ""))
        if isinstance(d.get("value"), Decimal):
            d["value"] = format(d["value"], "f")
        dicts.append(d)
    extra = sorted({k for d in dicts for k in d} - set(CSV_FIELDS))
    fields = [*extra, *CSV_FIELDS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")  # rows as lists: DictWriter costs 2x
    writer.writerow(fields)
    writer.writerows([d.get(k, "") for k in fields] for d in dicts)
    return "\ufeff" + buf.getvalue()
