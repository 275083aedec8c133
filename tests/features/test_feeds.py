"""Atom feeds of new, changed and withdrawn notices, queried from the published store."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from feature_data import ITEMS, RUN_ID
from starlette.applications import Starlette
from starlette.testclient import TestClient

from endpoint.feeds import (
    ATOM_NS,
    feed_query,
    routes,
    spec_agency,
    spec_area,
    spec_division,
)
from endpoint.store import publish
from gongkai.config import DataDir
from gongkai.items import normalise_item
from gongkai.reference import sources_ntriples
from harvesters.registry import sources_by_id
from ontology.classify import classify
from ontology.mapping import item_to_ntriples
from ontology.namespaces import BASE, graph_iri, notice_iri
from ontology.resolve import PublisherResolver

A = f"{{{ATOM_NS}}}"
GK = BASE + "def/gongkai#"
WITHDRAWN_KEY = "11500103009337002Y_2023-00400"
CHANGED_KEY = "11500000MB1502365L_2024-00002"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    root = tmp_path_factory.mktemp("feeds")
    data = DataDir(root)
    sources = sources_by_id()
    resolver = PublisherResolver.load()
    graphs: dict[str, Path] = {}
    for sid, rows in ITEMS.items():
        nt = "".join(
            item_to_ntriples(
                normalise_item({"source": sid, **row}),
                RUN_ID,
                resolver,
                sources[sid],
                classify=classify,
            ).ntriples
            for row in rows
        )
        if sid == "yuzhong":
            nt += f'<{notice_iri(sid, WITHDRAWN_KEY)}> <{GK}withdrawn> "true"^^<http://www.w3.org/2001/XMLSchema#boolean> .\n'
        else:
            nt += f"<{notice_iri(sid, CHANGED_KEY)}> <{GK}previousVersion> <{notice_iri(sid, CHANGED_KEY)}#v1> .\n"
        path = root / "in" / f"{sid}.nt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nt, encoding="utf-8")
        graphs[graph_iri(sid)] = path
    ref = root / "in" / "reference.nt"
    ref.write_text(sources_ntriples(sources.values()), encoding="utf-8")
    graphs[graph_iri("reference")] = ref
    publish(data, graphs, run_id=RUN_ID)
    return data


@pytest.fixture(scope="module")
def client(data: DataDir) -> TestClient:
    return TestClient(Starlette(routes=routes(data)))


def entries(client: TestClient, path: str) -> list[ET.Element]:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)  # well-formed, or this raises
    assert root.tag == A + "feed"
    return root.findall(A + "entry")


def ids(client: TestClient, path: str) -> list[str]:
    return [e.findtext(A + "id") for e in entries(client, path)]


def test_all_feed_lists_newest_first_without_withdrawn(client: TestClient) -> None:
    assert ids(client, "/feeds/all.atom") == [
        notice_iri("scjgj", "11500000MB1502365L_2024-00012"),
        notice_iri("yuzhong", "11500103009337002Y_2024-00031"),
        notice_iri("scjgj", CHANGED_KEY),
    ]


def test_feed_has_required_atom_elements(client: TestClient) -> None:
    root = ET.fromstring(client.get("/feeds/all.atom").content)
    assert root.findtext(A + "id") == BASE + "feeds/all.atom"
    assert root.findtext(A + "updated") == "2024-03-05T00:00:00+08:00"
    assert root.find(A + "link[@rel='self']") is not None
    entry = root.find(A + "entry")
    assert entry.findtext(A + "published") == "2024-03-05T00:00:00+08:00"
    assert (
        entry.find(A + "link[@rel='alternate']").get("href").startswith(BASE + "doc/notice/scjgj/")
    )


def test_changed_notice_is_marked(client: TestClient) -> None:
    entry = entries(client, "/feeds/all.atom")[2]
    assert entry.find(A + "category").get("term") == "changed"
    assert entry.findtext(A + "title").startswith("[已修改 changed] ")


def test_agency_feed_filters_on_publisher(client: TestClient) -> None:
    assert ids(client, "/feeds/agency/scjgj.atom") == [
        notice_iri("scjgj", "11500000MB1502365L_2024-00012"),
        notice_iri("scjgj", CHANGED_KEY),
    ]


def test_division_feed_filters_on_the_portal_division(client: TestClient) -> None:
    assert ids(client, "/feeds/division/500103.atom") == [
        notice_iri("yuzhong", "11500103009337002Y_2024-00031")
    ]


def test_area_feed_filters_on_the_area(client: TestClient) -> None:
    assert ids(client, "/feeds/area/2.atom") == [
        notice_iri("scjgj", "11500000MB1502365L_2024-00012")
    ]


def test_withdrawn_feed_lists_only_withdrawn(client: TestClient) -> None:
    feed = entries(client, "/feeds/withdrawn.atom")
    assert [e.findtext(A + "id") for e in feed] == [notice_iri("yuzhong", WITHDRAWN_KEY)]
    assert feed[0].find(A + "category").get("term") == "withdrawn"


def test_harvested_markup_is_escaped_text(client: TestClient) -> None:
    r = client.get("/feeds/withdrawn.atom")
    assert b"<script>" not in r.content
    title = ET.fromstring(r.content).find(A + "entry").findtext(A + "title")
    assert title == "[已撤下 withdrawn] 关于<script>alert(1)</script>的通知"


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/agency/SCJGJ.atom",
        "/feeds/agency/a%3E%20%3Fx.atom",
        "/feeds/division/50010.atom",
        "/feeds/division/500103x.atom",
        "/feeds/area/0.atom",
        "/feeds/area/21.atom",
        "/feeds/area/02.atom",
    ],
)
def test_bad_parameters_are_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_checked_values_are_the_only_variable_part_of_the_query() -> None:
    assert spec_agency("scjgj> } DELETE {") is None
    assert spec_division("500103 .") is None
    assert spec_area("1 ") is None
    q = feed_query(spec_agency("yuzhong-fzggw"))
    assert f"<{BASE}id/agency/yuzhong-fzggw>" in q
    assert f"<{BASE}id/division/500103>" in feed_query(spec_division("500103"))
    assert f"<{BASE}def/category/20>" in feed_query(spec_area("20"))


def test_nothing_published_is_503(tmp_path: Path) -> None:
    c = TestClient(Starlette(routes=routes(DataDir(tmp_path))))
    assert c.get("/feeds/all.atom").status_code == 503
