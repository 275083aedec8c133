"""`gongkai`: the pipeline by hand. Errors are one clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

from endpoint import building
from gongkai.config import DataDir, data_dir


class CliError(Exception):
    """Shown to the user as one line."""


def _sources(args: argparse.Namespace):
    from harvesters.registry import RegistryError, load_sources

    try:
        sources = load_sources(args.sources)
    except (OSError, RegistryError) as exc:
        raise CliError(f"cannot read the source registry: {exc}") from exc
    if getattr(args, "only", None):
        wanted = set(args.only)
        unknown = wanted - {s.id for s in sources}
        if unknown:
            raise CliError(f"unknown source(s): {', '.join(sorted(unknown))}")
        sources = [s for s in sources if s.id in wanted]
    return sources


def _stage(name: str):
    print(f"· {name}…", file=sys.stderr, flush=True)
    return time.monotonic()


def _done(started: float) -> None:
    print(f"  done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def _build_search_index(data: DataDir, run_id: str) -> None:
    from endpoint.search import build_index

    build_index(data, run_id)


def run_problems(report: dict, results: dict) -> list[str]:
    """Why a run is not a success: notices unaccounted for, a source the crawl produced no
    file for, a source that yielded nothing and said nothing why (no page reported, no
    refusal). A blocked portal whose notices are all reported with the reason is accounted
    for: its `[flags: …]` show on its summary line."""
    problems = []
    unaccounted = report["totals"].get("unaccounted")
    if unaccounted:
        problems.append(f"{unaccounted} notice(s) unaccounted for")
    for sid, row in report["sources"].items():
        r = results.get(sid)
        if r is not None and not r.harvested:
            problems.append(f"{sid}: the crawl wrote nothing for this source")
        elif not row.get("items") and not row.get("reported") and not row.get("refused"):
            problems.append(f"{sid}: yielded nothing, with no page reported")
    return problems


def cmd_run(args: argparse.Namespace) -> int:
    from gongkai import pipeline

    data = data_dir(args.data_dir)
    data.root.mkdir(parents=True, exist_ok=True)
    sources = _sources(args)
    run_id = pipeline.new_run_id()
    print(f"run {run_id}: {len(sources)} sources, data in {data.root}", file=sys.stderr)
    t = _stage("harvest")
    if args.live:
        pipeline.harvest(data, run_id, sources, registry=args.sources, full=args.full)
    else:
        with pipeline.sandbox(
            data,
            per_source=args.per_source,
            seed=args.seed,
            faults=args.faults,
            registry=args.sources,
            scenario=_scenario(args.scenario) and args.scenario,
            epoch=args.epoch,
        ) as sb:
            pipeline.harvest(
                data, run_id, sources, sandbox_url=sb.url, registry=args.sources, full=args.full
            )
    _done(t)
    t = _stage("attachments")
    _print_attachments(pipeline.extract_attachments(data, run_id, sources))
    _done(t)
    t = _stage("map and validate")
    results = pipeline.map_validate(data, run_id, sources)
    _done(t)
    t = _stage("publish")
    generation = pipeline.publish(data, run_id, results, sources)
    _done(t)
    if args.no_serve:
        t = _stage("dumps")
        pipeline.dump(data)
        _done(t)
        t = _stage("search index")
        _build_search_index(data, run_id)
        _done(t)
        return _account(data, run_id, results)
    # Serve the new generation now; its dumps and search index follow (docs/architecture.md).
    build = BackgroundBuild(data, run_id, generation).start()
    print("· dumps, search index: in the background, serving meanwhile", file=sys.stderr)
    previous = signal.signal(signal.SIGTERM, _terminate)
    status, served = 0, None
    try:
        status = _account(data, run_id, results)
        served = cmd_serve(args)
    except _Terminated:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM kills; the stages follow
        build.stop()
    if served is None:  # SIGTERM: die of it, as uvicorn makes `gongkai serve` do
        sys.stdout.flush()
        sys.stderr.flush()
        signal.raise_signal(signal.SIGTERM)
        return 128 + signal.SIGTERM  # when the previous handler returns
    return status or served or (1 if build.failed else 0)


def _account(data: DataDir, run_id: str, results: dict) -> int:
    """Print the run's summary lines (and its FAILED marker): 1 if the run is no success."""
    from gongkai import pipeline

    report = pipeline.account(data, run_id, results)
    for sid, row in report["sources"].items():
        print(pipeline.summary_line(sid, row))
    print(pipeline.summary_line("total", report["totals"]), flush=True)
    problems = run_problems(report, results)
    if problems:  # never a plain success: one marker line, non-zero exit (docs/reliability.md)
        print(f"gongkai: run {run_id} FAILED: {'; '.join(problems)}", file=sys.stderr)
    return 1 if problems else 0


