"""The attachment text cache (harvesters/attachments.py, TextCache): same records with and
without it, kept across processes, rebuilt when corrupt, safe with concurrent writers, keyed by
the extractor's version; failures of the machine never cached."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from scrapy.http import Request, Response

from gongkai.config import DataDir
from harvesters import attachments
from harvesters.attachments import TextCache, Transient, extract_run, records_path
from harvesters.warc import WarcFile

FILES = Path(__file__).resolve().parents[1] / "files" / "attachments"
RUN = "20250301T000000Z"
BASE = {
    "yuzhong": "https://www.cqyz.gov.cn/zwgk_229/202403/",
    "dianjiang": "http://www.cqdj.gov.cn/zwgk_207/202403/",
}
ROOT = Path(__file__).resolve().parents[2]


def read(name: str) -> bytes:
    return (FILES / name).read_bytes()


def make_run(tmp_path: Path, files: dict[str, list[tuple[str, bytes]]]) -> DataDir:
    """A crawled run: per source, one notice per attachment, the answers in its WARC file."""
    data = DataDir(tmp_path)
    for source, answers in files.items():
        items = [
            {"url": f"{BASE[source]}t2024030{i}_{i}.html", "doc_id": str(i), "attachments": [url]}
            for i, (url, _) in enumerate(answers)
        ]
        data.items(RUN, source).parent.mkdir(parents=True, exist_ok=True)
        data.items(RUN, source).write_text(
            "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
        )
        warc = WarcFile(data.warc / source / f"{RUN}.warc.gz")
        for url, body in answers:
            warc.write(Request(url), Response(url, status=200, body=body), "attachment")
        warc.close()
    return data


def standard_run(tmp_path: Path) -> DataDir:
    """Files read without OCR; the same PDF under two names in two sources; a broken PDF."""
    yz, dj = BASE["yuzhong"], BASE["dianjiang"]
    return make_run(
        tmp_path,
        {
            "yuzhong": [
                (yz + "P0a.pdf", read("text-layer.pdf")),
                (yz + "P0b.docx", read("notice.docx")),
                (yz + "P0c.xlsx", read("table.xlsx")),
                (yz + "P0d.pdf", read("broken.pdf")),
                (yz + "P0e.ofd", read("notice.ofd")),
            ],
            "dianjiang": [
                (dj + "P1a.pdf", read("text-layer.pdf")),  # same bytes as yuzhong's P0a
                (dj + "P1b.xlsx", read("table.xlsx")),
            ],
        },
    )


def records(data: DataDir) -> dict[str, bytes]:
    return {s: records_path(data, RUN, s).read_bytes() for s in BASE}


def run(data: DataDir, workers: int = 1) -> Counter:
    stats: Counter = Counter()
    extract_run(data, RUN, list(BASE), workers=workers, stats=stats)
    return stats


def cache_rows(data: DataDir) -> int:
    with sqlite3.connect(data.attachment_cache) as db:
        return db.execute("SELECT count(*) FROM texts").fetchone()[0]


def test_cache_hit_gives_the_same_records_without_reading_a_file(tmp_path, monkeypatch):
    data = standard_run(tmp_path / "a")
    monkeypatch.setenv(attachments.CACHE_ENV, "off")
    first = run(data)
    without = records(data)
    assert not data.attachment_cache.exists()
    # identical bytes are read once per run, even across sources (the second finds them)
    assert (first["files"], first["distinct"], first["read"], first["cached"]) == (7, 5, 4, 2)
    monkeypatch.delenv(attachments.CACHE_ENV)
    cold = run(data)
    assert records(data) == without
    assert (cold["read"], cold["cached"]) == (4, 2)
    assert cache_rows(data) == 4  # pdf, docx, xlsx, broken pdf (the .ofd is told by its type)

    def no_reading(body, kind):
        raise AssertionError(f"read a {kind} that the cache holds")

    monkeypatch.setattr(attachments, "_read", no_reading)
    warm = run(data)
    assert records(data) == without
    assert (warm["read"], warm["cached"]) == (0, 6)  # hits are counted per source
    recs = [json.loads(line) for line in without["yuzhong"].decode().splitlines()]
    assert [r["status"] for r in recs] == ["ok", "ok", "ok", "failed", "unsupported"]
    assert "行政处罚决定书" in recs[0]["text"] and recs[3]["reason"].startswith("cannot read pdf:")


def test_the_cache_survives_a_new_process(tmp_path):
    data = standard_run(tmp_path)
    code = (
        "import json, sys\nfrom collections import Counter\nfrom pathlib import Path\n"
        "from gongkai.config import DataDir\nfrom harvesters.attachments import extract_run\n"
        "stats = Counter()\n"
        "extract_run(DataDir(Path(sys.argv[1])), sys.argv[2], ['yuzhong', 'dianjiang'],"
        " workers=2, stats=stats)\n"
        "print(json.dumps(stats))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != attachments.CACHE_ENV}

    def in_process() -> dict[str, int]:
        done = subprocess.run(
            [sys.executable, "-c", code, str(data.root), RUN],
            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout)

    first = in_process()
    written = records(data)
    second = in_process()
    # two sources at once: the second may read a shared file before the first stored it
    assert 4 <= first["read"] == 6 - first.get("cached", 0)
    assert (second.get("read", 0), second.get("cached")) == (0, 6)
    assert records(data) == written


def test_a_corrupt_cache_is_set_aside_and_rebuilt_without_losing_records(tmp_path, caplog):
    data = standard_run(tmp_path)
    run(data)
    expected = records(data)
    data.attachment_cache.write_bytes(b"this is not a database" * 100)  # overwritten
    for suffix in ("-wal", "-shm"):
        Path(f"{data.attachment_cache}{suffix}").unlink(missing_ok=True)
    stats = run(data)
    assert records(data) == expected
    assert stats["read"] == 4
    (aside,) = data.attachment_cache.parent.glob("attachments.sqlite.corrupt-*")
    assert aside.read_bytes().startswith(b"this is not a database")
    assert "unusable" in caplog.text and str(aside) in caplog.text
    assert cache_rows(data) == 4  # rebuilt, and used by the next run
    assert run(data)["cached"] == 6


@pytest.mark.parametrize("damage", ["cut", "scribbled"])
def test_a_damaged_cache_file_is_replaced_and_records_stay_right(tmp_path, damage):
    """Cut in half (a partial copy: noticed when opened) or pages overwritten after the
    schema (noticed while reading, in a worker): the run reads the files again, its records
    are right, and the damaged file is set aside so the next run starts a sound one."""
    data = standard_run(tmp_path)
    filler = attachments.Extracted("ok", "pdf", None, "x", "字" * 3000)
    cache = TextCache.open(data.attachment_cache)
    for i in range(300):  # enough pages that the damage lands on some of them
        cache.put_many([((f"{i:064x}", "pdf"), filler)])
    cache.close()
    run(data)
    expected = records(data)
    size = data.attachment_cache.stat().st_size
    with data.attachment_cache.open("r+b") as f:
        if damage == "cut":
            f.truncate(size // 2)
        else:
            f.seek(4096)  # page 1 (the schema) stays sound
            f.write(b"\xff" * (size - 2 * 4096))
    stats = run(data)
    assert records(data) == expected
    assert stats["cached"] == (2 if damage == "cut" else 0)
    assert (stats["cache_corrupt"] > 0) == (damage == "scribbled")
    assert list(data.attachment_cache.parent.glob("attachments.sqlite.corrupt-*"))
    if damage == "scribbled":  # set aside after the run: the next one starts a new cache
        assert (run(data)["read"], cache_rows(data)) == (4, 4)
    assert run(data)["cached"] == 6


def test_a_killed_writer_leaves_no_partial_row(tmp_path):
    path = tmp_path / "cache" / "attachments.sqlite"
    cache = TextCache.open(path)
    cache.put_many([(("a" * 64, "pdf"), attachments.Extracted("ok", "pdf", None, "x", "done"))])
    fp = cache.fingerprint
    cache.close()
    code = (
        "import os, sys\nfrom pathlib import Path\nfrom harvesters.attachments import TextCache\n"
        "c = TextCache(Path(sys.argv[1]), sys.argv[2])\n"
        "c.db.execute('BEGIN IMMEDIATE')\n"
        "c.db.execute(\"INSERT INTO texts VALUES (?, 'pdf', ?, 'ok', NULL, 'x', 'half', 0, 0)\","
        " ('b' * 64, sys.argv[2]))\n"
        "os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path), fp], cwd=ROOT, timeout=60)
    assert done.returncode == 9
    cache = TextCache.open(path, fp)
    assert cache.db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    got = cache.get_many([("a" * 64, "pdf"), ("b" * 64, "pdf")])
    assert list(got) == [("a" * 64, "pdf")] and got["a" * 64, "pdf"].text == "done"
    assert not list(path.parent.glob("*.corrupt-*"))


def _writer(path: str, fp: str, worker: int, n: int) -> int:
    cache = TextCache.open(Path(path), fp)  # all create it at once
    for i in range(n):
        key = (f"{worker:02d}{i:062d}", "docx")
        cache.put_many([(key, attachments.Extracted("ok", "docx", None, "docx", f"{worker}/{i}"))])
        assert cache.get_many([key])[key].text == f"{worker}/{i}"
    cache.close()
    return n


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "attachments.sqlite"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        assert pool.starmap(_writer, [(str(path), "fp", w, 100) for w in range(4)]) == [100] * 4
    cache = TextCache(path, "fp")
    assert len(cache) == 400
    assert not list(tmp_path.glob("*.corrupt-*"))
    assert cache.get_many([(f"03{99:062d}", "docx")])[f"03{99:062d}", "docx"].text == "3/99"


def test_a_run_over_two_worker_processes_gives_the_records_of_one(tmp_path, monkeypatch):
    one = standard_run(tmp_path / "one")
    two = standard_run(tmp_path / "two")
    run(one, workers=1)
    stats = run(two, workers=2)
    assert 4 <= stats["read"] == 6 - stats["cached"]
    assert records(one) == records(two)


def test_the_key_changes_with_the_extractor_version_and_the_ocr_language(tmp_path, monkeypatch):
    data = standard_run(tmp_path)
    run(data)
    expected = records(data)
    before = attachments.fingerprint()
    monkeypatch.setattr(attachments, "EXTRACTOR_VERSION", attachments.EXTRACTOR_VERSION + 1)
    assert attachments.fingerprint() != before
    assert run(data)["read"] == 4  # nothing of the old version is used
    assert records(data) == expected
    assert run(data)["cached"] == 6
    assert attachments.fingerprint(lang="eng") != attachments.fingerprint()
    monkeypatch.setattr(attachments, "OCR_LANG", "eng")
    assert run(data)["read"] == 4
    assert cache_rows(data) == 12  # three fingerprints, four files each


def test_failures_of_the_machine_are_not_cached_failures_of_the_file_are(tmp_path, monkeypatch):
    """A legacy .doc without antiword (a missing tool) is tried again next run; a broken PDF
    (the file's fault) is not."""
    yz = BASE["yuzhong"]
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600
    data = make_run(
        tmp_path, {"yuzhong": [(yz + "a.doc", ole), (yz + "b.pdf", read("broken.pdf"))]}
    )
    real_have = attachments.have
    monkeypatch.setattr(attachments, "have", lambda tool: tool != "antiword" and real_have(tool))
    stats: Counter = Counter()
    extract_run(data, RUN, ["yuzhong"], stats=stats)
    doc, pdf = map(json.loads, records_path(data, RUN, "yuzhong").read_text().splitlines())
    assert (doc["status"], doc["reason"]) == (
        "unsupported",
        "legacy .doc needs antiword (not installed)",
    )
    assert pdf["status"] == "failed"
    assert cache_rows(data) == 1  # only the broken PDF
    assert isinstance(attachments._read(ole, "doc"), Transient)
    stats = Counter()
    extract_run(data, RUN, ["yuzhong"], stats=stats)
    assert (stats["read"], stats["cached"]) == (1, 1)  # the .doc tried again


def test_an_unusable_cache_directory_only_costs_time(tmp_path, caplog):
    data = standard_run(tmp_path)
    (data.root / "cache").write_text("a file where the cache directory should be")
    stats = run(data)
    assert stats["read"] == 4
    assert json.loads(records(data)["yuzhong"].splitlines()[0])["status"] == "ok"
    assert "not usable" in caplog.text


# -- OCR: batched, cached ------------------------------------------------------------------
def need_ocr() -> None:
    missing = [t for t in ("tesseract", "pdftoppm") if shutil.which(t) is None]
    if not missing:
        langs = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True)
        if "chi_sim" not in langs.stdout:
            missing.append("tesseract-ocr-chi-sim")
    if missing:
        why = f"OCR unavailable: {', '.join(missing)} not installed"
        if os.environ.get("GONGKAI_REQUIRE_SERVICES") == "1":
            pytest.fail(f"GONGKAI_REQUIRE_SERVICES=1 but {why}", pytrace=False)
        pytest.skip(why)


