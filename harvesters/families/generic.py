"""Generic detail pages: the standard `<meta>` tags and label/value pairs in any common layout.

Every family falls back to this module for the fields its own parser did not find. Its
building blocks (`table_pairs`, `dl_pairs`, `sibling_pairs`, `line_pairs`, `find_body`,
`attachments`, `meta_tags`) are shared by the family parsers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urljoin

import parsel
from lxml import etree

from harvesters.fields import (
    SKIP_TAGS,
    body_text,
    cell_label_field,
    clean,
    field_from_value_shape,
    inline_text,
    label_field,
    normalise_label,
    put,
    text_lines,
)

Pair = tuple[str, str]  # (item field, printed value)


def _class_xpath(tag: str, cls: str) -> str:
    return (
        f"//{tag}[contains(@class, '{cls}')]"
        f"[contains(concat(' ', normalize-space(@class), ' '), ' {cls} ')]"
    )


# --- meta tags (国办发〔2017〕47号) ------------------------------------------------------------

_META = etree.XPath("//meta[@name]")

#: Standard meta names (lower-cased) that carry item fields.
META_FIELDS: dict[str, str] = {
    "articletitle": "title",
    "pubdate": "published",
    "contentsource": "publisher",
    "keywords": "keywords",
}


_last_meta: tuple[Any, dict[str, str]] = (None, {})


def meta_tags(root: etree._Element) -> dict[str, str]:
    """`<meta name=… content=…>` as {lower-cased name: content}, first non-empty wins.

    The tags of the last document asked for are kept, as extraction asks several times.
    """
    global _last_meta
    cached = _last_meta
    if cached[0] is root:
        return cached[1]
    tags: dict[str, str] = {}
    for meta in _META(root):
        name = (meta.get("name") or "").strip().lower()
        content = meta.get("content")
        if name and content and content.strip() and name not in tags:
            tags[name] = content.strip()
    _last_meta = (root, tags)
    return tags


def from_meta(tags: dict[str, str], fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fill item fields from standard meta tags (only those not already in `fields`)."""
    fields = {} if fields is None else fields
    for name, field in META_FIELDS.items():
        if name in tags:
            put(fields, field, tags[name])
    return fields


# --- label/value pairs ----------------------------------------------------------------------

_LABEL_VALUE = re.compile(r"^(.{1,20}?)[：:](.*)$", re.S)
_CELLS = etree.XPath("./td|./th")
_ROWS = etree.XPath(".//tr")
_ALL_ROWS = etree.XPath("//tr")


def split_label_value(text: str) -> tuple[str | None, str]:
    """ "索引号：xxx" → ("index_no", "xxx"); text without a known label → (None, text)."""
    match = _LABEL_VALUE.match(text)
    if match:
        field = label_field(match.group(1))
        if field:
            return field, match.group(2)
    return None, text


def _cell_pairs(cells: list[str]) -> Iterator[Pair]:
    """Pairs in one row of cells: label cell + value cell, or "label：value" in one cell."""
    i, n = 0, len(cells)
    while i < n:
        text = cells[i]
        field, value = split_label_value(text)
        if field and clean(value):
            yield field, value
            i += 1
            continue
        field = field or cell_label_field(text)
        if field is None and i + 1 < n and not normalise_label(text):
            # a blank label: only a value whose shape is unmistakable (索引号, 文号) is kept
            shape = field_from_value_shape(clean(cells[i + 1]))
            if shape:
                yield shape, cells[i + 1]
                i += 2
                continue
        if field and i + 1 < n:
            following = cells[i + 1]
            if cell_label_field(following) is None:
                yield field, following
                i += 2
                continue
        i += 1


def row_pairs(rows: Iterable[etree._Element]) -> list[Pair]:
    """Label/value pairs of table rows (td/td, th/td, td.t1/td.t2, td.tit + td)."""
    pairs: list[Pair] = []
    for row in rows:
        pairs.extend(_cell_pairs([inline_text(c) for c in _CELLS(row)]))
    return pairs


def table_pairs(table: etree._Element) -> list[Pair]:
    """Label/value pairs of one metadata table."""
    return row_pairs(_ROWS(table))


def page_table_pairs(root: etree._Element, body: etree._Element | None) -> list[Pair]:
    """Label/value pairs of every table row of the page outside the body element."""
    inner = set(body.iter("tr")) if body is not None else set()
    return row_pairs(tr for tr in _ALL_ROWS(root) if tr not in inner)


_DTS = etree.XPath("//dt")