class _Terminated(BaseException):
    """SIGTERM while `gongkai run` serves: unwind, so the background build is stopped."""


def _terminate(signum: int, frame: object) -> None:
    """Uvicorn shuts down gracefully on SIGTERM, then raises it again: with this handler."""
    raise _Terminated


class BackgroundBuild:
    """The dumps, then the search index, of a just-published generation, each in a process of
    its own while this one serves (no GIL shared with the server; niced). A thread here only
    waits for them and keeps the marker (endpoint/building.py) that tells the pages what is
    still pending. Both stages write aside and switch in atomically, so stopping one midway
    leaves the previous files served and nothing half-written visible."""

    STAGES = ((building.DUMPS, "dumps"), (building.SEARCH, "search index"))
    STOP_TIMEOUT = 10.0  # seconds a stopped stage has to clean up before it is killed

    def __init__(self, data: DataDir, run_id: str, generation: Path) -> None:
        self.data, self.run_id, self.generation = data, run_id, Path(generation)
        self.failed: list[str] = []
        self._pending = [key for key, _ in self.STAGES]
        self._since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._lock = threading.Lock()
        self._stopping = False
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._thread = threading.Thread(target=self._run, name="gongkai-build", daemon=True)

    def _mark(self) -> None:
        if self._pending:
            marker = building.Building(
                run_id=self.run_id,
                generation=self.generation.name,
                since=self._since,
                pid=os.getpid(),
                pending=tuple(self._pending),
            )
            building.write(self.data, marker)
        else:
            building.clear(self.data)

    def start(self) -> BackgroundBuild:
        self._mark()
        self._thread.start()
        return self

    def _run(self) -> None:
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked threads
        for key, label in self.STAGES:
            with self._lock:
                if self._stopping:
                    return
                args = (str(self.data.root), key, self.run_id, str(self.generation))
                self._proc = spawn.Process(target=_build_stage, args=args, name=f"gongkai-{key}")
                started = time.monotonic()
                self._proc.start()
            self._proc.join()
            with self._lock:
                if self._stopping:
                    return
                code = self._proc.exitcode
                if code == 0:
                    print(
                        f"· {label} done in {time.monotonic() - started:.1f} s (background)",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    self.failed.append(label)
                    print(
                        f"gongkai: run {self.run_id}: the {label} failed (exit {code})",
                        file=sys.stderr,
                        flush=True,
                    )
                self._pending.remove(key)
                self._mark()

    def wait(self) -> bool:
        """Block until the stages are done; true if all succeeded."""
        self._thread.join()
        return not self.failed

    def stop(self) -> None:
        """Stop the stage running (SIGTERM: it removes what it wrote aside; killed if it takes
        longer than STOP_TIMEOUT), start no other, and remove the marker."""
        with self._lock:
            self._stopping = True
            proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(self.STOP_TIMEOUT)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._thread.join()
        if self._pending:
            left = " and ".join(label for key, label in self.STAGES if key in self._pending)
            print(
                f"gongkai: run {self.run_id}: stopped before writing the {left}",
                file=sys.stderr,
                flush=True,
            )
            self._pending.clear()
        self._mark()


def _build_stage(root: str, stage: str, run_id: str, generation: str) -> None:
    """One background stage, in a spawned process (`BackgroundBuild`)."""
    from gongkai import pipeline
    from gongkai.faults import die_with_parent

    os.setpgrp()  # the terminal's Ctrl-C goes to the server, which stops us itself
    signal.signal(signal.SIGTERM, _stop_stage)
    die_with_parent(signal.SIGTERM)
    with contextlib.suppress(OSError):
        os.nice(10)  # the endpoint comes first
    data = DataDir(Path(root))
    try:
        if stage == building.DUMPS:
            pipeline.dump(data, Path(generation))
        else:
            _build_search_index(data, run_id)
    except (pipeline.PipelineError, OSError) as exc:
        print(f"gongkai: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


def _stop_stage(signum: int, frame: object) -> None:
    """SIGTERM: kill the stage's pool processes (a pool waits for its running tasks on the way
    out) and unwind, so the stage removes the files it was writing aside."""
    for child in multiprocessing.active_children():
        child.kill()
    raise SystemExit(128 + signum)


def _print_attachments(counts: dict[str, dict[str, int]]) -> None:
    total: dict[str, int] = {}
    for per in counts.values():
        for status, n in per.items():
            total[status] = total.get(status, 0) + n
    shown = ", ".join(f"{n} {status}" for status, n in sorted(total.items())) or "none"
    print(f"  attachments: {shown}", file=sys.stderr, flush=True)


def cmd_attachments(args: argparse.Namespace) -> int:
    """Extract the text of a run's attachments again (from the run's WARC files)."""
    from gongkai import pipeline

    data = data_dir(args.data_dir)
    run_id = args.run_id or _latest_run(data)
    counts = pipeline.extract_attachments(data, run_id, _run_sources(args, data, run_id))
    for sid, per in sorted(counts.items()):
        print(f"{sid}: " + (", ".join(f"{n} {k}" for k, n in sorted(per.items())) or "none"))
    _print_attachments(counts)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from gongkai.status import format_status, status

    info = status(data_dir(args.data_dir))
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=1))
    else:
        print(format_status(info))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from harvesters.sandbox.server import serve

    data = data_dir(args.data_dir)
    serve(
        _sources(args),
        truth=data.truth,
        host=args.host,
        port=args.port,
        per_source=args.per_source,
        seed=args.seed,
        faults=args.faults,
        scenario=_scenario(args.scenario),
        epoch=args.epoch,
    )
    return 0


