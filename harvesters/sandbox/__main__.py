"""`python -m harvesters.sandbox`: what `gongkai sandbox` runs, also started by `gongkai run`."""

import argparse
from pathlib import Path

from gongkai.config import data_dir
from harvesters.registry import load_sources
from harvesters.sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="gongkai sandbox")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--per-source", type=int, default=20)
    p.add_argument("--seed", type=int, default=2014)
    p.add_argument("--faults", default=None)
    p.add_argument("--sources", type=Path, default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--ready-file", type=Path, default=None)
    a = p.parse_args(argv)
    serve(
        load_sources(a.sources),
        truth=data_dir(a.data_dir).truth,
        host=a.host,
        port=a.port,
        per_source=a.per_source,
        seed=a.seed,
        faults=a.faults,
        ready_file=a.ready_file,
    )


if __name__ == "__main__":
    main()
