"""TRS WCM detail pages (`table.zwxl-table`): three saved pages, each parsed once."""

import hashlib
from pathlib import Path

import pytest

from gongkai.items import ITEM_FIELDS
from harvesters.extract import NotADetailPage, extract

FILES = Path(__file__).parent.parent / "files" / "trs"

CQ_URL = "https://www.cq.gov.cn/zwgk/zfxxgkml/szfwj/qtgw/202105/t20210508_9266120.html"
CQ_BODY = (FILES / "cq_szfwj_t20210508_9266120.html").read_bytes()
CQ = extract(CQ_BODY, CQ_URL)

DISTRICT_URL = "http://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/202106/t20210615_9412345.html"
DISTRICT = extract((FILES / "district_mangled_t20210615_9412345.html").read_bytes(), DISTRICT_URL)

GBK_URL = "http://sthjj.cq.gov.cn/zwgk_249/zfxxgkml/tzgg/201903/t20190312_8123456.html"
GBK_BODY = (FILES / "gb2312_meta_only_t20190312_8123456.html").read_bytes()
GBK = extract(GBK_BODY, GBK_URL)

PDF_URL = "https://sthjj.cq.gov.cn/zwgk_249/zfxxgkml/xzcf/202201/t20220110_10293847.html"
PDF = extract((FILES / "pdf_only_t20220110_10293847.html").read_bytes(), PDF_URL)


# --- a normal cq.gov.cn department page -----------------------------------------------------


def test_schema_fields_in_order():
    assert tuple(CQ) == ITEM_FIELDS


def test_url():
    assert CQ["url"] == CQ_URL


def test_caller_fields_stay_empty():
    assert (CQ["source"], CQ["fetched_at"], CQ["categories"]) == (None, None, [])


def test_sha256_of_raw_bytes():
    assert CQ["sha256"] == hashlib.sha256(CQ_BODY).hexdigest()


def test_title_from_table():
    assert CQ["title"] == "重庆市人民政府办公厅关于印发2021年重庆市政务公开工作要点的通知"


def test_index_no():
    assert CQ["index_no"] == "11500000MB1527230Q/2021-00110"


def test_doc_no_bracket_spaces_trimmed():
    assert CQ["doc_no"] == "渝府办发〔2021〕52号"


def test_publisher_as_printed():
    assert CQ["publisher"] == "市政府办公厅"


def test_written():
    assert CQ["written"] == "2021-05-06"


def test_published():
    assert CQ["published"] == "2021-05-08"


def test_topic():
    assert CQ["topic"] == "政务公开"


def test_genre():
    assert CQ["genre"] == "通知"


def test_validity():
    assert CQ["validity"] == "有效"


def test_keywords_from_meta():
    assert CQ["keywords"] == ["政务公开", "工作要点"]


def test_body_starts_with_addressees():
    assert CQ["body_text"].startswith("各区县（自治县）人民政府，市政府各部门，有关单位：\n")


def test_body_keeps_paragraph_breaks():
    assert "请认真贯彻执行。\n重庆市人民政府办公厅\n2021年5月6日" in CQ["body_text"]


def test_body_drops_scripts_and_styles():
    assert "file_appendix" not in CQ["body_text"] and "line-height" not in CQ["body_text"]


def test_body_excludes_page_chrome():
    assert "字号" not in CQ["body_text"] and "相关文章" not in CQ["body_text"]


def test_attachments_absolute_from_body_and_attachment_block():
    assert CQ["attachments"] == [
        "https://www.cq.gov.cn/zwgk/zfxxgkml/szfwj/qtgw/202105/P020210508389245561247.pdf",
        "https://www.cq.gov.cn/zwgk/zfxxgkml/szfwj/qtgw/202105/W020210508575684012374.docx",
    ]


def test_footer_document_is_not_an_attachment():
    assert not any("wzndbb" in a for a in CQ["attachments"])


def test_family_argument_gives_same_item():
    assert extract(CQ_BODY, CQ_URL, family="trs") == CQ


# --- a district page with mangled labels and a blank 有效性 -----------------------------------