def dl_pairs(root: etree._Element, body: etree._Element | None = None) -> list[Pair]:
    """`<dt>label</dt><dd>value</dd>` pairs (and "label：value" inside a `dt`)."""
    pairs: list[Pair] = []
    for dt in _DTS(root):
        if _inside(dt, body):
            continue
        text = inline_text(dt)
        field, value = split_label_value(text)
        if field and clean(value):
            pairs.append((field, value))
            continue
        field = field or label_field(text)
        dd = dt.getnext()
        if field and dd is not None and dd.tag == "dd":
            pairs.append((field, inline_text(dd)))
    return pairs


# Short inline elements followed by a value (a sibling element or tail text) — nav items are not.
_SHORT_INLINE = etree.XPath(
    "//*[self::span or self::label or self::em or self::b or self::strong]"
    "[following-sibling::* or normalize-space(following-sibling::text()[1])]"
    "[string-length(normalize-space()) < 16]"
)


def sibling_pairs(root: etree._Element, body: etree._Element | None = None) -> list[Pair]:
    """`<span class="label">索引号</span><span class="value">…</span>` (also b/em/strong/label)."""
    pairs: list[Pair] = []
    for el in _SHORT_INLINE(root):
        field = cell_label_field(inline_text(el))
        if field is None or _inside(el, body):
            continue
        tail = clean(el.tail)
        if tail:
            pairs.append((field, tail))
            continue
        following = el.getnext()
        if following is not None and isinstance(following.tag, str):
            value = inline_text(following)
            if cell_label_field(value) is None:
                pairs.append((field, value))
    return pairs


_COLON = re.compile(r"[：:]")
_WORD = re.compile(r"\S+")
_LABEL_WINDOW = 256  # characters before a colon searched for its label
_MAX_COLONS = 1000  # colons of one line looked at (bounds the time on hostile pages)


def line_pairs(line: str) -> list[Pair]:
    """Pairs in one text line: "信息来源：市政府办公厅 发布日期：2021-05-06 10:20"."""
    labels: list[tuple[int, int, str]] = []  # (label start, value start, field)
    start = 0
    for n, colon in enumerate(_COLON.finditer(line)):
        if n >= _MAX_COLONS:
            break  # a line of noise: real metadata lines hold a few dozen labels at most
        c = colon.start()
        if 0 < c < len(line) - 1 and line[c - 1].isdigit() and line[c + 1].isdigit():
            continue  # a time, 10:20
        # Only the last words before the colon can be a label: scanning from `start` on every
        # colon made a long line with many colons quadratic (1 MB of noise took minutes).
        lo = max(start, c - _LABEL_WINDOW)
        words = [(m.start(), m.group()) for m in _WORD.finditer(line, lo, c)]
        if lo > start and words and words[0][0] == lo and not line[lo - 1].isspace():
            words = words[1:]  # a word cut by the window is not a label's first word
        for k in range(min(len(words), 6), 0, -1):
            candidate = "".join(w for _, w in words[-k:])
            if len(candidate) > 16:
                continue
            field = label_field(candidate)
            if field:
                labels.append((words[-k][0], colon.end(), field))
                start = colon.end()
                break
    pairs: list[Pair] = []
    for i, (_, value_start, field) in enumerate(labels):
        end = labels[i + 1][0] if i + 1 < len(labels) else len(line)
        value = line[value_start:end]
        if len(value) <= 300:
            pairs.append((field, value))
    return pairs


_COLON_TEXTS = etree.XPath("//text()[contains(., '：') or contains(., ':')]")
_INLINE_TAGS = frozenset({"span", "a", "b", "strong", "em", "i", "font", "label", "u", "small"})


def text_pairs(root: etree._Element, body: etree._Element | None = None) -> list[Pair]:
    """Pairs "label：value" in the text lines of the blocks holding a colon, outside `body`.

    Only the nearest block around each text with a colon is read, so a page's navigation
    costs nothing."""
    blocks: dict[int, etree._Element] = {}
    for text in _COLON_TEXTS(root):
        node = text.getparent()
        while node is not None and node.tag in _INLINE_TAGS:
            node = node.getparent()
        if node is None or not isinstance(node.tag, str) or node.tag in SKIP_TAGS:
            continue
        blocks.setdefault(id(node), node)  # the dict holds the proxy: its id stays unique
    pairs: list[Pair] = []
    for block in _outermost(blocks):
        if _inside(block, body):
            continue
        for line in text_lines(block):
            if "：" in line or ":" in line:
                pairs.extend(line_pairs(line))
    return pairs


