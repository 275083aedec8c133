"""Normalisation shared by every CMS family: labels, dates, document numbers, text.

A portal prints the same metadata under many spellings ("[ 索 引 号 ]：", "索引号:",
"【索引号】", and mangled ones such as "[ 索号 ]"), dates in half a dozen shapes and document
numbers with any kind of bracket. Everything here turns what is printed into the item schema's
values, and answers `None` rather than guessing when a value is blank or unreadable.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from lxml import etree

# --- labels ---------------------------------------------------------------------------------

#: Every label spelling seen on the portals, normalised (see `normalise_label`), to item field.
LABEL_FIELDS: dict[str, str] = {
    "索引号": "index_no",
    "发文字号": "doc_no",
    "文号": "doc_no",
    "发文号": "doc_no",
    "主题分类": "topic",
    "信息分类": "topic",
    "信息分类名称": "topic",
    "分类": "topic",
    "体裁分类": "genre",
    "体裁": "genre",
    "发布机构": "publisher",
    "发文机关": "publisher",
    "发布单位": "publisher",
    "信息来源": "publisher",
    "来源": "publisher",
    "公开机构": "publisher",
    "生成机构": "publisher",
    "成文日期": "written",
    "生成日期": "written",
    "写作日期": "written",
    "发布日期": "published",
    "公开日期": "published",
    "发文日期": "published",
    "发布时间": "published",
    "pubdate": "published",
    "标题": "title",
    "名称": "title",
    "文件名称": "title",
    "有效性": "validity",
    "时效性": "validity",
    "主题词": "keywords",
    "关键词": "keywords",
    "keywords": "keywords",
}

# Spaces (incl. U+3000 and no-break space), brackets and colons that decorate labels.
#: Labels too short to tell which field they mean, whatever the tolerant match says.
AMBIGUOUS_LABELS = frozenset({"主题", "日期", "时间", "机构", "名", "号"})

_LABEL_JUNK = re.compile(r"[\s\u3000\xa0\[\]【】［］()（）〔〕<>《》:：]+")
_ASCII_ONLY = re.compile(r"^[A-Za-z]+$")


def normalise_label(text: str) -> str:
    """Strip spaces, brackets and colons: "[ 索 引 号 ]：" → "索引号"; ASCII is lower-cased."""
    label = _LABEL_JUNK.sub("", text)
    return label.lower() if label.isascii() else label


def _is_subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


@lru_cache(maxsize=4096)
def _field_of_normalised(label: str) -> str | None:
    field = LABEL_FIELDS.get(label)
    if field is not None or label in AMBIGUOUS_LABELS:
        return field
    if len(label) < 2 or _ASCII_ONLY.match(label):
        return field
    # Mangled labels lose characters ("索号", "有性", "发机构", "成日期"): accept a label that is
    # a subsequence of known labels of one field only, missing one character (two when the
    # label keeps at least three), so "日期" or "机构" alone stay unknown.
    most = 2 if len(label) >= 3 else 1
    fields = {
        f
        for known, f in LABEL_FIELDS.items()
        if 0 < len(known) - len(label) <= most and _is_subsequence(label, known)
    }
    return fields.pop() if len(fields) == 1 else None


_DECORATION = re.compile(r"[\[\]【】［］:：]")


def label_field(text: str, strict: bool = False) -> str | None:
    """The item field a printed label stands for, or `None` when it is unknown or ambiguous.

    Mangled labels ("[ 索号 ]") are matched tolerantly unless `strict`; see `cell_label_field`.
    """
    if not text or len(text) > 40:
        return None
    label = normalise_label(text)
    return LABEL_FIELDS.get(label) if strict else _field_of_normalised(label)


def cell_label_field(text: str) -> str | None:
    """Like `label_field`, for text that may as well be a value (a table cell, a span): the
    tolerant match applies only to text decorated as a label ("[ 有性 ]", "有性："), so the
    value "有效" is never read as the label "有效性"."""
    if not text or len(text) > 40:
        return None
    return label_field(text, strict=_DECORATION.search(text) is None)


# --- values ---------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u3000\xa0\u200b\ufeff]+")
BLANKS = frozenset({"", "-", "--", "—", "——", "无", "/", "暂无", "null", "none", "空"})


def clean(text: str | None) -> str | None:
    """Collapse whitespace (incl. U+3000, &nbsp;) and trim; blank values ("-", "无", …) → None."""
    if text is None:
        return None
    value = _SPACES.sub(" ", text).strip()
    return None if value.lower() in BLANKS else value


_DATE_YMD = re.compile(
    r"(?<!\d)(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)",
)
_DATE_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")


def parse_date(text: str | None) -> str | None:
    """Chinese date in any common shape → ISO `YYYY-MM-DD`; unreadable or invalid → None.

    `2021-05-06`, `2021/5/6`, `2021.05.06`, `2021年5月6日`, `2021年05月06日 10:20`, `20210506`.
    """
    if not text:
        return None
    match = _DATE_YMD.search(text) or _DATE_COMPACT.search(text)
    if match is None:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not 1949 <= year <= 2100:
        return None
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None


# A year in any bracket after the issuer's abbreviation: [2021] （2021） 〔 2021〕 【2021】 (2021).
_DOC_YEAR = re.compile(r"[\[(（【〔［﹝{]\s*(\d{4})\s*[\])）】〕］﹞}]")


def normalise_doc_no(text: str | None) -> str | None:
    """Document number with its year bracket as 〔〕 and no spaces: "渝府办发[2014] 87号" → "渝府办发〔2014〕87号"."""
    value = clean(text)
    if value is None:
        return None
    return _DOC_YEAR.sub(r"〔\1〕", _SPACES.sub("", value))


_INDEX_NO_SPACES = re.compile(r"\s+")


def normalise_index_no(text: str | None) -> str | None:
    """索引号 as printed, without any whitespace; blank → None."""
    value = clean(text)
    return None if value is None else _INDEX_NO_SPACES.sub("", value)


_KEYWORD_SPLIT = re.compile(r"[；;，,、\s\u3000\xa0|]+")


def split_keywords(text: str | None) -> list[str]:
    """Keywords separated by ；;，, 、 or spaces, blanks dropped, first occurrence kept."""
    if not text:
        return []
    seen: dict[str, None] = {}
    for word in _KEYWORD_SPLIT.split(text):
        if word and word.lower() not in BLANKS:
            seen.setdefault(word, None)
    return list(seen)


# Shapes that identify a value even under a blank label (never used for dates: ambiguous).
_INDEX_NO_SHAPE = re.compile(r"^[0-9A-Z]{9,18}/\d{4,6}-\d{3,6}$")
_DOC_NO_SHAPE = re.compile(r"〔\d{4}〕\d+号$")


def field_from_value_shape(value: str | None) -> str | None:
    """The field a value must belong to by its shape alone (索引号, 文号), else None."""
    if not value:
        return None
    if _INDEX_NO_SHAPE.match(value):
        return "index_no"
    doc_no = normalise_doc_no(value)
    if doc_no and _DOC_NO_SHAPE.search(doc_no) and len(doc_no) <= 40:
        return "doc_no"
    return None


def normalise_value(field: str, raw: str | None) -> Any:
    """Printed value → item value for `field` (dates ISO, doc numbers, keyword lists, text)."""
    if field in ("written", "published"):
        return parse_date(raw)
    if field == "doc_no":
        return normalise_doc_no(raw)
    if field == "index_no":
        return normalise_index_no(raw)
    if field == "keywords":
        return split_keywords(raw) or None
    return clean(raw)


def put(fields: dict[str, Any], field: str | None, raw: str | None) -> None:
    """Set `fields[field]` from a printed value unless already set or the value is blank."""
    if field is None or fields.get(field):
        return
    value = normalise_value(field, raw)
    if value:
        fields[field] = value


def merge(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields `into` lacks from `other` (first source wins); returns `into`."""
    for key, value in other.items():
        if value and not into.get(key):
            into[key] = value
    return into


