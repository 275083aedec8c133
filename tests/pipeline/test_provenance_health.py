"""Source health of a run is published as provenance data."""

import json

import pyoxigraph as ox

from gongkai.config import DataDir
from gongkai.reference import health_ntriples

RUN = "20260101T000000Z"
GK = "https://gongkai.example.org/def/gongkai#"


def write_health(data: DataDir, **fields) -> None:
    path = data.health(RUN, "czj")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"source": "czj", **fields}))


def store_of(nt: str) -> ox.Store:
    store = ox.Store()
    store.load(nt, format=ox.RdfFormat.N_TRIPLES)
    return store


def objects(store: ox.Store, prop: str) -> list[str]:
    return sorted(
        q.object.value for q in store.quads_for_pattern(None, ox.NamedNode(GK + prop), None)
    )


def test_counts_become_typed_values(tmp_path):
    data = DataDir(tmp_path)
    write_health(
        data, pages=64, items=60, new=60, changed=0, withdrawn=0, errors=0, duration_s=0.97
    )
    store = store_of(health_ntriples(data, RUN, ["czj"]))
    assert objects(store, "items") == ["60"] and objects(store, "durationSeconds") == ["0.97"]


def test_flags_are_kept(tmp_path):
    data = DataDir(tmp_path)
    write_health(data, items=0, flags=["yielded nothing", "bot challenge"])
    assert objects(store_of(health_ntriples(data, RUN, ["czj"])), "flag") == [
        "bot challenge",
        "yielded nothing",
    ]


def test_the_run_links_its_sources_health(tmp_path):
    data = DataDir(tmp_path)
    write_health(data, items=1)
    store = store_of(health_ntriples(data, RUN, ["czj", "absent"]))
    links = list(store.quads_for_pattern(None, ox.NamedNode(GK + "health"), None))
    assert [q.object.value for q in links] == [
        "https://gongkai.example.org/id/run/20260101T000000Z/health/czj"
    ]
