"""Attachment text: what the PDFs, Word and Excel files and pictures attached to notices say.

The spider fetches each attachment of a notice it fetched (same politeness, scope and robots
rules as its pages, so the bytes are in the run's WARC file) and logs what failed. After the
crawl, `extract_run` reads the attachment responses back from the WARC file, extracts their
text and writes one record per (notice, attachment) to `runs/{run}/attachments/{src}.jsonl`:

    {"url", "notice", "doc_id", "status", "reason", "kind", "method", "chars", "bytes",
     "sha256", "truncated", "run_id", "text"}

`status` is one of
- `ok`: text read (`method`: `text-layer`, `ocr`, `docx`, `xlsx`, `antiword`, `xls2csv`);
- `ocr-empty`: a scan or a picture in which OCR found no text;
- `unsupported`: a format we do not read (`reason` names it: .ppt, .ofd, .wps, zip, rtf…);
- `failed`: not fetched (HTTP status, robots.txt), or broken, or a tool missing (`reason`);
- `not-fetched`: a link outside the portal's domains, or the crawl stopped first.

How each kind is read (chosen for being well kept and packaged in Debian):
- PDF: `pypdf`; a PDF with less than `SCANNED_CHARS_PER_PAGE` characters of text per page is a
  scan: its first `OCR_MAX_PAGES` pages are rasterised to 1-bit pictures with `pdftoppm` (poppler-utils) at
  `OCR_DPI` and read by `tesseract` (tesseract-ocr + tesseract-ocr-chi-sim);
- DOCX: the body's paragraphs, then table cells, as `python-docx` reads them (word/document.xml
  read with lxml, python-docx for the unusual); XLSX: the cached values as `openpyxl` reads them
  (its cell parser over lxml, its whole reader for the unusual);
- legacy .doc: `antiword`; legacy .xls: `xls2csv` (catdoc) — Debian packages; without them
  the record says `unsupported` and which tool is missing;
- PNG, JPEG, GIF, TIFF, BMP: `tesseract`.

The type is told by the file's first bytes, then by its name, never by the Content-Type
header alone (portals serve PDFs as `application/octet-stream`).

An attachment already read in an earlier run (a notice carried over by an incremental run) is
carried over from that run's records, so each run's file covers every attachment it knows.

Extracted text is cached by content (`TextCache`, `DataDir.attachment_cache`, SQLite in WAL
mode, shared by the worker processes and by every run): the key is the sha256 of the file's
bytes, its kind and a fingerprint of the extractor (`EXTRACTOR_VERSION`, the OCR language, the
versions of tesseract and of the Python readers), so a file seen once, in any run or source, is
never read or OCR'd again, and a record is the same with or without the cache. Within a run,
identical files are read once. Failures that depend on the machine rather than on the file
(a timeout, a missing tool, a tool killed by a signal, no memory) are never cached.

The stage runs in three steps over a process pool: per source, the WARC file is read once and
each attachment hashed and typed (cheap files are read there and then, cache misses only);
the pictures and scanned PDFs left are OCR'd in batches (one tesseract process reads many pages:
loading the language model costs most of the time of a small page); per source, the records are
written from the cache.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import json
import logging
import os
import posixpath
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from gongkai.config import DataDir
from gongkai.faults import die_with_parent
from gongkai.items import read_jsonl

STATUSES = ("ok", "ocr-empty", "unsupported", "failed", "not-fetched")
#: Characters kept in the run's records (and the search index); the RDF keeps RDF_CHARS.
MAX_TEXT_CHARS = 1_000_000
RDF_CHARS = 20_000
#: A PDF with less text than this per page is taken for a scan.
SCANNED_CHARS_PER_PAGE = 20
MAX_PDF_PAGES = 500
OCR_MAX_PAGES = 10
OCR_DPI = 200
OCR_LANG = os.environ.get("GONGKAI_OCR_LANG", "chi_sim")
OCR_TIMEOUT = 120
TOOL_TIMEOUT = 60
KIND = "attachment"  # the request kind in the spider's meta and the WARC records
#: Bump when what an extractor returns for the same bytes changes: cached results of an
#: older version are then not used.
EXTRACTOR_VERSION = 2  # 2: DOCX and XLSX read without building the whole document
#: Pages per tesseract process, and files per OCR batch (a work unit of the pool).
OCR_BATCH_PAGES = 40
OCR_BATCH_FILES = 16
#: `GONGKAI_ATTACHMENT_CACHE=off`: no persistent cache (identical files are still read once).
CACHE_ENV = "GONGKAI_ATTACHMENT_CACHE"

log = logging.getLogger(__name__)

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FILENAME = re.compile(r"(?:^|&)(?:filename|file|fileName)=([^&]*)", re.I)
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp")


@dataclass
class Extracted:
    status: str
    kind: str
    reason: str | None = None
    method: str | None = None
    text: str = ""
    truncated: bool = False


@dataclass
class Transient(Extracted):
    """A failure caused by the machine, not by the file (a timeout, a missing tool, a tool
    killed): recorded like any other, never cached, so a later run tries again."""


class MissingTool(RuntimeError):
    """A command-line tool (tesseract, pdftoppm, antiword, xls2csv) is not installed."""


class ToolFailed(RuntimeError):
    """A command-line tool exited with an error (`returncode` < 0: killed by a signal)."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


# -- telling the type ----------------------------------------------------------------------
def file_name(url: str) -> str:
    """The attachment's file name: the last path segment, or a download script's filename=."""
    parts = urlsplit(url)
    if m := _FILENAME.search(parts.query):
        return unquote(m.group(1))
    return unquote(parts.path.rsplit("/", 1)[-1])


def sniff(body: bytes, url: str = "", content_type: str = "") -> str:
    """pdf | docx | xlsx | pptx | ofd | zip | doc | xls | ppt | image | rtf | html | unknown."""
    ext = os.path.splitext(file_name(url).lower())[1]
    head = body[:16]
    if head.startswith(b"%PDF-") or b"%PDF-" in body[:1024]:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(body)).namelist()
        except zipfile.BadZipFile:
            return "zip"
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if any(n.startswith("ppt/") for n in names):
            return "pptx"
        if "OFD.xml" in names:
            return "ofd"
        return "zip"
    if head.startswith(_OLE):
        return {".xls": "xls", ".et": "xls", ".ppt": "ppt", ".dps": "ppt"}.get(ext, "doc")
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\x00", b"MM\x00*", b"BM")):
        return "image"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if "html" in content_type.lower() or head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        return "html"
    return "unknown"


# -- tools ---------------------------------------------------------------------------------
def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def _tool_env() -> dict[str, str]:
    """One OpenMP thread per tesseract: the stage runs one process per core already, and
    tesseract's spinning threads cost ~40 % more CPU on a busy machine for the same text."""
    return {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}


def _run(cmd: list[str], *, timeout: float, stdin: bytes | None = None) -> bytes:
    if not have(cmd[0]):
        raise MissingTool(f"{cmd[0]} is not installed")
    done = subprocess.run(
        cmd, input=stdin, capture_output=True, timeout=timeout, check=False, env=_tool_env()
    )
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ToolFailed(
            f"{cmd[0]} exited {done.returncode}: {message[-1] if message else ''}", done.returncode
        )
    return done.stdout


