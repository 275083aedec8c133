"""The fast DOCX and XLSX readers (harvesters/attachments.py) give the text python-docx and
openpyxl give (`_python_docx_parts`, `_openpyxl_text`, kept as the fallback), and leave to
them what they do not read the same way."""

from __future__ import annotations

import io
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from harvesters import attachments
from harvesters.attachments import (
    _docx,
    _docx_parts,
    _openpyxl_text,
    _python_docx_parts,
    _read,
    _sheets_text,
    _tidy,
    _Unusual,
    _xlsx,
    _xlsx_sheets,
)
from harvesters.sandbox.attachments import attachment_bytes, attachment_lines

FILES = Path(__file__).resolve().parents[1] / "files" / "attachments"
LINES = tuple(
    attachment_lines("重庆市渝中区行政处罚决定书", "重庆市渝中区", "11500103MB1502365L/2024-00012")
)

W = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)
S = (
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)
CT = 'xmlns="http://schemas.openxmlformats.org/package/2006/content-types"'
PR = 'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"'
RT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
EXCEL = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def zipped(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def word(body: str, main: str = "word/document.xml") -> bytes:
    """A Word package whose body is `body` (WordprocessingML), its main part at `main`."""
    return zipped(
        {
            "[Content_Types].xml": f'<Types {CT}><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/{main}" ContentType="{WORD_MAIN}"/></Types>',
            "_rels/.rels": f'<Relationships {PR}><Relationship Id="rId1" '
            f'Type="{RT}/officeDocument" Target="{main}"/></Relationships>',
            "word/_rels/document.xml.rels": f'<Relationships {PR}><Relationship Id="rId9" '
            f'Type="{RT}/hyperlink" Target="https://www.cq.gov.cn/" TargetMode="External"/>'
            "</Relationships>",
            main: f"<w:document {W}><w:body>{body}</w:body></w:document>",
        }
    )


def p(*runs: str) -> str:
    return "<w:p>" + "".join(runs) + "</w:p>"


def r(*content: str) -> str:
    return "<w:r>" + "".join(f"<w:t>{c}</w:t>" if "<" not in c else c for c in content) + "</w:r>"


def tc(text: str, props: str = "") -> str:
    return f"<w:tc><w:tcPr>{props}</w:tcPr>{p(r(text)) if text else p()}</w:tc>"


def table(*rows: str) -> str:
    grid = "<w:tblGrid>" + "<w:gridCol/>" * 3 + "</w:tblGrid>"
    return f"<w:tbl><w:tblPr/>{grid}" + "".join(f"<w:tr>{row}</w:tr>" for row in rows) + "</w:tbl>"


def excel(
    sheets: dict[str, str],
    *,
    strings: list[str] | None = None,
    formats: str = "",
    styles: tuple[str, ...] = ("0",),
    book: str = "",
    workbook_type: str = "override",
) -> bytes:
    """An Excel package; `sheets`: title → the worksheet's children (dimension, sheetData);
    `styles`: the number format id of each cell style; `book`: workbook.xml's workbookPr."""
    main = f"{EXCEL}.sheet.main+xml"
    overrides = [f'<Override PartName="/xl/styles.xml" ContentType="{EXCEL}.styles+xml"/>']
    if workbook_type == "override":
        overrides.append(f'<Override PartName="/xl/workbook.xml" ContentType="{main}"/>')
    xml_type = main if workbook_type == "default" else "application/xml"
    rels = [f'<Relationship Id="rIdS" Type="{RT}/styles" Target="styles.xml"/>']
    listed = []
    files = {}
    for i, (title, content) in enumerate(sheets.items(), start=1):
        files[f"xl/worksheets/sheet{i}.xml"] = f"<worksheet {S}>{content}</worksheet>"
        overrides.append(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{EXCEL}.worksheet+xml"/>'
        )
        rels.append(
            f'<Relationship Id="rId{i}" Type="{RT}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        )
        listed.append(f'<sheet name="{title}" sheetId="{i}" r:id="rId{i}"/>')
    if strings is not None:
        items = "".join(f"<si>{s}</si>" for s in strings)
        files["xl/sharedStrings.xml"] = f"<sst {S}>{items}</sst>"
        overrides.append(
            f'<Override PartName="/xl/sharedStrings.xml" ContentType="{EXCEL}.sharedStrings+xml"/>'
        )
    xfs = "".join(f'<xf numFmtId="{n}" fontId="0" fillId="0" borderId="0"/>' for n in styles)
    return zipped(
        {
            "[Content_Types].xml": f'<Types {CT}><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="{xml_type}"/>'
            + "".join(overrides)
            + "</Types>",
            "_rels/.rels": f'<Relationships {PR}><Relationship Id="rId1" '
            f'Type="{RT}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
            "xl/_rels/workbook.xml.rels": f"<Relationships {PR}>"
            + "".join(rels)
            + "</Relationships>",
            "xl/workbook.xml": f"<workbook {S}>{book}<sheets>{''.join(listed)}</sheets></workbook>",
            "xl/styles.xml": f"<styleSheet {S}>{formats}"
            '<fonts count="1"><font/></fonts>'
            '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
            '<borders count="1"><border/></borders>'
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            f'</cellStyleXfs><cellXfs count="{len(styles)}">{xfs}</cellXfs>'
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            "</styleSheet>",
            **files,
        }
    )


def c(ref: str, value: str, kind: str = "n", style: int = 0) -> str:
    return f'<c r="{ref}" t="{kind}" s="{style}"><v>{value}</v></c>'


def rows(*cells_by_row: tuple[int, str], dimension: str | None = None) -> str:
    data = "".join(f'<row r="{n}">{cells}</row>' for n, cells in cells_by_row)
    return (
        f'<dimension ref="{dimension}"/>' if dimension else ""
    ) + f"<sheetData>{data}</sheetData>"


def fast_text(body: bytes) -> str:
    return _sheets_text(_xlsx_sheets(body))


# -- DOCX ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [attachment_bytes("docx", LINES), (FILES / "notice.docx").read_bytes()],
    ids=["sandbox", "notice.docx"],
)
def test_docx_files_read_as_python_docx_reads_them(body):
    assert _docx_parts(body) == _python_docx_parts(body)
    assert _docx(body).text == _tidy("\n".join(_python_docx_parts(body)))


def test_docx_sandbox_file_gives_its_lines():
    assert _docx_parts(attachment_bytes("docx", LINES)) == list(LINES)


def test_docx_runs_hyperlinks_tabs_and_breaks_as_python_docx():
    body = word(
        p(
            r("关于"),
            f'<w:hyperlink r:id="rId9">{r("重庆市人民政府网")}</w:hyperlink>',
            r("的通知", "<w:tab/>", "附件", "<w:br/>", "第二行", '<w:br w:type="page"/>', "下页"),
            r("<w:cr/>", "编号", "<w:noBreakHyphen/>", "1"),
        )
    )
    assert _docx_parts(body) == ["关于重庆市人民政府网的通知\t附件\n第二行下页\n编号-1"]
    assert _docx_parts(body) == _python_docx_parts(body)


def test_docx_merged_cells_kept_once_per_row_as_python_docx():
    body = word(
        table(
            tc("单位") + tc("项目", '<w:gridSpan w:val="2"/>'),
            tc("渝中区", '<w:vMerge w:val="restart"/>') + tc("罚款") + tc("2万元"),
            tc("", "<w:vMerge/>") + tc("警告") + tc("警告"),
        )
    )
    assert _docx_parts(body) == ["单位\t项目", "渝中区\t罚款\t2万元", "渝中区\t警告"]
    assert _docx_parts(body) == _python_docx_parts(body)


def test_docx_reads_only_what_python_docx_reads():
    """Tracked insertions, content controls and nested tables are not in python-docx's text."""
    inner = table(tc("内表"))
    body = word(
        p(r("正文"), f"<w:ins w:id='1' w:author='x'>{r('插入')}</w:ins>")
        + f"<w:sdt><w:sdtContent>{p(r('控件'))}</w:sdtContent></w:sdt>"
        + table(f"<w:tc>{p(r('外表'))}{inner}{p()}</w:tc>")
    )
    assert _docx_parts(body) == ["正文", "外表\n"]  # the cell's paragraphs: 外表 and an empty one
    assert _docx_parts(body) == _python_docx_parts(body)


def test_docx_main_part_elsewhere_is_read_by_python_docx():
    body = word(p(r("主文档")), main="word/main.xml")
    with pytest.raises(_Unusual):
        _docx_parts(body)
    assert _docx(body).text == "主文档"


def test_docx_broken_merge_fails_with_python_docx_reason():
    body = word(table(tc("上", "<w:vMerge/>")))
    result = _read(body, "docx")
    assert (result.status, result.reason) == (
        "failed",
        "cannot read docx: ValueError: no tr above topmost tr in w:tbl",
    )


# -- XLSX ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [attachment_bytes("xlsx", LINES), (FILES / "table.xlsx").read_bytes()],
    ids=["sandbox", "table.xlsx"],
)
def test_xlsx_files_read_as_openpyxl_reads_them(body):
    assert fast_text(body) == _openpyxl_text(body)
    assert _xlsx(body).text == _openpyxl_text(body)


