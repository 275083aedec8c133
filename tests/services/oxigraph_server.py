"""A private Oxigraph server (`oxigraph serve`, from PyPI's `oxigraph`) on loopback."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies (a killed pytest leaves no server)."""
    import ctypes
    import signal as _signal

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, _signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable() -> str | None:
    """The `oxigraph` CLI: next to this interpreter (the venv) first, then on PATH."""
    return shutil.which(
        "oxigraph", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    )


def available() -> tuple[bool, str]:
    if executable() is None:
        return False, "the `oxigraph` server is not installed (pip install oxigraph)"
    return True, ""


class OxigraphServer:
    """`start()` on a free port (or the same port again after `kill()`), `url`, `stop()`."""

    def __init__(self, location: Path) -> None:
        self.location = Path(location)
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60, *, same_port: bool = False) -> OxigraphServer:
        exe = executable()
        if exe is None:
            raise RuntimeError(available()[1])
        if not (same_port and self.port):
            self.port = free_port()
        self.location.mkdir(parents=True, exist_ok=True)
        cmd = [exe, "serve", "--location", str(self.location), "--bind", f"127.0.0.1:{self.port}"]
        cmd.append("--union-default-graph")
        log = self.location.with_name(self.location.name + ".log")
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=die_with_parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"oxigraph serve exited with {self.proc.returncode}: {err}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"oxigraph serve did not answer on {self.url} within {timeout:g} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
