"""`python -m harvesters.sandbox`: what `gongkai sandbox` runs, also started by `gongkai run`."""

import argparse
from pathlib import Path

from gongkai.config import data_dir
from harvesters.registry import load_sources
from harvesters.sandbox.scenarios import load as load_scenario
from harvesters.sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="gongkai sandbox")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--per-source", type=int, default=20)
    p.add_argument("--seed", type=int, default=2014)
    p.add_argument("--faults", default=None, help="fault profile: realistic")
    p.add_argument("--epoch", type=int, default=1, help="2: some notices edited, some withdrawn")
    p.add_argument(
        "--new-fraction",
        type=float,
        default=None,
        help="each epoch is a day adding this share of notices (e.g. 0.01), dated that day",
    )
    p.add_argument("--edit-fraction", type=float, default=None, help="with --new-fraction")
    p.add_argument("--withdraw-fraction", type=float, default=None, help="with --new-fraction")
    p.add_argument("--sources", "--registry", dest="sources", type=Path, default=None)
    p.add_argument("--only", action="append", default=None, help="serve only this source")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--ready-file", type=Path, default=None)
    p.add_argument("--export", type=Path, default=None, help="write static files here, exit")
    p.add_argument("--scenario", type=Path, default=None, help="completeness scenario (YAML)")
    a = p.parse_args(argv)
    churn = None
    if a.new_fraction is not None:
        from harvesters.sandbox.faults import DAILY, Churn

        edited = DAILY.edited if a.edit_fraction is None else a.edit_fraction
        withdrawn = DAILY.withdrawn if a.withdraw_fraction is None else a.withdraw_fraction
        try:
            churn = Churn(a.new_fraction, edited, withdrawn)
        except ValueError as exc:
            p.error(str(exc))
    elif a.edit_fraction is not None or a.withdraw_fraction is not None:
        p.error("--edit-fraction and --withdraw-fraction need --new-fraction")
    # A killed `gongkai run` must not leave this process behind (docs/reliability.md).
    import signal

    from gongkai.faults import die_with_parent

    die_with_parent(signal.SIGTERM)
    sources = load_sources(a.sources)
    if a.only:
        sources = [s for s in sources if s.id in set(a.only)]
    if a.export:
        from harvesters.sandbox.export import export

        n = export(
            sources, a.export, per_source=a.per_source, seed=a.seed, epoch=a.epoch, churn=churn
        )
        print(f"sandbox: {n} files written to {a.export}")
        return
    serve(
        sources,
        truth=data_dir(a.data_dir).truth,
        host=a.host,
        port=a.port,
        per_source=a.per_source,
        seed=a.seed,
        faults=a.faults,
        ready_file=a.ready_file,
        epoch=a.epoch,
        scenario=load_scenario(a.scenario),
        churn=churn,
    )


if __name__ == "__main__":
    main()
