"""Fault hooks for the reliability tests, inert in normal runs.

`kill_point(name)` kills the current process with SIGKILL when `$GONGKAI_KILL_AT` names the
point (a comma-separated list is allowed), so a test can crash a run exactly at a stage
boundary and check that the next run repairs everything. The points are listed in
`KILL_POINTS` and in docs/reliability.md.

`die_with_parent()` makes a helper process (sandbox, crawl) die when the process that started
it dies, even by SIGKILL: otherwise a killed `gongkai run` leaves a crawler writing into the
run directory and a sandbox serving forever.
"""

from __future__ import annotations

import contextlib
import os
import signal

ENV = "GONGKAI_KILL_AT"

KILL_POINTS = (
    "harvest:after-crawl",  # pipeline.harvest: the crawl process finished, nothing mapped yet
    "validate:after-graph",  # pipeline.map_validate_source: graph file written, no quarantine
    "validate:done",  # pipeline.map_validate: every source mapped and validated
    "publish:before-build",  # store.publish: lock taken, target generation chosen
    "publish:delta-planned",  # store._build: changed lines found, nothing written yet
    "publish:after-backup",  # store._build: previous generation copied into the target
    "publish:mid-delta",  # store._apply: the first graph's changes applied, not the others
    "publish:after-load",  # store._build: changed graphs loaded, store not yet flushed/closed
    "publish:after-inputs",  # store._build: store closed, its input files linked
    "publish:after-manifest",  # store.publish: MANIFEST written, CURRENT not yet switched
    "publish:after-current",  # store.publish: CURRENT switched, old generations not pruned
)
#: Points in helper processes (a crash of the crawl process, not of `gongkai run`).
CHILD_POINTS = ("crawl:start",)  # harvesters.crawl: before any page is fetched


def kill_point(name: str) -> None:
    """SIGKILL this process if `$GONGKAI_KILL_AT` names `name`; otherwise do nothing."""
    wanted = os.environ.get(ENV)
    if wanted and name in {w.strip() for w in wanted.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies (no-op elsewhere)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(sig), 0, 0, 0)
    # The parent may have died before prctl: then we were re-parented already.
    if os.getppid() == 1:
        os.kill(os.getpid(), sig)
