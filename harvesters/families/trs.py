"""TRS WCM (拓尔思/海云) pages: current detail pages and the list pages that lead to them.

Detail: `table.zwxl-table` with labels in `td.t1` ("[ 索引号 ]") and values in `td.t2`, two pairs
per row; body `div.view.TRS_UEDITOR` (inside `div.zwxl-article`); attachments `./P0…pdf`,
`W0…pdf`; the standard `<meta>` tags. Detail URLs `…/YYYYMM/tYYYYMMDD_<docid>.html`, with
`_app.html` / `_wap.html` copies of the same document.

Lists: `index.html`, `index_1.html` … with the page count only in an inline script,
`createPageHTML(10, 0, "index", "html")` or `createPageHTML('page_div', 10, 1, 'index', 'html', 193)`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import parsel
from lxml import etree

from harvesters.families import generic
from harvesters.fields import (
    body_text,
    clean,
    field_from_value_shape,
    inline_text,
    label_field,
    normalise_label,
    put,
)

_META_TABLE = etree.XPath(
    "//table[contains(@class, 'zwxl-table')][contains(concat(' ', normalize-space(@class), ' '), ' zwxl-table ')]"
)
_LABEL_CELLS = etree.XPath(
    ".//td[contains(@class, 't1')][contains(concat(' ', normalize-space(@class), ' '), ' t1 ')]"
)
_VALUE_CELL = etree.XPath("following-sibling::td[1]")
_TITLE_BLOCK = etree.XPath(
    "//*[contains(@class, 'zwxl-title')][contains(concat(' ', normalize-space(@class), ' '), ' zwxl-title ')]"
)
_ARTICLE = etree.XPath(
    "//div[contains(@class, 'zwxl-article')][contains(concat(' ', normalize-space(@class), ' '), ' zwxl-article ')]"
)
BODY_XPATHS = tuple(
    etree.XPath(x)
    for x in (
        "//div[contains(@class, 'TRS_UEDITOR')][contains(concat(' ', normalize-space(@class), ' '), ' TRS_UEDITOR ')]",
        "//div[contains(@class, 'trs_paper_default')][contains(concat(' ', normalize-space(@class), ' '), ' trs_paper_default ')]",
        "//div[contains(@class, 'TRS_Editor')][contains(concat(' ', normalize-space(@class), ' '), ' TRS_Editor ')]",
        "//div[contains(@class, 'zwxl-article')][contains(concat(' ', normalize-space(@class), ' '), ' zwxl-article ')]",
        "//div[@id='zoom']",
    )
)


def parse(sel: parsel.Selector, url: str) -> dict[str, Any]:
    """Fields of a TRS detail page: metadata table, title, body, attachments, meta tags."""
    root = sel.root
    fields: dict[str, Any] = {}
    for table in _META_TABLE(root):
        labelled = False
        for cell in _LABEL_CELLS(table):
            value = _VALUE_CELL(cell)
            if not value or "t1" in (value[0].get("class") or "").split():
                continue
            label, text = inline_text(cell), inline_text(value[0])
            field = label_field(label)
            if field is None and not normalise_label(label):
                field = field_from_value_shape(clean(text))  # a blank label
            put(fields, field, text)
            labelled = True
        if not labelled:  # th/td pairs, "label：value" cells
            generic.put_pairs(fields, generic.table_pairs(table))
    if not fields.get("title"):
        for block in _TITLE_BLOCK(root):
            title = clean(inline_text(block))
            if title:
                fields["title"] = title
                break
    generic.from_meta(generic.meta_tags(root), fields)
    body = generic.find_body(root, BODY_XPATHS)
    text = body_text(body)
    if text:
        fields["body_text"] = text
    article = _ARTICLE(root)
    scopes = [article[0] if article else body]
    links = generic.attachments(root, url, scopes)
    if links:
        fields["attachments"] = links
    return fields


# --- list pages -----------------------------------------------------------------------------

_CREATE_PAGE = re.compile(r"createPage(?:HTML)?\s*\(([^()]*)\)")
_COUNT_PAGE = re.compile(r"\bcountPage\s*=\s*['\"]?(\d+)")
_INT_ARG = re.compile(r"^['\"]?\s*(\d+)\s*['\"]?$")


def page_count(html_text: str) -> int | None:
    """Number of list pages from `createPageHTML(total, current, "index", "html")` or
    `createPageHTML('page_div', total, current, 'index', 'html', records)` (also `createPage(`,
    `var countPage = N`); None when the page carries no such call."""
    for match in _CREATE_PAGE.finditer(html_text):
        numbers = []
        for arg in match.group(1).split(","):
            number = _INT_ARG.match(arg.strip())
            if number:
                numbers.append(int(number.group(1)))
            elif numbers:
                break  # the integers come together: (total, current) then the file name
        if numbers:
            return numbers[0]
    match = _COUNT_PAGE.search(html_text)
    return int(match.group(1)) if match else None


_INDEX_PAGE = re.compile(r"index(?:_\d+)?\.s?html?$")


def list_page_urls(base_url: str, count: int) -> list[str]:
    """`index.html`, `index_1.html` … `index_{count-1}.html` of a column (at least the first)."""
    parts = urlsplit(base_url)
    path = parts.path
    if _INDEX_PAGE.search(path):
        path = path[: path.rfind("/") + 1]
    elif not path.endswith("/"):
        path += "/"
    directory = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    pages = [directory + "index.html"]
    pages.extend(f"{directory}index_{i}.html" for i in range(1, max(count, 1)))
    return pages


_DETAIL = re.compile(r"/\d{6}/t\d{8}_(\d+)(?:_(?:app|wap))?\.s?html?$")
_COPY_SUFFIX = re.compile(r"_(?:app|wap)(\.s?html?)$")
_HREFS = etree.XPath("//a/@href")


def doc_id(url: str) -> str | None:
    """The stable document id of a TRS detail URL (`…/202105/t20210506_9245393_app.html` → "9245393")."""
    match = _DETAIL.search(urlsplit(url).path)
    return match.group(1) if match else None


def canonical_url(url: str) -> str:
    """The detail URL without its `_app`/`_wap` copy suffix, query or fragment."""
    parts = urlsplit(url.strip())
    path = _COPY_SUFFIX.sub(r"\1", parts.path) if _DETAIL.search(parts.path) else parts.path
    query = "" if _DETAIL.search(parts.path) else parts.query
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def detail_links(sel: parsel.Selector, url: str) -> list[str]:
    """Absolute canonical detail URLs (`/YYYYMM/tYYYYMMDD_<docid>.html`) of a list page, in
    page order, each document once: `_app`/`_wap` copies map to the canonical URL, and a docid
    listed under two columns of one site is kept at its first URL."""
    found: dict[tuple[str, str], str] = {}
    for href in _HREFS(sel.root):
        href = href.strip()
        if not href or href.startswith(("javascript:", "#")):
            continue
        absolute = urljoin(url, href)
        parts = urlsplit(absolute)
        match = _DETAIL.search(parts.path)
        if match:
            found.setdefault((parts.netloc, match.group(1)), canonical_url(absolute))
    return list(found.values())
