"""Realistic attachment files for the sandbox and the tests, generated from text at runtime.

- `pdf_with_text(lines)`: a PDF whose text layer is Chinese, written by hand: the standard
  non-embedded CJK font `STSong-Light` with the `UniGB-UCS2-H` encoding (as reportlab writes
  it), so every PDF reader maps the codes back to Unicode;
- `scanned_pdf(lines)`: a PDF holding only a picture of the text (no text layer), as a scanner
  writes it (Pillow);
- `png_with_text(lines)`: the picture alone;
- `docx(lines)` (python-docx) and `xlsx(rows)` (openpyxl).

The pictures need a CJK font (Debian `fonts-noto-cjk` or `fonts-wqy-zenhei`); without one the
characters come out as boxes and OCR reads nothing, which is itself a realistic case.
"""

from __future__ import annotations

import io
from functools import lru_cache
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


def docx(lines: list[str]) -> bytes:
    from datetime import datetime

    import docx as python_docx

    document = python_docx.Document()
    document.core_properties.created = datetime(2024, 1, 1)
    document.core_properties.modified = datetime(2024, 1, 1)
    for i, line in enumerate(lines):
        if i == 0:
            document.add_heading(line, level=1)
        else:
            document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx(rows: list[list[object]], title: str = "Sheet1") -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


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
    short = [lines[-1].split("，")[0], "请依法监督"]
    if kind == "scan":
        return scanned_pdf(short)
    if kind == "png":
        return png_with_text(short)
    raise ValueError(f"unknown attachment kind {kind}")