@pytest.mark.services
def test_batched_ocr_reads_each_page_as_one_process_per_page_does(tmp_path):
    """One tesseract over many pages gives each page's text exactly as one tesseract per page;
    an unreadable page does not cost the others their text."""
    need_ocr()
    from harvesters.sandbox.attachments import png_with_text

    pages = []
    for i, lines in enumerate([["重庆市政务公开"], [], ["行政处罚决定书", "请依法监督"]]):
        page = tmp_path / f"{i}.png"
        page.write_bytes(png_with_text(lines) if lines else (FILES / "picture.png").read_bytes())
        pages.append(page)
    alone = [attachments.ocr_image(p) for p in pages]
    assert attachments.ocr_pages(pages) == alone
    assert "行政处罚决定书" in alone[2]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    mixed = attachments.ocr_pages([pages[0], bad, pages[2]])
    assert mixed[0] == alone[0] and mixed[2] == alone[2]
    assert isinstance(mixed[1], attachments.ToolFailed)


@pytest.mark.services
def test_scans_and_pictures_are_ocrd_once_then_come_from_the_cache(tmp_path, monkeypatch):
    need_ocr()
    yz, dj = BASE["yuzhong"], BASE["dianjiang"]
    scan, picture, blank = read("scanned.pdf"), read("picture.png"), read("blank-scan.pdf")
    data = make_run(
        tmp_path,
        {
            "yuzhong": [(yz + "s.pdf", scan), (yz + "p.png", picture), (yz + "b.pdf", blank)],
            "dianjiang": [(dj + "s2.pdf", scan)],
        },
    )
    stats = run(data, workers=2)
    assert stats["ocr"] == 3  # the scan twice in two sources: OCR'd once
    recs = [json.loads(line) for line in records(data)["yuzhong"].decode().splitlines()]
    assert [(r["status"], r["method"]) for r in recs] == [
        ("ok", "ocr"),
        ("ok", "ocr"),
        ("ocr-empty", "ocr"),
    ]
    for r, body, url in zip(recs, (scan, picture, blank), ("s.pdf", "p.png", "b.pdf"), strict=True):
        alone = attachments.extract_text(body, yz + url)  # one file, as before batching
        assert (r["text"], r["status"], r["reason"]) == (alone.text, alone.status, alone.reason)
    expected = records(data)
    monkeypatch.setattr(attachments, "_run", lambda *a, **k: pytest.fail("ran a tool"))
    warm = run(data, workers=1)
    assert (warm["ocr"], warm["cached"]) == (0, 4)
    assert records(data) == expected