def ocr_image(image: bytes | Path, lang: str | None = None) -> str:
    """Text of one picture by tesseract (reads PNG, JPEG, GIF, TIFF, BMP)."""
    lang = lang or OCR_LANG
    if isinstance(image, Path):
        out = _run(["tesseract", str(image), "stdout", "-l", lang], timeout=OCR_TIMEOUT)
    else:
        out = _run(["tesseract", "stdin", "stdout", "-l", lang], timeout=OCR_TIMEOUT, stdin=image)
    return _tidy(out.decode("utf-8", "replace"))


def ocr_pages(pages: list[Path], lang: str | None = None) -> list[str | Exception]:
    """Text of each picture file, read by as few tesseract processes as possible.

    One tesseract reads a list of files (its page separator, form feed, between their texts),
    which gives the same text per page as one process per file without loading the language
    model each time. If a batch fails (an unreadable page stops the whole list), its pages are
    read one by one, so each gets its own text or its own error."""
    lang = lang or OCR_LANG
    out: list[str | Exception] = []
    for start in range(0, len(pages), OCR_BATCH_PAGES):
        chunk = pages[start : start + OCR_BATCH_PAGES]
        texts: list[str | Exception] | None = None
        if len(chunk) > 1:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as listing:
                listing.write("".join(f"{p}\n" for p in chunk))
                listing.flush()
                cmd = ["tesseract", listing.name, "stdout", "-l", lang]
                with contextlib.suppress(ToolFailed, subprocess.TimeoutExpired):
                    parts = _run(cmd, timeout=OCR_TIMEOUT + 10 * len(chunk)).split(b"\x0c")
                    if len(parts) == len(chunk):
                        texts = [_tidy(p.decode("utf-8", "replace")) for p in parts]
        if texts is None:
            texts = []
            for page in chunk:
                try:
                    texts.append(ocr_image(page, lang))
                except Exception as exc:  # this page's error, the others still read
                    texts.append(exc)
        out += texts
    return out


def _tidy(text: str) -> str:
    """Lines stripped, blank runs collapsed; tesseract's spaces between CJK characters dropped."""
    text = re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])", "", text)
    lines = [" ".join(line.split()) for line in text.replace("\x0c", "\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- readers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _OCR:
    """A file that needs OCR: a scanned PDF (with its page count) or a picture."""

    kind: str
    pages: int = 1


def _pdf(body: bytes) -> Extracted | _OCR:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(body))
    if reader.is_encrypted and not reader.decrypt(""):
        return Extracted("failed", "pdf", "encrypted PDF (a password is needed)")
    pages = reader.pages
    count = len(pages)
    texts = []
    for page in list(pages)[:MAX_PDF_PAGES]:
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # one broken page must not lose the others
            texts.append("")
    text = _tidy("\n".join(texts))
    if len(re.sub(r"\s", "", text)) >= SCANNED_CHARS_PER_PAGE * max(min(count, 3), 1):
        return Extracted("ok", "pdf", None, "text-layer", text, truncated=count > MAX_PDF_PAGES)
    if count == 0:
        return Extracted("failed", "pdf", "PDF without pages")
    if not have("tesseract"):
        reason = "scanned PDF (no text layer); OCR unavailable: tesseract is not installed"
        return Transient("failed", "pdf", reason)
    return _OCR("pdf", count)


class _Unusual(Exception):
    """A file the fast OOXML readers leave to python-docx or openpyxl, whose text they match."""


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_PR = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_OFFICE_DOCUMENT = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
)
#: Run content as python-docx's `Run.text` gives it (w:t and w:br are handled apart).
_RUN_CHARS = {f"{_W}tab": "\t", f"{_W}ptab": "\t", f"{_W}cr": "\n", f"{_W}noBreakHyphen": "-"}


@functools.cache
def _docx_parser() -> Any:
    from lxml import etree

    return etree.XMLParser(remove_blank_text=True, resolve_entities=False)


def _docx_xml(data: bytes) -> Any:
    """Parsed as python-docx parses (same tree, same text): no entities, no huge trees."""
    from lxml import etree

    return etree.fromstring(data, _docx_parser())


def _docx(body: bytes) -> Extracted:
    """Word text; python-docx builds styles, numbering, headers… to give it: word/document.xml
    alone is read (~30× less CPU), python-docx only for what the fast reader leaves to it."""
    try:
        parts = _docx_parts(body)
    except Exception as exc:  # unusual or broken: python-docx reads it, or says why it cannot
        log.debug("docx left to python-docx: %s: %s", type(exc).__name__, exc)
        parts = _python_docx_parts(body)
    return Extracted("ok", "docx", None, "docx", _tidy("\n".join(parts)))


def _python_docx_parts(body: bytes) -> list[str]:
    """The body's paragraphs, then each table's rows (the reference `_docx_parts` matches)."""
    import docx

    document = docx.Document(io.BytesIO(body))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [_row_text(cell.text for cell in row.cells) for row in table.rows]
    return parts


def _row_text(cells: Iterable[str]) -> str:
    """Merged cells repeat: each text once per row."""
    kept: list[str] = []
    for text in cells:
        if not kept or kept[-1] != text:
            kept.append(text)
    return "\t".join(kept)


