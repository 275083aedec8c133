"""Store generations: every publish writes a new pyoxigraph store and switches `CURRENT` to it.

pyoxigraph has no way to let readers share a store with a writer (opening read-only while
another process writes is undefined behaviour), so the publisher never touches a generation
anyone reads: it backs up the current generation (hard links, cheap), replaces the changed
graphs in the copy, closes it, and only then points `CURRENT` at it. Readers open completed
generations read-only and see the old graphs or the new ones, never half a publish.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import json
import os
import re
import shutil
import time
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyoxigraph
from pyoxigraph import NamedNode, RdfFormat, Store

from gongkai.config import DataDir
from gongkai.faults import kill_point

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
    store: Store, target: Path, previous: Path | None, graphs: Mapping[str, Path]
) -> None:
    """Load every N-Triples graph with one `bulk_load`, plus the previous generation's graphs
    that are not replaced (dumped first); other formats through `load`."""
    files = [(iri, p) for iri, p in graphs.items() if _rdf_format(p) == RdfFormat.N_TRIPLES]
    kept_files: list[Path] = []
    if previous is not None:
        source = Store.read_only(str(previous))
        try:
            for g in source.named_graphs():
                if isinstance(g, NamedNode) and g.value not in graphs:
                    dump = target.parent / f".{target.name}-kept-{len(kept_files)}.nt"
                    source.dump(output=str(dump), format=RdfFormat.N_TRIPLES, from_graph=g)
                    kept_files.append(dump)
                    files.append((g.value, dump))
        finally:
            del source
    try:
        if files:
            stream = io.BufferedReader(_NQuadsStream(files), 1 << 20)
            store.bulk_load(input=stream, format=RdfFormat.N_QUADS)
        for iri, path in graphs.items():
            if _rdf_format(path) != RdfFormat.N_TRIPLES:
                store.load(path=str(path), format=_rdf_format(path), to_graph=NamedNode(iri))
    finally:
        for dump in kept_files:
            dump.unlink(missing_ok=True)


def _build(
    target: Path,
    previous: Path | None,
    graphs: Mapping[str, Path],
    replace_all: bool,
) -> dict[str, int]:
    """Write the new generation into `target`; returns triples per named graph.

    Usually (a first publish, or a run that replaces most of the triples) the generation is
    built fresh: one `bulk_load` of every graph, the previous generation's other graphs copied
    over. When the graphs kept outweigh the ones replaced, it starts from a backup of the
    previous generation (hard links) and replaces the changed graphs in it: `remove_graph` costs
    about as much as loading, so it pays only for a small share of the store.
    """
    previous = None if replace_all else previous
    old = dict(read_manifest(previous).get("graphs", {})) if previous is not None else {}
    kept = sum(n for iri, n in old.items() if iri not in graphs)
    replaced = sum(n for iri, n in old.items() if iri in graphs)
    fresh = previous is None or ("graphs" in read_manifest(previous) and kept <= replaced)
    if not fresh:
        source = Store.read_only(str(previous))
        try:
            source.backup(str(target))
        finally:
            del source
        kill_point("publish:after-backup")
    store = Store(str(target))
    try:
        if fresh:
            _fresh_build(store, target, previous, graphs)
        else:
            for iri, path in graphs.items():
                graph = NamedNode(iri)
                if store.contains_named_graph(graph):
                    store.remove_graph(graph)
                # bulk_load writes its own files (~125 ms a call whatever the size): worth it
                # only for large graphs; small ones go faster through a transactional load.
                if Path(path).stat().st_size < BULK_LOAD_MIN_BYTES:
                    store.load(path=str(path), format=_rdf_format(Path(path)), to_graph=graph)
                else:
                    store.bulk_load(path=str(path), format=_rdf_format(Path(path)), to_graph=graph)
        kill_point("publish:after-load")
        counts = {iri: n for iri, n in old.items() if iri not in graphs}
        present = {g.value for g in store.named_graphs() if isinstance(g, NamedNode)}
        counts = {iri: n for iri, n in counts.items() if iri in present}
        for iri in sorted(present - counts.keys()):
            counts[iri] = _count_graph(store, iri)
        store.flush()
    except BaseException as exc:
        # A helper's frame in the traceback (_fresh_build) would keep the store open, and
        # its lock held, after the partial generation is removed (docs/reliability.md).
        traceback.clear_frames(exc.__traceback__)
        raise
    finally:
        # Drop the only reference so RocksDB closes before anyone opens the generation.
        del store
    return dict(sorted(counts.items()))


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
) -> Path:
    """Publish `graphs` (graph IRI → .nt/.ttl file) as a new generation and make it current.

    Graphs not named keep their previous content unless `replace_all`. On any failure CURRENT
    still names the previous generation and the partial directory is removed. Returns the new
    generation directory.
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
            counts = _build(target, previous, graphs, replace_all)
            manifest = {
                "generation": target.name,
                "run_id": run_id,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "previous": previous.name if previous else None,
                "replaced": sorted(graphs),
                "replace_all": replace_all,
                "graphs": counts,
                "triples": sum(counts.values()),
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
