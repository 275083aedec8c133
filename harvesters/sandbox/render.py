"""Pages of the sandbox portals, in each CMS family's real markup (see tests/files/README.md).

Every harvested string is HTML-escaped here: a sandbox can carry hostile titles too. Functions
return text; the server chooses the bytes (UTF-8, or GBK for the portals that still use it).

- trs: `table.zwxl-table` with `td.t1` "[ 索引号 ]" labels and `td.t2` values, body
  `div.view.TRS_UEDITOR`; district variants: mangled labels with blank values, `dl` pairs,
  `th`/`td` pairs, `span` pairs, GBK with the charset only in `<meta>`; lists with
  `createPageHTML('page_div', pages, current, 'index', 'html', records)`.
- trs2017: `table.gkxl-top` with `td.tit` labels ("索 引 号：", "名　　称："), `div.gkxl-article`;
  lists like TRS.
- hanweb: home → `/col/col{ID}/index.html` whose script names `columnid`/`unitid` and the
  `dataproxy.jsp` proxy; list data as `<datastore>` XML; articles
  `/art/YYYY/M/D/art_{col}_{id}.html` with a `th`/`td` table, meta tags, `div#zoom` and the
  "大汉版通发布系统" footer.
- generic: meta tags, `dl/dt/dd` pairs, `<h2>` title; lists `list.html`, `list_2.html` … with
  "共 N 条" and a 下一页 link.
"""

from __future__ import annotations

from html import escape
from math import ceil

from harvesters.registry import Source
from harvesters.sandbox.generate import PAGE_SIZE, Notice

#: Records one `dataproxy.jsp` call returns (Hanweb loads three pages of 20 at once).
HANWEB_PER_PAGE = 20
HANWEB_WINDOW = 60


def _charset_meta(charset: str | None) -> str:
    if charset is None:
        return ""
    if charset == "utf-8":
        return '<meta charset="utf-8">'
    return f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'


def _head(source: Source, notice: Notice | None, charset: str | None = "utf-8") -> str:
    site = escape(source.name)
    if notice is None:
        return f"{_charset_meta(charset)}<title>{site}</title>"
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
    return f"{_charset_meta(charset)}\n<title>{title}</title>\n{tags}"


def _cell(value: str | None) -> str:
    return escape(value) if value else ""


def _pairs(notice: Notice) -> list[tuple[str, str | None]]:
    return [
        ("索引号", notice.index_no),
        ("发文字号", notice.doc_no),
        ("主题分类", notice.topic),
        ("体裁分类", notice.genre),
        ("发布机构", notice.publisher),
        ("有效性", notice.validity),
        ("成文日期", notice.written.isoformat()),
        ("发布日期", notice.published.isoformat()),
    ]


#: Labels as some district templates print them: characters lost ("[ 索号 ]", "[ 有性 ]").
MANGLED = {"索引号": "索号", "发布机构": "发机构", "有效性": "有性", "成文日期": "成日期"}


def _paragraphs(notice: Notice) -> str:
    return "".join(f"<p>{escape(line)}</p>" for line in notice.body.split("\n")) + notice.tables


def _files(notice: Notice) -> str:
    return "".join(
        f'<p><a href="./{escape(a)}">附件{i + 1}：{escape(a)}</a></p>'
        for i, a in enumerate(notice.attachments)
    )


def _trs_meta_block(notice: Notice, variant: str) -> str:
    pairs = _pairs(notice)
    if variant == "dl":
        return (
            '<div class="zwxl-box">'
            + "".join(f"<dl><dt>{a}：</dt><dd>{_cell(b)}</dd></dl>" for a, b in pairs)
            + "</div>"
        )
    if variant == "span":
        lis = "".join(
            f'<li><span class="label">{a}：</span><span class="value">{_cell(b) or "&nbsp;"}</span></li>'
            for a, b in pairs
        )
        return f'<div class="xxgk-info"><ul>{lis}</ul></div>'
    if variant == "thtd":
        rows = "".join(
            f"<tr><th>{a}：</th><td>{_cell(b)}</td><th>{c}：</th><td>{_cell(d)}</td></tr>"
            for (a, b), (c, d) in zip(pairs[::2], pairs[1::2], strict=True)
        )
        return f'<table class="zwxl-table">{rows}</table>'
    labels = MANGLED if variant == "mangled" else {}
    blank = "&nbsp;" if variant == "mangled" else ""
    rows = "\n".join(
        f'<tr><td class="t1">[ {labels.get(a, a)} ]</td><td class="t2">{_cell(b) or blank}</td>'
        f'<td class="t1">[ {labels.get(c, c)} ]</td><td class="t2">{_cell(d) or blank}</td></tr>'
        for (a, b), (c, d) in zip(pairs[::2], pairs[1::2], strict=True)
    )
    if variant != "mangled":  # the mangled template has no 标题 row: the title is below
        rows += (
            f'\n<tr><td class="t1">[ 标题 ]</td>'
            f'<td class="t2" colspan="3">{_cell(notice.title)}</td></tr>'
        )
    return f'<table class="zwxl-table">\n<tbody>\n{rows}\n</tbody>\n</table>'