def _docx_parts(body: bytes) -> list[str]:
    """`_python_docx_parts` from word/document.xml: the same elements (only the body's own
    w:p and w:tbl, a paragraph's own runs and hyperlinks' runs) read the same way."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        types = _docx_xml(archive.read("[Content_Types].xml"))
        overrides = {
            o.get("PartName").lower(): o.get("ContentType")
            for o in types.iterfind(f"{_CT}Override")
        }
        defaults = {
            d.get("Extension").lower(): d.get("ContentType")
            for d in types.iterfind(f"{_CT}Default")
        }
        rels = _docx_xml(archive.read("_rels/.rels")).findall(f"{_PR}Relationship")
        main = [r for r in rels if r.get("Type") == _OFFICE_DOCUMENT]
        if (
            overrides.get("/word/document.xml", defaults.get("xml")) != _DOCX_MAIN
            or len({r.get("Id") for r in rels}) != len(rels)
            or len(main) != 1
            or main[0].get("TargetMode", "Internal") != "Internal"
            or posixpath.normpath(posixpath.join("/", main[0].get("Target")))
            != "/word/document.xml"
        ):
            raise _Unusual("main document part elsewhere than word/document.xml")
        root = _docx_xml(archive.read("word/document.xml"))
    if root.tag != f"{_W}document" or (body_el := root.find(f"{_W}body")) is None:
        raise _Unusual("no w:document/w:body")
    parts = [_paragraph_text(p) for p in body_el.iterfind(f"{_W}p")]
    for table in body_el.iterfind(f"{_W}tbl"):
        rows = table.findall(f"{_W}tr")
        done: dict[Any, list[str]] = {}  # each w:tc's texts, for the merges continuing below
        for i, tr in enumerate(rows):
            texts: list[str] = []
            for tc in tr.iterfind(f"{_W}tc"):
                done[tc] = _tc_texts(rows, i, tc, done)
                texts += done[tc]
            parts.append(_row_text(texts))
    return parts


def _paragraph_text(p: Any) -> str:
    texts: list[str] = []
    for child in p:
        if child.tag == f"{_W}r":
            _run_text(child, texts)
        elif child.tag == f"{_W}hyperlink":
            for run in child.iterchildren(f"{_W}r"):
                _run_text(run, texts)
    return "".join(texts)


def _run_text(run: Any, texts: list[str]) -> None:
    for e in run:
        if e.tag == f"{_W}t":
            texts.append(e.text or "")
        elif e.tag == f"{_W}br":  # a line break; a page or column break is no text
            texts.append("\n" if e.get(f"{_W}type", "textWrapping") == "textWrapping" else "")
        elif e.tag in _RUN_CHARS:
            texts.append(_RUN_CHARS[e.tag])


def _tc_texts(rows: list[Any], i: int, tc: Any, done: dict[Any, list[str]]) -> list[str]:
    """A cell's text once per grid column it spans; a vertical merge's continuation is what
    the cell above it at the same grid offset gave (python-docx's `_Row.cells`)."""
    props = tc.find(f"{_W}tcPr")
    merge = None if props is None else props.find(f"{_W}vMerge")
    if merge is None or merge.get(f"{_W}val", "continue") != "continue":
        return [_cell_text(tc)] * _grid_span(tc)
    if i == 0:
        raise _Unusual("vertical merge continues from no row")
    siblings = tc.itersiblings(f"{_W}tc", preceding=True)
    offset = _grid_before(rows[i]) + sum(_grid_span(t) for t in siblings)
    return done[_tc_at(rows[i - 1], offset)]


def _tc_at(tr: Any, offset: int) -> Any:
    remaining = offset - _grid_before(tr)
    for tc in tr.iterfind(f"{_W}tc"):
        if remaining < 0:
            break
        if remaining == 0:
            return tc
        remaining -= _grid_span(tc)
    raise _Unusual(f"no cell above at grid offset {offset}")


def _cell_text(tc: Any) -> str:
    return "\n".join(_paragraph_text(p) for p in tc.iterfind(f"{_W}p"))


def _grid_span(tc: Any) -> int:
    props = tc.find(f"{_W}tcPr")
    span = None if props is None else props.find(f"{_W}gridSpan")
    return 1 if span is None else int(span.get(f"{_W}val"))


def _grid_before(tr: Any) -> int:
    props = tr.find(f"{_W}trPr")
    before = None if props is None else props.find(f"{_W}gridBefore")
    return 0 if before is None else int(before.get(f"{_W}val"))


_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_SHEET_STATES = (None, "none", "visible", "hidden", "veryHidden")


def _xlsx(body: bytes) -> Extracted:
    """Excel values by sheet; openpyxl builds a whole workbook (styles, properties…) first:
    the sheets are read with its cell parser only (~5× less CPU), openpyxl for the rest."""
    try:
        text = _sheets_text(_xlsx_sheets(body))
    except Exception as exc:  # unusual or broken: openpyxl reads it, or says why it cannot
        log.debug("xlsx left to openpyxl: %s: %s", type(exc).__name__, exc)
        text = _openpyxl_text(body)
    return Extracted("ok", "xlsx", None, "xlsx", text)


def _openpyxl_text(body: bytes) -> str:
    """openpyxl's read-only workbook, cached values (the reference `_xlsx_sheets` matches)."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    try:
        return _sheets_text((s.title, s.iter_rows(values_only=True)) for s in book.worksheets)
    finally:
        book.close()


def _sheets_text(sheets: Iterable[tuple[str, Iterable[Iterable[Any]]]]) -> str:
    parts: list[str] = []
    size = 0
    for title, rows in sheets:
        parts.append(f"# {title}")
        for row in rows:
            line = "\t".join("" if v is None else str(v) for v in row).rstrip("\t")
            if line:
                parts.append(line)
                size += len(line)
            if size > MAX_TEXT_CHARS:
                break
    return "\n".join(parts)


def _xlsx_sheets(body: bytes) -> Iterator[tuple[str, Iterator[list[Any]]]]:
    """openpyxl's `book.worksheets` (titles, rows of values) as `_openpyxl_text` reads them,
    without its Workbook: the same parts found the same way, the same date styles. Where
    openpyxl's own reading would be costly, its rules are followed on the lxml tree."""
    from openpyxl.packaging.relationship import get_dependents, get_rels_path
    from openpyxl.reader.strings import read_string_table
    from openpyxl.utils.datetime import MAC_EPOCH, WINDOWS_EPOCH
    from openpyxl.xml.constants import REL_NS, SHARED_STRINGS, XLSM, XLSX, XLTM, XLTX
    from openpyxl.xml.functions import fromstring

    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        types = fromstring(archive.read("[Content_Types].xml"))
        parts = [(o.get("PartName"), o.get("ContentType")) for o in _children(types, "Override")]
        if any(None in p for p in parts):
            raise _Unusual("a content type override without its part or type")
        path = next((n for t in (XLTM, XLTX, XLSM, XLSX) for n, c in parts if c == t), None)
        if path is None:  # a workbook told by a Default content type
            raise _Unusual("no workbook part in [Content_Types].xml")
        strings: list[str] = []
        if (shared := next((n for n, c in parts if c == SHARED_STRINGS), None)) is not None:
            with archive.open(shared[1:]) as src:
                strings = read_string_table(src)
        path = path[1:]
        book = _last_children(fromstring(archive.read(path)))
        flag = None if (props := book.get("workbookPr")) is None else props.get("date1904")
        epoch = MAC_EPOCH if flag not in (None, "", "false", "f", "0") else WINDOWS_EPOCH
        rels = get_dependents(archive, get_rels_path(path)).to_dict()
        dates, durations = _xlsx_date_styles(archive)
        names = set(archive.namelist())
        sheets = _sheet_list(book.get("sheets"))
        for sheet in sheets:
            if not (rid := sheet.get(f"{{{REL_NS}}}id", sheet.get("id"))):
                continue
            rel = rels[rid]
            if rel.target in names and "chartsheet" not in rel.Type:
                rows = _sheet_rows(archive, rel.target, strings, epoch, dates, durations)
                yield sheet.get("name"), rows


def _sheet_list(listed: Any) -> list[Any]:
    """workbook.xml's sheets; openpyxl refuses a sheet without a name, a number or a known
    state, and reads any element listed there as a sheet: such lists are left to it."""
    sheets = [] if listed is None else list(listed)
    if _children(listed, "sheet") != sheets:
        raise _Unusual("an unusual sheet list")
    for sheet in sheets:
        int(sheet.get("sheetId"))
        if sheet.get("name") is None or sheet.get("state") not in _SHEET_STATES:
            raise _Unusual("a sheet without a name or with an unknown state")
    return sheets


def _last_children(parent: Any) -> dict[str, Any]:
    """An element's children by local name, the last of a name (openpyxl's `from_tree`)."""
    return {c.tag.rsplit("}", 1)[-1]: c for c in parent if isinstance(c.tag, str)}


def _xlsx_date_styles(archive: zipfile.ZipFile) -> tuple[set[int], set[int]]:
    """The cell styles (xf indexes) whose number format is a date or a duration, as openpyxl's
    Stylesheet tells them, without building its other styles."""
    from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format
    from openpyxl.xml.functions import fromstring

    try:
        root = fromstring(archive.read("xl/styles.xml"))
    except KeyError:
        return set(), set()
    found = _last_children(root)
    custom: dict[int, str] = {}
    for fmt in _children(found.get("numFmts"), "numFmt"):
        if (code := fmt.get("formatCode")) is None:
            raise _Unusual("number format without a code")
        custom[int(fmt.get("numFmtId"))] = code
    dates, durations = set(), set()
    for index, xf in enumerate(_children(found.get("cellXfs"), "xf")):
        number = int(xf.get("numFmtId", 0))
        code = custom[number] if number in custom else builtin_format_code(number)
        if is_date_format(code):
            dates.add(index)
        if is_timedelta_format(code):
            durations.add(index)
    return dates, durations


def _children(parent: Any, name: str) -> list[Any]:
    """The children of that local name, in any namespace (as openpyxl finds them)."""
    if parent is None:
        return []
    return [c for c in parent if isinstance(c.tag, str) and c.tag.rsplit("}", 1)[-1] == name]


def _sheet_rows(
    archive: zipfile.ZipFile,
    path: str,
    strings: list[str],
    epoch: Any,
    dates: set[int],
    durations: set[int],
) -> Iterator[list[Any]]:
    """A read-only worksheet's rows of values as openpyxl gives them (its cell parser; rows
    and columns cut at the sheet's dimension), parsed by lxml, not openpyxl's pure-Python
    defusedxml parser; rows that openpyxl pads with None are left out (no text)."""
    from lxml import etree
    from openpyxl.worksheet._reader import WorkSheetParser
    from openpyxl.worksheet.dimensions import SheetDimension

    cells = WorkSheetParser(
        None, strings, data_only=True, epoch=epoch, date_formats=dates, timedelta_formats=durations
    )
    max_col = max_row = None
    dimension_read = rows_read = doctype_checked = False
    next_row = 1
    with archive.open(path) as src:
        for _, el in etree.iterparse(
            src,
            tag=(f"{_S}row", f"{_S}dimension", f"{_S}sheetData"),
            remove_comments=True,  # expat joins the text around them, as lxml does then
            remove_pis=True,
            resolve_entities=False,
        ):
            if not doctype_checked:  # lxml leaves entities unexpanded, openpyxl does not
                if el.getroottree().docinfo.doctype:
                    raise _Unusual("a DOCTYPE in a worksheet")
                doctype_checked = True
            if el.tag == f"{_S}row":
                rows_read = True
                index, row = cells.parse_row(el)
                el.clear()
                while el.getprevious() is not None:
                    del el.getparent()[0]
                if max_row is not None and index > max_row:
                    break
                if index >= next_row:  # a row number seen again is skipped
                    next_row = index + 1
                    yield _row_values(row, max_col)
            elif el.tag == f"{_S}dimension" and not dimension_read:
                if rows_read:
                    raise _Unusual("a dimension after rows")
                *_, max_col, max_row = SheetDimension.from_tree(el).boundaries
                dimension_read = True
            elif el.tag == f"{_S}sheetData":
                dimension_read = True  # openpyxl looks for it before the data only


def _row_values(row: list[dict[str, Any]], max_col: int | None) -> list[Any]:
    if not row and not max_col:
        return []
    width = max_col or row[-1]["column"]
    values: list[Any] = [None] * width
    for cell in row:
        if 1 <= cell["column"] <= width:
            values[cell["column"] - 1] = cell["value"]
    return values


def _legacy(body: bytes, kind: str) -> Extracted:
    tool, args = {"doc": ("antiword", ["-m", "UTF-8.txt"]), "xls": ("xls2csv", ["-d", "utf-8"])}[
        kind
    ]
    if not have(tool):
        return Transient("unsupported", kind, f"legacy .{kind} needs {tool} (not installed)")
    with tempfile.NamedTemporaryFile(suffix=f".{kind}") as f:
        f.write(body)
        f.flush()
        out = _run([tool, *args, f.name], timeout=TOOL_TIMEOUT)
    return Extracted("ok", kind, None, tool, _tidy(out.decode("utf-8", "replace")))


def _image(body: bytes) -> Extracted | _OCR:
    if not have("tesseract"):
        return Transient("failed", "image", "picture; OCR unavailable: tesseract is not installed")
    return _OCR("image")


def _failure(kind: str, exc: BaseException, *, ocr: bool = False) -> Extracted:
    """The record of a file whose reading raised. The machine's failures are Transient."""
    if isinstance(exc, subprocess.TimeoutExpired):
        cmd = exc.cmd[0] if isinstance(exc.cmd, list | tuple) else exc.cmd
        return Transient("failed", kind, f"{cmd} timed out after {exc.timeout:.0f} s")
    if isinstance(exc, MissingTool):
        if not ocr:
            return Transient("unsupported", kind, str(exc))
        what = "scanned PDF (no text layer)" if kind == "pdf" else "picture"
        return Transient("failed", kind, f"{what}; OCR unavailable: {exc}")
    reason = f"cannot read {kind}: {type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, MemoryError | OSError) or (
        isinstance(exc, ToolFailed) and exc.returncode < 0
    ):
        return Transient("failed", kind, reason)
    return Extracted("failed", kind, reason)


