"""The README's copy-paste examples run against a published sandbox: they must keep working.

SPARQL blocks go through `/sparql` and must return rows; `curl` lines go through the app and
must answer 200; `gongkai` lines run through the CLI with the test's data directory.
"""

import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)
SPARQL = [b for lang, b in BLOCK.findall(README) if lang == "sparql"]
SHELL = [
    line.strip()
    for lang, b in BLOCK.findall(README)
    if lang == "sh"
    for line in b.splitlines()
    if line.strip().startswith(("curl ", "gongkai "))
]
CURL = [line for line in SHELL if line.startswith("curl ")]
CLI = [line for line in SHELL if line.startswith("gongkai ")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    cmd = [sys.executable, "-m", "gongkai.cli", "run", "--no-serve", "--data-dir", str(root)]
    cmd += ["--per-source", "60"]
    for sid in ("czj", "sthjj", "yuzhong", "banan"):
        cmd += ["--only", sid]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def client(data):
    from starlette.testclient import TestClient

    from endpoint.server import create_app
    from gongkai.config import DataDir

    with TestClient(create_app(DataDir(data))) as c:
        yield c


def test_the_readme_has_examples_for_every_kind_of_user():
    assert len(SPARQL) >= 3 and len(CURL) >= 6 and CLI


@pytest.mark.parametrize("query", SPARQL, ids=lambda q: q.splitlines()[-1][:40])
def test_sparql_example_returns_rows(client, query):
    r = client.post(
        "/sparql", data={"query": query}, headers={"Accept": "application/sparql-results+json"}
    )
    assert r.status_code == 200, r.text[:500]
    assert r.json()["results"]["bindings"], "the example returned no rows"


@pytest.mark.parametrize("line", CURL)
def test_curl_example_answers(client, line):
    words = shlex.split(line)
    url = next(w for w in words if w.startswith("http"))
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    parts = urlsplit(url)
    r = client.get(parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
    assert r.status_code == 200, f"{line}: {r.status_code} {r.text[:300]}"
    assert r.content


@pytest.mark.parametrize("line", CLI)
def test_cli_example_runs(data, tmp_path, line):
    from gongkai.cli import main

    args = shlex.split(line)[1:]
    args = [str(tmp_path / a) if a.endswith((".csv", ".json", ".html")) else a for a in args]
    assert main([*args, "--data-dir", str(data)]) == 0
