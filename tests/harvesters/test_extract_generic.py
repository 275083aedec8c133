"""Pages of no known family: standard meta tags and label/value pairs in common layouts."""

from pathlib import Path

from harvesters.extract import extract

FILES = Path(__file__).parent.parent / "files" / "generic"

DL_URL = "https://czj.cq.gov.cn/zwgk_268/zfxxgkml/zcwj/gfxwj/202202/t20220218_10412233.html"
DL = extract((FILES / "dl_layout.html").read_bytes(), DL_URL, family="generic")
SPAN = extract(
    (FILES / "span_layout.html").read_bytes(),
    "http://www.example-county.gov.cn/zwgk/tzgg/2022-03-05/4521.html",
)


def test_dl_title_from_articletitle():
    assert DL["title"] == "重庆市财政局关于印发《重庆市市级财政专项资金管理办法》的通知"


def test_dl_index_no():
    assert DL["index_no"] == "11500000009275780L/2022-00031"


def test_dl_doc_no_lenticular_brackets():
    assert DL["doc_no"] == "渝财规〔2022〕3号"


def test_dl_topic():
    assert DL["topic"] == "财政、金融、审计"


def test_dl_genre():
    assert DL["genre"] == "规范性文件"


def test_dl_publisher_label_beats_contentsource():
    assert DL["publisher"] == "市财政局"


def test_dl_written_dotted_date():
    assert DL["written"] == "2022-02-15"


def test_dl_published_slashed_date():
    assert DL["published"] == "2022-02-18"


def test_dl_validity():
    assert DL["validity"] == "有效"


def test_dl_keywords_semicolon():
    assert DL["keywords"] == ["专项资金", "管理办法"]


def test_dl_body_table_not_read_as_metadata():
    assert "名称 金额\n专项资金 100万元" in DL["body_text"]


def test_dl_attachments_root_relative_and_relative():
    assert DL["attachments"] == [
        "https://czj.cq.gov.cn/zwgk_268/zfxxgkml/zcwj/gfxwj/202202/P020220218391234567890.docx",
        "https://czj.cq.gov.cn/zwgk_268/zfxxgkml/zcwj/gfxwj/202202/P020220218391234567891.ofd",
    ]


def test_span_title_from_h1():
    assert SPAN["title"] == "重庆市示例县人民政府关于2022年春季森林防火工作的通告"


def test_span_index_no_nbsp_label():
    assert SPAN["index_no"] == "115002300093581234/2022-00015"


def test_span_doc_no_fullwidth_parentheses():
    assert SPAN["doc_no"] == "示县府发〔2022〕5号"


def test_span_topic_from_xinxi_fenlei():
    assert SPAN["topic"] == "农业、林业、水利"


def test_span_written_chinese_date():
    assert SPAN["written"] == "2022-03-01"


def test_span_published_chinese_date_with_time():
    assert SPAN["published"] == "2022-03-05"


def test_span_zanwu_validity_is_null():
    assert SPAN["validity"] is None


def test_span_keywords_enumeration_comma():
    assert SPAN["keywords"] == ["森林防火", "春季", "通告"]


def test_span_body_from_zoom():
    assert SPAN["body_text"].startswith("为切实做好2022年春季森林防火工作")


def test_span_genre_absent_is_null():
    assert SPAN["genre"] is None


def test_a_title_tag_that_is_only_the_site_name_is_no_title():
    page = (
        '<html><head><meta charset="utf-8"><title>重庆市渝中区人民政府</title>'
        '<meta name="SiteName" content="重庆市渝中区人民政府"></head><body>'
        '<table class="zwxl-table"><tr><td class="t1">[ 索引号 ]</td>'
        '<td class="t2">11500103009338112H/2021-00021</td></tr></table></body></html>'
    ).encode()
    item = extract(page, "https://www.cqyz.gov.cn/zwgk_229/202105/t20210510_1.html")
    assert item["title"] is None