def cmd_harvest(args: argparse.Namespace) -> int:
    from gongkai import pipeline

    data = data_dir(args.data_dir)
    sources = _sources(args)
    run_id = args.run_id or pipeline.new_run_id()
    if args.live or args.sandbox_url:
        pipeline.harvest(
            data, run_id, sources, sandbox_url=args.sandbox_url, registry=args.sources,
            full=args.full,
        )  # fmt: skip
    else:
        with pipeline.sandbox(
            data, per_source=args.per_source, registry=args.sources, faults=args.faults,
            epoch=args.epoch,
        ) as sb:  # fmt: skip
            pipeline.harvest(
                data, run_id, sources, sandbox_url=sb.url, registry=args.sources, full=args.full
            )
    print(run_id)
    return 0


def _latest_run(data: DataDir) -> str:
    runs = sorted(p.name for p in data.runs.glob("*T*Z") if (p / "items").is_dir())
    if not runs:
        raise CliError(f"no harvest run in {data.root}; run `gongkai harvest` first")
    return runs[-1]


def _run_sources(args: argparse.Namespace, data: DataDir, run_id: str):
    """The registry sources that took part in a run (a crawl leaves items or health behind)."""
    return [
        s
        for s in _sources(args)
        if data.items(run_id, s.id).exists() or data.health(run_id, s.id).exists()
    ]


