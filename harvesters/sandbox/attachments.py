"""Realistic attachment files for the sandbox and the tests, generated from text at runtime.

- `pdf_with_text(lines)`: a PDF whose text layer is Chinese, written by hand: the standard
  non-embedded CJK font `STSong-Light` with the `UniGB-UCS2-H` encoding (as reportlab writes
  it), so every PDF reader maps the codes back to Unicode;
- `scanned_pdf(lines)`: a PDF holding only a picture of the text (no text layer), as a scanner
  writes it (Pillow);
- `png_with_text(lines)`: the picture alone;
- `docx(lines)` and `xlsx(rows)`: a file python-docx / openpyxl saved once per process, its
  text filled in per call (0.1 ms rather than 20 ms and 5 ms: the sandbox stands in for portals
  serving static files, and its CPU is taken from the crawler under test); the same text
  gives the same bytes.

The pictures need a CJK font (Debian `fonts-noto-cjk` or `fonts-wqy-zenhei`); without one the
characters come out as boxes and OCR reads nothing, which is itself a realistic case.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from pathlib import Path

CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # index 2: Noto Sans CJK SC
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
)

#: What each sandbox attachment kind is called and served as.
KINDS = {
    "pdf": ("pdf", "application/pdf"),
    "scan": ("pdf", "application/pdf"),
    "docx": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "png": ("png", "image/png"),
}


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF file from its numbered objects (1 = catalog), with a correct xref table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def pdf_with_text(lines: list[str], *, size: int = 14) -> bytes:
    """One A4 page with `lines` as real text (a text layer), in STSong-Light."""
    ops = [b"BT", b"/F1 %d Tf" % size, b"%d TL" % int(size * 1.6), b"56 780 Td"]
    for line in lines:
        ops.append(b"<" + line.encode("utf-16-be").hex().upper().encode() + b"> Tj T*")
    ops.append(b"ET")
    stream = b"\n".join(ops)
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light "
            b"/Encoding /UniGB-UCS2-H /DescendantFonts [6 0 R] >>",
            b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> "
            b"/FontDescriptor 7 0 R /DW 1000 >>",
            b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 "
            b"/FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880 /Descent -120 "
            b"/CapHeight 880 /StemV 93 >>",
        ]
    )


def cjk_font_path() -> tuple[str, int] | None:
    for path, index in CJK_FONTS:
        if Path(path).exists():
            return path, index
    return None


def _picture(lines: list[str], size: int = 44):
    from PIL import Image, ImageDraw, ImageFont

    found = cjk_font_path()
    font = (
        ImageFont.truetype(found[0], size, index=found[1])
        if found
        else ImageFont.load_default(size)
    )
    width = max(int(font.getlength(line)) for line in lines) + 2 * size
    height = int(len(lines) * size * 1.6) + 2 * size
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((size, size + int(i * size * 1.6)), line, font=font, fill=0)
    return image


def png_with_text(lines: list[str]) -> bytes:
    out = io.BytesIO()
    _picture(lines).save(out, "PNG", optimize=True)
    return out.getvalue()


def scanned_pdf(lines: list[str]) -> bytes:
    """A PDF with a picture of the text and no text layer (what a scanner produces)."""
    out = io.BytesIO()
    _picture(lines).convert("1").save(out, "PDF", resolution=150)  # 1-bit, as scanners file
    return out.getvalue()


#: The one date every generated OOXML file carries (zip entries and document properties), so
#: the same text always gives the same bytes.
_STAMP = datetime(2024, 1, 1)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BREAKS = re.compile("([\t\r\n])")


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _STAMP.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    return info


@dataclass(frozen=True)
class _Template:
    """A file saved once by its library: its fixed parts zipped and compressed once (styles
    alone are 800 kB of XML in a python-docx file), and the XML of the one part that changes
    before (`head`) and after (`tail`) the content that changes."""

    fixed: bytes
    part: str
    head: str
    tail: str


def _template(saved: bytes, part: str, start: str, end: str) -> tuple[_Template, str]:
    """`saved`, its `part` cut before the first `start` and after the last `end`: the template
    and the content between them."""
    zin = zipfile.ZipFile(io.BytesIO(saved))
    fixed = io.BytesIO()
    with zipfile.ZipFile(fixed, "w") as zout:
        for name in zin.namelist():
            if name != part:
                zout.writestr(_member(name), zin.read(name))
    xml = zin.read(part).decode()
    i, j = xml.index(start), xml.rindex(end) + len(end)
    return _Template(fixed.getvalue(), part, xml[:i], xml[j:]), xml[i:j]


def _render(template: _Template, head: str, content: str) -> bytes:
    """The template's fixed parts, then its changing part (last, so that the compressed fixed
    parts are copied as they are)."""
    out = io.BytesIO(template.fixed)
    with zipfile.ZipFile(out, "a") as zout:
        zout.writestr(_member(template.part), head + content + template.tail)
    return out.getvalue()


def _t(tag: str, text: str) -> str:
    """An XML text element escaped as lxml writes it (`\\r` as a reference), whitespace at its
    ends preserved as python-docx and openpyxl do; text XML cannot hold is refused, as lxml
    refuses it."""
    if _NOT_XML.search(text):
        raise ValueError(f"text XML cannot hold: {text!r}")
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f"<{tag}{space}>{escaped.replace(chr(13), '&#13;')}</{tag}>"


def _run(text: str) -> str:
    """A Word run as python-docx writes `text`: a tab is `w:tab`, a line break `w:br`; no run
    for no text."""
    if not text:
        return ""
    inner = "".join(
        "<w:tab/>" if part == "\t" else "<w:br/>" if part in "\r\n" else _t("w:t", part)
        for part in _BREAKS.split(text)
        if part
    )
    return f"<w:r>{inner}</w:r>"


@cache
def _docx_template() -> tuple[_Template, list[str], list[str]]:
    """python-docx's default document with a heading and a paragraph: the template, and the
    heading's and the paragraph's markup before and after their run."""
    import docx as python_docx

    document = python_docx.Document()
    document.core_properties.created = _STAMP
    document.core_properties.modified = _STAMP
    document.add_heading("HEADING", level=1)
    document.add_paragraph("PARAGRAPH")
    saved = io.BytesIO()
    document.save(saved)
    template, content = _template(saved.getvalue(), "word/document.xml", "<w:p>", "</w:p>")
    heading, paragraph = content.split("</w:p>", 1)
    return (
        template,
        (heading + "</w:p>").split(_run("HEADING")),
        paragraph.split(_run("PARAGRAPH")),
    )


def docx(lines: list[str]) -> bytes:
    """A Word file: the first line a heading, the others paragraphs; the XML python-docx writes
    for `Document()`, `add_heading(line, level=1)` and `add_paragraph(line)`, without building
    a document each time (20 ms)."""
    template, heading, paragraph = _docx_template()
    parts = []
    for i, line in enumerate(lines):
        before, after = paragraph if i else heading
        parts.append(before + _run(line) + after)
    return _render(template, template.head, "".join(parts))


@cache
def _xlsx_template(title: str) -> _Template:
    """openpyxl's workbook with one sheet, named `title`."""
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    book = Workbook()
    book.properties.created = _STAMP
    book.properties.modified = _STAMP  # `Workbook.save` would set it to now
    book.active.title = title
    book.active.append(["CELL"])
    saved = io.BytesIO()
    ExcelWriter(book, zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED)).save()
    return _template(saved.getvalue(), "xl/worksheets/sheet1.xml", "<sheetData>", "</sheetData>")[0]