def _outermost(blocks: dict[int, etree._Element]) -> list[etree._Element]:
    """The blocks not inside another of `blocks` (whose text lines already hold theirs).

    Reading nested blocks each in full was quadratic in the nesting depth (a page of noise
    nests thousands of unclosed blocks); ancestors are looked up once each, memoised."""
    covered: dict[int, bool] = {}  # non-selected node id → has a selected ancestor-or-self
    alive: list[etree._Element] = []  # keeps the proxies, so ids stay unique
    out = []
    for block in blocks.values():
        chain = []
        node = block.getparent()
        found = False
        while node is not None:
            key = id(node)
            if key in blocks:
                found = True
                break
            if key in covered:
                found = covered[key]
                break
            chain.append(node)
            node = node.getparent()
        for n in chain:
            covered[id(n)] = found
        alive.extend(chain)
        if not found:
            out.append(block)
    return out


def _inside(el: etree._Element, body: etree._Element | None) -> bool:
    """Whether `el` is `body` or lies inside it (lxml keeps one proxy per live node)."""
    if body is None:
        return False
    node = el
    while node is not None:
        if node is body:
            return True
        node = node.getparent()
    return False


def put_pairs(fields: dict[str, Any], pairs: Iterable[Pair]) -> dict[str, Any]:
    """Fill `fields` from pairs, first pair of each field wins."""
    for field, value in pairs:
        put(fields, field, value)
    return fields


# --- body, title, attachments ---------------------------------------------------------------

BODY_XPATHS: tuple[etree.XPath, ...] = tuple(
    etree.XPath(x)
    for x in (
        _class_xpath("div", "TRS_UEDITOR"),
        _class_xpath("div", "trs_paper_default"),
        _class_xpath("div", "TRS_Editor"),
        "//div[@id='zoom' or @id='Zoom' or @id='ZOOM']",
        _class_xpath("div", "bt_content"),
        _class_xpath("td", "bt_content"),
        _class_xpath("div", "zwxl-article"),
        _class_xpath("div", "gkxl-article"),
        _class_xpath("div", "article-content"),
        _class_xpath("div", "detail-content"),
        _class_xpath("div", "wzcon"),
        "//article",
        "//div[@id='content' or @id='article' or @id='main-content']",
        _class_xpath("div", "content"),
    )
)


def find_body(root: etree._Element, xpaths: Iterable[etree.XPath] = BODY_XPATHS):
    """The first element matched by `xpaths` (in priority order), or None."""
    for xpath in xpaths:
        found = xpath(root)
        if found:
            return found[0]
    return None


_H1 = etree.XPath("//h1")
_TITLE = etree.XPath("//title")
_TITLE_SEPARATORS = re.compile(r"\s*(?:[_|｜—–]|-{1,2}|\s-\s)\s*")
_SEPARATOR_CHARS = " _|｜-—–"
_SITE_WORDS = ("政府", "网", "门户", "委员会", "局", "办公室", "公开")


def title_from_heading(root: etree._Element) -> str | None:
    """The first non-empty `<h1>`, else None."""
    for h1 in _H1(root):
        text = clean(inline_text(h1))
        if text:
            return text
    return None


def title_from_title_tag(root: etree._Element, site_name: str | None = None) -> str | None:
    """`<title>` minus the site suffix ("标题_重庆市人民政府网" → "标题")."""
    found = _TITLE(root)
    if not found:
        return None
    text = clean(inline_text(found[0]))
    if not text or (site_name and text == clean(site_name)):
        # A `<title>` that is only the site's name says nothing about the notice.
        return None
    if site_name and text.endswith(site_name) and len(text) > len(site_name):
        return clean(text[: -len(site_name)].rstrip(_SEPARATOR_CHARS)) or text
    parts = _TITLE_SEPARATORS.split(text)
    if len(parts) > 1 and any(w in parts[-1] for w in _SITE_WORDS):
        return clean(text[: text.rfind(parts[-1])].rstrip(_SEPARATOR_CHARS)) or text
    return text


_BASE = etree.XPath("//base/@href")
#: class or id of an element that holds attachments ("fj", "xgfj", "attach", "fujian", …).
_ATTACHMENT_BLOCK = re.compile(r"fj|attach|fujian|xgwj|download", re.I)
ATTACHMENT_EXTENSIONS = (
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".zip",
    ".wps",
    ".ofd",
    ".rar",
    ".et",
    ".txt",
    ".ppt",
    ".pptx",
    ".7z",
    ".png",
    ".jpg",
    ".jpeg",
)
_FILENAME_PARAM = re.compile(
    r"(?:^|&)(?:filename|file|fileName)=[^&]*\.(?:"
    + "|".join(e[1:] for e in ATTACHMENT_EXTENSIONS)
    + r")(?:&|$)",
    re.I,
)


