"""`python -m bench` (`make bench ARGS=…`): the end-to-end benchmark (bench/pipeline.py).

Examples: `python -m bench --notices 10000`; `python -m bench --notices 100000 --skip-naive`;
`python -m bench restage --data-dir DIR` (map+validate and publish again over a harvest);
`python -m bench chart bench/results/X.json` (redraw a chart); `python -m bench NAME …` runs
`bench/NAME.py`'s own `main(argv)` (harvest, endpoint, load, validate, …).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "chart":
        from bench.chart import render

        for name in argv[1:]:
            path = Path(name)
            out = render(json.loads(path.read_text(encoding="utf-8")), path.with_suffix(".png"))
            print(out)
        return 0
    if argv and argv[0] == "restage":
        from bench.pipeline import restage

        rp = argparse.ArgumentParser(prog="python -m bench restage")
        rp.add_argument("--data-dir", type=Path, required=True)
        rp.add_argument("--run-id", default=None)
        ra = rp.parse_args(argv[1:])
        print(json.dumps(restage(ra.data_dir, ra.run_id), indent=1))
        return 0
    if argv and argv[0] == "daily":
        from bench.pipeline import daily, daily_lines
        from harvesters.sandbox.faults import DAILY, Churn

        dp = argparse.ArgumentParser(prog="python -m bench daily")
        dp.add_argument("--data-dir", type=Path, required=True, help="a --keep data directory")
        dp.add_argument("--notices", type=int, required=True, help="its first run's --notices")
        dp.add_argument("--epoch", type=int, required=True, help="the day: last run's + 1")
        dp.add_argument("--new-fraction", type=float, default=DAILY.new)
        dp.add_argument("--edit-fraction", type=float, default=DAILY.edited)
        dp.add_argument("--withdraw-fraction", type=float, default=DAILY.withdrawn)
        dp.add_argument(
            "--skip-baseline", action="store_true",
            help="no full re-map and fresh publish of the same harvest (~10 min at 1M)",
        )  # fmt: skip
        da = dp.parse_args(argv[1:])
        churn = Churn(da.new_fraction, da.edit_fraction, da.withdraw_fraction)
        result, path = daily(
            da.data_dir, da.notices, da.epoch, churn, baseline=not da.skip_baseline
        )
        print("\n".join(daily_lines(result)))
        print(f"results: {path}")
        return 0
    if argv and not argv[0].startswith("-") and argv[0] not in ("pipeline",):
        # Another benchmark of bench/ (harvest, endpoint, load, …) with its own main(argv).
        module = importlib.import_module(f"bench.{argv[0]}")
        return int(module.main(argv[1:]) or 0)
    if argv and argv[0] == "pipeline":
        argv = argv[1:]

    from bench.pipeline import RESULTS, run, summary
    from harvesters.sandbox.faults import Churn

    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--notices", type=int, default=10_000, help="sandbox size (per source N/85)")
    p.add_argument("--work-dir", type=Path, default=None, help="where the data directory goes")
    p.add_argument("--keep", action="store_true", help="keep the data directory")
    p.add_argument("--skip-naive", action="store_true", help="no whole-graph pySHACL anchor")
    p.add_argument("--skip-scrapy-bench", action="store_true", help="no `scrapy bench` anchor")
    p.add_argument("--skip-bulk-load", action="store_true", help="no raw bulk_load anchor")
    p.add_argument(
        "--bulk-load-rounds",
        type=int,
        default=3,
        help="runs of each bulk_load anchor and of the store write, in turn (medians)",
    )
    p.add_argument("--skip-incremental", action="store_true", help="no second (daily) run")
    p.add_argument("--new-fraction", type=float, default=0.01, help="daily run: share of new")
    p.add_argument("--edit-fraction", type=float, default=0.001, help="daily run: share edited")
    p.add_argument(
        "--withdraw-fraction", type=float, default=0.0002, help="daily run: share withdrawn"
    )
    p.add_argument("--query-runs", type=int, default=5, help="runs per query (median)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    p.add_argument("--no-chart", action="store_true")
    a = p.parse_args(argv)
    result, path = run(
        a.notices,
        work_dir=a.work_dir,
        keep=a.keep,
        skip_naive=a.skip_naive,
        skip_scrapy_bench=a.skip_scrapy_bench,
        skip_bulk_load=a.skip_bulk_load,
        bulk_load_rounds=a.bulk_load_rounds,
        skip_incremental=a.skip_incremental,
        query_runs=a.query_runs,
        out_dir=a.out,
        chart=not a.no_chart,
        churn=Churn(a.new_fraction, a.edit_fraction, a.withdraw_fraction),
    )
    print(summary(result))
    print(f"results: {path}" + ("" if a.no_chart else f" and {path.with_suffix('.png')}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
