"""Live progress of a crawl, watched from the parent process.

The crawl runs in a child process (Twisted's reactor runs once per process), so the parent
polls what the child writes anyway: `runs/{run}/items/{src}.jsonl` grows as items arrive
(counted by lines; the child's write buffer makes it lag a little) and `health/{src}.json`
appears when a source is done. How many items to expect per source: the previous run's
health, else the sandbox's ground truth, else unknown (the total then grows as it goes).

On a terminal (stderr is a TTY) a `rich.progress` display shows one bar per running source,
a total bar with the rate and the ETA; elsewhere a plain line every `PLAIN_EVERY` seconds
(nothing at all for a crawl shorter than that). `GONGKAI_PROGRESS=plain|rich|off` overrides.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from gongkai.config import DataDir

POLL = 0.5
PLAIN_EVERY = 15.0


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return 0


def expected_counts(data: DataDir, run_id: str, sources: Iterable[str]) -> dict[str, int | None]:
    """Items to expect per source: the previous run's health, else the sandbox truth."""
    wanted = list(sources)
    out: dict[str, int | None] = dict.fromkeys(wanted)
    earlier = sorted(p.name for p in data.runs.glob("*T*Z") if p.name < run_id)
    for sid in wanted:
        for run in reversed(earlier):
            path = data.health(run, sid)
            if path.exists():
                try:
                    out[sid] = int(json.loads(path.read_text(encoding="utf-8"))["items"])
                except (ValueError, KeyError, OSError):
                    continue
                break
    if any(v is None for v in out.values()) and data.truth.exists():
        served: Counter[str] = Counter()
        with data.truth.open(encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                if record.get("expect") != "withdrawn":
                    served[record["source"]] += 1
        for sid in wanted:
            if out[sid] is None and sid in served:
                out[sid] = served[sid]
    return out


@dataclass
class Snapshot:
    done: dict[str, int] = field(default_factory=dict)  # items so far per source
    finished: set[str] = field(default_factory=set)
    expected: dict[str, int | None] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def items(self) -> int:
        return sum(self.done.values())

    @property
    def total(self) -> int:
        """Items expected in all (a finished source counts what it produced)."""
        return sum(
            self.done.get(s, 0) if s in self.finished else max(e or 0, self.done.get(s, 0))
            for s, e in self.expected.items()
        )

    @property
    def rate(self) -> float:
        return self.items / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.rate or any(
            e is None for s, e in self.expected.items() if s not in self.finished
        ):
            return None
        return max(self.total - self.items, 0) / self.rate


def snapshot(data: DataDir, run_id: str, expected: dict[str, int | None], started: float):
    snap = Snapshot(expected=expected, elapsed=time.monotonic() - started)
    for sid in expected:
        snap.done[sid] = _lines(data.items(run_id, sid))
        if data.health(run_id, sid).exists():
            snap.finished.add(sid)
    return snap


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def plain_line(snap: Snapshot) -> str:
    return (
        f"  harvest: {len(snap.finished)}/{len(snap.expected)} sources done, "
        f"{snap.items}/{snap.total or '?'} items, {snap.rate:.1f} items/s, "
        f"elapsed {_duration(snap.elapsed)}, ETA {_duration(snap.eta)}"
    )


def _mode(stream: IO[str]) -> str:
    mode = os.environ.get("GONGKAI_PROGRESS", "").lower()
    if mode in ("plain", "rich", "off"):
        return mode
    return "rich" if stream.isatty() else "plain"


@contextmanager
def watch(
    data: DataDir, run_id: str, sources: Iterable[str], stream: IO[str] | None = None
) -> Iterator[None]:
    """Show the crawl's progress while the body runs (the child crawl process)."""
    stream = stream or sys.stderr
    mode = _mode(stream)
    if mode == "off":
        yield
        return
    expected = expected_counts(data, run_id, sources)
    started = time.monotonic()
    stop = threading.Event()
    target = _rich if mode == "rich" else _plain
    thread = threading.Thread(
        target=target, args=(data, run_id, expected, started, stop, stream), daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _plain(data, run_id, expected, started, stop: threading.Event, stream) -> None:
    while not stop.wait(PLAIN_EVERY):
        print(plain_line(snapshot(data, run_id, expected, started)), file=stream, flush=True)


def _rich(data, run_id, expected, started, stop: threading.Event, stream) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=stream)
    columns = (
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, refresh_per_second=4) as bars:
        total = bars.add_task("all sources", total=None, rate="")
        tasks: dict[str, int] = {}
        while True:
            snap = snapshot(data, run_id, expected, started)
            for sid, n in snap.done.items():
                running = n > 0 and sid not in snap.finished
                if running and sid not in tasks:
                    tasks[sid] = bars.add_task(sid, total=expected.get(sid), rate="")
                if sid in tasks:
                    bars.update(tasks[sid], completed=n, total=max(expected.get(sid) or 0, n))
                    if sid in snap.finished:
                        bars.remove_task(tasks.pop(sid))
            bars.update(
                total,
                completed=snap.items,
                total=snap.total or None,
                rate=f"{snap.rate:.0f}/s · {len(snap.finished)}/{len(expected)} done",
            )
            if stop.wait(POLL):
                break
    console.print(plain_line(snapshot(data, run_id, expected, started)))
