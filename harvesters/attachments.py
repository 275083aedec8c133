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
- DOCX: `python-docx` (paragraphs, then table cells); XLSX: `openpyxl` (values, not formulas);
- legacy .doc: `antiword`; legacy .xls: `xls2csv` (catdoc) — Debian packages; without them
  the record says `unsupported` and which tool is missing;
- PNG, JPEG, GIF, TIFF, BMP: `tesseract`.

The type is told by the file's first bytes, then by its name, never by the Content-Type
header alone (portals serve PDFs as `application/octet-stream`).

An attachment already read in an earlier run (a notice carried over by an incremental run) is
carried over from that run's records, so each run's file covers every attachment it knows.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
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


class MissingTool(RuntimeError):
    """A command-line tool (tesseract, pdftoppm, antiword, xls2csv) is not installed."""


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


def _run(cmd: list[str], *, timeout: int, stdin: bytes | None = None) -> bytes:
    if not have(cmd[0]):
        raise MissingTool(f"{cmd[0]} is not installed")
    done = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"{cmd[0]} exited {done.returncode}: {message[-1] if message else ''}")
    return done.stdout


def ocr_image(image: bytes | Path, lang: str = OCR_LANG) -> str:
    """Text of one picture by tesseract (reads PNG, JPEG, GIF, TIFF, BMP)."""
    if isinstance(image, Path):
        out = _run(["tesseract", str(image), "stdout", "-l", lang], timeout=OCR_TIMEOUT)
    else:
        out = _run(["tesseract", "stdin", "stdout", "-l", lang], timeout=OCR_TIMEOUT, stdin=image)
    return _tidy(out.decode("utf-8", "replace"))


def ocr_pdf(body: bytes, pages: int, lang: str = OCR_LANG) -> str:
    """Rasterise the first pages of a PDF with pdftoppm and read them with tesseract."""
    if not have("tesseract"):
        raise MissingTool("tesseract is not installed")
    last = min(pages, OCR_MAX_PAGES) or 1
    with tempfile.TemporaryDirectory(prefix="gongkai-ocr-") as tmp:
        pdf = Path(tmp) / "in.pdf"
        pdf.write_bytes(body)
        # 1-bit pages: thresholding drops the JPEG noise of scans, which OCR reads far better
        cmd = ["pdftoppm", "-r", str(OCR_DPI), "-mono", "-png", "-f", "1", "-l", str(last)]
        _run([*cmd, str(pdf), str(Path(tmp) / "p")], timeout=OCR_TIMEOUT)
        texts = [ocr_image(p, lang) for p in sorted(Path(tmp).glob("p*.png"))]
    return "\n".join(t for t in texts if t)


