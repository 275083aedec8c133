"""Store generations: every publish writes a new pyoxigraph store and switches `CURRENT` to it.

pyoxigraph has no way to let readers share a store with a writer (opening read-only while
another process writes is undefined behaviour), so the publisher never touches a generation
anyone reads: it builds a new one, closes it, and only then points `CURRENT` at it. Readers
open completed generations read-only and see the old graphs or the new ones, never half a
publish. A daily run changes a small share of the triples: then the new generation is a backup
of the current one (a RocksDB checkpoint, hard links, cheap) with only the changed lines of each
graph removed and added, found by comparing each graph's N-Triples file with the one the
current generation was built from (kept as a hard link under `inputs/`). A first publish, or
one that changes most of the store, loads everything with one `bulk_load`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import signal
import time
import traceback
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import NamedNode, RdfFormat, Store

from gongkai.config import DataDir
from gongkai.faults import die_with_parent, kill_point

CURRENT = "CURRENT"
MANIFEST = "MANIFEST.json"
KEEP_PREVIOUS = 2
_GEN_RE = re.compile(r"^gen-(\d{6,})$")

_FORMATS = {
    ".nt": RdfFormat.N_TRIPLES,
    ".ntriples": RdfFormat.N_TRIPLES,
    ".ttl": RdfFormat.TURTLE,
    ".turtle": RdfFormat.TURTLE,
}


class PublishLockedError(RuntimeError):
    """Another publisher holds the lock and did not release it in time."""


BULK_LOAD_MIN_BYTES = 16 * 1024 * 1024


def generation_name(n: int) -> str:
    return f"gen-{n:06d}"


def _generations(root: Path) -> list[tuple[int, Path]]:
    """Generation directories under the store root, oldest first (complete or not)."""
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _GEN_RE.match(child.name)
        if m and child.is_dir():
            found.append((int(m.group(1)), child))
    return sorted(found)


def current_generation(data: DataDir) -> Path | None:
    """The generation named by `CURRENT`, or None when nothing was published yet."""
    try:
        name = (data.store / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not _GEN_RE.match(name):
        return None
    path = data.store / name
    return path if path.is_dir() else None


def open_read_only(data: DataDir) -> pyoxigraph.Store | None:
    """The current generation opened read-only (safe: nobody writes a completed generation)."""
    gen = current_generation(data)
    return Store.read_only(str(gen)) if gen is not None else None


def read_manifest(path: Path) -> dict:
    """The manifest of a generation directory (or of the manifest file itself); {} if absent."""
    path = Path(path)
    file = path / MANIFEST if path.is_dir() else path
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def graph_counts(path: Path) -> dict[str, int]:
    """Triples per named graph of a generation, from its manifest (no store is opened)."""
    return {iri: int(n) for iri, n in read_manifest(path).get("graphs", {}).items()}


@contextlib.contextmanager
def _publish_lock(root: Path, timeout: float | None) -> Iterator[None]:
    """An exclusive flock on `store/.lock`, so two publishers never build at once."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as fh:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise PublishLockedError(
                        f"another publish holds {root / '.lock'} (waited {timeout:g} s)"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _rdf_format(path: Path) -> RdfFormat:
    try:
        return _FORMATS[path.suffix.lower()]
    except KeyError:
        raise ValueError(f"cannot publish {path}: expected .nt or .ttl") from None


def _count_graph(store: Store, iri: str) -> int:
    query = f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{iri}> {{ ?s ?p ?o }} }}"
    return int(next(iter(store.query(query)))["n"].value)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


_BNODE_SUBJECT = re.compile(rb"(?m)^_:(\S+) ")
_BNODE_OBJECT = re.compile(rb" _:(\S+) \.\n")