def cmd_reparse(args: argparse.Namespace) -> int:
    """Rebuild a run's items from the WARC archive, without fetching."""
    from harvesters.reparse import reparse

    data = data_dir(args.data_dir)
    run_id = args.run_id or _latest_run(data)
    counts = reparse(data, run_id, _sources(args))
    for sid, n in sorted(counts.items()):
        print(f"{sid}: {n} items")
    print(f"reparsed run {run_id}: {sum(counts.values())} items from the archive")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Re-check a run's notices (the quarantined ones too) and publish what now passes."""
    from gongkai import pipeline
    from gongkai.quality import write_quality_reports

    data = data_dir(args.data_dir)
    run_id = args.run_id or _latest_run(data)
    sources = _run_sources(args, data, run_id)
    results = pipeline.map_validate(data, run_id, sources)
    report = pipeline.account(data, run_id, results)
    for sid, row in report["sources"].items():
        print(pipeline.summary_line(sid, row))
    print(pipeline.summary_line("total", report["totals"]))
    if not args.no_publish:
        gen = pipeline.publish(data, run_id, results, sources)
        print(f"published run {run_id} as {gen.name}", file=sys.stderr)
    reports = write_quality_reports(data, sources)
    print(
        f"quality reports in {data.root / 'reports' / 'quality'} ({len(reports)} sources)",
        file=sys.stderr,
    )
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from gongkai import pipeline

    data = data_dir(args.data_dir)
    run_id = args.run_id or _latest_run(data)
    sources = _run_sources(args, data, run_id)
    results = pipeline.map_validate(data, run_id, sources)
    if args.to:
        from endpoint.remote import RemoteStoreError

        try:
            done = pipeline.publish(
                data, run_id, results, sources, to=args.to, store_profile=args.store_profile
            )
        except RemoteStoreError as exc:
            print(f"gongkai: {exc}", file=sys.stderr)
            return 1
        print(f"published run {run_id}: {done.summary()}")
        return 0
    gen = pipeline.publish(data, run_id, results, sources)
    print(f"published run {run_id} as {gen.name}")
    pipeline.dump(data, gen)
    _build_search_index(data, run_id)
    return 0


def cmd_dump(args: argparse.Namespace) -> int:
    from gongkai import pipeline

    data = data_dir(args.data_dir)
    t = _stage("dumps")
    out = pipeline.dump(data)
    _done(t)
    print(out)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from endpoint.server import NoDataError, serve

    data = data_dir(args.data_dir)
    if not data.root.is_dir():
        raise CliError(f"no data directory at {data.root}: run `gongkai run` first")
    try:
        serve(data, host=args.host, port=args.port)
    except NoDataError as exc:
        raise CliError(str(exc)) from exc
    return 0


def _scenario(path: Path | None):
    from harvesters.sandbox.scenarios import ScenarioError, load

    try:
        return load(path)
    except ScenarioError as exc:
        raise CliError(str(exc)) from exc


