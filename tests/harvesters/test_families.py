"""Family detection, list-page helpers (TRS, Hanweb), decoding, and pages that are not notices."""

from pathlib import Path

import parsel
import pytest

from harvesters.extract import NotADetailPage, decode, detect_family, extract
from harvesters.families import hanweb, trs

FILES = Path(__file__).parent.parent / "files"

LIST_URL = "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/index.html"
LIST_TEXT = (FILES / "trs" / "list_index.html").read_text(encoding="utf-8")
links = trs.detail_links(parsel.Selector(text=LIST_TEXT), LIST_URL)
PROXY_URL = "http://www.example-district.gov.cn/module/web/jpage/dataproxy.jsp?startrecord=1"
PROXY_TEXT = (FILES / "hanweb" / "dataproxy.xml").read_text(encoding="utf-8")


def _text(path: str) -> str:
    return decode((FILES / path).read_bytes())


# --- family detection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "url", "family"),
    [
        ("trs/cq_szfwj_t20210508_9266120.html", "https://www.cq.gov.cn/a/t20210508_1.html", "trs"),
        ("trs/gb2312_meta_only_t20190312_8123456.html", "http://x/201903/t20190312_1.html", "trs"),
        ("trs2017/gkxl_sthjj_2017.html", "http://x/201706/t20170620_1.html", "trs2017"),
        ("trs2017/gkxl_szf_2017_blank.html", "http://x/201709/t20170928_1.html", "trs2017"),
        ("hanweb/art_1234_567890.html", "http://x/page.html", "hanweb"),
        ("hanweb/art_1502_8123456.html", "http://x/art/2021/7/2/art_1502_8123456.html", "hanweb"),
        ("generic/dl_layout.html", "https://czj.cq.gov.cn/a.html", "generic"),
        ("generic/span_layout.html", "http://x/4521.html", "generic"),
    ],
)
def test_detect_family(path, url, family):
    assert detect_family(_text(path), url) == family


def test_hanweb_detected_by_footer_alone():
    assert (
        detect_family("<html><body><p>大汉版通发布系统</p></body></html>", "http://x/a") == "hanweb"
    )


# --- TRS list pages -------------------------------------------------------------------------


def test_page_count_from_fixture():
    assert trs.page_count(LIST_TEXT) == 12


@pytest.mark.parametrize(
    ("script", "count"),
    [
        ('createPageHTML(10, 0, "index", "html");', 10),
        ("createPageHTML( 7 ,3,'index','html');", 7),
        ("createPageHTML('page_div', 16, 1, 'index', 'html', 317);", 16),
        ('createPage(5, 0, "index", "html");', 5),
        ('createPageHTML("10", "0", "index", "html", 193, "extra");', 10),
        ("var countPage = 4; var currentPage = 0;", 4),
    ],
)
def test_page_count_variants(script, count):
    assert trs.page_count(f"<script>{script}</script>") == count


def test_page_count_ignores_function_definition():
    script = "function createPageHTML(_nPageCount, _nCurrIndex, _sPageName, _sPageExt) {}"
    assert trs.page_count(script) is None


def test_page_count_absent():
    assert trs.page_count("<html><body>no pager</body></html>") is None


def test_list_page_urls_from_index():
    assert trs.list_page_urls(LIST_URL, 3) == [
        "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/index.html",
        "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/index_1.html",
        "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/index_2.html",
    ]


def test_list_page_urls_from_directory():
    assert trs.list_page_urls("https://www.cqyz.gov.cn/zwgk_229/", 2) == [
        "https://www.cqyz.gov.cn/zwgk_229/index.html",
        "https://www.cqyz.gov.cn/zwgk_229/index_1.html",
    ]


def test_list_page_urls_single_page():
    assert trs.list_page_urls("https://x.gov.cn/col/index_3.html", 1) == [
        "https://x.gov.cn/col/index.html"
    ]


def test_detail_links_absolute_canonical_deduplicated():
    base = "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/"
    expected = [
        base + "202106/t20210615_9412345.html",
        base + "202106/t20210608_9398761.html",
        base + "202105/t20210528_9372210.html",
        base + "202105/t20210519_9351108.html",
        base + "202105/t20210512_9340077.html",
    ]
    assert links == expected


def test_detail_links_skip_navigation():
    assert not any(link.endswith("/zcjd/") for link in links)


@pytest.mark.parametrize(
    ("url", "docid"),
    [
        ("https://www.cq.gov.cn/zwgk/202105/t20210508_9266120.html", "9266120"),
        ("https://www.cq.gov.cn/zwgk/202105/t20210508_9266120_app.html", "9266120"),
        ("https://www.cq.gov.cn/zwgk/202105/t20210508_9266120_wap.html", "9266120"),
        ("https://www.cq.gov.cn/zwgk/202105/t20210508_9266120.shtml", "9266120"),
        ("https://www.cq.gov.cn/zwgk/index_2.html", None),
        ("http://x/art/2021/5/6/art_1234_567890.html", None),
    ],
)
def test_doc_id(url, docid):
    assert trs.doc_id(url) == docid


