"""Attachment text (harvesters/attachments.py): each kind from fixtures, OCR, failures recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.http import Request, Response

from gongkai.config import DataDir
from harvesters import attachments
from harvesters.attachments import extract_source, extract_text, sniff
from harvesters.warc import WarcFile

FILES = Path(__file__).resolve().parents[1] / "files" / "attachments"
RUN = "20250301T000000Z"
REQUIRE = os.environ.get("GONGKAI_REQUIRE_SERVICES") == "1"


def need_ocr() -> None:
    missing = [t for t in ("tesseract", "pdftoppm") if shutil.which(t) is None]
    if not missing:
        langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
        if "chi_sim" not in langs.stdout:
            missing.append("tesseract-ocr-chi-sim")
    if missing:
        why = f"OCR unavailable: {', '.join(missing)} not installed"
        if REQUIRE:
            pytest.fail(f"GONGKAI_REQUIRE_SERVICES=1 but {why}", pytrace=False)
        pytest.skip(why)


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def test_sniff_by_bytes_not_by_name_or_header():
    assert sniff(read("text-layer.pdf"), "https://x.gov.cn/a.doc", "text/html") == "pdf"
    assert sniff(read("notice.docx"), "https://x.gov.cn/download?id=1") == "docx"
    assert sniff(read("table.xlsx"), "https://x.gov.cn/a.bin") == "xlsx"
    assert sniff(read("picture.png"), "https://x.gov.cn/a.pdf") == "image"
    assert sniff(read("notice.ofd"), "https://x.gov.cn/a.ofd") == "ofd"
    assert sniff(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "https://x/a.xls") == "xls"
    assert sniff(b"<!DOCTYPE html><html>", "https://x/a.pdf", "text/html") == "html"


def test_pdf_text_layer():
    r = extract_text(read("text-layer.pdf"), "https://x.gov.cn/P0.pdf")
    assert (r.status, r.kind, r.method) == ("ok", "pdf", "text-layer")
    assert "重庆市渝中区行政处罚决定书" in r.text
    assert "11500103MB1502365L/2024-00012" in r.text
    assert "罚款人民币贰万元" in r.text


def test_docx_paragraphs():
    r = extract_text(read("notice.docx"), "https://x.gov.cn/P0.docx")
    assert (r.status, r.kind, r.method) == ("ok", "docx", "docx")
    assert r.text.splitlines()[0] == "附件：重庆市渝中区行政处罚决定书"
    assert "罚款人民币贰万元" in r.text


def test_xlsx_values_by_sheet():
    r = extract_text(read("table.xlsx"), "https://x.gov.cn/P0.xlsx")
    assert (r.status, r.kind) == ("ok", "xlsx")
    assert r.text.splitlines()[0] == "# 三公经费"
    assert "因公出国（境）费\t12.5" in r.text
    assert "公务接待费\t3" in r.text


@pytest.mark.services
def test_ocr_of_a_picture_finds_the_words():
    need_ocr()
    r = extract_text(read("picture.png"), "https://x.gov.cn/P0.png")
    assert (r.status, r.kind, r.method) == ("ok", "image", "ocr")
    assert "政务公开" in r.text
    assert "行政处罚决定书" in r.text


@pytest.mark.services
def test_scanned_pdf_goes_through_ocr():
    need_ocr()
    r = extract_text(read("scanned.pdf"), "https://x.gov.cn/P0.pdf")
    assert (r.status, r.kind, r.method) == ("ok", "pdf", "ocr")
    assert "重庆市" in r.text
    assert "行政处罚决定书" in r.text


@pytest.mark.services
def test_blank_scan_is_ocr_empty():
    need_ocr()
    r = extract_text(read("blank-scan.pdf"), "https://x.gov.cn/P0.pdf")
    assert (r.status, r.method) == ("ocr-empty", "ocr")
    assert r.reason == "scanned PDF: OCR found no text"


def test_without_tesseract_a_scan_fails_with_the_reason(monkeypatch):
    monkeypatch.setattr(attachments, "have", lambda tool: False)
    r = extract_text(read("scanned.pdf"), "https://x.gov.cn/P0.pdf")
    assert r.status == "failed"
    assert "OCR unavailable: tesseract is not installed" in r.reason
    r = extract_text(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "https://x/a.doc")
    assert (r.status, r.reason) == ("unsupported", "legacy .doc needs antiword (not installed)")


def test_broken_unsupported_and_wrong_files_are_recorded_with_a_reason():
    r = extract_text(read("broken.pdf"), "https://x.gov.cn/P0.pdf")
    assert r.status == "failed" and r.reason.startswith("cannot read pdf:")
    r = extract_text(read("notice.ofd"), "https://x.gov.cn/P0.ofd")
    assert (r.status, r.reason) == ("unsupported", "OFD (GB/T 33190) is not read")
    r = extract_text(b"<html><body>\xe7\x99\xbb\xe5\xbd\x95</body></html>", "https://x/a.pdf")
    assert (r.status, r.reason) == ("failed", "an HTML page instead of the file")
    r = extract_text(b"", "https://x/a.pdf")
    assert (r.status, r.reason) == ("failed", "empty response")


def test_text_is_bounded_in_rdf_full_in_records():
    from harvesters.registry import load_sources
    from ontology.mapping import ATTACHMENT_TEXT_CHARS, item_to_ntriples

    source = next(s for s in load_sources() if s.id == "yuzhong")
    att = "https://www.cqyz.gov.cn/zwgk_229/202403/P020240305.pdf"
    long = "政务公开" * 10_000
    item = {"url": "https://www.cqyz.gov.cn/zwgk_229/202403/t20240305_1.html", "title": "某通知"}
    item |= {"attachments": [att], "attachment_texts": {att: long}}
    nt = item_to_ntriples(item, RUN, None, source).ntriples
    line = next(x for x in nt.splitlines() if "attachmentText" in x)
    assert line.startswith(f"<{att}> <https://gongkai.example.org/def/gongkai#attachmentText> ")
    assert line.count("政务公开") == ATTACHMENT_TEXT_CHARS // 4


def _warc(data: DataDir, source: str, answers: list[tuple[str, int, bytes]]) -> None:
    warc = WarcFile(data.warc / source / f"{RUN}.warc.gz")
    for url, status, body in answers:
        request = Request(url, meta={"kind": "attachment"})
        warc.write(request, Response(url, status=status, body=body), "attachment")
    warc.close()


def test_a_run_records_every_attachment_with_status_and_reason(tmp_path):
    """Read back from the WARC file; failures from the spider's fetch log; counted per status."""
    data = DataDir(tmp_path)
    base = "https://www.cqyz.gov.cn/zwgk_229/202403/"
    ok, gone, robots, ofd, outside = (
        base + "P0a.pdf",
        base + "P0b.pdf",
        base + "nbgl/P0c.docx",
        base + "P0d.ofd",
        "https://other.example.org/x.xlsx",
    )
    items = [
        {"url": base + "t20240305_1.html", "doc_id": "1", "attachments": [ok, gone]},
        {"url": base + "t20240306_2.html", "doc_id": "2", "attachments": [robots, ofd, outside]},
    ]
    data.items(RUN, "yuzhong").parent.mkdir(parents=True)
    data.items(RUN, "yuzhong").write_text(
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    answers = [(gone, 404, b"not found"), (ok, 200, read("text-layer.pdf"))]
    _warc(data, "yuzhong", [*answers, (ofd, 200, read("notice.ofd"))])
    log = attachments.fetch_log_path(data, RUN, "yuzhong")
    log.parent.mkdir(parents=True)
    log.write_text(
        json.dumps({"url": gone, "doc_id": "1", "status": 404, "reason": "HTTP 404"}) + "\n"
        + json.dumps({"url": robots, "doc_id": "2", "status": None,
                      "reason": "disallowed by robots.txt"}) + "\n"
        + json.dumps({"url": outside, "doc_id": "2", "status": "not-fetched",
                      "reason": "not fetched: outside the portal's domains"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    counts = extract_source(data, RUN, "yuzhong")
    assert counts == {"ok": 1, "failed": 2, "unsupported": 1, "not-fetched": 1}
    records = {
        r["url"]: r for r in map(json.loads, attachments.records_path(data, RUN, "yuzhong").open())
    }
    assert records[ok]["status"] == "ok" and records[ok]["notice"] == items[0]["url"]
    assert "行政处罚决定书" in records[ok]["text"] and records[ok]["chars"] > 40
    assert len(records[ok]["sha256"]) == 64
    assert (records[gone]["status"], records[gone]["reason"]) == ("failed", "HTTP 404")
    assert records[robots]["reason"] == "disallowed by robots.txt"
    assert records[ofd]["reason"] == "OFD (GB/T 33190) is not read"
    assert records[outside]["status"] == "not-fetched"
    assert attachments.counts(data, RUN, "yuzhong") == counts
    texts = attachments.texts_by_notice(data, RUN, "yuzhong")
    assert list(texts) == [items[0]["url"]]


def test_a_later_run_carries_what_an_earlier_run_read(tmp_path):
    """An incremental run does not fetch a carried notice's attachments again."""
    data = DataDir(tmp_path)
    url = "http://127.0.0.1:8001/yuzhong/zwgk_229/202403/P0a.pdf"
    item = {"url": "http://127.0.0.1:8001/yuzhong/zwgk_229/202403/t20240305_1.html"}
    data.items(RUN, "yuzhong").parent.mkdir(parents=True)
    data.items(RUN, "yuzhong").write_text(json.dumps(item | {"attachments": [url]}) + "\n")
    _warc(data, "yuzhong", [(url, 200, read("notice.docx"))])
    assert extract_source(data, RUN, "yuzhong") == {"ok": 1}
    later = "20250302T000000Z"
    moved = url.replace(":8001", ":8002")  # the sandbox listens on another port each run
    data.items(later, "yuzhong").parent.mkdir(parents=True)
    data.items(later, "yuzhong").write_text(
        json.dumps({"url": item["url"].replace(":8001", ":8002"), "attachments": [moved]}) + "\n"
    )
    assert extract_source(data, later, "yuzhong") == {"ok": 1}
    (record,) = map(json.loads, attachments.records_path(data, later, "yuzhong").open())
    assert record["url"] == moved and record["carried"] and record["run_id"] == RUN
    assert "行政处罚决定书" in record["text"]


@pytest.mark.slow
def test_sandbox_run_fetches_reads_indexes_and_publishes_attachment_text(tmp_path):
    """`gongkai run` on the sandbox: attachments fetched by the spider (in the WARC), read,
    counted in the report, written as gk:attachmentText and found by search."""
    from endpoint.search import search

    done = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "run", "--data-dir", str(tmp_path), "--no-serve",
         "--only", "yuzhong", "--only", "dianjiang", "--per-source", "40"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    data = DataDir(tmp_path)
    (run,) = [p.name for p in data.runs.iterdir()]
    records = [
        json.loads(line)
        for sid in ("yuzhong", "dianjiang")
        for line in attachments.records_path(data, run, sid).open()
    ]
    kinds = {r["kind"] for r in records if r["status"] == "ok"}
    assert {"pdf", "docx", "xlsx"} <= kinds
    assert all(r["status"] in ("ok", "ocr-empty", "failed") for r in records)
    for r in records:
        if r["status"] == "ok" and r["method"] != "ocr":
            assert "索引号" in r["text"], r
    report = json.loads(data.report(run).read_text())
    assert report["totals"]["attachments"]["ok"] == sum(r["status"] == "ok" for r in records)
    assert "attachments:" in done.stderr
    # in the WARC file, as the spider fetched them
    from harvesters.attachments import warc_attachments

    fetched = {u for u, _, _ in warc_attachments(data.warc / "yuzhong" / f"{run}.warc.gz")}
    assert fetched == {r["url"] for r in records if r["notice"] and "yuzhong" in r["url"]}
    graph = data.graph(run, "yuzhong").read_text(encoding="utf-8")
    assert "#attachmentText>" in graph
    hit = next(r for r in records if r["status"] == "ok" and r["kind"] == "xlsx")
    needle = hit["text"].split("索引号：")[1].split()[0]  # the notice's index number
    result = search(tmp_path / "search" / "index.sqlite", f"第2项 {needle}")
    assert result.total >= 1
