"""/downloads: listing, files at stable URLs, the catalogue, and no way out of the dumps folder."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator

import pytest
from ld_data import RUN_ID, build
from starlette.testclient import TestClient

from endpoint import building
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


# -- while `gongkai run` is still dumping the generation it serves (endpoint/building.py) -----
NEW_RUN = "20250302T020000Z"


def _mark(data: DataDir, run_id: str = NEW_RUN, pending: tuple[str, ...] = ("dumps",)) -> None:
    building.write(
        data,
        building.Building(run_id, "gen-000002", "2025-03-02T02:10:00Z", os.getpid(), pending),
    )


@pytest.fixture
def first_run(tmp_path) -> Iterator[tuple[DataDir, TestClient]]:
    """A first run from empty: published, not dumped yet, the dumps being built."""
    data = build(tmp_path, dumps=False)
    _mark(data)
    with TestClient(create_app(data, workers=1), follow_redirects=False) as c:
        yield data, c


def test_page_says_the_first_dumps_are_being_prepared(first_run) -> None:
    _, c = first_run
    r = c.get("/downloads")
    assert r.status_code == 200
    assert f"The downloads of harvest run <code>{NEW_RUN}</code>" in r.text
    assert "2025-03-02T02:10:00Z" in r.text
    assert "Nothing has been dumped yet" not in r.text


def test_catalog_being_prepared_is_503_with_retry_after(first_run) -> None:
    _, c = first_run
    r = c.get("/downloads/catalog.ttl")
    assert r.status_code == 503
    assert r.headers["retry-after"] == building.RETRY_AFTER
    assert f"of run {NEW_RUN} (store generation gen-000002) are being prepared" in r.text


def test_latest_file_being_prepared_is_503(first_run) -> None:
    _, c = first_run
    r = c.get("/downloads/latest/notices.csv")
    assert r.status_code == 503
    assert NEW_RUN in r.text


def test_page_lists_the_previous_snapshot_while_the_new_one_is_prepared(
    dl: TestClient, dl_data: DataDir
) -> None:
    _mark(dl_data)
    try:
        body = dl.get("/downloads").text
    finally:
        building.clear(dl_data)
    assert f"run <code>{NEW_RUN}</code>" in body
    assert "the files below are those of the\nprevious snapshot" in body
    assert 'href="/downloads/latest/yuzhong.nt.gz"' in body
    assert dl.get("/downloads/catalog.ttl").status_code == 200


def test_marker_of_the_snapshot_already_switched_in_is_not_shown(
    dl: TestClient, dl_data: DataDir
) -> None:
    _mark(dl_data, run_id=RUN_ID)
    try:
        body = dl.get("/downloads").text
    finally:
        building.clear(dl_data)
    assert "being prepared" not in body


def test_marker_of_a_dead_process_is_ignored(tmp_path) -> None:
    data = DataDir(tmp_path)
    no_such_pid = 2**22 + 1  # above Linux's PID_MAX_LIMIT
    building.write(data, building.Building(NEW_RUN, "gen-000002", "t", no_such_pid, ("dumps",)))
    assert building.read(data, building.DUMPS) is None


def test_marker_names_what_is_pending(tmp_path) -> None:
    data = DataDir(tmp_path)
    _mark(data, pending=("search",))
    assert building.read(data, building.DUMPS) is None
    assert building.read(data, building.SEARCH).run_id == NEW_RUN
