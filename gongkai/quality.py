"""Readable quality reports: per source, what was quarantined and why (text and HTML).

The SHACL reports are already kept with each quarantined notice (`quarantine/{source}.jsonl`)
and published in `graph/quality`; these files are for a person reading them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from jinja2 import Environment, select_autoescape

from gongkai.config import DataDir
from harvesters.registry import Source

_HTML = Environment(autoescape=select_autoescape(default=True)).from_string(
    """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>质量报告 Quality report — {{ source.name }}</title>
<style>body{font-family:sans-serif;max-width:70rem;margin:2rem auto;line-height:1.5}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}</style></head>
<body>
<h1>{{ source.name }} <small>({{ source.id }})</small></h1>
<p>隔离的公告 Quarantined notices: <strong>{{ records|length }}</strong>
(run {{ run_id or "—" }}). 这些公告未发布，原因如下。 These were not published, for the reasons below.</p>
{% for r in records %}
<section>
<h2>{{ r.item.title or "（无标题 no title）" }}</h2>
<p><a href="{{ r.item.url }}" rel="nofollow noopener">{{ r.item.url }}</a></p>
<pre>{{ r.report_text }}</pre>
{% if r.problems %}<ul>{% for p in r.problems %}<li>{{ p }}</li>{% endfor %}</ul>{% endif %}
</section>
{% else %}<p>无 None.</p>{% endfor %}
</body></html>
"""
)


def _records(data: DataDir, source: Source) -> list[dict]:
    path = data.quarantined(source.id)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_quality_reports(data: DataDir, sources: Iterable[Source]) -> dict[str, tuple[Path, Path]]:
    """Write `reports/quality/{source}.txt` and `.html`; returns their paths by source."""
    out_dir = data.root / "reports" / "quality"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for source in sources:
        records = _records(data, source)
        run_id = records[0].get("run_id") if records else None
        lines = [f"{source.name} ({source.id}): {len(records)} quarantined", ""]
        for r in records:
            lines += [f"- {r['item'].get('title') or '(no title)'}", f"  {r['item']['url']}"]
            lines += ["  " + line for line in (r.get("report_text") or "").splitlines()]
            lines += [f"  problem: {p}" for p in r.get("problems") or []]
            lines.append("")
        txt = out_dir / f"{source.id}.txt"
        txt.write_text("\n".join(lines), encoding="utf-8")
        html = out_dir / f"{source.id}.html"
        html.write_text(
            _HTML.render(source=source, records=records, run_id=run_id), encoding="utf-8"
        )
        written[source.id] = (txt, html)
    return written