def _tidy(text: str) -> str:
    """Lines stripped, blank runs collapsed; tesseract's spaces between CJK characters dropped."""
    text = re.sub(r"(?<=[\u3000-\u9fff\uff00-\uffef]) (?=[\u3000-\u9fff\uff00-\uffef])", "", text)
    lines = [" ".join(line.split()) for line in text.replace("\x0c", "\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- readers -------------------------------------------------------------------------------
def _pdf(body: bytes) -> Extracted:
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
    try:
        ocr = ocr_pdf(body, count)
    except MissingTool as exc:
        return Extracted("failed", "pdf", f"scanned PDF (no text layer); OCR unavailable: {exc}")
    if not ocr:
        return Extracted("ocr-empty", "pdf", "scanned PDF: OCR found no text", "ocr")
    return Extracted("ok", "pdf", None, "ocr", ocr, truncated=count > OCR_MAX_PAGES)


def _docx(body: bytes) -> Extracted:
    import docx

    document = docx.Document(io.BytesIO(body))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            cells: list[str] = []
            for cell in row.cells:  # merged cells repeat: keep each text once per row
                if not cells or cells[-1] != cell.text:
                    cells.append(cell.text)
            parts.append("\t".join(cells))
    return Extracted("ok", "docx", None, "docx", _tidy("\n".join(parts)))


def _xlsx(body: bytes) -> Extracted:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    parts: list[str] = []
    size = 0
    try:
        for sheet in book.worksheets:
            parts.append(f"# {sheet.title}")
            for row in sheet.iter_rows(values_only=True):
                line = "\t".join("" if v is None else str(v) for v in row).rstrip("\t")
                if line:
                    parts.append(line)
                    size += len(line)
                if size > MAX_TEXT_CHARS:
                    break
    finally:
        book.close()
    return Extracted("ok", "xlsx", None, "xlsx", "\n".join(parts))


def _legacy(body: bytes, kind: str) -> Extracted:
    tool, args = {"doc": ("antiword", ["-m", "UTF-8.txt"]), "xls": ("xls2csv", ["-d", "utf-8"])}[
        kind
    ]
    if not have(tool):
        return Extracted("unsupported", kind, f"legacy .{kind} needs {tool} (not installed)")
    with tempfile.NamedTemporaryFile(suffix=f".{kind}") as f:
        f.write(body)
        f.flush()
        out = _run([tool, *args, f.name], timeout=TOOL_TIMEOUT)
    return Extracted("ok", kind, None, tool, _tidy(out.decode("utf-8", "replace")))


def _image(body: bytes) -> Extracted:
    try:
        text = ocr_image(body)
    except MissingTool as exc:
        return Extracted("failed", "image", f"picture; OCR unavailable: {exc}")
    if not text:
        return Extracted("ocr-empty", "image", "picture: OCR found no text", "ocr")
    return Extracted("ok", "image", None, "ocr", text)


_UNSUPPORTED = {
    "pptx": "PowerPoint (.pptx) is not read",
    "ppt": "legacy PowerPoint (.ppt) is not read",
    "ofd": "OFD (GB/T 33190) is not read",
    "zip": "archive (zip) is not unpacked",
    "rtf": "RTF is not read",
    "unknown": "unknown format",
}


def extract_text(body: bytes, url: str = "", content_type: str = "") -> Extracted:
    """The text of one attachment, or why there is none. Never raises for a bad file."""
    kind = sniff(body, url, content_type)
    if not body:
        return Extracted("failed", kind, "empty response")
    if kind == "html":
        return Extracted("failed", kind, "an HTML page instead of the file")
    if kind in _UNSUPPORTED:
        ext = os.path.splitext(file_name(url).lower())[1]
        reason = _UNSUPPORTED[kind] + (f" ({ext})" if kind == "unknown" and ext else "")
        return Extracted("unsupported", kind, reason)
    reader = {"pdf": _pdf, "docx": _docx, "xlsx": _xlsx, "image": _image}.get(kind)
    try:
        result = reader(body) if reader else _legacy(body, kind)
    except subprocess.TimeoutExpired as exc:
        return Extracted("failed", kind, f"{exc.cmd[0]} timed out after {exc.timeout:.0f} s")
    except MissingTool as exc:
        return Extracted("unsupported", kind, str(exc))
    except Exception as exc:  # a broken file: record why, go on with the next one
        return Extracted("failed", kind, f"cannot read {kind}: {type(exc).__name__}: {exc}"[:300])
    result.text = result.text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    if len(result.text) > MAX_TEXT_CHARS:
        result.text, result.truncated = result.text[:MAX_TEXT_CHARS], True
    return result


# -- a run ---------------------------------------------------------------------------------
def records_path(data: DataDir, run_id: str, source_id: str) -> Path:
    return data.run(run_id) / "attachments" / f"{source_id}.jsonl"


def fetch_log_path(data: DataDir, run_id: str, source_id: str) -> Path:
    """What the spider could not fetch (written when it closes): {url, doc_id, reason, status}."""
    return data.run(run_id) / "attachments" / f"{source_id}.fetch.jsonl"


def url_key(url: str) -> str:
    """An attachment's identity across runs: the sandbox's port changes per run."""
    parts = urlsplit(url)
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


def warc_attachments(
    path: Path, wanted: set[str] | None = None
) -> Iterator[tuple[str, str, bytes]]:
    """(url, content type, body) of the attachment responses answered 200 in a WARC file."""
    from warcio.archiveiterator import ArchiveIterator

    from harvesters.warc import KIND_FIELD

    if not path.exists():
        return
    with path.open("rb") as f:
        for record in ArchiveIterator(f):
            if record.rec_type != "response":
                continue
            if record.rec_headers.get_header(KIND_FIELD) != KIND:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if wanted is not None and url not in wanted:
                continue
            http = record.http_headers
            if http is None or http.get_statuscode() != "200":
                continue
            body = record.content_stream().read()
            with contextlib.suppress(OSError, zlib.error):  # keep the bytes as they came
                body = _decode(body, http.get_header("Content-Encoding"))
            yield url, http.get_header("Content-Type") or "", body


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


def extract_source(data: DataDir, run_id: str, source_id: str) -> dict[str, int]:
    """Extract the attachments of one source's run; returns counts per status."""
    items = list(read_jsonl(data.items(run_id, source_id)))
    links: list[tuple[dict[str, Any], str]] = [
        (item, url) for item in items for url in dict.fromkeys(item.get("attachments") or [])
    ]
    fetch_log = {r["url"]: r for r in read_jsonl(fetch_log_path(data, run_id, source_id))}
    wanted = {url for _, url in links}
    read: dict[str, tuple[Extracted, bytes]] = {}
    warc = data.warc / source_id / f"{run_id}.warc.gz"
    for url, ctype, body in warc_attachments(warc, wanted):
        read[url] = (extract_text(body, url, ctype), body)
    previous = _previous(data, run_id, source_id) if len(read) < len(wanted) else {}
    # A run killed after its crawl archived attachments it never extracted; the state says they
    # were fetched, so the next run does not ask again: read them from the earlier WARC files.
    missing = {
        url_key(u): u
        for u in wanted
        if u not in read and u not in fetch_log and url_key(u) not in previous
    }
    earlier_runs = sorted((p.name for p in data.runs.glob("*T*Z") if p.name < run_id), reverse=True)
    for earlier in earlier_runs:
        if not missing:
            break
        for url, ctype, body in warc_attachments(data.warc / source_id / f"{earlier}.warc.gz"):
            if (current := missing.pop(url_key(url), None)) is not None:
                read[current] = (extract_text(body, current, ctype), body)
    counts: Counter[str] = Counter()
    path = records_path(data, run_id, source_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for item, url in links:
            base = {"url": url, "notice": item.get("url"), "doc_id": item.get("doc_id")}
            if url in read:
                result, body = read[url]
                record = base | asdict(result)
                record |= {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
                record["run_id"] = run_id
            elif url in fetch_log:  # tried this run and failed: say so, even if read before
                log = fetch_log[url]
                status = "not-fetched" if log.get("status") == "not-fetched" else "failed"
                record = base | {"status": status, "kind": None, "reason": log.get("reason")}
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
    return dict(counts)


def extract_run(
    data: DataDir, run_id: str, source_ids: Iterable[str], *, workers: int | None = None
) -> dict[str, dict[str, int]]:
    """Extract every source's attachments (sources spread over processes: OCR is CPU work)."""
    ids = [s for s in source_ids if data.items(run_id, s).exists()]
    workers = workers or min(len(ids), os.cpu_count() or 1) or 1
    if workers == 1:
        return {s: extract_source(data, run_id, s) for s in ids}
    # workers die with this process (a killed run leaves none behind)
    with ProcessPoolExecutor(
        max_workers=workers, initializer=die_with_parent, initargs=(signal.SIGKILL,)
    ) as pool:
        futures = {s: pool.submit(extract_source, data, run_id, s) for s in ids}
        return {s: f.result() for s, f in futures.items()}


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
