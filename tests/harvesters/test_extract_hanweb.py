"""大汉 Hanweb JCMS article pages."""

from pathlib import Path

from harvesters.extract import extract

FILES = Path(__file__).parent.parent / "files" / "hanweb"

ART_URL = "http://www.example-district.gov.cn/art/2021/5/6/art_1234_567890.html"
ART = extract((FILES / "art_1234_567890.html").read_bytes(), ART_URL)
NEWS = extract(
    (FILES / "art_1502_8123456.html").read_bytes(),
    "http://jtj.example.gov.cn/art/2021/7/2/art_1502_8123456.html",
)


def test_title_from_meta():
    assert ART["title"] == "示例区人民政府关于印发2021年重点民生实事项目的通知"


def test_index_no_from_th_td_table():
    assert ART["index_no"] == "002482410/2021-65012"


def test_publisher_from_table():
    assert ART["publisher"] == "区政府办公室"


def test_written_from_table():
    assert ART["written"] == "2021-04-30"


def test_published_from_pubdate_meta():
    assert ART["published"] == "2021-05-06"


def test_doc_no_from_wenhao():
    assert ART["doc_no"] == "示政发〔2021〕12号"


def test_unmapped_labels_ignored():
    assert ART["topic"] is None


def test_body_from_zoom():
    assert ART["body_text"] == (
        "各街道办事处，区政府各部门，各直属单位：\n"
        "现将《示例区2021年重点民生实事项目》印发给你们，请认真组织实施。\n"
        "附件：2021年重点民生实事项目.pdf"
    )


def test_downfile_attachment():
    assert ART["attachments"] == [
        "http://www.example-district.gov.cn/module/download/downfile.jsp?classid=0&filename=2105061620123456.pdf"
    ]


def test_keywords_from_meta():
    assert ART["keywords"] == ["民生实事"]


def test_news_publisher_from_contentsource():
    assert NEWS["publisher"] == "市交通运输局"


def test_news_published():
    assert NEWS["published"] == "2021-07-02"


def test_news_body_from_bt_content():
    assert NEWS["body_text"].startswith("因道路养护施工需要")


def test_news_no_index_no():
    assert NEWS["index_no"] is None


def test_news_body_excludes_view_counter_script():
    assert "1024" not in NEWS["body_text"]
