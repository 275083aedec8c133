"""TRS pages of the 2017 templates: `table.gkxl-top` metadata, body `div.gkxl-article`.

Labels sit in `td.tit` ("索 引 号：", "信息分类名称：", "发布机构：", "生成日期：", "名　　称：",
"文　　号：", "主 题 词：") with the value in the following cell.
"""

from __future__ import annotations

from typing import Any

import parsel
from lxml import etree

from harvesters.families import generic
from harvesters.fields import body_text, inline_text, label_field, put

_TABLE = etree.XPath(
    "//table[contains(@class, 'gkxl-top')][contains(concat(' ', normalize-space(@class), ' '), ' gkxl-top ')]"
)
_LABELS = etree.XPath(
    ".//td[contains(@class, 'tit')][contains(concat(' ', normalize-space(@class), ' '), ' tit ')]"
)
_VALUE = etree.XPath("following-sibling::td[1]")
BODY_XPATHS = tuple(
    etree.XPath(x)
    for x in (
        "//div[contains(@class, 'gkxl-article')][contains(concat(' ', normalize-space(@class), ' '), ' gkxl-article ')]",
        "//div[contains(@class, 'TRS_Editor')][contains(concat(' ', normalize-space(@class), ' '), ' TRS_Editor ')]",
        "//div[@id='zoom']",
    )
)


def parse(sel: parsel.Selector, url: str) -> dict[str, Any]:
    """Fields of a 2017-template TRS page."""
    root = sel.root
    fields: dict[str, Any] = {}
    for table in _TABLE(root):
        for cell in _LABELS(table):
            value = _VALUE(cell)
            if value:
                put(fields, label_field(inline_text(cell)), inline_text(value[0]))
        generic.put_pairs(fields, generic.table_pairs(table))  # other layouts in the table
    generic.from_meta(generic.meta_tags(root), fields)
    body = generic.find_body(root, BODY_XPATHS)
    text = body_text(body)
    if text:
        fields["body_text"] = text
    links = generic.attachments(root, url, [body])
    if links:
        fields["attachments"] = links
    return fields