class _NQuadsStream(io.RawIOBase):
    """N-Triples files read as one N-Quads stream, each line given its graph: one `bulk_load`
    for a whole generation instead of a call per graph (docs/performance.md)."""

    def __init__(self, files: list[tuple[str, Path]]):
        self._blocks = self._generate(files)
        self._buf = memoryview(b"")
        self._pos = 0

    @staticmethod
    def _quads(block: bytes, tail: bytes, scope: bytes) -> bytes:
        if b"_:" in block:  # blank node labels are scoped by file: keep them apart
            block = _BNODE_SUBJECT.sub(b"_:" + scope + rb"\1 ", block)
            block = _BNODE_OBJECT.sub(b" _:" + scope + rb"\1 .\n", block)
        if block.count(b" .\n") == block.count(b"\n"):
            return block.replace(b" .\n", tail)
        lines = []  # a line not ending in " .": blank, a comment, or "o." without the space
        for line in block.splitlines():
            text = line.strip()
            if text and not text.startswith(b"#") and text.endswith(b"."):
                text = text[:-1].rstrip() + tail[:-1]
            lines.append(text + b"\n")
        return b"".join(lines)

    def _generate(self, files: list[tuple[str, Path]]) -> Iterator[bytes]:
        for n, (iri, path) in enumerate(files):
            tail = b" " + str(NamedNode(iri)).encode() + b" .\n"
            scope = f"f{n}x".encode()
            rest = b""
            with open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    block = rest + block
                    cut = block.rfind(b"\n") + 1
                    block, rest = block[:cut], block[cut:]
                    if block:
                        yield self._quads(block, tail, scope)
            if rest.strip():
                yield self._quads(rest + b"\n", tail, scope)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._buf, self._pos = memoryview(block), 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


def _fresh_build(
    store: Store,
    target: Path,
    previous: Path | None,
    graphs: Mapping[str, Path],
    kept_inputs: Mapping[str, Path],
    checked: bool = False,
) -> None:
    """Load every N-Triples graph with one `bulk_load`, plus the previous generation's graphs
    that are not replaced (from the files they were built from when those are known, else
    dumped first); other formats through `load`. `checked`: see `publish`."""
    files = [(iri, p) for iri, p in graphs.items() if _rdf_format(p) == RdfFormat.N_TRIPLES]
    kept_files: list[Path] = []
    if previous is not None:
        source = Store.read_only(str(previous))
        try:
            for g in source.named_graphs():
                if not isinstance(g, NamedNode) or g.value in graphs:
                    continue
                if g.value in kept_inputs:
                    files.append((g.value, kept_inputs[g.value]))
                    continue
                dump = target.parent / f".{target.name}-kept-{len(kept_files)}.nt"
                source.dump(output=str(dump), format=RdfFormat.N_TRIPLES, from_graph=g)
                kept_files.append(dump)
                files.append((g.value, dump))
        finally:
            del source
    try:
        if files:
            stream = io.BufferedReader(_NQuadsStream(files), 1 << 20)
            store.bulk_load(input=stream, format=RdfFormat.N_QUADS, lenient=checked)
        for iri, path in graphs.items():
            if _rdf_format(path) != RdfFormat.N_TRIPLES:
                store.load(path=str(path), format=_rdf_format(path), to_graph=NamedNode(iri))
    finally:
        for dump in kept_files:
            dump.unlink(missing_ok=True)


# -- incremental publishing: the previous generation plus the lines that changed ---------------
#: A generation keeps, under `inputs/`, hard links to the N-Triples files its graphs were built
#: from (recorded in the manifest with size and mtime), so the next publish can tell which
#: triples of a graph left and which are new by comparing two files, without reading the store.
INPUTS = "inputs"
#: The delta path is taken when the triples it removes and adds (graphs replaced whole count
#: their old and new size) are at most this share of the previous generation's triples.
DELTA_MAX_SHARE = 0.5
#: Larger files are replaced whole rather than compared in memory.
DELTA_MAX_FILE_BYTES = 1 << 30
#: Processes comparing files, and the total size from which they are worth starting.
PLAN_PROCESSES = min(2, os.cpu_count() or 1)
PLAN_PARALLEL_MIN_BYTES = 64 << 20
#: N-Quads bytes of added lines per `bulk_load` call (a call costs ~0.1 s whatever its size).
ADD_CHUNK_BYTES = 64 << 20


def _input_name(iri: str) -> str:
    return f"{INPUTS}/{hashlib.sha1(iri.encode()).hexdigest()[:20]}.nt"


def _previous_inputs(previous: Path) -> dict[str, Path]:
    """The N-Triples files a generation's graphs were built from, when still unchanged."""
    out = {}
    for iri, info in read_manifest(previous).get("inputs", {}).items():
        path = previous / info["file"]
        try:
            st = path.stat()
        except OSError:
            continue
        if st.st_size == info["size"] and st.st_mtime_ns == info["mtime_ns"]:
            out[iri] = path
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _has_blank_nodes(text: bytes) -> bool:
    """A blank node as subject or object (or "_:" after a space inside a literal: then the
    graph is replaced whole, which is only slower)."""
    if b"_:" not in text:  # one pass over the common case
        return False
    return text.startswith(b"_:") or b"\n_:" in text or b" _:" in text or b"\t_:" in text