def test_the_warc_file_is_read_by_member_and_a_cut_last_record_is_left_out(tmp_path, caplog):
    """The stage splits the WARC file's gzip members itself (warcio parses the attachment
    records only): same answers as warcio, offsets it can seek to; a crawl killed while
    writing leaves a cut last member, which is skipped with a warning."""
    from warcio.archiveiterator import ArchiveIterator

    yz = BASE["yuzhong"]
    data = make_run(
        tmp_path, {"yuzhong": [(yz + "a.pdf", read("text-layer.pdf")), (yz + "b.docx", b"x")]}
    )
    path = data.warc / "yuzhong" / f"{RUN}.warc.gz"
    got = list(attachments._warc_records(path, None))
    assert [(u, b) for u, _, b, _ in got] == [
        (yz + "a.pdf", read("text-layer.pdf")),
        (yz + "b.docx", b"x"),
    ]
    with path.open("rb") as f:
        f.seek(got[1][3])
        assert (
            next(iter(ArchiveIterator(f))).rec_headers.get_header("WARC-Target-URI")
            == yz + "b.docx"
        )
    size = path.stat().st_size
    with path.open("r+b") as f:  # the request record after b.docx, then b.docx itself, cut
        f.truncate(got[1][3] + 20)
    assert [u for u, _, _ in attachments.warc_attachments(path)] == [yz + "a.pdf"]
    assert "is cut, left out" in caplog.text and size > got[1][3] + 20
