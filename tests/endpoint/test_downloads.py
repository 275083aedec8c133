"""/downloads: listing, files at stable URLs, the catalogue, and no way out of the dumps folder."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import pytest
from ld_data import RUN_ID, build
from starlette.testclient import TestClient

from endpoint.server import create_app
from gongkai.config import DataDir


@pytest.fixture(scope="module")
def dl_data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    data = build(tmp_path_factory.mktemp("downloads"))
    (data.root / "secret.txt").write_text("secret", encoding="utf-8")
    os.symlink(data.root / "secret.txt", data.dumps / RUN_ID / "planted.txt")
    return data


@pytest.fixture(scope="module")
def dl(dl_data: DataDir) -> Iterator[TestClient]:
    app = create_app(dl_data, query_timeout=20, workers=1)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def test_page(dl: TestClient, dl_data: DataDir) -> None:
    r = dl.get("/downloads")
    assert r.status_code == 200
    assert "content-security-policy" in r.headers
    body = r.text
    assert RUN_ID in body
    nt = (dl_data.dumps / RUN_ID / "yuzhong.nt.gz").read_bytes()
    assert hashlib.sha256(nt).hexdigest() in body
    assert 'href="/downloads/latest/yuzhong.nt.gz"' in body
    assert 'href="/downloads/latest/notices.csv"' in body
    assert 'id="graph-yuzhong"' in body
    assert dl.get(f"/downloads/{RUN_ID}").status_code == 200


@pytest.mark.parametrize("run", [RUN_ID, "latest"])
def test_files(dl: TestClient, dl_data: DataDir, run: str) -> None:
    folder = dl_data.dumps / RUN_ID
    r = dl.get(f"/downloads/{run}/yuzhong.nt.gz")
    assert r.status_code == 200
    assert r.content == (folder / "yuzhong.nt.gz").read_bytes()
    assert r.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in r.headers
    r = dl.get(f"/downloads/{run}/notices.csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")
    if run == "latest":
        assert r.headers["cache-control"] == "no-cache"
    else:
        assert "immutable" in r.headers["cache-control"]


def test_catalog(dl: TestClient) -> None:
    r = dl.get("/downloads/catalog.ttl")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/turtle")
    assert b"dcat:Catalog" in r.content
    r = dl.get("/downloads/catalog", headers={"Accept": "application/ld+json"})
    assert r.headers["content-type"].startswith("application/ld+json")
    assert "http://www.w3.org/ns/dcat#Catalog" in json.dumps(json.loads(r.content))
    r = dl.get("/downloads/catalog", headers={"Accept": "text/turtle"})
    assert r.headers["content-type"].startswith("text/turtle")


@pytest.mark.parametrize(
    "path",
    [
        "/downloads/latest/..%2F..%2Fsecret.txt",
        "/downloads/latest/%2e%2e",
        "/downloads/..%2Fsecret.txt/x",
        f"/downloads/{RUN_ID}/planted.txt",  # a symlink in the folder is not served
        f"/downloads/{RUN_ID}/SHA256SUMS%00",
        "/downloads/latest/",
        "/downloads/20990101T000000Z/all.nq.gz",
        "/downloads/latest/missing.nt.gz",
        "/downloads/store/CURRENT",
        "/downloads/../secret.txt",
    ],
)
def test_no_traversal(dl: TestClient, path: str) -> None:
    r = dl.get(path)
    assert r.status_code in (301, 302, 307, 404), (path, r.status_code)
    assert b"secret" not in r.content.replace(b"secret.txt", b"")


def test_without_dumps(tmp_path) -> None:
    data = build(tmp_path, dumps=False)
    app = create_app(data, workers=1)
    with TestClient(app) as c:
        r = c.get("/downloads")
        assert r.status_code == 200 and "gongkai dump" in r.text
        assert c.get("/downloads/catalog.ttl").status_code == 404