_HREF_VALUES = etree.XPath("//a/@href")
# A cheap first look at each href; `is_attachment` confirms.
_CANDIDATE = re.compile(r"\.(?:pdf|docx?|xlsx?|zip|wps|ofd|rar|et|txt|pptx?|7z)(?:$|[?#&])", re.I)


def is_attachment(href: str) -> bool:
    """Whether a link points at a document file (.pdf, .doc(x), .xls(x), .zip, .wps, .ofd, .rar…),
    also through a download script (Hanweb `downfile.jsp?…&filename=x.pdf`)."""
    path, _, query = href.partition("#")[0].partition("?")
    if path.lower().endswith(ATTACHMENT_EXTENSIONS):
        return True
    return bool(query) and bool(_FILENAME_PARAM.search(query))


_CHROME_TAGS = frozenset({"header", "footer", "nav"})
_CHROME_NAMES = frozenset({"header", "head", "footer", "foot", "nav", "bottom", "copyright"})


def _in_attachment_scope(a: etree._Element, scopes: list[etree._Element]) -> bool:
    """Whether a link lies in a scope or an attachment block before any page chrome
    (`header`/`footer`/`nav`, class or id "footer", "bottom"…)."""
    node = a
    while node is not None:
        if any(node is scope for scope in scopes):
            return True
        names = (node.get("class") or "") + " " + (node.get("id") or "")
        if _ATTACHMENT_BLOCK.search(names):
            return True
        if node.tag in _CHROME_TAGS or not _CHROME_NAMES.isdisjoint(names.lower().split()):
            return False
        node = node.getparent()
    return False


def attachments(
    root: etree._Element, url: str, scopes: Iterable[etree._Element | None]
) -> list[str]:
    """Absolute URLs of document links inside `scopes` or inside an attachment block (an
    element whose class or id names *fj*, *attach*, *fujian*…); page chrome is left out."""
    scope_list = [s for s in scopes if s is not None]
    found: dict[str, None] = {}
    base_url = None
    for value in _HREF_VALUES(root):
        if not _CANDIDATE.search(value):
            continue
        href = value.strip()
        if href.startswith(("javascript:", "#", "mailto:")) or not is_attachment(href):
            continue
        a = value.getparent()
        if not _in_attachment_scope(a, scope_list):
            continue
        if base_url is None:
            base = _BASE(root)
            base_url = urljoin(url, base[0].strip()) if base else url
        found.setdefault(urljoin(base_url, href), None)
    return list(found)


# --- the whole page -------------------------------------------------------------------------


#: Fields whose absence makes `fill` look further for label/value pairs.
CORE_FIELDS = ("index_no", "doc_no", "publisher", "written", "published")


def fill(sel: parsel.Selector, url: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    """Add to `fields` what the generic readers find and `fields` lacks; returns `fields`.

    Layouts are read in turn (table rows, dl, span pairs, "label：value" lines) while a core
    field is missing; a family page that gave them all costs only the meta tags."""
    fields = {} if fields is None else fields
    root = sel.root
    readers = (page_table_pairs, dl_pairs, sibling_pairs, text_pairs)
    body: etree._Element | None = None
    looked = False
    for read in readers:
        if all(fields.get(f) for f in CORE_FIELDS):
            break
        if not looked:
            body, looked = find_body(root), True
        put_pairs(fields, read(root, body))
    tags = meta_tags(root)
    from_meta(tags, fields)
    if not fields.get("title"):
        fields["title"] = title_from_heading(root) or title_from_title_tag(
            root, tags.get("sitename")
        )
    if not looked and not (fields.get("body_text") and fields.get("attachments")):
        body = find_body(root)
    if not fields.get("body_text"):
        fields["body_text"] = body_text(body)
    if not fields.get("attachments"):
        fields["attachments"] = attachments(root, url, [body] if body is not None else [root])
    return {k: v for k, v in fields.items() if v}


def parse(sel: parsel.Selector, url: str) -> dict[str, Any]:
    """Fields of a detail page read from meta tags, label/value pairs, `<h1>`, `<title>`."""
    return fill(sel, url, {})