def cmd_report(args: argparse.Namespace) -> int:
    """`gongkai report completeness`: the report from the published cube, without a server."""
    from endpoint.completeness_routes import BadRequest, write_report
    from gongkai.completeness import CubeMissing

    data = data_dir(args.data_dir)
    try:
        text = write_report(
            data,
            year=args.year,
            half=args.half,
            fmt=args.format,
            area=str(args.area or ""),
            agency=args.agency or "",
            district=args.district or "",
        )
    except (BadRequest, CubeMissing) as exc:
        raise CliError(str(exc)) from exc
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    from harvesters.extract import NotADetailPage, extract

    try:
        body = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from exc
    try:
        item = extract(body, args.url, family=args.family)
    except NotADetailPage as exc:
        raise CliError(f"{args.file}: not a notice detail page: {exc}") from exc
    print(json.dumps(item, ensure_ascii=False, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gongkai", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp, *, serve: bool = False, sandbox: bool = False):
        sp.add_argument("--data-dir", default=None, help="default: $GONGKAI_DATA, else ./var")
        sp.add_argument("--sources", type=Path, default=None, help="registry folder or YAML file")
        sp.add_argument("--only", action="append", help="restrict to this source id (repeatable)")
        if serve:
            sp.add_argument("--host", default="127.0.0.1")
            sp.add_argument("--port", type=int, default=8000)
        if sandbox:
            sp.add_argument("--per-source", type=int, default=20)
            sp.add_argument("--seed", type=int, default=2014)
            sp.add_argument("--faults", default=None, help="fault profile, e.g. realistic")
            sp.add_argument(
                "--epoch", type=int, default=1, help="sandbox epoch (2: notices edited, withdrawn)"
            )
            sp.add_argument(
                "--scenario", type=Path, default=None, help="completeness scenario (YAML)"
            )

    sp = sub.add_parser("run", help="the whole pipeline once, then serve")
    common(sp, serve=True, sandbox=True)
    sp.add_argument("--live", action="store_true", help="crawl the real portals")
    sp.add_argument("--full", action="store_true", help="fetch everything, not incrementally")
    sp.add_argument("--no-serve", action="store_true")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("sandbox", help="serve the sandbox portals on loopback")
    common(sp, sandbox=True)
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8700)
    sp.set_defaults(func=cmd_sandbox)

    sp = sub.add_parser("harvest", help="crawl (the sandbox by default)")
    common(sp, sandbox=True)
    sp.add_argument("--live", action="store_true")
    sp.add_argument("--sandbox-url", default=None, help="crawl a sandbox already running here")
    sp.add_argument("--run-id", default=None)
    sp.add_argument("--full", action="store_true", help="fetch everything, not incrementally")
    sp.set_defaults(func=cmd_harvest)

    sp = sub.add_parser("reparse", help="rebuild a run's items from its WARC files")
    common(sp)
    sp.add_argument("--run-id", default=None)
    sp.set_defaults(func=cmd_reparse)

    sp = sub.add_parser("validate", help="re-check a run (quarantine too) and publish what passes")
    common(sp)
    sp.add_argument("--run-id", default=None)
    sp.add_argument("--no-publish", action="store_true", help="check and report only")
    sp.set_defaults(func=cmd_validate)

    sp = sub.add_parser("publish", help="map, validate and publish a harvest run")
    common(sp)
    sp.add_argument("--run-id", default=None)
    sp.add_argument(
        "--to",
        default=None,
        metavar="URL|oxigraph:DIR",
        help="publish to a SPARQL 1.1 store (Graph Store Protocol; credentials from "
        "GONGKAI_STORE_USER/GONGKAI_STORE_PASSWORD) or to the embedded store of data dir DIR",
    )
    sp.add_argument(
        "--store-profile",
        default="auto",
        choices=["auto", "sparql11", "oxigraph", "virtuoso"],
        help="endpoint layout of the --to store (auto: by its Server header)",
    )
    sp.set_defaults(func=cmd_publish)

    sp = sub.add_parser("attachments", help="extract a run's attachment text again")
    common(sp)
    sp.add_argument("--run-id", default=None)
    sp.set_defaults(func=cmd_attachments)

    sp = sub.add_parser("status", help="what the data directory holds: runs, sources, store")
    sp.add_argument("--data-dir", default=None, help="default: $GONGKAI_DATA, else ./var")
    sp.add_argument("--json", action="store_true", help="machine-readable")
    sp.set_defaults(func=cmd_status)

    sp = sub.add_parser("dump", help="write the downloads of the published store")
    sp.add_argument("--data-dir", default=None, help="default: $GONGKAI_DATA, else ./var")
    sp.set_defaults(func=cmd_dump)

    sp = sub.add_parser("serve", help="the SPARQL endpoint and pages")
    common(sp, serve=True)
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("report", help="reports from the published data")
    sp.add_argument("report", choices=["completeness"])
    sp.add_argument("--data-dir", default=None, help="default: $GONGKAI_DATA, else ./var")
    sp.add_argument("--year", type=int, default=None, help="default: the latest year")
    sp.add_argument("--half", type=int, choices=[1, 2], default=None)
    sp.add_argument("--area", type=int, default=None)
    sp.add_argument("--agency", default=None, help="agency slug, e.g. czj")
    sp.add_argument("--district", default=None, help="division code, e.g. 500103")
    sp.add_argument("--format", choices=["html", "csv", "json"], default="html")
    sp.add_argument("--out", default=None, help="write here instead of stdout")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("extract", help="parse one saved detail page, print the item")
    sp.add_argument("file")
    sp.add_argument("--url", required=True)
    sp.add_argument("--family", default=None, choices=["trs", "trs2017", "hanweb", "generic"])
    sp.set_defaults(func=cmd_extract)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"gongkai: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line for the user; the details are in the run's files
        from gongkai.pipeline import PipelineError

        if isinstance(exc, PipelineError | OSError):
            print(f"gongkai: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
