"""TRS pages of the 2017 templates (`table.gkxl-top`, `div.gkxl-article`)."""

from pathlib import Path

from harvesters.extract import extract

FILES = Path(__file__).parent.parent / "files" / "trs2017"

ENV = extract(
    (FILES / "gkxl_sthjj_2017.html").read_bytes(),
    "http://sthjj.cq.gov.cn/zwgk_249/zfxxgkml/201706/t20170620_4123456.html",
)
SZF = extract(
    (FILES / "gkxl_szf_2017_blank.html").read_bytes(),
    "http://www.cq.gov.cn/zwgk/fdzdgknr/lzyj/qtgw/201709/t20170928_8812345.html",
)


def test_title_from_mingcheng():
    assert ENV["title"] == "重庆市环境保护局关于做好2017年大气污染防治工作的通知"


def test_index_no_nine_digit_code():
    assert ENV["index_no"] == "009315877/2017-00733"


def test_topic_from_xinxi_fenlei_mingcheng():
    assert ENV["topic"] == "城乡建设、环境保护\\环境监测、保护与治理"


def test_publisher():
    assert ENV["publisher"] == "重庆市环境保护局"


def test_written_from_shengcheng_riqi():
    assert ENV["written"] == "2017-06-20"


def test_published_absent_is_null():
    assert ENV["published"] is None


def test_doc_no_from_wenhao():
    assert ENV["doc_no"] == "渝环发〔2017〕45号"


def test_keywords_from_zhutici():
    assert ENV["keywords"] == ["大气污染", "防治", "通知"]


def test_genre_absent_is_null():
    assert ENV["genre"] is None


def test_body_from_gkxl_article():
    assert ENV["body_text"].startswith("各区县（自治县）环保局，两江新区、万盛经开区环保局：")


def test_attachment_xls():
    assert ENV["attachments"] == [
        "http://sthjj.cq.gov.cn/zwgk_249/zfxxgkml/201706/P020170620527761350227.xls"
    ]


def test_round_bracket_doc_no():
    assert SZF["doc_no"] == "渝府办〔2017〕88号"


def test_chinese_written_date():
    assert SZF["written"] == "2017-09-26"


def test_published_from_pubdate_meta():
    assert SZF["published"] == "2017-09-28"


def test_wu_keywords_is_empty():
    assert SZF["keywords"] == []


def test_body_directly_in_gkxl_article():
    assert SZF["body_text"].endswith("领导小组办公室设在市统计局。")


def test_no_attachments():
    assert SZF["attachments"] == []