def _delta(old: Path, new: Path) -> tuple[set[bytes], set[bytes]] | None:
    """The lines of `old` that are not in `new` and those of `new` not in `old` (N-Triples
    written one canonical line per triple, as ontology/ntriples.py and pyoxigraph write them);
    None when blank nodes make lines incomparable or a file is too large to hold."""
    if max(old.stat().st_size, new.stat().st_size) > DELTA_MAX_FILE_BYTES:
        return None
    a, b = old.read_bytes(), new.read_bytes()
    if a == b:
        return set(), set()
    if _has_blank_nodes(a) or _has_blank_nodes(b):
        return None
    la, lb = set(a.split(b"\n")), set(b.split(b"\n"))
    del a, b
    removed, added = la - lb, lb - la
    del la, lb
    for lines in (removed, added):
        lines -= {line for line in lines if not line.strip() or line.lstrip().startswith(b"#")}
    return removed, added


def _quads(lines: set[bytes], graph: NamedNode) -> Iterator[pyoxigraph.Quad]:
    """The triples of some N-Triples lines, in `graph` (SyntaxError on a bad line)."""
    body = b"\n".join(sorted(lines)) + b"\n"
    for t in pyoxigraph.parse(input=body, format=RdfFormat.N_TRIPLES):
        yield pyoxigraph.Quad(t.subject, t.predicate, t.object, graph)


def _as_nquads(line: bytes, tail: bytes) -> bytes:
    """One N-Triples line (without its newline) as an N-Quads line of the graph in `tail`."""
    text = line.rstrip()
    if not text.endswith(b"."):
        raise SyntaxError(f"not an N-Triples line: {line[:200]!r}")
    return text[:-1].rstrip() + tail


def _delta_of(job: tuple[str, Path, Path]) -> tuple[str, tuple[set[bytes], set[bytes]] | None]:
    iri, old, new = job
    return iri, _delta(old, new)


def _plan_delta(
    previous: Path, graphs: Mapping[str, Path], old: Mapping[str, int]
) -> dict[str, tuple] | None:
    """Per graph to publish: ("same",), ("delta", removed, added) or ("replace",); None when
    that would touch more than DELTA_MAX_SHARE of the store (a fresh build is cheaper).
    The files are compared in PLAN_PROCESSES processes when they are large (reading and
    splitting them is most of a daily publish)."""
    inputs = _previous_inputs(previous)
    budget = DELTA_MAX_SHARE * max(sum(old.values()), 1)
    cost = 0
    plan: dict[str, tuple] = {}
    jobs: list[tuple[str, Path, Path]] = []
    for iri, path in graphs.items():
        prev = inputs.get(iri)
        nt = _rdf_format(path) == RdfFormat.N_TRIPLES
        if prev is not None and nt and _same_file(prev, path):
            plan[iri] = ("same",)
        elif prev is not None and nt:
            plan[iri] = ("delta",)  # filled in below, in this order
            jobs.append((iri, prev, path))
        else:
            plan[iri] = ("replace",)
            cost += old.get(iri, 0) + path.stat().st_size // 100  # ~100+ bytes a triple
    if cost > budget:
        return None
    jobs.sort(key=lambda j: -(j[1].stat().st_size + j[2].stat().st_size))  # largest first
    size = sum(j[1].stat().st_size + j[2].stat().st_size for j in jobs)
    pool = None
    if PLAN_PROCESSES > 1 and len(jobs) > 1 and size >= PLAN_PARALLEL_MIN_BYTES:
        # the workers die with this process (a killed publish leaves none behind)
        pool = ProcessPoolExecutor(
            PLAN_PROCESSES, initializer=die_with_parent, initargs=(signal.SIGKILL,)
        )
    try:
        results = pool.map(_delta_of, jobs) if pool is not None else map(_delta_of, jobs)
        for iri, delta in results:
            if delta is None:
                plan[iri] = ("replace",)
                cost += old.get(iri, 0) + graphs[iri].stat().st_size // 100
            else:
                plan[iri] = ("delta", *delta)
                cost += len(delta[0]) + len(delta[1])
            if cost > budget:
                return None
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return plan