def test_mangled_index_no_label():
    assert DISTRICT["index_no"] == "11500103009274451Q/2021-00157"


def test_mangled_publisher_label():
    assert DISTRICT["publisher"] == "渝中区政府办公室"


def test_mangled_written_label_chinese_date():
    assert DISTRICT["written"] == "2021-06-10"


def test_blank_validity_is_null():
    assert DISTRICT["validity"] is None


def test_square_bracket_doc_no():
    assert DISTRICT["doc_no"] == "渝中府办发〔2021〕15号"


def test_district_title_from_heading_block():
    assert (
        DISTRICT["title"] == "重庆市渝中区人民政府办公室关于印发渝中区2021年城市管理工作要点的通知"
    )


def test_empty_keywords_meta_gives_empty_list():
    assert DISTRICT["keywords"] == []


def test_district_body_in_trs_paper_default():
    assert DISTRICT["body_text"].endswith("二、推进老旧小区改造和城市更新。")


def test_no_attachments_is_empty_list():
    assert DISTRICT["attachments"] == []


# --- a GB2312 page declared only in <meta http-equiv> ---------------------------------------


def test_gbk_fixture_is_not_utf8():
    with pytest.raises(UnicodeDecodeError):
        GBK_BODY.decode("utf-8")


def test_gbk_title_decoded():
    assert GBK["title"] == "重庆市生态环境局关于开展2019年度排污许可证执行报告填报工作的通知"


def test_gbk_th_td_pairs():
    assert GBK["doc_no"] == "渝环办〔2019〕36号"


def test_gbk_label_and_value_in_one_cell():
    assert GBK["topic"] == "环境监测、保护与治理"


def test_gbk_written_chinese_date():
    assert GBK["written"] == "2019-03-08"


def test_gbk_published_from_pubdate_meta():
    assert GBK["published"] == "2019-03-12"


def test_gbk_keywords_fullwidth_semicolon():
    assert GBK["keywords"] == ["排污许可", "执行报告"]


def test_gbk_attachment():
    assert GBK["attachments"] == [
        "http://sthjj.cq.gov.cn/zwgk_249/zfxxgkml/tzgg/201903/W020190312380515625318.pdf"
    ]


def test_gbk_absent_validity_is_null():
    assert GBK["validity"] is None


def test_gbk_decoded_by_header_charset_too():
    # GBK named in the HTTP header decodes the GB2312 bytes through gb18030 as well.
    item = extract(GBK_BODY, GBK_URL, headers={"Content-Type": "text/html; charset=GBK"})
    assert item["publisher"] == "市生态环境局"


# --- a notice that is only a PDF ------------------------------------------------------------


def test_pdf_only_has_no_body_text():
    assert PDF["body_text"] is None


def test_pdf_only_attachment():
    assert PDF["attachments"] == [
        "https://sthjj.cq.gov.cn/zwgk_249/zfxxgkml/xzcf/202201/W020220110512395803762.pdf"
    ]


def test_pdf_only_title_from_meta():
    assert PDF["title"] == "重庆市生态环境局行政处罚决定书（渝环罚〔2022〕3号）"


def test_pdf_only_dash_validity_is_null():
    assert PDF["validity"] is None


def test_pdf_only_round_bracket_doc_no():
    assert PDF["doc_no"] == "渝环罚〔2022〕3号"


# --- pages that are not notices -------------------------------------------------------------


def test_bot_challenge_refused():
    with pytest.raises(NotADetailPage, match="bot challenge"):
        extract((FILES / "bot_challenge_521.html").read_bytes(), "https://www.cqyz.gov.cn/")


def test_truncated_page_refused():
    with pytest.raises(NotADetailPage, match="no title and no metadata"):
        extract(
            (FILES / "truncated_t20210701_9501234.html").read_bytes(),
            "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/202107/t20210701_9501234.html",
        )


def test_list_page_refused():
    with pytest.raises(NotADetailPage, match="list page"):
        extract(
            (FILES / "list_index.html").read_bytes(),
            "https://www.cqyz.gov.cn/zwgk_229/zfxxgkml/zcwj/qtwj/index.html",
        )