def xlsx(rows: list[list[str]], title: str = "Sheet1") -> bytes:
    """A one-sheet workbook of text cells; the XML openpyxl writes for `sheet.append(row)`
    (inline strings), without building a workbook each time (5 ms). Unlike openpyxl's, a cell
    starting with `=` stays text."""
    from openpyxl.utils import get_column_letter

    template = _xlsx_template(title)
    last = f"{get_column_letter(max((len(row) for row in rows), default=1))}{max(len(rows), 1)}"
    head = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last}"/>', template.head)
    cells = []
    for r, row in enumerate(rows, start=1):
        cells.append(f'<row r="{r}">')
        for c, value in enumerate(row, start=1):
            ref = f"{get_column_letter(c)}{r}"
            is_ = f"<is>{_t('t', value)}</is>" if value else ""
            cells.append(f'<c r="{ref}" t="inlineStr">{is_}</c>')
        cells.append("</row>")
    return _render(template, head, "<sheetData>" + "".join(cells) + "</sheetData>")


def kind_of(doc_id: int) -> str:
    """Which kind of attachment a sandbox notice has (fixed by its document id)."""
    return ("pdf", "pdf", "pdf", "docx", "docx", "xlsx", "xlsx", "scan", "pdf", "png")[doc_id % 10]


def attachment_lines(title: str | None, org: str, index_no: str) -> list[str]:
    """The text a sandbox attachment carries: the notice's title and index number."""
    return [
        f"附件：{title or '（无标题）'}",
        f"索引号：{index_no}",
        f"{org}政务公开附件，请依法监督。",
    ]


@lru_cache(maxsize=256)
def attachment_bytes(kind: str, lines: tuple[str, ...]) -> bytes:
    """The file of a sandbox attachment; pictures carry only a short text, as scans do."""
    if kind == "pdf":
        return pdf_with_text(list(lines))
    if kind == "docx":
        return docx(list(lines))
    if kind == "xlsx":
        return xlsx([["项目", "内容"], *[[f"第{i + 1}项", line] for i, line in enumerate(lines)]])
    if kind in ("scan", "png"):
        return _picture_file(kind, lines[-1].split("，")[0])
    raise ValueError(f"unknown attachment kind {kind}")


@lru_cache(maxsize=256)
def _picture_file(kind: str, text: str) -> bytes:
    """A scan or a picture of `text` (the organisation's name: one file per organisation;
    drawing one costs 4-17 ms)."""
    lines = [text, "请依法监督"]
    return scanned_pdf(lines) if kind == "scan" else png_with_text(lines)