def _apply(
    store: Store, plan: Mapping[str, tuple], graphs: Mapping[str, Path], checked: bool = False
) -> dict[str, int]:
    """Apply a delta plan to a copy of the previous generation; returns (added - removed)
    per delta graph, to correct the previous counts. Removed triples go one by one (few);
    added ones as N-Quads through `bulk_load` in large chunks (it writes sorted files
    directly: ~4x cheaper than transactional inserts, and nobody reads this copy yet)."""
    change: dict[str, int] = {}
    chunk: list[bytes] = []
    size = 0

    def add_chunk() -> None:
        nonlocal size
        if chunk:
            store.bulk_load(input=b"".join(chunk), format=RdfFormat.N_QUADS, lenient=checked)
            chunk.clear()
            size = 0

    for n, (iri, step) in enumerate(plan.items()):
        graph = NamedNode(iri)
        if step[0] == "delta":
            removed, added = step[1], step[2]
            for quad in _quads(removed, graph) if removed else ():
                store.remove(quad)
            tail = b" " + str(graph).encode() + b" .\n"
            for line in sorted(added):
                chunk.append(_as_nquads(line, tail))
                size += len(line) + len(tail)
                if size >= ADD_CHUNK_BYTES:
                    add_chunk()
            change[iri] = len(added) - len(removed)
        elif step[0] == "replace":
            path = Path(graphs[iri])
            if store.contains_named_graph(graph):
                store.remove_graph(graph)
            # bulk_load writes its own files (~125 ms a call whatever the size): worth it
            # only for large graphs; small ones go faster through a transactional load.
            if path.stat().st_size < BULK_LOAD_MIN_BYTES:
                store.load(path=str(path), format=_rdf_format(path), to_graph=graph)
            else:
                fmt = _rdf_format(path)
                lenient = checked and fmt == RdfFormat.N_TRIPLES
                store.bulk_load(path=str(path), format=fmt, to_graph=graph, lenient=lenient)
        if n == 0:
            kill_point("publish:mid-delta")
    add_chunk()
    return change


def _link_inputs(
    target: Path, graphs: Mapping[str, Path], kept: Mapping[str, Path]
) -> dict[str, dict[str, Any]]:
    """Hard-link (copy across file systems) the N-Triples files of the new generation's
    graphs into `target/inputs/`; returns the manifest's `inputs`."""
    (target / INPUTS).mkdir(exist_ok=True)
    out: dict[str, dict[str, Any]] = {}
    files = {iri: Path(p) for iri, p in kept.items()}
    files |= {
        iri: Path(p) for iri, p in graphs.items() if _rdf_format(Path(p)) == RdfFormat.N_TRIPLES
    }
    for iri, path in sorted(files.items()):
        name = _input_name(iri)
        link = target / name
        link.unlink(missing_ok=True)
        try:
            os.link(path, link)
        except OSError:
            shutil.copyfile(path, link)
        st = link.stat()
        out[iri] = {"file": name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out


def _build(
    target: Path,
    previous: Path | None,
    graphs: Mapping[str, Path],
    replace_all: bool,
    checked: bool = False,
) -> tuple[dict[str, int], dict[str, dict[str, Any]], dict[str, Any]]:
    """Write the new generation into `target`; returns triples per named graph, the inputs
    for the manifest and how it was built (`built`: "fresh" or "delta", with the lines removed
    and added and the graphs replaced whole).

    When the previous generation knows the files its graphs were built from and the change is
    small (a daily run), the generation starts from a backup of the previous one (a RocksDB
    checkpoint: hard links, cheap) and only the lines that changed are removed and added
    (graphs with blank nodes, or without a known previous file, are replaced whole). Otherwise
    (a first publish, a run that changes most triples) it is built fresh: one `bulk_load` of
    every graph, the previous generation's other graphs copied over.
    """
    previous = None if replace_all else previous
    manifest = read_manifest(previous) if previous is not None else {}
    old = {iri: int(n) for iri, n in manifest.get("graphs", {}).items()}
    kept_inputs = _previous_inputs(previous) if previous is not None else {}
    kept_inputs = {iri: p for iri, p in kept_inputs.items() if iri not in graphs and iri in old}
    plan = None
    if previous is not None and "graphs" in manifest:
        plan = _plan_delta(previous, graphs, old)
        kill_point("publish:delta-planned")
    if plan is not None:
        source = Store.read_only(str(previous))
        try:
            source.backup(str(target))
        finally:
            del source
        kill_point("publish:after-backup")
    store = Store(str(target))
    try:
        if plan is None:
            _fresh_build(store, target, previous, graphs, kept_inputs, checked)
            change: dict[str, int] = {}
        else:
            change = _apply(store, plan, graphs, checked)
        kill_point("publish:after-load")
        present = {g.value for g in store.named_graphs() if isinstance(g, NamedNode)}
        counts = {}
        for iri in sorted(present):
            if iri not in graphs and iri in old:
                counts[iri] = old[iri]  # kept as it was
            elif plan is not None and plan.get(iri, ("",))[0] == "same" and iri in old:
                counts[iri] = old[iri]
            elif iri in change and iri in old:
                counts[iri] = old[iri] + change[iri]
            else:
                counts[iri] = _count_graph(store, iri)
            if counts[iri] == 0:  # every triple removed: the graph goes, as in a fresh build
                store.remove_graph(NamedNode(iri))
                del counts[iri]
        store.flush()
    except BaseException as exc:
        # A helper's frame in the traceback (_fresh_build) would keep the store open, and
        # its lock held, after the partial generation is removed (docs/reliability.md).
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        # Drop the only reference so RocksDB closes before anyone opens the generation.
        del store
    kept_inputs = {iri: p for iri, p in kept_inputs.items() if iri in counts}
    inputs = _link_inputs(target, {i: p for i, p in graphs.items() if i in counts}, kept_inputs)
    kill_point("publish:after-inputs")
    how: dict[str, Any] = {"built": "fresh" if plan is None else "delta"}
    if plan is not None:
        steps = list(plan.values())
        how["removed"] = sum(len(s[1]) for s in steps if s[0] == "delta")
        how["added"] = sum(len(s[2]) for s in steps if s[0] == "delta")
        how["replaced_whole"] = sorted(iri for iri, s in plan.items() if s[0] == "replace")
    return dict(sorted(counts.items())), inputs, how


def _remove_unpublished(root: Path, current: Path | None) -> None:
    """Remove what a killed publish left: generations newer than CURRENT (never served).

    Called under the publish lock, so no other publisher is building one of them. Without a
    CURRENT only directories without a manifest go (a half-built first generation).
    """
    cur = int(_GEN_RE.match(current.name).group(1)) if current is not None else None
    for n, path in _generations(root):
        if (cur is not None and n > cur) or (cur is None and not (path / MANIFEST).is_file()):
            shutil.rmtree(path, ignore_errors=True)


def _prune(root: Path, current: Path) -> None:
    """Keep CURRENT and the previous KEEP_PREVIOUS complete generations; remove the rest."""
    gens = _generations(root)
    cur = int(_GEN_RE.match(current.name).group(1))
    older = [p for n, p in gens if n < cur and (p / MANIFEST).is_file()]
    keep = {current, *older[-KEEP_PREVIOUS:]} if KEEP_PREVIOUS else {current}
    for _n, path in gens:
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)


