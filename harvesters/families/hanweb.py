"""大汉 Hanweb JCMS pages: articles `/art/YYYY/M/D/art_{col}_{id}.html` and list data.

Articles carry the standard `<meta>` tags (ArticleTitle, PubDate, ContentSource) and often a
metadata table of `td`/`th` label/value pairs; the body is `div#zoom` or `.bt_content`.
Column lists come from `/module/web/jpage/dataproxy.jsp`, answering XML:
`<datastore><nextgroup>…</nextgroup><recordset><record><![CDATA[<li><a href="/art/…">…]]>
</record>…</recordset><totalrecord>N</totalrecord>…</datastore>`.
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import urljoin

import parsel
from lxml import etree

from harvesters.families import generic
from harvesters.fields import body_text, clean, inline_text

BODY_XPATHS = tuple(
    etree.XPath(x)
    for x in (
        "//div[@id='zoom' or @id='Zoom']",
        "//*[contains(@class, 'bt_content')][contains(concat(' ', normalize-space(@class), ' '), ' bt_content ')]",
        "//div[contains(@class, 'article-content')][contains(concat(' ', normalize-space(@class), ' '), ' article-content ')]",
        "//div[contains(@class, 'main-txt')][contains(concat(' ', normalize-space(@class), ' '), ' main-txt ')]",
    )
)
_TITLE = etree.XPath(
    "//*[contains(@class, 'title')][contains(concat(' ', normalize-space(@class), ' '), ' title ')"
    " and (self::td or self::div or self::p)]"
)

ARTICLE_URL = re.compile(r"/art/\d{4}/\d{1,2}/\d{1,2}/art_\d+_\d+\.html")


def parse(sel: parsel.Selector, url: str) -> dict[str, Any]:
    """Fields of a Hanweb article page: metadata table, meta tags, title, body, attachments."""
    root = sel.root
    body = generic.find_body(root, BODY_XPATHS)
    fields: dict[str, Any] = {}
    generic.put_pairs(fields, generic.page_table_pairs(root, body))
    generic.from_meta(generic.meta_tags(root), fields)
    if not fields.get("title"):
        for el in _TITLE(root):
            title = clean(inline_text(el))
            if title and len(title) < 200:
                fields["title"] = title
                break
    text = body_text(body)
    if text:
        fields["body_text"] = text
    links = generic.attachments(root, url, [body])
    if links:
        fields["attachments"] = links
    return fields


_RECORD = re.compile(r"<record>\s*(?:<!\[CDATA\[(.*?)\]\]>|(.*?))\s*</record>", re.S)
_HREF = re.compile(r"""href\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
_TOTAL = re.compile(r"<totalrecord>\s*(\d+)\s*</totalrecord>", re.I)


def parse_list(text: str, base_url: str) -> list[str]:
    """Absolute article URLs of a `dataproxy.jsp` answer, in record order, each once.

    Per record, links to `/art/…` articles; a record without one gives its first link.
    """
    found: dict[str, None] = {}
    for match in _RECORD.finditer(text):
        fragment = match.group(1) if match.group(1) is not None else html.unescape(match.group(2))
        hrefs = [next(g for g in m.groups() if g is not None) for m in _HREF.finditer(fragment)]
        hrefs = [h.strip() for h in hrefs if h.strip() and not h.startswith("javascript:")]
        articles = [h for h in hrefs if ARTICLE_URL.search(h)]
        for href in articles or hrefs[:1]:
            found.setdefault(urljoin(base_url, html.unescape(href)), None)
    return list(found)


def total_records(text: str) -> int | None:
    """The `<totalrecord>` of a `dataproxy.jsp` answer, or None."""
    match = _TOTAL.search(text)
    return int(match.group(1)) if match else None
