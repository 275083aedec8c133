"""`gongkai run` serves as soon as it has published; the dumps and the search index follow in
the background, and a SIGTERM stops the server and them without leaving anything behind.

One run per module (a crawl costs seconds), stopped as soon as the endpoint answers: the
background build may be midway or done by then, and either way must end cleanly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def stopped(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("serve-first")
    data, port = root / "data", _free_port()
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--data-dir", str(data)]
    cmd += ["--only", "yuzhong", "--per-source", "5", "--port", str(port)]
    out, err = (root / "stdout").open("w+"), (root / "stderr").open("w+")
    proc = subprocess.Popen(cmd, stdout=out, stderr=err)
    try:
        deadline = time.monotonic() + 180
        while _get(f"http://127.0.0.1:{port}/health") != 200:
            assert proc.poll() is None and time.monotonic() < deadline, "never served"
            time.sleep(0.2)
        seen = {
            "downloads": _get(f"http://127.0.0.1:{port}/downloads"),
            "search": _get(f"http://127.0.0.1:{port}/search.json?q=%E6%B8%9D%E4%B8%AD"),
            "stdout_when_serving": (root / "stdout").read_text(encoding="utf-8"),
        }
        helpers = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        seen["returncode"] = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # re-parented helpers, if any, are reaped by init
    seen["left"] = [pid for pid in helpers if _alive(pid)]
    seen["stderr"] = (root / "stderr").read_text(encoding="utf-8")
    seen["data"] = data
    return seen


def test_summary_is_printed_before_serving(stopped) -> None:
    lines = stopped["stdout_when_serving"].splitlines()
    ours = [line for line in lines if not line.startswith("INFO:")]  # uvicorn's access log
    assert ours[-1].startswith("total: 5 served, ")


def test_pages_answer_while_the_build_may_run(stopped) -> None:
    assert stopped["downloads"] == 200
    assert stopped["search"] in (200, 503)  # 503: the first index is being prepared


def test_sigterm_ends_the_run_by_that_signal(stopped) -> None:
    assert stopped["returncode"] == -signal.SIGTERM, stopped["stderr"][-2000:]


def test_no_helper_process_is_left(stopped) -> None:
    assert stopped["left"] == []


def test_no_marker_and_nothing_half_written_is_left(stopped) -> None:
    data: Path = stopped["data"]
    assert not (data / "building.json").exists()
    assert list((data / "dumps").glob(".*.partial")) == []
    assert list((data / "search").glob(".*.sqlite")) == []