def publish(
    data: DataDir,
    graphs: Mapping[str, Path],
    *,
    run_id: str,
    replace_all: bool = False,
    lock_timeout: float | None = None,
    checked: bool = False,
) -> Path:
    """Publish `graphs` (graph IRI → .nt/.ttl file) as a new generation and make it current.

    Graphs not named keep their previous content unless `replace_all`. On any failure CURRENT
    still names the previous generation and the partial directory is removed. Returns the new
    generation directory.

    `checked`: the N-Triples files were written through `ontology.ntriples`, which checks
    every IRI with the store's own parser as it writes it, so they are loaded without
    checking each IRI again (pyoxigraph's `lenient`): the loader spends about a fifth less
    CPU (docs/performance.md, fix 15). Files from anywhere else are parsed strictly.
    """
    root = data.store
    graphs = {iri: Path(p) for iri, p in graphs.items()}
    for iri, path in graphs.items():
        NamedNode(iri)  # ValueError on a bad IRI, before any work
        _rdf_format(path)
        if not path.is_file():
            raise FileNotFoundError(f"cannot publish graph <{iri}>: no file {path}")
    with _publish_lock(root, lock_timeout):
        previous = current_generation(data)
        gens = _generations(root)
        n = (gens[-1][0] + 1) if gens else 1
        target = root / generation_name(n)
        _remove_unpublished(root, previous)  # leftovers of a killed publish (never reused)
        kill_point("publish:before-build")
        try:
            counts, inputs, built = _build(target, previous, graphs, replace_all, checked)
            manifest = {
                "generation": target.name,
                "run_id": run_id,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "previous": previous.name if previous else None,
                "replaced": sorted(graphs),
                "replace_all": replace_all,
                "graphs": counts,
                "triples": sum(counts.values()),
                **built,
                "inputs": inputs,
            }
            _write_atomic(target / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))
            kill_point("publish:after-manifest")
            _write_atomic(root / CURRENT, target.name + "\n")
            kill_point("publish:after-current")
        except BaseException:
            if current_generation(data) != target:
                shutil.rmtree(target, ignore_errors=True)
            raise
        _prune(root, target)
    return target