def test_canonical_url_drops_app_suffix():
    assert (
        trs.canonical_url("https://www.cq.gov.cn/zwgk/202105/t20210508_9266120_app.html#top")
        == "https://www.cq.gov.cn/zwgk/202105/t20210508_9266120.html"
    )


def test_canonical_url_keeps_other_urls():
    assert (
        trs.canonical_url("https://x.gov.cn/a/index.html?p=1")
        == "https://x.gov.cn/a/index.html?p=1"
    )


# --- Hanweb dataproxy.jsp -------------------------------------------------------------------


def test_hanweb_parse_list():
    assert hanweb.parse_list(PROXY_TEXT, PROXY_URL) == [
        "http://www.example-district.gov.cn/art/2021/5/6/art_1234_567890.html",
        "http://www.example-district.gov.cn/art/2021/4/28/art_1234_566102.html",
        "http://www.example-district.gov.cn/art/2021/4/2/art_1234_560031.html",
    ]


def test_hanweb_total_records():
    assert hanweb.total_records(PROXY_TEXT) == 57


def test_hanweb_total_records_absent():
    assert hanweb.total_records("<datastore><recordset></recordset></datastore>") is None


def test_hanweb_parse_list_escaped_records():
    text = "<recordset><record>&lt;li&gt;&lt;a href=&quot;/art/2020/1/2/art_9_88.html&quot;&gt;x&lt;/a&gt;&lt;/li&gt;</record></recordset>"
    assert hanweb.parse_list(text, "http://h.gov.cn/col/col9/index.html") == [
        "http://h.gov.cn/art/2020/1/2/art_9_88.html"
    ]


# --- decoding -------------------------------------------------------------------------------


def test_decode_header_charset_wins_over_meta():
    body = '<meta charset="gb2312"><p>政务公开</p>'.encode()
    assert "政务公开" in decode(body, {"Content-Type": "text/html; charset=utf-8"})


def test_decode_bytes_headers():
    body = "<p>政务公开</p>".encode("gbk")
    assert "政务公开" in decode(body, {b"Content-Type": [b"text/html; charset=GBK"]})


def test_decode_meta_http_equiv_gb2312():
    assert "重庆市生态环境局" in _text("trs/gb2312_meta_only_t20190312_8123456.html")


def test_decode_undeclared_gbk_falls_back_to_gb18030():
    assert "政务公开" in decode("<p>政务公开通知</p>".encode("gbk"))


def test_decode_undeclared_utf8():
    assert "政务公开" in decode("<p>政务公开</p>".encode())


def test_decode_bom():
    assert decode("\ufeff<p>政务公开</p>".encode("utf-16-le")).endswith("政务公开</p>")


# --- pages that are not notice detail pages -------------------------------------------------


def test_refuses_empty_page():
    with pytest.raises(NotADetailPage, match="empty"):
        extract(b"  ", "http://x/a.html")


def test_refuses_dataproxy_xml():
    with pytest.raises(NotADetailPage, match="list data"):
        extract(PROXY_TEXT.encode(), PROXY_URL)


def test_refuses_bot_challenge():
    with pytest.raises(NotADetailPage, match="bot challenge"):
        extract((FILES / "trs" / "bot_challenge_521.html").read_bytes(), "http://x/")


def test_refuses_trs_list_page():
    with pytest.raises(NotADetailPage, match="list page"):
        extract(LIST_TEXT.encode(), LIST_URL)


def test_refuses_error_page():
    page = (
        "<html><head><title>404 页面不存在</title></head>"
        "<body><div class='content'><p>您访问的页面不存在或已被删除</p></div></body></html>"
    )
    with pytest.raises(NotADetailPage, match="error page"):
        extract(page.encode(), "http://x/202105/t20210508_1.html")


def test_refuses_error_page_with_site_title():
    page = (
        "<html><head><title>重庆市人民政府网</title></head>"
        "<body><div class='content'><p>抱歉，您访问的页面不存在</p></div></body></html>"
    )
    with pytest.raises(NotADetailPage, match="error page"):
        extract(page.encode(), "http://x/202105/t20210508_1.html")


def test_refuses_truncated_page():
    with pytest.raises(NotADetailPage, match="no title and no metadata"):
        extract((FILES / "trs" / "truncated_t20210701_9501234.html").read_bytes(), "http://x/")


def test_not_a_detail_page_is_a_value_error():
    assert issubclass(NotADetailPage, ValueError)


def test_truncated_after_metadata_keeps_what_arrived():
    body = (FILES / "trs" / "cq_szfwj_t20210508_9266120.html").read_bytes()
    cut = body[: body.index("[ 体裁分类 ]".encode())]
    item = extract(cut, "https://www.cq.gov.cn/zwgk/202105/t20210508_9266120.html")
    assert (item["index_no"], item["genre"]) == ("11500000MB1527230Q/2021-00110", None)
