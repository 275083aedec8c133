"""The /completeness page in headless Chromium: it renders, with its legend and both heatmaps,
and the routes answer (CSV with a BOM, JSON with the same numbers, 400 on a bad filter).

The screenshot is kept beside the test's temporary files; look at it when changing the page
(labels in Chinese with English alongside, a legend, no overlapping text).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytestmark = [pytest.mark.services, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _require_chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("GONGKAI_REQUIRE_SERVICES") == "1":
        pytest.fail("chromium is required (GONGKAI_REQUIRE_SERVICES=1) but not installed")
    pytest.skip("chromium not installed (apt-get install chromium fonts-noto-cjk)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read(), r.headers.get("content-type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("content-type", "")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium = _require_chromium()
    root = tmp_path_factory.mktemp("browser")
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--no-serve", "--data-dir", str(root)]
    cmd += ["--per-source", "60"]
    for sid in ("czj", "sthjj", "yuzhong", "banan"):
        cmd += ["--only", sid]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gongkai.cli",
            "serve",
            "--data-dir",
            str(root),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if _get(base + "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("the endpoint did not start")
        yield base, root, chromium
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_page_renders_in_chromium(server):
    base, root, chromium = server
    out = root / "completeness.png"
    profile = root / "chromium-profile"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={out}",
        "--window-size=1400,1000",
        f"{base}/completeness?year=2024",
    ]
    subprocess.run(cmd, capture_output=True, timeout=120)
    assert out.exists() and out.stat().st_size > 20_000
    dom = subprocess.run(
        [*cmd[:-3], "--dump-dom", f"{base}/completeness?year=2024"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "政府信息公开完整性报告" in dom and "Disclosure completeness report" in dom
    assert (
        'class="legend"' in dom and "Municipal agencies" in dom and "Districts and counties" in dom
    )
    assert dom.count("<details>") > 50


def test_csv_json_and_bad_filters(server):
    base, _, _ = server
    status, body, ctype = _get(base + "/completeness.csv?year=2024")
    assert status == 200 and ctype.startswith("text/csv") and body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    status, body, _ = _get(base + "/completeness.json?year=2024")
    doc = json.loads(body)
    assert [int(r["count"]) for r in rows] == [c["count"] for c in doc["cells"]]
    assert [r["status"] for r in rows] == [c["status"] for c in doc["cells"]]
    assert _get(base + "/completeness?year=abc")[0] == 400
    assert _get(base + "/completeness?area=21")[0] == 400
    status, body, _ = _get(base + "/completeness?year=2024&agency=czj&area=3")
    assert status == 200 and "重庆市财政局" in body.decode()


def test_cell_links_to_its_notices(server):
    base, _, _ = server
    doc = json.loads(_get(base + "/completeness.json?year=2024&agency=czj")[1])
    cell = next(c for c in doc["cells"] if c["count"])
    req = urllib.request.Request(
        base
        + "/completeness/notices?"
        + urllib.parse.urlencode({"period": "2024", "area": cell["area"], "body": cell["body"]}),
        headers={"Accept": "application/sparql-results+json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        result = json.loads(r.read())
    assert len(result["results"]["bindings"]) == cell["count"]
