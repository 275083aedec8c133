"""Mapped sandbox notices for the engine tests, made as bench/validate.py and the pipeline do."""

from __future__ import annotations

from harvesters.registry import load_sources
from harvesters.sandbox.generate import harvested_item, make_notice
from harvesters.sandbox.scenarios import Scenario
from ontology.classify import classify
from ontology.mapping import item_to_ntriples
from ontology.resolve import PublisherResolver

RUN = "20260101T000000Z"
# Breaks the founding notice's rules on purpose, so the SPARQL-based shapes find something:
# short bid publicity, penalty notices without two of their six fields, budgets published in
# the second half year (some notices re-drawn as budgets) and final accounts in the first.
SCENARIO = {
    "baseline": "compliant",
    "rules": [
        {"areas": [9], "every": 2, "bid_publicity_days": 1},
        {"areas": [2], "every": 2, "penalty_fields": False},
        {"areas": [3], "every": 2, "publish_month": 9},
        {"areas": [3], "every": 2, "offset": 1, "publish_month": 3},
        {"every": 25, "offset": 4, "area": 3, "title": 0, "publish_month": 10},
    ],
}


def mapped_sandbox(
    sources: int, per_source: int, *, seed: int = 2014, scenario: dict | None = None
) -> list[str]:
    """N-Triples of `sources` × `per_source` sandbox notices, one string per notice."""
    resolver = PublisherResolver.load()
    shaped = Scenario.from_dict(scenario) if scenario else None
    out = []
    for source in load_sources()[:sources]:
        for n in range(per_source):
            nt = make_notice(seed, source, n, per_source, shaped)
            url = f"https://{source.domains[0]}{source.live_path}{nt.month_dir}/{nt.filename}"
            item = harvested_item(nt, url, "2026-11-26T10:00:00+08:00")
            mapped = item_to_ntriples(item, RUN, resolver, source, classify=classify)
            out.append(mapped.ntriples)
    return out
