"""The dumps and search index `gongkai run` is still building while it already serves.

`gongkai run` serves as soon as a store generation is published and builds that generation's
dumps, then its search index, in the background (gongkai/cli.py `BackgroundBuild`). Until
each is switched in, /downloads, the catalogue and /search have the previous generation's
files or none; the marker `{data}/building.json` lets them say that the new ones are being
prepared instead of looking empty or stale. One process (the one that serves) writes and
removes it; a marker whose process is gone (killed hard) is ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

from gongkai.config import DataDir

DUMPS = "dumps"
SEARCH = "search"
RETRY_AFTER = "60"  # seconds, on a 503 for something being built


@dataclass(frozen=True)
class Building:
    run_id: str
    generation: str  # the store generation's directory name
    since: str  # ISO 8601, UTC
    pid: int  # the process that owns the marker
    pending: tuple[str, ...]  # DUMPS and/or SEARCH, not switched in yet

    def about(self) -> str:
        return f"run {self.run_id} (store generation {self.generation})"


def write(data: DataDir, building: Building) -> None:
    """Replace the marker atomically: a reader sees the old one or the new one."""
    tmp = data.building.with_name(f".{data.building.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(building)), encoding="utf-8")
    os.replace(tmp, data.building)


def clear(data: DataDir) -> None:
    data.building.unlink(missing_ok=True)


def read(data: DataDir, what: str) -> Building | None:
    """The build in progress with `what` (DUMPS or SEARCH) still pending, else None."""
    try:
        raw = json.loads(data.building.read_text(encoding="utf-8"))
        found = Building(
            run_id=str(raw["run_id"]),
            generation=str(raw["generation"]),
            since=str(raw["since"]),
            pid=int(raw["pid"]),
            pending=tuple(str(p) for p in raw["pending"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return found if what in found.pending and _alive(found.pid) else None


def _alive(pid: int) -> bool:
    if pid <= 0:  # 0 and negative numbers name process groups, not the marker's owner
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
