"""Sandbox Word and Excel attachments (harvesters/sandbox/attachments.py) are filled into a
template saved once, not built by python-docx/openpyxl each time: they must read back to the
same text as the files those libraries build, and be the same bytes for the same text."""

from __future__ import annotations

import io
import zipfile

import docx as python_docx
import pytest
from openpyxl import Workbook, load_workbook

from harvesters.attachments import _docx, _xlsx, sniff
from harvesters.sandbox import attachments as files

LINE_SETS = [
    files.attachment_lines(
        "关于<渝中区>“安全生产”&'消防'检查的\"通告\"",
        "重庆市渝中区",
        "11500103MB1502365L/2024-00012",
    ),
    ["a & b < c > d", "\"double\" 'single'", "]]> <![CDATA[x]]> &amp; &#20869;", "<w:t>x</w:t>"],
    ["  leading", "trailing  ", "   ", "tab\tinside", "line\nbreak", "cr\rhere", "crlf\r\nend"],
    ["", "between empty lines", ""],
    ["仅标题"],
    [f"第{i}条　重庆市人民政府办公厅关于印发《实施方案》的通知" for i in range(40)],
    ["𠀀𪚥 😀 supplementary planes"],
    [],
]


def library_docx(lines: list[str]) -> bytes:
    """The Word file as python-docx builds it (how the sandbox made them before)."""
    document = python_docx.Document()
    for i, line in enumerate(lines):
        if i == 0:
            document.add_heading(line, level=1)
        else:
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def library_xlsx(rows: list[list[str]], title: str = "Sheet1") -> bytes:
    """The workbook as openpyxl builds it (how the sandbox made them before)."""
    book = Workbook()
    book.active.title = title
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def table(lines: list[str]) -> list[list[str]]:
    return [["项目", "内容"], *[[f"第{i + 1}项", line] for i, line in enumerate(lines)]]


def paragraphs(body: bytes) -> list[tuple[str, str]]:
    return [(p.style.name, p.text) for p in python_docx.Document(io.BytesIO(body)).paragraphs]


def cells(body: bytes, read_only: bool) -> tuple[str, list[list[object]]]:
    book = load_workbook(io.BytesIO(body), read_only=read_only)
    sheet = book.worksheets[0]
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    book.close()
    return sheet.title, values


@pytest.mark.parametrize("lines", LINE_SETS)
def test_docx_reads_as_the_python_docx_file(lines):
    ours, theirs = files.docx(lines), library_docx(lines)
    assert paragraphs(ours) == paragraphs(theirs)
    assert _docx(ours) == _docx(theirs)


@pytest.mark.parametrize("lines", LINE_SETS)
def test_xlsx_reads_as_the_openpyxl_file(lines):
    ours, theirs = files.xlsx(table(lines)), library_xlsx(table(lines))
    assert cells(ours, read_only=False) == cells(theirs, read_only=False)
    assert cells(ours, read_only=True) == cells(theirs, read_only=True)
    assert _xlsx(ours) == _xlsx(theirs)


def test_xlsx_sheet_named_as_asked():
    rows, title = table(["一般公共预算"]), "三公经费&<支出>"
    assert cells(files.xlsx(rows, title), read_only=True) == cells(
        library_xlsx(rows, title), read_only=True
    )


def test_sandbox_attachments_carry_the_notice_lines():
    lines = LINE_SETS[0]
    word = _docx(files.attachment_bytes("docx", tuple(lines)))
    excel = _xlsx(files.attachment_bytes("xlsx", tuple(lines)))
    assert word.text == "\n".join(lines)
    assert excel.text == "\n".join(
        ["# Sheet1", "项目\t内容", *[f"第{i + 1}项\t{line}" for i, line in enumerate(lines)]]
    )


@pytest.mark.parametrize("kind", ["docx", "xlsx"])
def test_files_are_valid_zips_told_by_their_contents(kind):
    body = files.attachment_bytes(kind, tuple(LINE_SETS[1]))
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert len(archive.namelist()) == len(set(archive.namelist()))
    assert sniff(body, "https://x.gov.cn/download?id=1") == kind


@pytest.mark.parametrize("kind", ["docx", "xlsx"])
def test_same_text_same_bytes(kind):
    lines = tuple(LINE_SETS[2])
    first = files.attachment_bytes.__wrapped__(kind, lines)
    files._docx_template.cache_clear()
    files._xlsx_template.cache_clear()
    assert files.attachment_bytes.__wrapped__(kind, lines) == first
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert {info.date_time for info in archive.infolist()} == {(2024, 1, 1, 0, 0, 0)}
    assert b"2024-01-01T00:00:00Z" in archive.read("docProps/core.xml")


@pytest.mark.parametrize("render", [files.docx, lambda lines: files.xlsx([lines])])
def test_text_xml_cannot_hold_is_refused(render):
    with pytest.raises(ValueError, match="XML cannot hold"):
        render(["bell\x07"])


def test_pictures_are_drawn_once_per_organisation():
    one = files.attachment_lines("甲通知", "重庆市綦江区", "1/2024-00001")
    other = files.attachment_lines("乙通知", "重庆市綦江区", "1/2024-00002")
    files._picture_file.cache_clear()
    assert files.attachment_bytes("png", tuple(one)) == files.attachment_bytes("png", tuple(other))
    assert files._picture_file.cache_info().misses == 1