def trs_detail(source: Source, notice: Notice, variant: str = "standard", charset="utf-8") -> str:
    """A TRS WCM detail page: the metadata block (by variant), title, body, attachments."""
    heading = f'<p class="tit">{escape(notice.title)}</p>' if notice.title else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
{_head(source, notice, charset)}
</head>
<body>
<div class="header"><a href="/{source.id}/">{escape(source.name)}</a></div>
<div class="zwxl-main">
{_trs_meta_block(notice, variant)}
<div class="zwxl-title">{heading}</div>
<div class="zwxl-article"><div class="view TRS_UEDITOR trs_paper_default trs_web">{_paragraphs(notice)}</div></div>
<div class="zwxl-fj">{_files(notice)}</div>
<div class="share"><a href="./{notice.filename[:-5]}_app.html">手机浏览</a></div>
</div>
<div class="footer">主办：{escape(source.name)}</div>
</body>
</html>
"""


def trs2017_detail(
    source: Source, notice: Notice, variant: str = "standard", charset="utf-8"
) -> str:
    """A TRS page of the 2017 templates: `table.gkxl-top` with `td.tit` labels."""
    n = notice
    rows = [
        ("索 引 号：", n.index_no, "信息分类名称：", n.topic),
        ("发布机构：", n.publisher, "生成日期：", n.written.isoformat()),
        ("体裁分类：", n.genre, "有 效 性：", n.validity),
        ("文　　号：", n.doc_no, "主 题 词：", "；".join(n.keywords)),
    ]
    trs = "\n".join(
        f'<tr><td class="tit">{a}</td><td>{_cell(b)}</td><td class="tit">{c}</td><td>{_cell(d)}</td></tr>'
        for a, b, c, d in rows
    )
    trs += f'\n<tr><td class="tit">名　　称：</td><td colspan="3">{_cell(n.title)}</td></tr>'
    title = escape(n.title) if n.title else escape(source.name)
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
{_charset_meta(charset)}
<title>{title}</title>
<meta name="SiteName" content="{escape(source.name)}">
<meta name="PubDate" content="{n.published.isoformat()} 10:00">
</head>
<body>
<div class="gkxl-wrap">
<div class="gkxl-pos">当前位置：<a href="../">政府信息公开</a></div>
<table class="gkxl-top" width="100%" border="0" cellspacing="0" cellpadding="0">
{trs}
</table>
<div class="gkxl-article"><div class="TRS_Editor">{_paragraphs(n)}</div>{_files(n)}</div>
</div>
</body>
</html>
"""


def hanweb_article(source: Source, notice: Notice, root: str, col: int) -> str:
    """A Hanweb JCMS article: `th`/`td` metadata table, meta tags, `div#zoom`, 大汉 footer."""
    pairs = _pairs(notice)
    rows = "".join(
        f'<tr><th width="15%">{a}：</th><td width="35%">{_cell(b)}</td>'
        f'<th width="15%">{c}：</th><td width="35%">{_cell(d)}</td></tr>'
        for (a, b), (c, d) in zip(pairs[::2], pairs[1::2], strict=True)
    )
    files = "".join(
        f'<p>附件：<a href="{root}/module/download/downfile.jsp?classid=0&amp;filename={escape(a)}">{escape(a)}</a></p>'
        for a in notice.attachments
    )
    title = (
        f'<tr><td class="title" align="center">{escape(notice.title)}</td></tr>'
        if notice.title
        else ""
    )
    return f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
{_head(source, notice).replace('<meta charset="utf-8">', '<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />')}
</head>
<body>
<table width="1000" border="0" align="center"><tr><td><a href="{root}/">首页</a> &gt; <a href="{root}/col/col{col}/index.html">信息公开</a></td></tr></table>
<table width="1000" border="0" align="center" class="xxgk_table">{rows}</table>
<table width="1000" border="0" align="center">{title}
<tr><td><div id="zoom"><!--ZJEG_RSS.content.begin--><meta name="ContentStart">{_paragraphs(notice)}{files}<meta name="ContentEnd"><!--ZJEG_RSS.content.end--></div></td></tr>
</table>
<table width="1000" border="0" align="center"><tr><td align="center">主办：{escape(source.name)}　技术支持：大汉网络　大汉版通发布系统</td></tr></table>
</body>
</html>
"""


def generic_detail(source: Source, notice: Notice, charset: str | None = "utf-8") -> str:
    """No family markup: meta tags, `dl/dt/dd` pairs, an `<h2>` title, `div.article-content`."""
    pairs = "".join(f"<dl><dt>{a}：</dt><dd>{_cell(b)}</dd></dl>" for a, b in _pairs(notice))
    heading = f"<h2>{escape(notice.title)}</h2>" if notice.title else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
{_head(source, notice, charset)}
</head>
<body>
<header class="site-header"><a href="../">{escape(source.name)}</a></header>
<main>
<section class="doc-meta">{pairs}</section>
<article>{heading}<div class="article-content">{_paragraphs(notice)}{_files(notice)}</div></article>
</main>
<footer>{escape(source.name)} 主办</footer>
</body>
</html>
"""