def _finish(result: Extracted) -> Extracted:
    result.text = result.text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    if len(result.text) > MAX_TEXT_CHARS:
        result.text, result.truncated = result.text[:MAX_TEXT_CHARS], True
    return result


_READERS = {"pdf": _pdf, "docx": _docx, "xlsx": _xlsx, "image": _image}
#: Kinds whose result depends on reading the file (the others are told by the type alone).
READ_KINDS = frozenset({*_READERS, "doc", "xls"})
_BATCHED_IMAGES = (b"\x89PNG", b"\xff\xd8\xff", b"BM")  # one page each (not TIFF, GIF)


def _read(body: bytes, kind: str) -> Extracted | _OCR:
    """Read a file of a READ_KINDS kind, up to OCR (left to `_ocr_many`)."""
    reader = _READERS.get(kind)
    try:
        result = reader(body) if reader else _legacy(body, kind)
    except Exception as exc:  # a broken file: record why, go on with the next one
        return _finish(_failure(kind, exc))
    return result if isinstance(result, _OCR) else _finish(result)


def _ocr_many(jobs: list[tuple[bytes, _OCR]], lang: str | None = None) -> list[Extracted]:
    """OCR of scanned PDFs and pictures: every page of every file through `ocr_pages`."""
    results: list[Extracted | None] = [None] * len(jobs)
    pages: list[list[Path]] = [[] for _ in jobs]
    with tempfile.TemporaryDirectory(prefix="gongkai-ocr-") as name:
        tmp = Path(name)
        for i, (body, job) in enumerate(jobs):
            try:
                if job.kind == "pdf":
                    pdf = tmp / f"{i}.pdf"
                    pdf.write_bytes(body)
                    last = min(job.pages, OCR_MAX_PAGES) or 1
                    # 1-bit pages: thresholding drops the JPEG noise of scans (OCR reads better)
                    cmd = ["pdftoppm", "-r", str(OCR_DPI), "-mono", "-png", "-f", "1"]
                    _run(
                        [*cmd, "-l", str(last), str(pdf), str(tmp / f"{i}-p")], timeout=OCR_TIMEOUT
                    )
                    pages[i] = sorted(tmp.glob(f"{i}-p*.png"))
                elif body.startswith(_BATCHED_IMAGES):
                    (tmp / f"{i}.img").write_bytes(body)
                    pages[i] = [tmp / f"{i}.img"]
                else:  # TIFF and GIF may hold several pictures: tesseract alone, as given
                    text = ocr_image(body, lang)
                    results[i] = _ocr_result(job, [text])
            except Exception as exc:
                results[i] = _failure(job.kind, exc, ocr=True)
        texts = iter(ocr_pages([p for ps in pages for p in ps], lang))
        for i, (_, job) in enumerate(jobs):
            if results[i] is None:
                page_texts = [next(texts) for _ in pages[i]]
                error = next((t for t in page_texts if isinstance(t, Exception)), None)
                if error is not None:
                    results[i] = _failure(job.kind, error, ocr=True)
                else:
                    results[i] = _ocr_result(job, [t for t in page_texts if isinstance(t, str)])
    return [_finish(r) for r in results if r is not None]


