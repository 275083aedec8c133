"""The raw archive: request and response records, one gzip member each, readable by warcio."""

from scrapy.http import HtmlResponse, Request
from warcio.archiveiterator import ArchiveIterator

from harvesters.warc import KIND_FIELD, WarcFile

URL = "http://127.0.0.1:8700/czj/zwgk_268/202105/t20210506_1.html"


def write(tmp_path):
    warc = WarcFile(tmp_path / "run.warc.gz")
    warc.write_info({"source": "czj"})
    request = Request(URL, headers={"If-None-Match": '"abc"'})
    body = "<html><title>通知</title></html>".encode()
    response = HtmlResponse(URL, status=200, body=body, headers={"Content-Type": "text/html"})
    warc.write(request, response, "detail")
    warc.close()
    return tmp_path / "run.warc.gz", body


def test_every_record_is_its_own_gzip_member(tmp_path):
    path, _ = write(tmp_path)
    with path.open("rb") as f:  # warcio refuses a file whose gzip member spans records
        types = [r.rec_type for r in ArchiveIterator(f)]
    assert types == ["warcinfo", "response", "request"]


def test_response_record_keeps_body_status_and_kind(tmp_path):
    path, body = write(tmp_path)
    with path.open("rb") as f:
        record = next(r for r in ArchiveIterator(f) if r.rec_type == "response")
        assert record.rec_headers.get_header("WARC-Target-URI") == URL
        assert record.rec_headers.get_header(KIND_FIELD) == "detail"
        assert record.http_headers.get_statuscode() == "200"
        assert record.content_stream().read() == body


def test_request_record_keeps_the_conditional_header(tmp_path):
    path, _ = write(tmp_path)
    with path.open("rb") as f:
        record = next(r for r in ArchiveIterator(f) if r.rec_type == "request")
        assert record.http_headers.get_header("If-None-Match") == '"abc"'
        assert record.rec_headers.get_header("WARC-Concurrent-To")
