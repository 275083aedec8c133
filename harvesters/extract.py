"""Bytes of a saved or fetched page → one item of the schema (`gongkai.items`).

Decoding, family choice, the family parser, the generic fallback for what it missed, and the
refusal of pages that are not notice detail pages (list pages, error pages, bot challenges,
truncated pages with neither title nor metadata).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from typing import Any

import parsel
from lxml import etree
from w3lib.encoding import html_to_unicode

from gongkai.items import normalise_item
from harvesters.families import PARSERS, generic, hanweb, trs

#: Fields whose presence shows a page carries notice metadata.
METADATA_FIELDS = ("index_no", "doc_no", "publisher", "written", "published")


class NotADetailPage(ValueError):
    """The page is not a notice detail page; the reason is `str(exc)`."""


# --- decoding -------------------------------------------------------------------------------


def _header(headers: Mapping[Any, Any] | None, name: str) -> str | None:
    if not headers:
        return None
    for key, value in headers.items():
        key = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        if key.lower() == name:
            if isinstance(value, list | tuple):
                value = value[0] if value else None
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            return value
    return None


def _utf8_or_gb18030(body: bytes) -> str:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "gb18030"
    return "utf-8"


def decode(body: bytes, headers: Mapping[Any, Any] | None = None) -> str:
    """Text of a page: BOM, HTTP charset, `<meta>` charset, else utf-8, else gb18030.

    GB2312 and GBK are read as gb18030, their superset (w3lib does this translation).
    """
    _, text = html_to_unicode(
        _header(headers, "content-type"), body, auto_detect_fun=_utf8_or_gb18030
    )
    return text


# --- family choice --------------------------------------------------------------------------

_TRS = re.compile(r"""class\s*=\s*["'][^"']*\bzwxl-table\b""")
_TRS2017 = re.compile(r"""class\s*=\s*["'][^"']*\bgkxl-(?:top|article)\b""")
_HANWEB = re.compile(r"大汉版通|hanweb", re.I)


def detect_family(text: str, url: str = "") -> str:
    """trs (`table.zwxl-table`), trs2017 (`table.gkxl-top`/`div.gkxl-article`), hanweb (footer
    "大汉版通发布系统" or an `/art/YYYY/M/D/art_` URL), else generic."""
    if _TRS.search(text):
        return "trs"
    if _TRS2017.search(text):
        return "trs2017"
    if hanweb.ARTICLE_URL.search(url) or _HANWEB.search(text):
        return "hanweb"
    return "generic"


# --- pages that are not notices -------------------------------------------------------------

_XML_LIST = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?<datastore\b", re.I)
_SCRIPT = re.compile(r"<script\b.*?</script>|<style\b.*?</style>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_ERROR_TEXT = re.compile(
    r"^\s*(?:404|403|500|502|503)\b|页面不存在|页面未找到|找不到|您访问的页面|访问出错|出错了|系统错误"
    r"|系统繁忙|禁止访问|访问受限|not found|forbidden|server error",
    re.I,
)


def _bot_challenge(text: str) -> bool:
    """A tiny page whose script sets a cookie and reloads (HTTP 521 anti-bot answers)."""
    if "document.cookie" not in text or len(text) > 20000:
        return False
    visible = _TAG.sub("", _SCRIPT.sub("", text))
    return len(visible.strip()) < 80


def _detail_evidence(fields: dict[str, Any], tags: Mapping[str, str]) -> bool:
    return any(fields.get(f) for f in ("index_no", "doc_no", "written")) or ("articletitle" in tags)


# --- parsing --------------------------------------------------------------------------------

_parsers = threading.local()


def _parse_html(text: str):
    """lxml root of a page (plain `etree` elements: no per-node class lookup), or None."""
    parser = getattr(_parsers, "html", None)
    if parser is None:
        parser = _parsers.html = etree.HTMLParser(encoding="utf-8", huge_tree=True)
    try:
        return etree.fromstring(text.encode("utf-8", "surrogatepass"), parser=parser)
    except (etree.XMLSyntaxError, etree.ParserError, ValueError):
        return None


# --- extraction -----------------------------------------------------------------------------


def extract(
    body: bytes,
    url: str,
    headers: Mapping[str, str] | None = None,
    family: str | None = None,
) -> dict:
    """The item of a notice detail page; `source` and `fetched_at` stay None for the caller.

    Raises `NotADetailPage` for list pages, error pages, bot challenges and pages with neither
    a title nor any metadata (truncated or empty answers).
    """
    if not body or not body.strip():
        raise NotADetailPage("empty page")
    text = decode(body, headers)
    if _XML_LIST.match(text):
        raise NotADetailPage("list data (dataproxy.jsp XML)")
    if _bot_challenge(text):
        raise NotADetailPage("bot challenge (cookie script)")
    root = _parse_html(text)
    if root is None:
        raise NotADetailPage("unparsable page")
    sel = parsel.Selector(root=root, type="html")

    family = family if family in PARSERS else detect_family(text, url)
    fields = PARSERS[family](sel, url)
    if family != "generic":
        fields = generic.fill(sel, url, fields)

    tags = generic.meta_tags(root)
    if not _detail_evidence(fields, tags):
        if trs.page_count(text) is not None or len(trs.detail_links(sel, url)) >= 5:
            raise NotADetailPage("list page")
        title = generic.title_from_title_tag(root) or ""
        first_text = (fields.get("body_text") or "")[:200]
        if _ERROR_TEXT.search(title) or _ERROR_TEXT.search(first_text):
            raise NotADetailPage(f"error page: {(title or first_text)[:60]}")
    has_metadata = any(fields.get(f) for f in METADATA_FIELDS)
    if not has_metadata and not (
        fields.get("title") and (fields.get("body_text") or fields.get("attachments"))
    ):
        raise NotADetailPage("no title and no metadata (truncated or not a notice)")

    fields["url"] = url
    fields["sha256"] = hashlib.sha256(body).hexdigest()
    fields["categories"] = []
    fields["source"] = None
    fields["fetched_at"] = None
    return normalise_item(fields)