def detail_page(
    source: Source,
    notice: Notice,
    *,
    variant: str = "standard",
    charset: str | None = "utf-8",
    root: str = "",
    col: int = 0,
) -> str:
    if source.family == "trs2017":
        return trs2017_detail(source, notice, variant, charset)
    if source.family == "hanweb":
        return hanweb_article(source, notice, root, col)
    if source.family == "generic":
        return generic_detail(source, notice, charset)
    return trs_detail(source, notice, variant, charset)


# --- lists ----------------------------------------------------------------------------------


def page_count(total: int, size: int = PAGE_SIZE) -> int:
    return max(1, ceil(total / size))


#: (href, notice) pairs a list shows, newest first.
Entries = list[tuple[str, Notice]]


def _lis(entries: Entries) -> str:
    return "\n".join(
        f'<li><a href="{escape(href)}" target="_blank" title="{_cell(n.title)}">'
        f"{_cell(n.title) or '&nbsp;'}</a><span>{n.published.isoformat()}</span></li>"
        for href, n in entries
    )


def trs_list(source: Source, page: int, total: int, entries: Entries, nav: str = "") -> str:
    """A TRS list page: links relative to the column, pages and records only in script."""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
{_head(source, None)}
</head>
<body>
<div class="zwgk-nav">{nav}</div>
<div class="zwgk-list"><ul class="list">
{_lis(entries)}
</ul></div>
<div class="page" id="page_div"><script>createPageHTML('page_div', {page_count(total)}, {page}, 'index', 'html', {total});</script></div>
</body>
</html>
"""


def generic_list(source: Source, page: int, total: int, entries: Entries) -> str:
    """A plain paginated list: `list.html`, `list_2.html` …, "共 N 条", a 下一页 link."""
    pages = page_count(total)
    nxt = f'<a class="next" href="list_{page + 2}.html">下一页</a>' if page + 1 < pages else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
{_head(source, None)}
</head>
<body>
<ul class="news-list">
{_lis(entries)}
</ul>
<div class="pagination"><span class="total">共 {total} 条</span> <span>第 {page + 1}/{pages} 页</span> {nxt}</div>
</body>
</html>
"""


def hanweb_home(source: Source, root: str, col: int) -> str:
    return f"""<!DOCTYPE html>
<html><head>{_charset_meta("utf-8")}<title>{escape(source.name)}</title></head>
<body>
<div class="nav"><a href="{root}/col/col{col}/index.html">政府信息公开</a></div>
<div class="foot">技术支持：大汉网络　大汉版通发布系统</div>
</body></html>
"""


def hanweb_column(source: Source, root: str, col: int, unit: int) -> str:
    """A column page: the list comes from `dataproxy.jsp`, configured in a `jpage` script."""
    return f"""<!DOCTYPE html>
<html><head>{_charset_meta("utf-8")}<title>政府信息公开_{escape(source.name)}</title></head>
<body>
<div id="{unit}"></div>
<script type="text/javascript">
$(document).ready(function() {{
  $('#{unit}').jpage({{
    dataStore: [],
    proxyUrl: '{root}/module/web/jpage/dataproxy.jsp',
    perPage: {HANWEB_PER_PAGE}, groupSize: 3,
    ajaxParam: {{col: 1, appid: 1, webid: 1, path: '/', columnid: {col}, sourceContentType: 1, unitid: {unit}, webname: '{escape(source.name)}', permissiontype: 0}}
  }});
}});
</script>
<div class="foot">技术支持：大汉网络　大汉版通发布系统</div>
</body></html>
"""


def hanweb_records(total: int, entries: Entries) -> str:
    """A `dataproxy.jsp` answer: CDATA records and the total."""
    records = "\n".join(
        f'<record><![CDATA[<li><a href="{href}" title="{_cell(n.title)}" target="_blank">'
        f"{_cell(n.title)}</a><span>{n.published.isoformat()}</span></li>]]></record>"
        for href, n in entries
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<datastore>
<nextgroup><![CDATA[]]></nextgroup>
<recordset>
{records}
</recordset>
<totalrecord>{total}</totalrecord>
<totalpage>{page_count(total, HANWEB_PER_PAGE)}</totalpage>
</datastore>
"""


BOT_CHALLENGE = (
    "<html><body><script>document.cookie=('_')+('_')+('j')+('s')+('l')+('_')+('c')+('l')"
    "+('e')+('a')+('r')+('a')+('n')+('c')+('e')+('=')+(-~[]+'')+'|-1|Tw%3D;max-age=3600;path=/';"
    "location.href=location.pathname+location.search</script></body></html>"
)
