"""A live `gongkai serve` over a small published dataset, and headless Chromium driven through
the DevTools protocol by Playwright (the Python package only: Debian's /usr/bin/chromium is the
browser; `playwright install` is never needed).

Without Chromium or Playwright the tests skip with the reason, unless
GONGKAI_REQUIRE_SERVICES=1, where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# ld_data (the dataset shared with tests/endpoint) is a plain module in that folder.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "endpoint"))

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_service(reason: str) -> None:
    """Skip with `reason`, or fail when GONGKAI_REQUIRE_SERVICES=1 says services must be there."""
    if os.environ.get("GONGKAI_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def find_chromium() -> str | None:
    for name in (
        os.environ.get("GONGKAI_CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
    ):
        if name and (path := shutil.which(name)):
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from ld_data import build

    data = build(tmp_path_factory.mktemp("browser-data"))
    port = _free_port()
    env = {**os.environ, "GONGKAI_QUERY_WORKERS": "2", "GONGKAI_LOG_LEVEL": "warning"}
    cmd = [
        sys.executable,
        "-m",
        "gongkai.cli",
        "serve",
        "--data-dir",
        str(data.root),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gongkai serve exited with status {proc.returncode}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("gongkai serve did not become healthy within 60 s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    chromium = find_chromium()
    if chromium is None:
        require_service("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("the playwright Python package is not installed")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context, live_server: str):
    """A fresh tab that records dialogs, page errors, console errors and off-site requests."""
    tab = browser_context.new_page()
    tab.dialogs = []
    tab.errors = []
    tab.offsite = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.on(
        "request",
        lambda r: (
            None if r.url.startswith((live_server, "data:", "blob:")) else tab.offsite.append(r.url)
        ),
    )
    yield tab
    tab.close()