def test_xlsx_fixture_values_by_sheet():
    text = fast_text((FILES / "table.xlsx").read_bytes())
    assert text == "# 三公经费\n项目\t金额（万元）\n因公出国（境）费\t12.5\n公务接待费\t3"


def test_xlsx_numbers_as_openpyxl_gives_them():
    body = excel(
        {
            "数": rows(
                (
                    1,
                    c("A1", "3")
                    + c("B1", "3.0")
                    + c("C1", "12.5")
                    + c("D1", "1E+20")
                    # POI writes whole numbers as 3.0, Excel as 3: openpyxl keeps the difference
                    + c("E1", "1", "b")
                    + c("F1", "#DIV/0!", "e")
                    + c("G1", " 1 ", "str"),
                )
            )
        }
    )
    assert fast_text(body) == "# 数\n3\t3.0\t12.5\t1e+20\tTrue\t#DIV/0!\t 1 "
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_dates_and_durations_by_number_format_as_openpyxl():
    formats = (
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy&quot;年&quot;m&quot;月&quot;"/>'
        '<numFmt numFmtId="165" formatCode="[h]:mm:ss"/></numFmts>'
    )
    cells = (
        c("A1", "45000", style=1)
        + c("B1", "45000.5", style=2)
        + c("C1", "1.5", style=3)
        # 31 is a date only in Chinese Excel; openpyxl does not know it: a number
        + c("D1", "45000", style=4)
    )
    body = excel(
        {"日期": rows((1, cells))}, formats=formats, styles=("0", "14", "164", "165", "31")
    )
    expected = "# 日期\n2023-03-15 00:00:00\t2023-03-15 12:00:00\t1 day, 12:00:00\t45000"
    assert fast_text(body) == expected
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_1904_dates_as_openpyxl():
    body = excel(
        {"日期": rows((1, c("A1", "45000", style=1)))},
        styles=("0", "14"),
        book='<workbookPr date1904="1"/>',
    )
    assert fast_text(body) == "# 日期\n2027-03-16 00:00:00"
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_empty_cells_and_several_sheets_as_openpyxl():
    body = excel(
        {
            "一": rows((2, c("C2", "甲", "str") + c("E2", "", "str")), (5, c("B5", "乙", "str"))),
            "二": rows(),
            "三": rows((1, c("A1", "丙", "str"))),
        },
    )
    assert fast_text(body) == "# 一\n\t\t甲\n\t乙\n# 二\n# 三\n丙"
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_shared_and_rich_strings_as_openpyxl():
    strings = [
        "<t>共享</t>",
        '<r><t>富</t></r><r><t>文本</t></r><rPh sb="0" eb="1"><t>注音</t></rPh>',
    ]
    body = excel({"文": rows((1, c("A1", "0", "s") + c("B1", "1", "s")))}, strings=strings)
    assert fast_text(body) == "# 文\n共享\t富文本"
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_rows_and_columns_cut_at_the_dimension_as_openpyxl():
    cells = ((1, c("A1", "1") + c("B1", "2") + c("C1", "3")), (2, c("A2", "4")), (3, c("A3", "5")))
    body = excel({"表": rows(*cells, dimension="A1:B2")})
    assert fast_text(body) == "# 表\n1\t2\n4"
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_text_cap_stops_where_openpyxl_stops(monkeypatch):
    monkeypatch.setattr(attachments, "MAX_TEXT_CHARS", 5)
    long = rows(*((n, c(f"A{n}", f"行{n}内容", "str")) for n in range(1, 5)))
    body = excel({"甲": long, "乙": long})
    assert fast_text(body) == "# 甲\n行1内容\n行2内容\n# 乙\n行1内容"
    assert fast_text(body) == _openpyxl_text(body)


def test_xlsx_workbook_told_by_default_type_is_read_by_openpyxl():
    body = excel({"表": rows((1, c("A1", "值", "str")))}, workbook_type="default")
    with pytest.raises(_Unusual):
        fast_text(body)
    assert _xlsx(body).text == "# 表\n值"


def test_xlsx_broken_file_fails_with_openpyxl_reason():
    body = excel({"表": rows((1, c("A1", "5", "s")))}, strings=["<t>唯一</t>"])
    result = _read(body, "xlsx")
    assert (result.status, result.reason) == (
        "failed",
        "cannot read xlsx: IndexError: list index out of range",
    )


def test_fingerprint_names_the_lxml_the_readers_parse_with():
    assert f"lxml={metadata.version('lxml')}" in attachments.fingerprint()
