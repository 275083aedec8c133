"""A bounded cache of query results, valid for one store generation.

Published data only changes when a new generation is published, so an answer computed on a
generation stays exact until CURRENT moves; the generation is part of every key, and a publish
simply makes the old entries unreachable (evicted as new ones come). Hot lookups (an agency's
newest notices, a Linked Data page's query) then cost a dictionary lookup instead of a sort
over all of an agency's notices. Off with `GONGKAI_QUERY_CACHE_MB=0`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

from endpoint.workers import QueryRequest, QueryResult

DEFAULT_CACHE_MB = 64
MAX_ENTRY_BYTES = 1 << 20  # larger results are served but not kept


def cache_bytes_from_env() -> int:
    try:
        return int(float(os.environ.get("GONGKAI_QUERY_CACHE_MB", DEFAULT_CACHE_MB)) * 2**20)
    except ValueError:
        return DEFAULT_CACHE_MB * 2**20


def request_key(generation: str, req: QueryRequest) -> tuple:
    return (
        generation,
        req.query,
        req.results_type,
        req.graph_type,
        req.default_graph_uris,
        req.named_graph_uris,
        req.union_default_graph,
        req.base_iri,
        tuple(sorted(req.prefixes.items())),
    )


class ResultCache:
    """LRU by bytes; only successful results computed on the key's own generation are kept."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, QueryResult] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: tuple) -> QueryResult | None:
        with self._lock:
            result = self._entries.get(key)
            if result is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return result

    def put(self, key: tuple, result: QueryResult) -> None:
        size = len(result.body)
        if result.status != 200 or result.generation != key[0] or size > MAX_ENTRY_BYTES:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = result
            self._size += size
            while self._size > self.max_bytes and self._entries:
                _, old = self._entries.popitem(last=False)
                self._size -= len(old.body)