# --- text of an element ---------------------------------------------------------------------

SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "iframe"})
BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "table",
        "tbody",
        "thead",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "blockquote",
        "pre",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "hr",
        "header",
        "footer",
        "form",
        "center",
        "caption",
        "figure",
        "figcaption",
        "address",
    }
)
CELL_TAGS = frozenset({"td", "th"})
_LINE_SPACES = re.compile(r"[ \t\r\f\v\u3000\xa0\u200b\ufeff]+")


def _walk(el: etree._Element, parts: list[str], skip: frozenset[int]) -> None:
    # An explicit stack, not recursion: hostile pages nest elements 10,000s deep.
    todo: list[etree._Element | str] = [el]
    while todo:
        node = todo.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        tag = node.tag
        if not isinstance(tag, str) or tag in SKIP_TAGS or id(node) in skip:
            continue  # comments, processing instructions, scripts: their tail is added below
        block = tag in BLOCK_TAGS
        if block:
            parts.append("\n")
        elif tag in CELL_TAGS:
            parts.append(" ")
        if node.text:
            parts.append(node.text)
        after: list[etree._Element | str] = []
        for child in node:
            after.append(child)
            if child.tail:
                after.append(child.tail)
        if block:
            after.append("\n")
        todo.extend(reversed(after))


def text_lines(el: etree._Element, skip: Iterable[etree._Element] = ()) -> list[str]:
    """Text of `el` as non-empty lines: block elements break lines, scripts/styles dropped."""
    parts: list[str] = []
    keep = list(skip)  # holds the proxies alive so their ids stay unique during the walk
    _walk(el, parts, frozenset(id(s) for s in keep))
    lines = []
    for line in "".join(parts).split("\n"):
        line = _LINE_SPACES.sub(" ", line).strip()
        if line:
            lines.append(line)
    return lines


def body_text(el: etree._Element | None) -> str | None:
    """Plain text of a body element, paragraphs kept as "\\n"; empty → None."""
    if el is None:
        return None
    text = "\n".join(text_lines(el))
    return text or None


_string = etree.XPath("string()")


def inline_text(el: etree._Element) -> str:
    """All text of `el` on one line, whitespace collapsed (scripts not expected inside)."""
    return _SPACES.sub(" ", _string(el)).strip()
