"""Remote-store credentials come from the environment only and never show up anywhere.

A store that fails, and one that echoes every request header back in its error body (as some
misconfigured proxies do), are published to with GONGKAI_STORE_USER/PASSWORD set: the exit is
non-zero, and neither the password nor the Basic token built from it appears in stdout,
stderr, the exception or the log.
"""

from __future__ import annotations

import base64
import http.server
import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_helpers import REPO, env

remote = pytest.importorskip("endpoint.remote", reason="endpoint/remote.py not written yet")

USER = "gk-publisher"
PASSWORD = "s3cr3t-Pa55-do-not-print"
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, TOKEN)


class _Handler(http.server.BaseHTTPRequestHandler):
    mode = "echo"

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        if self.mode == "challenge" and "authorization" not in self.headers:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="store"')
            self.end_headers()
            return
        body = ("".join(f"{k}: {v}\n" for k, v in self.headers.items())).encode()
        body += f"path {self.path}\n".encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *a) -> None:
        pass


@pytest.fixture(params=["echo", "challenge"])
def bad_store(request) -> Iterator[str]:
    handler = type("H", (_Handler,), {"mode": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/store"
    finally:
        server.shutdown()
        server.server_close()


def _clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, (
            f"a credential leaked: …{text[max(0, text.find(secret) - 80) :][:200]}"
        )


def test_in_process_error_and_log_hold_no_password(
    bad_store: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nt = tmp_path / "g.nt"
    nt.write_text('<http://example.org/s> <http://example.org/p> "o" .\n', encoding="utf-8")
    caplog.set_level(logging.DEBUG)
    store = remote.RemoteStore(bad_store, user=USER, password=PASSWORD, retries=1, backoff=0)
    _clean(repr(store))
    with pytest.raises(remote.RemoteStoreError) as exc:
        remote.publish_remote(store, {"http://example.org/g": nt}, run_id="r1")
    _clean(str(exc.value))
    _clean(repr(exc.value))
    _clean(caplog.text)


def test_url_with_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(remote.RemoteStoreError) as exc:
        remote.RemoteStore(f"http://{USER}:{PASSWORD}@127.0.0.1:9/store")
    _clean(str(exc.value))


@pytest.mark.slow
def test_cli_publish_to_failing_store_prints_no_password(
    bad_store: str, clean_run: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(clean_run, data, symlinks=True)
    cmd = [sys.executable, "-m", "gongkai.cli", "publish", "--data-dir", str(data)]
    cmd += ["--only", "czj", "--to", bad_store]
    done = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env=env(
            GONGKAI_STORE_USER=USER,
            GONGKAI_STORE_PASSWORD=PASSWORD,
            GONGKAI_LOG_LEVEL="debug",
        ),
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    _clean(done.stdout)
    _clean(done.stderr)
    for log in data.rglob("*.log"):
        _clean(log.read_text(errors="replace"))
