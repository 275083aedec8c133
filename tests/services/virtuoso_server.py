"""A private Virtuoso 7 instance on loopback, for tests and benchmarks.

Its own directory holds `virtuoso.ini`, the database and the log; both ports (SQL and HTTP) are
free loopback ports, `DirsAllowed` covers only that directory and the VAD folder, and the dba
password is set with `isql-vt` right after the first start (a new database has `dba`/`dba`).
Debian's own daemon is never involved.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

VIRTUOSO = "virtuoso-t"
ISQL = "isql-vt"
VAD_DIR = Path("/usr/share/virtuoso-opensource-7/vad")
VSP_DIR = Path("/var/lib/virtuoso-opensource-7/vsp")

INI = """\
[Database]
DatabaseFile       = {dir}/virtuoso.db
ErrorLogFile       = {dir}/virtuoso.log
LockFile           = {dir}/virtuoso.lck
TransactionFile    = {dir}/virtuoso.trx
xa_persistent_file = {dir}/virtuoso.pxa
ErrorLogLevel      = 7
FileExtend         = 200
Striping           = 0
TempStorage        = TempDatabase

[TempDatabase]
DatabaseFile    = {dir}/virtuoso-temp.db
TransactionFile = {dir}/virtuoso-temp.trx
Striping        = 0

[Parameters]
ServerPort           = 127.0.0.1:{sql_port}
DisableUnixSocket    = 1
MaxClientConnections = 20
CheckpointInterval   = 60
CaseMode             = 2
DirsAllowed          = ., {dir}, {vad}
VADInstallDir        = {vad}/
NumberOfBuffers      = {buffers}
MaxDirtyBuffers      = {dirty}
ThreadsPerQuery      = 2
AsyncQueueMaxThreads = 4

[HTTPServer]
ServerPort           = 127.0.0.1:{http_port}
ServerRoot           = {vsp}
MaxClientConnections = 20
ServerThreads        = 20
MaxKeepAlives        = 20
KeepAliveTimeout     = 10
Charset              = UTF-8

[SPARQL]
ResultSetMaxRows      = 100000
MaxQueryExecutionTime = 120
"""


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


def available() -> tuple[bool, str]:
    """(True, "") when `virtuoso-t` and `isql-vt` are installed, else (False, why not)."""
    missing = [b for b in (VIRTUOSO, ISQL) if shutil.which(b) is None]
    if missing:
        return False, (
            f"{' and '.join(missing)} not installed (Debian: apt-get install virtuoso-opensource)"
        )
    return True, ""


class VirtuosoServer:
    """`start()`, then `url` (HTTP base), `password` (dba); `stop()` or `kill()`."""

    def __init__(self, directory: Path, *, buffers: int = 10_000, password: str | None = None):
        self.dir = Path(directory)
        self.buffers = buffers
        self.password_file = self.dir / "dba-password"
        if password is not None:
            self.password = password
        elif self.password_file.exists():
            self.password = self.password_file.read_text().strip()
        else:
            self.password = "gk" + secrets.token_hex(8)  # SET PASSWORD takes a bare word
        self.proc: subprocess.Popen | None = None
        self.http_port = 0
        self.sql_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, timeout: float = 120) -> VirtuosoServer:
        self.dir.mkdir(parents=True, exist_ok=True)
        fresh = not (self.dir / "virtuoso.db").exists()
        self.http_port, self.sql_port = free_port(), free_port()
        ini = self.dir / "virtuoso.ini"
        ini.write_text(
            INI.format(
                dir=self.dir,
                sql_port=self.sql_port,
                http_port=self.http_port,
                buffers=self.buffers,
                dirty=self.buffers * 3 // 4,
                vad=VAD_DIR,
                vsp=VSP_DIR,
            )
        )
        log = open(self.dir / "stdout.log", "ab")  # noqa: SIM115 (closed with the process)
        self.proc = subprocess.Popen(
            [VIRTUOSO, "+foreground", "+configfile", str(ini)],
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
        log.close()
        self._wait(timeout)
        if fresh:
            self.isql("dba", f"SET PASSWORD dba {self.password};")
            # Without a checkpoint a crash (kill -9) loses the new password on roll-forward.
            self.isql(self.password, "checkpoint;")
            self.password_file.write_text(self.password)
        return self

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                tail = (self.dir / "virtuoso.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"virtuoso-t exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.url + "/sparql?query=ASK%7B%7D", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.kill()
        raise RuntimeError(f"Virtuoso did not answer on {self.url} within {timeout:g} s")

    def isql(self, password: str, sql: str) -> str:
        out = subprocess.run(
            [ISQL, f"127.0.0.1:{self.sql_port}", "dba", password, f"exec={sql}"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode != 0 or "*** Error" in out.stdout + out.stderr:
            raise RuntimeError(f"isql-vt failed: {out.stdout[-500:]} {out.stderr[-500:]}")
        return out.stdout

    def checkpoint(self) -> None:
        self.isql(self.password, "checkpoint;")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(Exception):
            self.isql(self.password, "shutdown;")
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