def _ocr_result(job: _OCR, texts: list[str]) -> Extracted:
    text = "\n".join(t for t in texts if t)
    if job.kind == "pdf":
        if not text:
            return Extracted("ocr-empty", "pdf", "scanned PDF: OCR found no text", "ocr")
        return Extracted("ok", "pdf", None, "ocr", text, truncated=job.pages > OCR_MAX_PAGES)
    if not text:
        return Extracted("ocr-empty", job.kind, "picture: OCR found no text", "ocr")
    return Extracted("ok", job.kind, None, "ocr", text)


_UNSUPPORTED = {
    "pptx": "PowerPoint (.pptx) is not read",
    "ppt": "legacy PowerPoint (.ppt) is not read",
    "ofd": "OFD (GB/T 33190) is not read",
    "zip": "archive (zip) is not unpacked",
    "rtf": "RTF is not read",
    "unknown": "unknown format",
}


def _early(kind: str, url: str, empty: bool) -> Extracted | None:
    """The result told without reading the file (empty, a web page, a format not read)."""
    if empty:
        return Extracted("failed", kind, "empty response")
    if kind == "html":
        return Extracted("failed", kind, "an HTML page instead of the file")
    if kind in _UNSUPPORTED:
        ext = os.path.splitext(file_name(url).lower())[1]
        reason = _UNSUPPORTED[kind] + (f" ({ext})" if kind == "unknown" and ext else "")
        return Extracted("unsupported", kind, reason)
    return None


def extract_text(body: bytes, url: str = "", content_type: str = "") -> Extracted:
    """The text of one attachment, or why there is none. Never raises for a bad file."""
    kind = sniff(body, url, content_type)
    if (early := _early(kind, url, not body)) is not None:
        return early
    result = _read(body, kind)
    if isinstance(result, _OCR):
        (result,) = _ocr_many([(body, result)])
    return result


