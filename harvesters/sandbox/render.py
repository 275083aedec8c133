"""Pages of the sandbox portals, in each CMS family's real markup.

Every harvested string is HTML-escaped here: a sandbox can carry hostile titles too.
"""

from __future__ import annotations

from html import escape
from math import ceil

from harvesters.registry import Source
from harvesters.sandbox.generate import PAGE_SIZE, Notice


def _head(source: Source, notice: Notice | None) -> str:
    site = escape(source.name)
    if notice is None:
        return f'<meta charset="utf-8"><title>{site}</title>'
    metas = [
        ("SiteName", source.name),
        ("SiteDomain", source.domains[0]),
        ("ColumnName", "法定主动公开内容"),
        ("PubDate", f"{notice.published.isoformat()} 09:30"),
        ("ContentSource", notice.publisher),
        ("Keywords", ",".join(notice.keywords)),
    ]
    if notice.title is not None:
        metas.insert(2, ("ArticleTitle", notice.title))
    tags = "\n".join(f'<meta name="{k}" content="{escape(v)}">' for k, v in metas)
    title = f"{escape(notice.title)}_{site}" if notice.title else site
    return f'<meta charset="utf-8">\n<title>{title}</title>\n{tags}'


def _cell(value: str | None) -> str:
    return escape(value) if value else ""


def trs_detail(source: Source, notice: Notice) -> str:
    """A TRS WCM detail page: the `zwxl-table` metadata block, body, attachments."""
    rows = [
        ("索引号", notice.index_no, "发文字号", notice.doc_no),
        ("主题分类", notice.topic, "体裁分类", notice.genre),
        ("发布机构", notice.publisher, "有效性", notice.validity),
        ("成文日期", notice.written.isoformat(), "发布日期", notice.published.isoformat()),
    ]
    trs = "\n".join(
        f'<tr><td class="t1">[ {a} ]</td><td class="t2">{_cell(b)}</td>'
        f'<td class="t1">[ {c} ]</td><td class="t2">{_cell(d)}</td></tr>'
        for a, b, c, d in rows
    )
    trs += f'\n<tr><td class="t1">[ 标题 ]</td><td class="t2" colspan="3">{_cell(notice.title)}</td></tr>'
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in notice.body.split("\n"))
    files = "".join(
        f'<p><a href="./{escape(a)}">附件{i + 1}：{escape(a)}</a></p>'
        for i, a in enumerate(notice.attachments)
    )
    heading = f'<p class="tit">{escape(notice.title)}</p>' if notice.title else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
{_head(source, notice)}
</head>
<body>
<div class="header"><a href="/{source.id}/">{escape(source.name)}</a></div>
<div class="zwxl-main">
<table class="zwxl-table">
<tbody>
{trs}
</tbody>
</table>
<div class="zwxl-title">{heading}</div>
<div class="zwxl-article"><div class="view TRS_UEDITOR trs_paper_default trs_web">{paragraphs}</div></div>
<div class="zwxl-fj">{files}</div>
</div>
<div class="footer">主办：{escape(source.name)}</div>
</body>
</html>
"""


def page_count(total: int) -> int:
    return max(1, ceil(total / PAGE_SIZE))


def trs_list(source: Source, page: int, total: int, items: list[Notice]) -> str:
    """A TRS list page: links relative to the column, pages only in `createPageHTML`."""
    lis = "\n".join(
        f'<li><a href="./{n.month_dir}/{n.filename}" target="_blank" '
        f'title="{_cell(n.title)}">{_cell(n.title) or "&nbsp;"}</a>'
        f"<span>{n.published.isoformat()}</span></li>"
        for n in items
    )
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
{_head(source, None)}
</head>
<body>
<div class="zwgk-list"><ul class="list">
{lis}
</ul></div>
<div class="page"><script>createPageHTML({page_count(total)}, {page}, "index", "html");</script></div>
</body>
</html>
"""


DETAIL = {"trs": trs_detail}
LIST = {"trs": trs_list}


def detail_page(source: Source, notice: Notice) -> str:
    return DETAIL.get(source.family, trs_detail)(source, notice)


def list_page(source: Source, page: int, total: int, items: list[Notice]) -> str:
    return LIST.get(source.family, trs_list)(source, page, total, items)
