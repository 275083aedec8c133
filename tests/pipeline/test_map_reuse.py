"""A daily run maps and validates only the items that changed, and writes the same files as a
full re-map; its publish applies only the changed lines and holds the quads of a fresh build."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyoxigraph as ox
import pytest

from endpoint import store as st
from gongkai import mapcache, pipeline
from gongkai.config import DataDir
from harvesters.registry import load_sources
from harvesters.sandbox.generate import harvested_item, is_report_slot, make_notice
from harvesters.state import SourceState, doc_id_of

RUN1, RUN2 = "20260101T020000Z", "20260102T020000Z"
PER = 60  # notice 52 is untitled (quarantined); some are annual reports
GK = "https://gongkai.example.org/def/gongkai#"
EDITED, WITHDRAWN, DROPPED, NEW_TEXT = 5, 9, 12, 14  # notices changed on day 2


def _item(source, n: int) -> dict:
    notice = make_notice(2014, source, n, PER)
    url = f"https://{source.domains[0]}{source.live_path}{notice.month_dir}/{notice.filename}"
    item = harvested_item(notice, url, "2026-01-01T10:00:00+08:00")
    item["sha256"] = f"{n:064x}"
    if is_report_slot(n, PER) and notice.title:
        item["body_html"] = f"<div>{notice.body}</div>{notice.tables}"
    if n % 7 == 0:
        item["attachments"] = [url.replace(".html", ".pdf")]
    return item


def _texts(items: list[dict], day: int) -> str:
    out = []
    for item in items:
        for url in item.get("attachments") or []:
            text = f"附件正文 {item['title']}" + (
                " 已更新" if day == 2 and NEW_TEXT in _ns(item) else ""
            )
            out.append({"notice": item["url"], "url": url, "status": "ok", "text": text})
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out)


def _ns(item: dict) -> set[int]:
    return {int(item["sha256"], 16) % 1000}


def _write(data: DataDir, run: str, sid: str, lines: list[str], items: list[dict], day: int):
    path = data.items(run, sid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    att = data.run(run) / "attachments" / f"{sid}.jsonl"
    att.parent.mkdir(parents=True, exist_ok=True)
    att.write_text(_texts(items, day), encoding="utf-8")


def _harvest(data: DataDir, source, day: int) -> None:
    """What the harvester writes on day 1 (everything new) and day 2 (one edited, one
    withdrawn, one gone from the state, two new, the rest carried over as stored)."""
    state = SourceState.open(data.state, source.id)
    run = RUN1 if day == 1 else RUN2
    lines: list[str] = []
    items: list[dict] = []
    for n in range(PER + (2 if day == 2 else 0)):
        item = _item(source, n)
        doc = doc_id_of(item["url"])
        if day == 1 or n >= PER or n == EDITED:
            if day == 2 and n == EDITED:
                item["title"] += "（修订）"
                item["sha256"] = f"{n + 5000:064x}"
            stored = state.record_item(doc, item, run_id=run, etag=None, last_modified=None,
                                       list_sig=None)  # fmt: skip
        elif n == WITHDRAWN:
            stored = state.record_withdrawn(doc, "2026-01-02")
        elif n == DROPPED:
            continue
        else:
            stored = state.docs[doc].item_dict()  # carried over unchanged
        lines.append(json.dumps(stored, ensure_ascii=False))
        items.append(stored)
        if n == 20:  # the same notice listed twice (a copy under another column)
            lines.append(lines[-1])
    state.record_run(run, True)
    state.close()
    _write(data, run, source.id, lines, items, day)


@pytest.fixture(scope="module")
def sources():
    return [s for s in load_sources() if s.id in ("yuzhong", "czj")]


@pytest.fixture(scope="module")
def day2(tmp_path_factory, sources) -> DataDir:
    data = DataDir(tmp_path_factory.mktemp("reuse") / "var")
    for s in sources:
        _harvest(data, s, 1)
    results = pipeline.map_validate(data, RUN1, sources, workers=1)
    pipeline.publish(data, RUN1, results, sources)
    for s in sources:
        _harvest(data, s, 2)
    return data


def _outputs(data: DataDir, run: str, sid: str) -> dict[str, bytes]:
    nt, rows = pipeline.annual_report_paths(data, run, sid)
    files = {"graph": data.graph(run, sid), "quarantine": data.quarantined(sid)}
    return {k: p.read_bytes() for k, p in (files | {"annual": nt, "rows": rows}).items()}


def test_daily_map_reuses_unchanged_items_and_writes_what_a_full_remap_writes(
    day2: DataDir, sources
) -> None:
    for s in sources:
        again = pipeline.map_validate_source(day2, RUN2, s)
        incremental = _outputs(day2, RUN2, s.id)
        full = pipeline.map_validate_source(day2, RUN2, s, reuse=False)
        assert _outputs(day2, RUN2, s.id) == incremental  # byte for byte
        assert full.reused == 0
        for name in ("items", "duplicates", "published", "quarantined", "published_urls"):
            assert getattr(again, name) == getattr(full, name), name
        # changed on day 2: edited, withdrawn (its line has the date), new text, two new
        assert again.items == PER - 1 + 2 + 1 and again.duplicates == 1  # one dropped, one copy
        assert again.reused == PER - 1 - 3  # edited, withdrawn, new attachment text; not new
        assert (
            again.quarantined == 1
            and b'"run_id": "%s"' % RUN2.encode() in (incremental["quarantine"])
        )
        graph = incremental["graph"].decode()
        assert "（修订）" in graph and "已更新" in graph
        assert graph.count(f"<{GK}withdrawn>") == 1
        dropped = _item(s, DROPPED)["url"]
        assert dropped not in graph  # gone from the items: gone from the graph
        assert incremental["annual"] and incremental["rows"]
        # unchanged notices keep the run that first saw them; new ones name today's run
        assert graph.count(f"/run/{RUN1}>") > graph.count(f"/run/{RUN2}>") >= 3


def test_a_change_of_mapping_code_maps_everything_again(
    day2: DataDir, sources, monkeypatch
) -> None:
    s = sources[0]
    pipeline.map_validate_source(day2, RUN2, s)
    before = _outputs(day2, RUN2, s.id)
    assert pipeline.map_validate_source(day2, RUN2, s).reused > 0
    monkeypatch.setattr(mapcache, "code_fingerprint", lambda: "another mapping")
    redone = pipeline.map_validate_source(day2, RUN2, s)
    assert redone.reused == 0
    assert _outputs(day2, RUN2, s.id) == before


def test_a_corrupt_cache_costs_a_full_remap(day2: DataDir, sources) -> None:
    s = sources[1]
    pipeline.map_validate_source(day2, RUN2, s)
    before = _outputs(day2, RUN2, s.id)
    (day2.root / "mapped" / f"{s.id}.sqlite3").write_bytes(b"not a database" * 100)
    for suffix in ("-wal", "-shm"):
        (day2.root / "mapped" / f"{s.id}.sqlite3{suffix}").unlink(missing_ok=True)
    assert pipeline.map_validate_source(day2, RUN2, s).reused == 0
    assert _outputs(day2, RUN2, s.id) == before
    assert pipeline.map_validate_source(day2, RUN2, s).reused > 0


_BNODE = re.compile(r"_:\S+")


def _quads(gen: Path) -> list[str]:
    store = ox.Store.read_only(str(gen))
    try:
        return sorted(_BNODE.sub("_:b", str(q)) for q in store.quads_for_pattern(None, None, None))
    finally:
        del store


def test_daily_publish_applies_the_delta_and_holds_the_quads_of_a_fresh_build(
    day2: DataDir, sources, tmp_path: Path
) -> None:
    data = DataDir(tmp_path / "var")
    shutil.copytree(day2.root, data.root)
    old = st.current_generation(data)
    old_quads = _quads(old)
    reader = ox.Store.read_only(str(old))  # a reader of the old generation, open throughout
    results = pipeline.map_validate(data, RUN2, sources, workers=1)
    gen = pipeline.publish(data, RUN2, results, sources)
    manifest = st.read_manifest(gen)
    assert manifest["built"] == "delta"
    # the same files loaded into an empty store
    fresh = DataDir(tmp_path / "fresh")
    files = {iri: gen / info["file"] for iri, info in manifest["inputs"].items()}
    fresh_gen = st.publish(fresh, files, run_id=RUN2)
    assert st.read_manifest(fresh_gen)["built"] == "fresh"
    assert _quads(gen) == _quads(fresh_gen)
    assert manifest["graphs"] == st.read_manifest(fresh_gen)["graphs"]
    # the old generation is untouched, for its open reader too
    assert sorted(_BNODE.sub("_:b", str(q)) for q in reader) == old_quads == _quads(old)
    del reader