# -- the cache -----------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _tool_versions() -> str:
    parts = []
    for dist in ("pypdf", "python-docx", "openpyxl", "lxml"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=none")
    version = "none"
    if have("tesseract"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                ["tesseract", "--version"], capture_output=True, timeout=TOOL_TIMEOUT, check=False
            )
            lines = (done.stdout or done.stderr).decode("utf-8", "replace").split()
            version = lines[1] if len(lines) > 1 else "unknown"
    parts.append(f"tesseract={version}")
    version = "none"
    if have("pdftoppm"):  # its rasterising is what tesseract reads
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(["pdftoppm", "-v"], capture_output=True, timeout=TOOL_TIMEOUT)
            words = (done.stderr or done.stdout).decode("utf-8", "replace").split()
            version = words[2] if len(words) > 2 else "unknown"
    return ";".join([*parts, f"pdftoppm={version}"])


def fingerprint(lang: str | None = None) -> str:
    """What, besides the bytes, an extracted text depends on: the extractor's version, the OCR
    language, and the versions of tesseract and of the Python readers."""
    return f"v{EXTRACTOR_VERSION};lang={lang or OCR_LANG};{_tool_versions()}"


class CacheUnusable(RuntimeError):
    """The cache file is corrupt or of another schema (it is moved aside and rebuilt)."""


_CORRUPT = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def _is_corruption(exc: BaseException) -> bool:
    return isinstance(exc, CacheUnusable) or (
        isinstance(exc, sqlite3.DatabaseError)
        and getattr(exc, "sqlite_errorname", None) in _CORRUPT
    )


class TextCache:
    """Extracted text by (sha256 of the file, kind), for one extractor fingerprint.

    SQLite in WAL mode: any number of processes read and write it at once; each result is
    written in one transaction, complete or not at all (a process killed while writing
    leaves no partial row), and only after its extraction finished. Transient failures are
    not written."""

    SCHEMA = 1

    def __init__(self, path: Path, fp: str | None = None):
        self.path = Path(path)
        self.fingerprint = fp or fingerprint()
        self.db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.db.execute("PRAGMA synchronous=NORMAL")

    @classmethod
    def open(cls, path: Path, fp: str | None = None) -> TextCache:
        """Open (creating) the cache; a corrupt file or one of another schema is moved aside
        to `*.corrupt-{time}` with a warning and a new one started: it only holds what the
        WARC files can give again, so nothing is lost but time."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cache = None
        try:
            cache = cls(path, fp)
            cache._setup()
            return cache
        except (sqlite3.DatabaseError, CacheUnusable) as exc:
            if cache is not None:
                cache.close()
            if not _is_corruption(exc):
                raise
            set_aside(path, exc)
        cache = cls(path, fp)
        cache._setup()
        return cache

    def _setup(self) -> None:
        self.db.execute("BEGIN")  # one snapshot: another process may be creating it
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
        self.db.execute("COMMIT")
        if version not in (0, self.SCHEMA) or (version == 0 and tables):
            raise CacheUnusable(f"schema {version} with tables {sorted(tables)}, not {self.SCHEMA}")
        if self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise sqlite3.OperationalError(f"{self.path}: cannot use WAL mode")
        if version == self.SCHEMA:
            return
        self.db.execute("BEGIN IMMEDIATE")  # the table and its schema number, or neither
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS texts (sha256 TEXT NOT NULL, kind TEXT NOT NULL,"
            " fingerprint TEXT NOT NULL, status TEXT NOT NULL, reason TEXT, method TEXT,"
            " text TEXT NOT NULL, truncated INTEGER NOT NULL, created REAL NOT NULL,"
            " PRIMARY KEY (sha256, kind, fingerprint))"
        )
        self.db.execute(f"PRAGMA user_version={self.SCHEMA}")
        self.db.execute("COMMIT")

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Extracted]:
        """The cached results of these (sha256, kind) keys that are in the cache."""
        wanted = set(keys)
        shas = sorted({sha for sha, _ in wanted})
        out: dict[tuple[str, str], Extracted] = {}
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            rows = self.db.execute(
                "SELECT sha256, kind, status, reason, method, text, truncated FROM texts"
                f" WHERE fingerprint = ? AND sha256 IN ({','.join('?' * len(chunk))})",
                [self.fingerprint, *chunk],
            )
            for sha, kind, status, reason, method, text, truncated in rows:
                if (sha, kind) in wanted and status in STATUSES and isinstance(text, str):
                    out[sha, kind] = Extracted(status, kind, reason, method, text, bool(truncated))
        return out

    def has_many(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        wanted = set(keys)
        shas = sorted({sha for sha, _ in wanted})
        out: set[tuple[str, str]] = set()
        for start in range(0, len(shas), 500):
            chunk = shas[start : start + 500]
            rows = self.db.execute(
                "SELECT sha256, kind FROM texts"
                f" WHERE fingerprint = ? AND sha256 IN ({','.join('?' * len(chunk))})",
                [self.fingerprint, *chunk],
            )
            out |= {(sha, kind) for sha, kind in rows if (sha, kind) in wanted}
        return out

    def put_many(self, results: Iterable[tuple[tuple[str, str], Extracted]]) -> int:
        """Store complete results (Transient ones are skipped) in one transaction."""
        now = time.time()
        rows = [
            (sha, kind, self.fingerprint, r.status, r.reason, r.method, r.text, int(r.truncated))
            + (now,)
            for (sha, kind), r in results
            if not isinstance(r, Transient)
        ]
        if not rows:
            return 0
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("INSERT OR REPLACE INTO texts VALUES (?,?,?,?,?,?,?,?,?)", rows)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return len(rows)

    def __len__(self) -> int:
        return self.db.execute("SELECT count(*) FROM texts").fetchone()[0]

    def close(self) -> None:
        self.db.close()


def set_aside(path: Path, why: BaseException | str) -> Path:
    """Move a corrupt cache file (and its WAL) out of the way; returns where it went."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
    log.warning(
        "attachment text cache %s is unusable (%s): moved to %s, rebuilt", path, why, target
    )
    return target


_OPEN: dict[tuple[str, str], TextCache] = {}


def _cache(path: str, fp: str) -> TextCache:
    """This process's connection to the cache (the pool's workers keep theirs)."""
    if (path, fp) not in _OPEN:
        _OPEN[path, fp] = TextCache(Path(path), fp)
    return _OPEN[path, fp]


def _close_caches() -> None:
    while _OPEN:
        _OPEN.popitem()[1].close()


# -- a run ---------------------------------------------------------------------------------
def records_path(data: DataDir, run_id: str, source_id: str) -> Path:
    return data.run(run_id) / "attachments" / f"{source_id}.jsonl"


def fetch_log_path(data: DataDir, run_id: str, source_id: str) -> Path:
    """What the spider could not fetch (written when it closes): {url, doc_id, reason, status}."""
    return data.run(run_id) / "attachments" / f"{source_id}.fetch.jsonl"


def url_key(url: str) -> str:
    """An attachment's identity across runs: the sandbox's port changes per run."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[x/a.pdf": no URL to fetch; the mapping leaves it out
        return url
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url


def _decode(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "").lower()
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(body)
    if encoding == "deflate":
        try:
            return zlib.decompress(body)
        except zlib.error:
            return zlib.decompress(body, -zlib.MAX_WBITS)
    return body


def _body(record: Any) -> bytes:
    body = record.content_stream().read()
    with contextlib.suppress(OSError, zlib.error):  # keep the bytes as they came
        body = _decode(body, record.http_headers.get_header("Content-Encoding"))
    return body


def _gzip_members(f: IO[bytes], chunk: int = 1 << 16) -> Iterator[tuple[int, bytes]]:
    """(offset in the file, decompressed bytes) of each gzip member; a cut last member (a
    crawl killed while writing) is left out."""
    buf, pos = b"", 0  # pos: the file offset of buf[0]
    while True:
        if not buf and not (buf := f.read(chunk)):
            return
        member, start, parts = zlib.decompressobj(31), pos, []
        while True:
            try:
                parts.append(member.decompress(buf))
            except zlib.error as exc:
                raise ValueError(f"{f.name}: broken gzip member at {start}: {exc}") from exc
            if member.eof:
                pos += len(buf) - len(member.unused_data)
                buf = member.unused_data
                break
            pos += len(buf)
            if not (buf := f.read(chunk)):
                log.warning("%s: gzip member at %d is cut, left out", f.name, start)
                return
        yield start, b"".join(parts)


def _warc_records(path: Path, wanted: set[str] | None) -> Iterator[tuple[str, str, bytes, int]]:
    """(url, content type, body, offset of the record) of the attachment responses answered
    200 in a WARC file.

    Our WARC files hold one record per gzip member (harvesters/warc.py). Members are split
    and the WARC header block looked at here, and only attachment responses parsed by
    warcio: 3.5x less CPU than warcio over every page of the crawl (~1 s per 10k notices)."""
    from warcio.archiveiterator import ArchiveIterator

    from harvesters.warc import KIND_FIELD

    if not path.exists():
        return
    with path.open("rb") as f:
        if f.read(2) not in (b"\x1f\x8b", b""):
            raise ValueError(f"{path} is not a gzipped WARC file")
        f.seek(0)
        for offset, member in _gzip_members(f):
            head = member[: member.find(b"\r\n\r\n")].lower()
            if b"warc-type: response" not in head or b"gongkai-kind: attachment" not in head:
                continue
            record = next(iter(ArchiveIterator(io.BytesIO(member))))
            if record.rec_type != "response" or record.rec_headers.get_header(KIND_FIELD) != KIND:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if wanted is not None and url not in wanted:
                continue
            http = record.http_headers
            if http is None or http.get_statuscode() != "200":
                continue
            yield url, http.get_header("Content-Type") or "", _body(record), offset


def warc_attachments(
    path: Path, wanted: set[str] | None = None
) -> Iterator[tuple[str, str, bytes]]:
    """(url, content type, body) of the attachment responses answered 200 in a WARC file."""
    for url, ctype, body, _ in _warc_records(path, wanted):
        yield url, ctype, body


def _previous(data: DataDir, run_id: str, source_id: str) -> dict[str, dict[str, Any]]:
    """Records of the newest earlier run that has them, by url_key."""
    runs = sorted(p.name for p in data.runs.glob("*T*Z") if p.name < run_id)
    for earlier in reversed(runs):
        path = records_path(data, earlier, source_id)
        if path.exists():
            return {
                url_key(r["url"]): r for r in read_jsonl(path) if r.get("status") != "not-fetched"
            }
    return {}


Key = tuple[str, str]  # (sha256 of the file, kind)


@dataclass(frozen=True)
class _Found:
    """An attachment response in a WARC file: what it is, and where to read it again."""

    url: str
    ctype: str
    size: int
    sha256: str
    kind: str
    warc: str
    offset: int

    @property
    def key(self) -> Key:
        return self.sha256, self.kind

    @property
    def readable(self) -> bool:
        """Its result depends on reading it (else `_early` tells it from the type)."""
        return self.size > 0 and self.kind in READ_KINDS

    def body(self) -> bytes:
        from warcio.archiveiterator import ArchiveIterator

        with open(self.warc, "rb") as f:
            f.seek(self.offset)
            body = _body(next(iter(ArchiveIterator(f))))
        if hashlib.sha256(body).hexdigest() != self.sha256:
            raise RuntimeError(f"{self.warc} at {self.offset} does not hold {self.url} any more")
        return body


@dataclass
class _Scan:
    """A source's attachments after its WARC file was read: step 1's answer."""

    source_id: str
    links: list[tuple[Any, Any, str]]  # (notice url, doc id, attachment url)
    fetch_log: dict[str, dict[str, Any]]
    found: dict[str, _Found]
    uncached: dict[Key, Extracted]  # results the cache does not hold (Transient ones)
    ocr: list[tuple[_Found, _OCR]]  # cache misses left for OCR, one per key
    stats: Counter[str]


def _store(cache: TextCache | None, done: list[tuple[Key, Extracted]], stats: Counter[str]):
    """Put results in the cache; returns those it does not hold (Transient, or all of them
    when the cache cannot be written: they travel with the run instead)."""
    if cache is not None:
        try:
            cache.put_many(done)
            return {k: r for k, r in done if isinstance(r, Transient)}
        except sqlite3.Error as exc:
            _cache_failed(exc, stats)
    return dict(done)


def _cache_failed(exc: sqlite3.Error, stats: Counter[str]) -> None:
    log.warning("attachment text cache unusable in process %d: %s", os.getpid(), exc)
    stats["cache_errors"] += 1
    if _is_corruption(exc):
        stats["cache_corrupt"] += 1


class _Reader:
    """Step 1's reading: files in batches as the WARC file streams by, cache misses only."""

    def __init__(self, cache: TextCache | None, stats: Counter[str]):
        self.cache, self.stats = cache, stats
        self.pending: list[tuple[_Found, bytes]] = []
        self.size = 0
        self.seen: set[Key] = set()
        self.uncached: dict[Key, Extracted] = {}
        self.ocr: list[tuple[_Found, _OCR]] = []

    def add(self, found: _Found, body: bytes) -> None:
        if not found.readable or found.key in self.seen:
            return
        self.seen.add(found.key)
        self.pending.append((found, body))
        self.size += len(body)
        if len(self.pending) >= 64 or self.size >= 64 << 20:
            self.flush()

    def flush(self) -> None:
        pending, self.pending, self.size = self.pending, [], 0
        hits: set[Key] = set()
        if self.cache is not None and pending:
            try:
                hits = self.cache.has_many(f.key for f, _ in pending)
            except sqlite3.Error as exc:
                _cache_failed(exc, self.stats)
                self.cache = None
        done: list[tuple[Key, Extracted]] = []
        for found, body in pending:
            if found.key in hits:
                self.stats["cached"] += 1
                continue
            result = _read(body, found.kind)
            if isinstance(result, _OCR):
                self.ocr.append((found, result))
            else:
                self.stats["read"] += 1
                done.append((found.key, result))
        self.uncached |= _store(self.cache, done, self.stats)


def _scan_source(root: str, run_id: str, source_id: str, cache: str | None, fp: str) -> _Scan:
    """Step 1, per source: read the run's WARC file once; hash, type and (cache misses that
    need no OCR) read each attachment."""
    data = DataDir(Path(root))
    links = [
        (item.get("url"), item.get("doc_id"), url)
        for item in read_jsonl(data.items(run_id, source_id))
        for url in dict.fromkeys(item.get("attachments") or [])
    ]
    fetch_log = {r["url"]: r for r in read_jsonl(fetch_log_path(data, run_id, source_id))}
    wanted = {url for *_, url in links}
    stats: Counter[str] = Counter()
    reader = _Reader(_cache(cache, fp) if cache else None, stats)
    found: dict[str, _Found] = {}

    def take(url: str, ctype: str, body: bytes, warc: Path, offset: int) -> None:
        sha = hashlib.sha256(body).hexdigest()
        f = _Found(url, ctype, len(body), sha, sniff(body, url, ctype), str(warc), offset)
        found[url] = f
        reader.add(f, body)

    warc = data.warc / source_id / f"{run_id}.warc.gz"
    for url, ctype, body, offset in _warc_records(warc, wanted):
        take(url, ctype, body, warc, offset)
    previous = _previous(data, run_id, source_id) if len(found) < len(wanted) else {}
    # A run killed after its crawl archived attachments it never extracted; the state says they
    # were fetched, so the next run does not ask again: read them from the earlier WARC files.
    missing = {
        url_key(u): u
        for u in wanted
        if u not in found and u not in fetch_log and url_key(u) not in previous
    }
    earlier_runs = sorted((p.name for p in data.runs.glob("*T*Z") if p.name < run_id), reverse=True)
    for earlier in earlier_runs:
        if not missing:
            break
        path = data.warc / source_id / f"{earlier}.warc.gz"
        for url, ctype, body, offset in _warc_records(path, None):
            if (current := missing.pop(url_key(url), None)) is not None:
                take(current, ctype, body, path, offset)
    reader.flush()
    stats["files"] += len(found)
    return _Scan(source_id, links, fetch_log, found, reader.uncached, reader.ocr, stats)


def _ocr_batch(cache: str | None, fp: str, jobs: list[tuple[_Found, _OCR]]):
    """Step 2: OCR of scanned PDFs and pictures of any sources, in one batch."""
    stats: Counter[str] = Counter(ocr=len(jobs))
    results = _ocr_many([(f.body(), job) for f, job in jobs])
    done = [(f.key, r) for (f, _), r in zip(jobs, results, strict=True)]
    return _store(_cache(cache, fp) if cache else None, done, stats), stats


def _write_source(
    root: str,
    run_id: str,
    scan: _Scan,
    uncached: Mapping[Key, Extracted],
    cache: str | None,
    fp: str,
) -> tuple[dict[str, int], Counter[str]]:
    """Step 3, per source: one record per (notice, attachment), results from the cache."""
    data = DataDir(Path(root))
    stats: Counter[str] = Counter()
    results = dict(uncached)
    need = {f.key for f in scan.found.values() if f.readable} - results.keys()
    if need and cache:
        try:
            results |= _cache(cache, fp).get_many(need)
        except sqlite3.Error as exc:
            _cache_failed(exc, stats)
    for f in scan.found.values():  # not in the cache after all (it failed): read them here
        if f.readable and f.key not in results:
            result = _read(body := f.body(), f.kind)
            if isinstance(result, _OCR):
                (result,) = _ocr_many([(body, result)])
            results[f.key] = result
            stats["reread"] += 1
    found, fetch_log = scan.found, scan.fetch_log
    carried = any(u not in found and u not in fetch_log for *_, u in scan.links)
    previous = _previous(data, run_id, scan.source_id) if carried else {}
    counts: Counter[str] = Counter()
    path = records_path(data, run_id, scan.source_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for notice, doc_id, url in scan.links:
            base = {"url": url, "notice": notice, "doc_id": doc_id}
            if (f := found.get(url)) is not None:
                result = _early(f.kind, url, f.size == 0) or results[f.key]
                record = base | asdict(result) | {"bytes": f.size, "sha256": f.sha256}
                record["run_id"] = run_id
            elif url in fetch_log:  # tried this run and failed: say so, even if read before
                log_ = fetch_log[url]
                status = "not-fetched" if log_.get("status") == "not-fetched" else "failed"
                record = base | {"status": status, "kind": None, "reason": log_.get("reason")}
            elif (old := previous.get(url_key(url))) is not None:
                record = {**old, **base, "carried": True}
            else:
                reason = "not fetched: outside the portal or never requested"
                record = base | {"status": "not-fetched", "kind": None, "reason": reason}
            record.setdefault("text", "")
            record["chars"] = len(record.get("text") or "")
            counts[record["status"]] += 1
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return dict(counts), stats


class _Inline:
    """The pool's interface, run in this process (one worker: no process start-up)."""

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
        return future

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        _close_caches()


@contextlib.contextmanager
def _run_cache(data: DataDir) -> Iterator[tuple[str, bool]]:
    """The cache file for a run and whether it persists: the data directory's, else (turned
    off, or unusable: read-only, locked) a throwaway one, which still reads each file once."""
    if os.environ.get(CACHE_ENV, "").lower() not in ("off", "0", "no", "false"):
        try:
            TextCache.open(data.attachment_cache).close()
        except (OSError, sqlite3.Error) as exc:
            log.warning("attachment text cache %s not usable, run without: %s", data.root, exc)
        else:
            yield str(data.attachment_cache), True
            return
    with tempfile.TemporaryDirectory(prefix="gongkai-attachments-") as tmp:
        path = Path(tmp) / "attachments.sqlite"
        TextCache.open(path).close()
        yield str(path), False


def _pages(job: _OCR) -> int:
    return min(job.pages, OCR_MAX_PAGES) or 1


def _batch_full(batch: list[tuple[_Found, _OCR]]) -> bool:
    return len(batch) >= OCR_BATCH_FILES or sum(_pages(j) for _, j in batch) >= OCR_BATCH_PAGES


def _batch_head(batch: list[tuple[_Found, _OCR]]) -> list[tuple[_Found, _OCR]]:
    """The first files of the queue, up to OCR_BATCH_FILES files and OCR_BATCH_PAGES pages."""
    head, pages = [], 0
    for f, job in batch[:OCR_BATCH_FILES]:
        if head and pages + _pages(job) > OCR_BATCH_PAGES:
            break
        head.append((f, job))
        pages += _pages(job)
    return head


def _extract(
    data: DataDir, run_id: str, ids: list[str], workers: int, stats: Counter[str]
) -> dict[str, dict[str, int]]:
    root = str(data.root)
    fp = fingerprint()
    with _run_cache(data) as (cache, persistent):
        pool: Any = (
            _Inline()
            if workers == 1  # workers die with this process (a killed run leaves none behind)
            else ProcessPoolExecutor(
                workers, initializer=die_with_parent, initargs=(signal.SIGKILL,)
            )
        )
        with pool:
            scans: dict[str, _Scan] = {}
            ocr: list[Future] = []
            batch: list[tuple[_Found, _OCR]] = []
            queued: set[Key] = set()
            pending = {pool.submit(_scan_source, root, run_id, s, cache, fp) for s in ids}
            while pending:  # OCR batches start as soon as the sources found enough files
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    scan = future.result()
                    scans[scan.source_id] = scan
                    stats.update(scan.stats)
                    for f, job in scan.ocr:
                        if f.key not in queued:
                            queued.add(f.key)
                            batch.append((f, job))
                while batch and (_batch_full(batch) or not pending):
                    chunk = _batch_head(batch)
                    ocr.append(pool.submit(_ocr_batch, cache, fp, chunk))
                    del batch[: len(chunk)]
            uncached: dict[Key, Extracted] = {}
            for scan in scans.values():
                uncached |= scan.uncached
            for future in ocr:
                results, counted = future.result()
                uncached |= results
                stats.update(counted)
            writes = {}
            for sid in ids:
                scan = scans[sid]
                mine = {f.key: uncached[f.key] for f in scan.found.values() if f.key in uncached}
                writes[sid] = pool.submit(_write_source, root, run_id, scan, mine, cache, fp)
            counts = {}
            for sid, future in writes.items():
                counts[sid], counted = future.result()
                stats.update(counted)
        stats["distinct"] += len({f.key for s in scans.values() for f in s.found.values()})
        if persistent and stats["cache_corrupt"]:  # the records are complete; rebuild it
            set_aside(Path(cache), "corruption found while reading it")
    log.info("attachments of %d sources: %s", len(ids), dict(stats))
    return counts


def extract_source(data: DataDir, run_id: str, source_id: str) -> dict[str, int]:
    """Extract the attachments of one source's run; returns counts per status."""
    return _extract(data, run_id, [source_id], 1, Counter())[source_id]


def extract_run(
    data: DataDir,
    run_id: str,
    source_ids: Iterable[str],
    *,
    workers: int | None = None,
    stats: Counter[str] | None = None,
) -> dict[str, dict[str, int]]:
    """Extract every source's attachments, over a process pool (OCR is CPU work); `stats`
    gets the files found, distinct files, cache hits, files read and OCR'd."""
    ids = [s for s in source_ids if data.items(run_id, s).exists()]
    if not ids:
        return {}
    workers = workers or min(len(ids), os.cpu_count() or 1) or 1
    return _extract(data, run_id, ids, workers, stats if stats is not None else Counter())


def texts_by_notice(data: DataDir, run_id: str, source_id: str) -> dict[str, dict[str, str]]:
    """notice URL → {attachment URL: text} of the attachments read (status ok)."""
    out: dict[str, dict[str, str]] = {}
    for r in read_jsonl(records_path(data, run_id, source_id)):
        if r.get("status") == "ok" and r.get("text"):
            out.setdefault(r.get("notice") or "", {})[r["url"]] = r["text"]
    return out


def counts(data: DataDir, run_id: str, source_id: str) -> dict[str, int]:
    """Attachment records of a source's run by status (for the run report)."""
    return dict(Counter(r.get("status") for r in read_jsonl(records_path(data, run_id, source_id))))
