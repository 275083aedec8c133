"""Label, date, document-number and text normalisation shared by the families."""

import pytest
from lxml import html as lxml_html

from harvesters.fields import (
    body_text,
    cell_label_field,
    clean,
    field_from_value_shape,
    label_field,
    normalise_doc_no,
    normalise_index_no,
    normalise_label,
    parse_date,
    split_keywords,
)


@pytest.mark.parametrize(
    ("printed", "expected"),
    [
        ("[ 索 引 号 ]：", "索引号"),
        ("【发文字号】", "发文字号"),
        ("［主题分类］:", "主题分类"),
        ("（体裁分类）", "体裁分类"),
        ("名\u3000\u3000称：", "名称"),
        ("索\xa0引\xa0号", "索引号"),
        ("PubDate", "pubdate"),
    ],
)
def test_normalise_label(printed, expected):
    assert normalise_label(printed) == expected


@pytest.mark.parametrize(
    ("label", "field"),
    [
        ("[ 索引号 ]", "index_no"),
        ("发文字号：", "doc_no"),
        ("文　　号：", "doc_no"),
        ("发文号", "doc_no"),
        ("主题分类", "topic"),
        ("信息分类", "topic"),
        ("信息分类名称：", "topic"),
        ("分类", "topic"),
        ("体裁分类", "genre"),
        ("体裁", "genre"),
        ("发布机构", "publisher"),
        ("发文机关", "publisher"),
        ("发布单位", "publisher"),
        ("信息来源", "publisher"),
        ("来 源：", "publisher"),
        ("公开机构", "publisher"),
        ("生成机构", "publisher"),
        ("成文日期", "written"),
        ("生成日期：", "written"),
        ("写作日期", "written"),
        ("发布日期", "published"),
        ("公开日期", "published"),
        ("发文日期", "published"),
        ("PubDate", "published"),
        ("标题", "title"),
        ("名称", "title"),
        ("文件名称", "title"),
        ("有效性", "validity"),
        ("时效性", "validity"),
        ("主 题 词：", "keywords"),
        ("关键词", "keywords"),
        ("Keywords", "keywords"),
    ],
)
def test_label_field_known_spellings(label, field):
    assert label_field(label) == field


@pytest.mark.parametrize(
    ("mangled", "field"),
    [
        ("[ 索号 ]", "index_no"),
        ("[ 有性 ]", "validity"),
        ("[ 发机构 ]", "publisher"),
        ("[ 成日期 ]", "written"),
        ("[ 发字号 ]", "doc_no"),
        ("[ 主分类 ]", "topic"),
    ],
)
def test_label_field_mangled_labels(mangled, field):
    assert label_field(mangled) == field


@pytest.mark.parametrize("label", ["日期", "机构", "主题", "联系电话", "字号", "附件", "", "[  ]"])
def test_label_field_unknown_or_ambiguous(label):
    assert label_field(label) is None


def test_cell_label_field_reads_value_as_value():
    assert cell_label_field("有效") is None


def test_cell_label_field_reads_decorated_mangled_label():
    assert cell_label_field("[ 有性 ]") == "validity"


@pytest.mark.parametrize(
    ("printed", "iso"),
    [
        ("2021-05-06", "2021-05-06"),
        ("2021/5/6", "2021-05-06"),
        ("2021.05.06", "2021-05-06"),
        ("2021年5月6日", "2021-05-06"),
        ("2021年05月06日 10:20", "2021-05-06"),
        ("20210506", "2021-05-06"),
        ("2021-05-08 10:30:15", "2021-05-08"),
        (" 发布时间：2021-5-6 ", "2021-05-06"),
    ],
)
def test_parse_date(printed, iso):
    assert parse_date(printed) == iso


@pytest.mark.parametrize(
    "printed", ["2021-02-30", "2021-13-01", "", None, "无", "0000-00-00", "12345"]
)
def test_parse_date_invalid_is_none(printed):
    assert parse_date(printed) is None


@pytest.mark.parametrize(
    ("printed", "normalised"),
    [
        ("渝府办发〔 2014〕87号", "渝府办发〔2014〕87号"),
        ("渝府办发[2021]52号", "渝府办发〔2021〕52号"),
        ("渝府发（2021）12号", "渝府发〔2021〕12号"),
        ("渝财规【2022】3号", "渝财规〔2022〕3号"),
        ("渝环罚(2022)3号", "渝环罚〔2022〕3号"),
        ("渝中府办发[2021]15 号", "渝中府办发〔2021〕15号"),
        ("渝文［2020］1号", "渝文〔2020〕1号"),
    ],
)
def test_normalise_doc_no(printed, normalised):
    assert normalise_doc_no(printed) == normalised


@pytest.mark.parametrize("blank", ["", "-", "无", "/", "暂无", "\u3000", "\xa0", " — "])
def test_blank_values_are_none(blank):
    assert clean(blank) is None


def test_blank_doc_no_is_none():
    assert normalise_doc_no("无") is None


def test_index_no_loses_spaces():
    assert (
        normalise_index_no(" 11500000MB1527230Q / 2021-00110 ") == "11500000MB1527230Q/2021-00110"
    )


@pytest.mark.parametrize(
    ("printed", "words"),
    [
        ("政务公开；信息公开", ["政务公开", "信息公开"]),
        ("专项资金;管理办法", ["专项资金", "管理办法"]),
        ("森林防火、春季、通告", ["森林防火", "春季", "通告"]),
        ("a，b,c d\u3000e", ["a", "b", "c", "d", "e"]),
        ("通知 通知", ["通知"]),
        ("无", []),
        ("", []),
    ],
)
def test_split_keywords(printed, words):
    assert split_keywords(printed) == words


def test_value_shape_index_no():
    assert field_from_value_shape("11500103009274451Q/2021-00157") == "index_no"


def test_value_shape_doc_no():
    assert field_from_value_shape("渝中府办发[2021]15号") == "doc_no"


def test_value_shape_date_is_ambiguous():
    assert field_from_value_shape("2021-06-15") is None


BODY = lxml_html.fromstring(
    "<div><p>第一段\u3000 文字</p><script>var x = 1;</script><style>p{}</style>"
    "<p>第二段<br>换行</p><!-- 注释 -->尾巴<table><tr><td>甲</td><td>乙</td></tr></table></div>"
)


def test_body_text_keeps_paragraphs_drops_scripts():
    assert body_text(BODY) == "第一段 文字\n第二段\n换行\n尾巴\n甲 乙"


def test_body_text_of_empty_element_is_none():
    assert body_text(lxml_html.fromstring("<div><p><br></p></div>")) is None
