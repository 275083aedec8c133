"""Full-text search benchmark: build the search index over N sandbox notices and time queries.

The notices come straight from the sandbox generator (`harvesters.sandbox.generate.make_notice`)
over every registry source, so titles, bodies, publishers, places, companies and projects look
like the portals' own; no crawl. Rows are written with `endpoint.search.write_index`, the same
schema and code `build_index` uses. Then a fixed set of queries drawn from the corpus (agency
and place names, companies, projects, one- and two-character terms, long phrases, phrases
that match nothing, with and without filters, deep pages) is timed warm, and p50/p95/max are
printed per query type and overall. Results go to bench/results/search-{timestamp}.json.

    python -m bench.search --notices 1000000                     # build + measure
    python -m bench.search --index /tmp/s1m.sqlite --skip-build  # measure an existing index
    python -m bench.search --notices 20000 --repeat 3            # a quick look

Goal (issue): at 1M notices every query answers in < 200 ms.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 7
RUN = "20260101T000000Z"
GOAL_MS = 200.0


# -- corpus -------------------------------------------------------------------------------------
def notice_rows(total: int, seed: int = SEED) -> Iterator[tuple]:
    """`total` index rows, oldest first (every source's notice n shares one publication day)."""
    from harvesters.registry import load_sources
    from harvesters.sandbox.generate import make_notice
    from ontology.namespaces import agency_iri, notice_iri

    sources = load_sources()
    per_source = -(-total // len(sources))
    made = 0
    for n in range(per_source):
        for src in sources:
            if made >= total:
                return
            made += 1
            notice = make_notice(seed, src, n, per_source)
            areas = f",{notice.area}," if notice.area else ","
            body = (
                f"{notice.body}\n发布机构：{notice.publisher}\n索引号：{notice.index_no}\n"
                f"主题分类：{notice.topic}\n体裁分类：{notice.genre}\n"
                f"关键词：{'、'.join(notice.keywords)}"
                + (f"\n发文字号：{notice.doc_no}" if notice.doc_no else "")
            )
            yield (
                notice_iri(src.id, str(notice.doc_id)),
                src.id,
                agency_iri(src.agency),
                src.division,
                areas,
                notice.published.isoformat(),
                f"https://example.gov.cn/{src.id}/{notice.month_dir}/{notice.filename}",
                notice.title or "",
                body,
                "\n".join(notice.attachments),
            )


# -- queries ------------------------------------------------------------------------------------
def queries(seed: int = SEED) -> list[tuple[str, dict[str, Any]]]:
    """(kind, search keyword arguments): the query set, drawn from the sandbox corpus."""
    from harvesters.registry import load_sources
    from harvesters.sandbox.generate import _publisher_names, corpus

    rng = random.Random(seed)
    data = corpus()
    sources = load_sources()
    districts = [s for s in sources if s.division]
    out: list[tuple[str, dict[str, Any]]] = []

    def add(kind: str, q: str, **kw: Any) -> None:
        out.append((kind, {"q": q, **kw}))

    for src in rng.sample(sources, 4):
        add("agency", _publisher_names(src)[0])
    for place in rng.sample(data["places"], 4):
        add("place", place)
    for company in rng.sample(data["companies"], 4):
        add("company", company)
    for project in rng.sample(data["projects"], 3):
        add("project", project)
    for term in ("预算", "处罚", "采购", "征收", "公示", "审计"):
        add("2-char", term)
    for term in ("税", "罚", "标"):
        add("1-char", term)
    for phrase in ("行政处罚决定书", "国有建设用地使用权", "政府采购意向公开", "中标候选人公示"):
        add("phrase", phrase)
    # Every trigram of these is in (nearly) every notice; the phrase itself is in none.
    for phrase in ("政府信息公开工作要点", "政务公开工作条例规定", "现将有关事项公开条例"):
        add("phrase-nomatch", phrase)
    add("phrase-nomatch", "这是一个不存在的短语组合")
    for d in rng.sample(districts, 3):
        add("filter-division", "公告", division=d.division)
        add("filter-division", "政务公开", division=d.division)
    for src in rng.sample(sources, 3):
        add("filter-source", "行政处罚", source=src.id)
        add("filter-source", "公示", source=src.id)
    add("filter-area", "公告", area=2)
    add("filter-area", "有限公司", area=9)
    add("filter-area", "预算", area=3)
    add("filter-date", "政府采购", date_from="2020-01-01", date_to="2020-12-31")
    add("filter-date", "处罚", date_from="2025-06-01")
    add("filter-mixed", "行政处罚 罚款", division=districts[0].division, date_from="2018-01-01")
    add("multi-term", "预算 2023年")
    add("multi-term", f"{data['places'][0]} 征收")
    add("multi-term", "行政处罚 有限公司")
    for offset in (20, 200, 980):
        add("paging", "公告", offset=offset)
        add("paging", "行政处罚", offset=offset)
    return out


def percentile(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "max": max(values),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n")[0])
    ap.add_argument("--notices", type=int, default=100_000)
    ap.add_argument("--index", type=Path, default=None, help="index file (default /tmp/...)")
    ap.add_argument("--skip-build", action="store_true", help="measure an existing --index")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each query")
    ap.add_argument("--impl", default="endpoint.search", help="module with write_index/search")
    args = ap.parse_args(argv)
    impl = importlib.import_module(args.impl)
    path = args.index or Path(f"/tmp/gongkai-search-{args.notices}.sqlite")
    build_s = None
    if not args.skip_build:
        t0 = time.perf_counter()
        impl.write_index(notice_rows(args.notices), path, RUN)
        build_s = time.perf_counter() - t0
        print(f"built {path} ({args.notices} notices) in {build_s:.0f} s")
    size_mib = path.stat().st_size / 2**20
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    notices = int(con.execute("SELECT value FROM meta WHERE key = 'notices'").fetchone()[0])
    con.close()
    print(f"index {path}: {notices} notices, {size_mib:.0f} MiB")

    qs = queries()
    for _kind, kw in qs:  # warm-up: page cache, mmap
        impl.search(path, **kw)
    times: dict[str, list[float]] = {}
    per_query: list[dict[str, Any]] = []
    for _kind, kw in qs:
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = impl.search(path, **kw)
            runs.append((time.perf_counter() - t0) * 1000)
        per_query.append(
            {
                "kind": _kind,
                "args": kw,
                "ms": statistics.median(runs),
                "max_ms": max(runs),
                "total": res.total,
                "lower_bound": res.total_is_lower_bound,
                "hits": len(res.hits),
                "mode": res.mode,
                "order": res.order,
                "complete": getattr(res, "complete", True),
            }
        )
        times.setdefault(_kind, []).extend(runs)
    everything = [t for v in times.values() for t in v]
    print(f"\n{'kind':<16}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    rows = {k: summary(v) for k, v in times.items()}
    rows["overall"] = summary(everything)
    for k, s in rows.items():
        print(f"{k:<16}{s['n']:>5}{s['p50']:>9.1f}{s['p95']:>9.1f}{s['max']:>9.1f}")
    slow = sorted(per_query, key=lambda r: -r["ms"])[:8]
    print("\nslowest (median of runs):")
    for r in slow:
        filt = {k: v for k, v in r["args"].items() if k != "q"}
        print(
            f"  {r['ms']:7.1f} ms  {r['kind']:<15} {r['args']['q']!r} {filt or ''}"
            f" total={r['total']}{'+' if r['lower_bound'] else ''} {r['mode']}/{r['order']}"
            + ("" if r["complete"] else " (stopped at the time budget)")
        )
    partial = [r for r in per_query if not r["complete"]]
    print(f"\nqueries stopped at the time budget: {len(partial)} of {len(per_query)}")
    ok = rows["overall"]["max"] < GOAL_MS
    print(f"\ngoal every query < {GOAL_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"search-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "notices": notices,
                "impl": args.impl,
                "index": str(path),
                "index_mib": round(size_mib),
                "build_s": build_s,
                "repeat": args.repeat,
                "summary": rows,
                "queries": per_query,
            },
            ensure_ascii=False,
            indent=1,
        ),
        encoding="utf-8",
    )
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
