"""A crawl process keeps the cyclic GC off what lives for the whole crawl (harvesters/crawl.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc, json
from harvesters.crawl import quiet_gc
from harvesters.state import Doc
loaded = [Doc(str(i), "u", "ok", None, None, None, None, None, 1, "r", "r", None) for i in range(1000)]
quiet_gc()
print(json.dumps({
    "threshold": gc.get_threshold(),
    "frozen": gc.get_freeze_count(),
    "docs_scanned": sum(1 for o in gc.get_objects() if isinstance(o, Doc)),
}))
"""


def test_loaded_state_is_frozen_and_young_collections_are_rarer() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    out = json.loads(done.stdout)
    assert out["threshold"] == [50_000, 50, 10]
    assert out["frozen"] >= 1000
    assert out["docs_scanned"] == 0  # the documents loaded before the crawl are never rescanned
