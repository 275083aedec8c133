"""The stage functions: harvest → map+validate → publish, each with its inputs and outputs on disk.

The CLI and the Airflow tasks call these same functions, so a stage can be re-run alone and a
failing source never stops the others.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gongkai.config import DataDir
from gongkai.faults import die_with_parent, kill_point
from gongkai.items import read_jsonl
from harvesters.registry import Source

BATCH = 500


class PipelineError(RuntimeError):
    """A stage could not run at all (as opposed to a source failing inside it)."""


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


# -- sandbox -----------------------------------------------------------------------------------
@dataclass
class SandboxHandle:
    url: str
    served: int
    process: subprocess.Popen


@contextmanager
def sandbox(
    data: DataDir,
    *,
    per_source: int = 20,
    seed: int = 2014,
    faults: str | None = None,
    registry: Path | None = None,
    timeout: float = 600,
    scenario: Path | None = None,
    epoch: int = 1,
    churn: Any = None,
    port: int = 0,
) -> Iterator[SandboxHandle]:
    """Start the sandbox in its own process on a free loopback port; stop it on exit.

    `churn` (harvesters.sandbox.faults.Churn) makes each epoch after the first one day of
    new, edited and withdrawn notices in those shares (a benchmark's daily run). A fixed
    `port` keeps the notices' URLs from one run to the next, as a live portal's are."""
    ready = data.sandbox / "ready.json"
    ready.parent.mkdir(parents=True, exist_ok=True)
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "harvesters.sandbox", "--port", str(port)]
    cmd += ["--data-dir", str(data.root)]
    cmd += ["--per-source", str(per_source), "--seed", str(seed), "--ready-file", str(ready)]
    if faults:
        cmd += ["--faults", faults]
    if registry:
        cmd += ["--registry", str(registry)]
    if scenario:
        cmd += ["--scenario", str(scenario)]
    if epoch != 1:
        cmd += ["--epoch", str(epoch)]
    if churn is not None:
        cmd += ["--new-fraction", repr(churn.new), "--edit-fraction", repr(churn.edited)]
        cmd += ["--withdraw-fraction", repr(churn.withdrawn)]
    proc = subprocess.Popen(cmd)
    try:
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None:
                raise PipelineError(f"sandbox exited with status {proc.returncode}")
            if time.monotonic() > deadline:
                raise PipelineError("sandbox did not start in time")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        yield SandboxHandle(info["url"], info["served"], proc)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- harvest -----------------------------------------------------------------------------------
def harvest(
    data: DataDir,
    run_id: str,
    sources: Iterable[Source],
    *,
    sandbox_url: str | None = None,
    registry: Path | None = None,
    full: bool = False,
) -> None:
    """Crawl the sources in a child process (Twisted's reactor runs once per process).

    Incremental when the harvest state knows a source; `full` fetches everything again."""
    sources = list(sources)  # read twice: the command line, the progress display
    cmd = [sys.executable, "-m", "harvesters.crawl", "--data-dir", str(data.root)]
    cmd += ["--run-id", run_id]
    if full:
        cmd += ["--full"]
    for s in sources:
        cmd += ["--source", s.id]
    if sandbox_url:
        cmd += ["--sandbox-url", sandbox_url]
    if registry:
        cmd += ["--registry", str(registry)]
    data.run(run_id).mkdir(parents=True, exist_ok=True)
    from gongkai.progress import watch

    with watch(data, run_id, [s.id for s in sources]):  # live progress (gongkai/progress.py)
        done = subprocess.run(cmd, check=False)
    if done.returncode != 0:
        raise PipelineError(f"crawl process exited with status {done.returncode}")
    kill_point("harvest:after-crawl")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- attachments -------------------------------------------------------------------------------
def extract_attachments(
    data: DataDir, run_id: str, sources: Iterable[Source], *, workers: int | None = None
) -> dict[str, dict[str, int]]:
    """Text of the attachments the crawl fetched (harvesters/attachments.py): per source
    `runs/{run}/attachments/{src}.jsonl`; returns counts per source and status. A file read
    in any earlier run comes from `DataDir.attachment_cache` (by sha256 of its bytes)."""
    from harvesters.attachments import extract_run

    return extract_run(data, run_id, [s.id for s in sources], workers=workers)


# -- map + validate ----------------------------------------------------------------------------
@dataclass
class SourceResult:
    source: str
    items: int = 0
    duplicates: int = 0
    published: int = 0
    quarantined: int = 0
    reported: int = 0
    unresolved_publishers: dict[str, int] = field(default_factory=dict)
    links_not_iris: int = 0  # harvested links left out of the graph (ontology/ntriples.py)
    published_urls: list[str] = field(default_factory=list)
    quarantined_urls: list[str] = field(default_factory=list)
    reported_urls: list[str] = field(default_factory=list)
    harvested: bool = True
    reused: int = 0  # items whose mapping and verdict came from the map cache (mapcache.py)


def _prepared(item: dict[str, Any], texts: Any, modified: str | None) -> dict[str, Any]:
    """The item as the mapping sees it: attachment text and first-seen time added."""
    if texts is not None:
        item["attachment_texts"] = texts
    if modified is not None:
        item["modified"] = modified  # → dcterms:modified (changed notices)
    return item


def map_validate_source(
    data: DataDir, run_id: str, source: Source, *, reuse: bool = True
) -> SourceResult:
    """Map every item of one source, validate in batches, split into graph and quarantine.

    An item whose JSON line, attachment text and versions are those of an earlier run, with
    the same mapping and shapes, reuses that run's N-Triples and verdict (gongkai/mapcache.py);
    only the others are mapped and validated. The files written are the same either way:
    `reuse=False` maps everything again. A notice is `prov:wasGeneratedBy` the run that first
    saw its version (the harvest state), so an unchanged notice maps to the same triples."""
    from gongkai.history import run_datetime, version_runs
    from gongkai.mapcache import Entry, MapCache, context_digest, line_digest
    from harvesters import attachments
    from ontology.classify import classify
    from ontology.mapping import item_to_ntriples, notice_key
    from ontology.resolve import PublisherResolver

    result = SourceResult(source.id)
    result.harvested = data.items(run_id, source.id).exists()
    if result.harvested and not attachments.records_path(data, run_id, source.id).exists():
        attachments.extract_source(data, run_id, source.id)  # a caller that skipped the stage
    texts = attachments.texts_by_notice(data, run_id, source.id)
    seen_in = version_runs(data, source.id)  # (doc id, version) → the run that first saw it
    for error in read_jsonl(data.errors(run_id, source.id)):
        if error.get("kind") in (None, "detail"):
            result.reported += 1
            result.reported_urls.append(error["url"])
    graph_path = data.graph(run_id, source.id)
    graph_path.parent.mkdir(parents=True, exist_ok=True)
    cache = MapCache.open(data, source) if reuse else None
    resolver = None
    quarantine: list[str] = []
    seen: dict[str, str] = {}
    # In item order: (line digest, entry, key, raw line, item, mapped), mapped None for a
    # reused entry; written once the mapped ones among them are validated (BATCH at a time).
    pending: list[tuple[bytes, Entry, str, bytes, dict[str, Any] | None, Any]] = []
    fresh = 0
    reports: list[bytes] = []  # N-Triples of the annual reports' observations (UTF-8)
    report_rows: list[bytes] = []  # their figures, JSON lines for the CSV

    def flush(graph) -> None:
        nonlocal fresh
        batch = "".join(m.ntriples for *_, m in pending if m is not None)
        verdicts = {}
        if batch:  # imported here: a source whose items are all reused needs no pySHACL
            from shapes.validate import validate_batch

            verdicts = validate_batch(batch)
        stored = cache.texts([d for d, *_, m in pending if m is None]) if cache else {}
        for digest, entry, key, raw, item, mapped in pending:
            if mapped is None:  # reused
                ntriples, report_text, report_ttl, annual_nt, annual_rows = stored[digest]
                conforms = entry.conforms
            else:
                verdict = verdicts.get(mapped.iri)
                conforms = verdict is None or verdict.conforms
                ntriples = mapped.ntriples.encode()
                report_text, report_ttl = (None, None) if conforms else (verdict.text, verdict.ttl)
                nt_parts: list[str] = []
                row_parts: list[str] = []
                if conforms and item.get("body_html"):
                    annual_report(item, mapped.iri, source, nt_parts, row_parts)
                annual_nt, annual_rows = "".join(nt_parts).encode(), "".join(row_parts).encode()
                entry = entry._replace(conforms=conforms)
                if cache is not None:
                    report = (report_text, report_ttl)
                    cache.put(digest, entry, ntriples, report, (annual_nt, annual_rows))
            if conforms:
                graph.write(ntriples)
                result.published += 1
                result.published_urls.append(entry.url)
                if annual_nt:
                    reports.append(annual_nt)
                if annual_rows:
                    report_rows.append(annual_rows)
            else:
                result.quarantined += 1
                result.quarantined_urls.append(entry.url)
                if item is None:  # reused: the record holds the item as it was mapped
                    item = json.loads(raw)
                    first = seen_in.get((entry.doc_id, entry.version), run_id)
                    modified = run_datetime(first) if entry.needs_modified else None
                    item = _prepared(item, texts.get(entry.url), modified)
                record = {"key": key, "iri": entry.iri}
                record |= {"run_id": run_id, "item": item}
                record |= {"report_text": report_text, "report_ttl": report_ttl}
                record["problems"] = list(entry.problems)
                quarantine.append(json.dumps(record, ensure_ascii=False))
        pending.clear()
        fresh = 0

    tmp = graph_path.with_name(graph_path.name + ".tmp")
    with tmp.open("wb") as graph:  # bytes: reused N-Triples are stored encoded
        for raw in _lines(data.items(run_id, source.id)):
            result.items += 1
            digest = line_digest(raw)
            entry = cache.get(digest) if cache is not None else None
            item = None
            if entry is None:
                item = json.loads(raw)
                url, base_key = item["url"], notice_key(item)
                doc_id, version = item.get("doc_id"), item.get("version")
                needs_modified = (version or 0) > 1 and "modified" not in item
            else:
                url, base_key = entry.url, entry.base_key
                doc_id, version, needs_modified = entry.doc_id, entry.version, entry.needs_modified
            key = base_key
            if key in seen:
                if seen[key] == url:
                    result.duplicates += 1
                    continue
                key = f"{key}-{notice_key({'url': url})}"
            seen[key] = url
            first = seen_in.get((doc_id, version), run_id)  # the run that first saw the version
            modified = run_datetime(first) if needs_modified else None
            ctx = context_digest(key, texts.get(url), modified, first)
            mapped = None
            if entry is None or entry.ctx != ctx:
                if item is None:
                    item = json.loads(raw)
                item = _prepared(item, texts.get(url), modified)
                if resolver is None:
                    resolver = PublisherResolver.load()
                mapped = item_to_ntriples(item, first, resolver, source, key=key, classify=classify)
                entry = Entry(
                    ctx, url, base_key, doc_id, version, needs_modified, mapped.iri, True,
                    tuple(mapped.problems),
                )  # fmt: skip
                fresh += 1
            else:
                result.reused += 1
            if cache is not None:
                cache.used.add(digest)
            for problem in entry.problems:
                if problem.startswith("publisher not resolved"):
                    name = problem.split(": ", 1)[1]
                    result.unresolved_publishers[name] = (
                        result.unresolved_publishers.get(name, 0) + 1
                    )
                elif " is not an IRI: " in problem:
                    result.links_not_iris += 1
            pending.append((digest, entry, key, raw, item if mapped else None, mapped))
            if fresh >= BATCH or len(pending) >= PENDING_MAX:
                flush(graph)
        if pending:
            flush(graph)
    os.replace(tmp, graph_path)  # a new file: a store generation may hold a link to the old
    kill_point("validate:after-graph")
    write_atomic(data.quarantined(source.id), "".join(q + "\n" for q in quarantine))
    nt, rows = annual_report_paths(data, run_id, source.id)
    write_atomic_bytes(nt, b"".join(reports))
    write_atomic_bytes(rows, b"".join(report_rows))
    if cache is not None:
        cache.close()
    return result


#: Items held before writing when few need mapping (reused ones hold no text: cheap).
PENDING_MAX = 20_000


def _lines(path: Path) -> Iterator[bytes]:
    """The non-blank lines of a JSON-lines file, as bytes without the newline."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield line


def annual_report_paths(data: DataDir, run_id: str, source_id: str) -> tuple[Path, Path]:
    """A source's annual-report observations (N-Triples) and CSV rows (JSON lines) of a run."""
    base = data.run(run_id) / "graphs" / f"_annual_reports_{source_id}"
    return base.with_suffix(".nt"), base.with_suffix(".jsonl")


def annual_report(
    item: dict[str, Any], notice_iri: str, source: Source, nt: list[str], rows: list[str]
) -> None:
    """A published 政府信息公开工作年度报告's tables as qb:Observations and CSV rows."""
    from ontology.annual_report import annual_report_observations, parse_annual_report, report_year
    from ontology.namespaces import agency_iri

    year = report_year(item.get("title") or "")
    if year is None:
        return
    agency = agency_iri(source.agency)
    html = item["body_html"]
    nt.append(annual_report_observations(notice_iri, agency, year, html))
    for o in parse_annual_report(html):
        row = {"agency": source.agency, "agency_name": source.name, "year": year}
        row |= {"notice": notice_iri, **asdict(o), "value": format(o.value, "f")}
        rows.append(json.dumps(row, ensure_ascii=False) + "\n")


def map_validate(
    data: DataDir,
    run_id: str,
    sources: Iterable[Source],
    *,
    workers: int | None = None,
    reuse: bool = True,
) -> dict[str, SourceResult]:
    """Map and validate every source, sources spread over worker processes; `reuse=False`
    maps and validates every item again (see map_validate_source)."""
    sources = list(sources)
    workers = workers or min(len(sources), os.cpu_count() or 1) or 1
    if workers == 1:
        results = {s.id: map_validate_source(data, run_id, s, reuse=reuse) for s in sources}
    else:
        # workers die with this process (a killed run leaves none behind)
        with ProcessPoolExecutor(
            max_workers=workers, initializer=die_with_parent, initargs=(signal.SIGKILL,)
        ) as pool:
            futures = {
                s.id: pool.submit(map_validate_source, data, run_id, s, reuse=reuse)
                for s in sources
            }
            results = {sid: f.result() for sid, f in futures.items()}
    kill_point("validate:done")
    return results


# -- publish -----------------------------------------------------------------------------------
def publish(
    data: DataDir,
    run_id: str,
    results: dict[str, SourceResult],
    sources: Iterable[Source],
    *,
    to: str | None = None,
    store_profile: str | None = None,
) -> Any:
    """Publish each harvested source's graph, plus ontology, reference and provenance graphs.

    A source whose harvest produced nothing keeps its previously published graph. Without `to`
    a new generation of the data directory's store (its Path is returned); with `to` (a store
    URL or `oxigraph:DIR`) through endpoint.remote, atomically per graph (its result returned).
    """
    from endpoint.store import publish as publish_store
    from gongkai.reference import write_static_graphs
    from ontology.namespaces import graph_iri

    graphs: dict[str, Path] = {}
    for source in sources:
        r = results.get(source.id)
        if r is None or (r.items == 0 and r.reported > 0) or not r.harvested:
            continue
        graphs[graph_iri(source.id)] = data.graph(run_id, source.id)
    graphs |= write_static_graphs(data, run_id, list(sources), results)
    graphs[graph_iri("completeness")] = completeness_graph(data, run_id, graphs, sources)
    if reports := annual_reports_graph(data, run_id, graphs, sources):
        graphs[graph_iri("annual-reports")] = reports
    if to is not None:
        from endpoint.remote import publish_to

        return publish_to(to, graphs, run_id=run_id, profile=store_profile)
    return publish_store(data, graphs, run_id=run_id, checked=True)


def completeness_graph(data: DataDir, run_id: str, graphs: dict[str, Path], sources) -> Path:
    """The completeness cube (gongkai/completeness.py) from the source graphs published now."""
    from gongkai.completeness import compute
    from ontology.namespaces import graph_iri

    sources = list(sources)
    published = {s.id: graphs[graph_iri(s.id)] for s in sources if graph_iri(s.id) in graphs}
    return compute(data, run_id, published, sources)


def annual_reports_graph(
    data: DataDir, run_id: str, graphs: dict[str, Path], sources
) -> Path | None:
    """The annual reports' observations of the sources published now, as one graph file, and
    `annual_reports/annual_reports.csv` beside it; None when no report was read."""
    from ontology.annual_report import annual_report_csv
    from ontology.namespaces import graph_iri

    nt_files: list[Path] = []
    rows: list[dict[str, Any]] = []
    for s in sources:
        if graph_iri(s.id) not in graphs:
            continue
        nt, jsonl = annual_report_paths(data, run_id, s.id)
        if nt.exists() and nt.stat().st_size:
            nt_files.append(nt)
        rows += read_jsonl(jsonl)
    if not rows and not nt_files:
        return None
    out = data.run(run_id) / "graphs" / "_annual_reports.nt"
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as sink:  # bytes: ~150 MB at 100k, decoding it cost 3 s a publish
        for nt in nt_files:
            with nt.open("rb") as f:
                shutil.copyfileobj(f, sink, 1 << 20)
    os.replace(tmp, out)
    rows.sort(key=lambda r: (r["agency"], r["year"], r["section"]))
    write_atomic(data.root / "annual_reports" / "annual_reports.csv", annual_report_csv(rows))
    return out


# -- dumps -------------------------------------------------------------------------------------
def dump(data: DataDir, generation: Path | None = None) -> Path:
    """Write the downloads of a store generation (the current one by default): per-graph and
    whole-dataset dumps, notices.csv, DCAT catalogue, SHA256SUMS (endpoint/dumps.py)."""
    from endpoint.dumps import write_dumps
    from endpoint.store import current_generation, read_manifest

    generation = generation or current_generation(data)
    if generation is None:
        raise PipelineError(f"nothing published in {data.store}: run `gongkai publish` first")
    run_id = read_manifest(generation).get("run_id")
    if not run_id:
        raise PipelineError(f"{generation} has no run id in its manifest")
    return write_dumps(data, generation, run_id)


# -- accounting --------------------------------------------------------------------------------
def account(data: DataDir, run_id: str, results: dict[str, SourceResult]) -> dict[str, Any]:
    """Compare with the sandbox's ground truth: every served notice must be accounted for.

    A notice counts as seen by its URL, else by its document id (a copy under another URL or
    column is the same notice). A notice the sandbox withdrew must be in the run's withdrawn
    records. When a portal refused the harvester as a whole (a bot challenge: an error of kind
    "source"), its notices are reported with that reason. Each row carries the source's health
    flags (outside its expected volume, nothing yielded, blocked, time budget hit).
    """
    from harvesters.attachments import counts as attachment_counts
    from harvesters.state import doc_id_of

    truth: dict[str, list[dict[str, Any]]] = {}
    for record in read_jsonl(data.truth):
        truth.setdefault(record["source"], []).append(record)
    rows = {}
    for sid, r in sorted(results.items()):
        records = truth.get(sid)
        health_path = data.health(run_id, sid)
        health = json.loads(health_path.read_text(encoding="utf-8")) if health_path.exists() else {}
        refused = [e for e in read_jsonl(data.errors(run_id, sid)) if e.get("kind") == "source"]
        withdrawn = {i["url"] for i in read_jsonl(data.run(run_id) / "withdrawn" / f"{sid}.jsonl")}
        withdrawn_ids = {doc_id_of(u) for u in withdrawn}
        seen = set(r.published_urls) | set(r.quarantined_urls) | set(r.reported_urls)
        seen_ids = {doc_id_of(u) for u in seen}
        unaccounted: list[str] = []
        blocked = 0
        if records is not None:
            for t in records:
                doc = t.get("doc_id") or doc_id_of(t["url"])
                if t.get("expect") == "withdrawn":
                    if t["url"] not in withdrawn and doc not in withdrawn_ids:
                        unaccounted.append(t["url"])
                elif t["url"] not in seen and doc not in seen_ids:
                    unaccounted.append(t["url"])
            if refused and unaccounted:
                blocked, unaccounted = len(unaccounted), []
        served = (
            sum(1 for t in records if t.get("expect") != "withdrawn")
            if records is not None
            else None
        )
        rows[sid] = {
            "served": served,
            "items": r.items,
            "duplicates": r.duplicates,
            "published": r.published,
            "quarantined": r.quarantined,
            "reported": r.reported + blocked,
            "withdrawn": len(withdrawn),
            "unaccounted": len(unaccounted) if records is not None else None,
            "unaccounted_urls": sorted(unaccounted)[:50],
            "unresolved_publishers": r.unresolved_publishers,
            "links_not_iris": r.links_not_iris,
            "refused": refused[0]["reason"] if refused else None,
            "flags": health.get("flags", []),
            "attachments": attachment_counts(data, run_id, sid),
        }
    totals = {
        k: sum(row[k] or 0 for row in rows.values())
        for k in ("served", "published", "quarantined", "reported", "withdrawn", "unaccounted")
    }
    totals["served"] = totals["served"] if truth else None
    totals["attachments"] = {}
    for row in rows.values():
        for status, n in row["attachments"].items():
            totals["attachments"][status] = totals["attachments"].get(status, 0) + n
    report = {"run_id": run_id, "sources": rows, "totals": totals}
    write_atomic(data.report(run_id), json.dumps(report, ensure_ascii=False, indent=1))
    return report


def summary_line(name: str, row: dict[str, Any]) -> str:
    served = f"{row['served']} served, " if row.get("served") is not None else ""
    flags = f"  [flags: {'; '.join(row['flags'])}]" if row.get("flags") else ""
    return (
        f"{name}: {served}{row['published']} published, {row['quarantined']} quarantined, "
        f"{row['reported']} reported, {row['unaccounted'] or 0} unaccounted{flags}"
    )


__all__ = [
    "PipelineError",
    "SourceResult",
    "account",
    "asdict",
    "extract_attachments",
    "harvest",
    "map_validate",
    "new_run_id",
    "publish",
    "sandbox",
    "stop_process",
    "summary_line",
]
