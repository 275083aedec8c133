"""Faults: a full or read-only store directory, a crashed crawl, a source that yields nothing.

Each ends with one clear line and a non-zero exit, and the previously published data intact.

Full and read-only disks are real where the test may mount a tmpfs (root with CAP_SYS_ADMIN,
as in CI and this sandbox): as root, `chmod` does not stop writes, so permissions would prove
nothing. Where mounting is refused those tests skip, and the in-process tests below still
inject ENOSPC/EROFS at the store's write boundary (pyoxigraph's load, the atomic writes).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_helpers import REPO, env, published, run_pipeline

from endpoint import store as store_mod
from endpoint.store import current_generation, publish
from gongkai.cli import run_problems
from gongkai.config import DataDir
from gongkai.pipeline import SourceResult


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); see the ENOSPC tests")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(path: Path, leave: int) -> None:
    free = shutil.disk_usage(path).free
    with open(path / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def _copy_with_store_on(clean: Path, dest: Path, mount: Path) -> DataDir:
    """A copy of the clean data dir whose store/ lives on `mount`."""
    shutil.copytree(clean, dest, symlinks=True, ignore=shutil.ignore_patterns("store"))
    shutil.copytree(clean / "store", mount / "store")
    (dest / "store").symlink_to(mount / "store")
    return DataDir(dest)


def _publish_cli(data: DataDir) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "gongkai.cli", "publish", "--data-dir", str(data.root)]
    for sid in ("yuzhong", "czj"):
        cmd += ["--only", sid]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env(), cwd=REPO)


def _assert_one_clear_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("gongkai: ") and any(w in last for w in words), last


@pytest.mark.slow
def test_full_disk_publish_fails_cleanly(clean_run: Path, tmp_path: Path) -> None:
    before = published(clean_run)
    with tmpfs(tmp_path / "fs", "96m") as fs:
        data = _copy_with_store_on(clean_run, tmp_path / "data", fs)
        digest = _tree_digest(fs / "store")
        _fill(fs, leave=256 * 1024)
        done = _publish_cli(data)
        _assert_one_clear_line(done, "No space left", "ENOSPC")
        # the served generation is untouched, the half-built one is gone
        assert _tree_digest(fs / "store") == digest
        assert published(data.root) == before
        (fs / "filler").unlink()
        # with room again, the same publish succeeds
        done = _publish_cli(data)
        assert done.returncode == 0, done.stderr[-2000:]
        assert current_generation(data).name == "gen-000002"
        assert published(data.root)[1] == before[1]


@pytest.mark.slow
def test_read_only_store_publish_fails_cleanly(clean_run: Path, tmp_path: Path) -> None:
    before = published(clean_run)
    with tmpfs(tmp_path / "fs", "64m") as fs:
        data = _copy_with_store_on(clean_run, tmp_path / "data", fs)
        digest = _tree_digest(fs / "store")
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        done = _publish_cli(data)
        _assert_one_clear_line(done, "Read-only file system", "EROFS")
        assert _tree_digest(fs / "store") == digest
        # the published generation stays readable for the endpoint's workers
        assert published(data.root) == before


def _small_store(tmp_path: Path) -> tuple[DataDir, dict[str, Path]]:
    data = DataDir(tmp_path / "var")
    nt = tmp_path / "a.nt"
    nt.write_text('<http://example.org/s> <http://example.org/p> "old" .\n', encoding="utf-8")
    publish(data, {"http://example.org/g": nt}, run_id="r1")
    new = tmp_path / "b.nt"
    new.write_text('<http://example.org/s> <http://example.org/p> "new" .\n', encoding="utf-8")
    return data, {"http://example.org/g": new}


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("load", errno.ENOSPC),
        ("manifest", errno.ENOSPC),
        ("current", errno.EROFS),
        ("load", errno.EROFS),
    ],
)
def test_write_error_at_the_store_boundary_keeps_previous_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, code: int
) -> None:
    """Injected at the boundary (works without mount rights): OSError out, CURRENT unchanged,
    no partial generation left, the next publish works."""
    data, graphs = _small_store(tmp_path)
    digest = _tree_digest(data.store)
    real_write, real_store = store_mod._write_atomic, store_mod.Store

    def failing_write(path: Path, text: str) -> None:
        if (where == "manifest" and path.name == store_mod.MANIFEST) or (
            where == "current" and path.name == store_mod.CURRENT
        ):
            raise OSError(code, f"{errno.errorcode[code]} injected", str(path))
        real_write(path, text)

    class FailingStore:
        def __init__(self, path: str) -> None:
            self._s = real_store(path)

        # A staticmethod: a bound method's frame would keep the store open in the traceback.
        @staticmethod
        def load(*a, **kw):
            raise OSError(code, f"{errno.errorcode[code]} injected")

        bulk_load = load

        def __getattr__(self, name):
            return getattr(self._s, name)

        read_only = staticmethod(real_store.read_only)

    monkeypatch.setattr(store_mod, "_write_atomic", failing_write)
    if where == "load":
        monkeypatch.setattr(store_mod, "Store", FailingStore)
    with pytest.raises(OSError) as exc:
        publish(data, graphs, run_id="r2")
    assert exc.value.errno == code
    assert current_generation(data).name == "gen-000001"
    assert sorted(p.name for p in data.store.glob("gen-*")) == ["gen-000001"]
    assert _tree_digest(data.store) == digest
    monkeypatch.undo()
    assert publish(data, graphs, run_id="r3").name == "gen-000002"


def test_cli_turns_an_os_error_into_one_line(tmp_path: Path) -> None:
    """`gongkai publish` with the store path taken by a file: one line, exit 1."""
    data, _ = _small_store(tmp_path)
    run = data.run("20250101T000000Z")
    (run / "items").mkdir(parents=True)
    (run / "items" / "czj.jsonl").write_text("", encoding="utf-8")
    shutil.rmtree(data.store)
    data.store.write_text("not a directory")
    done = subprocess.run(
        [sys.executable, "-m", "gongkai.cli", "publish", "--data-dir", str(data.root)]
        + ["--only", "czj"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
        cwd=REPO,
    )
    _assert_one_clear_line(done, "Not a directory", "File exists", "not a directory")


@pytest.mark.slow
def test_crashed_crawl_gives_one_line_and_keeps_the_store(clean_run: Path, tmp_path: Path):
    data = tmp_path / "data"
    shutil.copytree(clean_run, data, symlinks=True)
    before = published(data)
    done = run_pipeline(data, per_source=4, GONGKAI_KILL_AT="crawl:start")
    _assert_one_clear_line(done, "crawl process exited")
    assert "total:" not in done.stdout  # no summary pretending the run happened
    assert published(data) == before


def _report(rows: dict, unaccounted: int = 0) -> dict:
    return {"sources": rows, "totals": {"unaccounted": unaccounted}}


def test_run_problems_names_every_failure() -> None:
    ok = {"items": 5, "reported": 0, "refused": None}
    nothing = {"items": 0, "reported": 0, "refused": None}
    blocked = {"items": 0, "reported": 6, "refused": "bot challenge (HTTP 521)"}
    results = {s: SourceResult(s) for s in ("a", "b", "c", "d")}
    results["d"].harvested = False
    assert run_problems(_report({"a": ok, "c": blocked}), results) == []
    problems = run_problems(
        _report({"a": ok, "b": nothing, "c": blocked, "d": ok}, unaccounted=3), results
    )
    assert problems == [
        "3 notice(s) unaccounted for",
        "b: yielded nothing, with no page reported",
        "d: the crawl wrote nothing for this source",
    ]
