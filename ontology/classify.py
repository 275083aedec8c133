"""Item → disclosure areas 1-20 of 渝府办发〔2014〕87号, each with the rule that decided it.

The rules are data (`ontology/rules/areas.yml`) so they can be reviewed like the source
registry; `rules_version()` hashes that file so the RDF records which rules classified a notice.
All patterns are compiled once at import: one lookahead alternation of the literal patterns per
field (so every literal found costs one C-level scan), plus the few regex patterns on their own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

RULES_PATH = Path(__file__).parent / "rules" / "areas.yml"
BODY_CHARS = 500
FIELDS = ("title", "subject", "topic", "genre", "publisher", "doc_no", "body")
MASK_CHAR = "□"


@dataclass(frozen=True)
class Match:
    area: int
    rule: str  # rule id in areas.yml
    matched: str  # the text that matched, a substring of the rule's field


@dataclass(frozen=True)
class _Cond:
    """One condition: a field and its patterns (literals found by the scan, regexes run)."""

    field: str
    literals: frozenset[str]
    regexes: tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class _Rule:
    id: str
    area: int
    weight: int
    order: int
    fallback: bool
    any: _Cond
    also: tuple[_Cond, ...]
    unless: tuple[_Cond, ...]


def _expand(patterns: list[str], groups: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for p in patterns:
        p = str(p)
        out.extend(_expand(groups[p[1:]], groups) if p.startswith("@") else [p])
    return out


def _cond(field: str, patterns: list[str], groups: dict[str, list[str]]) -> _Cond:
    if field not in FIELDS:
        raise ValueError(f"unknown field {field!r} in {RULES_PATH.name}")
    pats = _expand(patterns, groups)
    lits = frozenset(p for p in pats if not p.startswith("re:"))
    rxs = tuple(re.compile(p[3:]) for p in pats if p.startswith("re:"))
    return _Cond(field, lits, rxs)


def _conds(spec: Any, default_field: str, groups: dict[str, list[str]]) -> tuple[_Cond, ...]:
    if not spec:
        return ()
    if isinstance(spec, dict):
        return tuple(_cond(f, p, groups) for f, p in spec.items())
    return (_cond(default_field, spec, groups),)


class _Engine:
    """The compiled rule set."""

    def __init__(self, path: Path) -> None:
        raw = path.read_bytes()
        self.version = hashlib.sha256(raw).hexdigest()[:16]
        data = yaml.safe_load(raw)
        groups = {k: [str(x) for x in v] for k, v in (data.get("groups") or {}).items()}
        masks = sorted((str(m) for m in data.get("mask") or []), key=len, reverse=True)
        self.mask_re = re.compile("|".join(map(re.escape, masks))) if masks else None
        self.precedence = [
            (p["id"], frozenset(p["when"]), frozenset(p["drop"]))
            for p in data.get("precedence") or []
        ]
        rules: list[_Rule] = []
        seen: set[str] = set()
        for area, specs in sorted(data["areas"].items()):
            if not 1 <= int(area) <= 20:
                raise ValueError(f"area {area} outside 1-20")
            for spec in specs:
                if spec["id"] in seen:
                    raise ValueError(f"duplicate rule id {spec['id']}")
                seen.add(spec["id"])
                field = spec["field"]
                rules.append(
                    _Rule(
                        id=spec["id"],
                        area=int(area),
                        weight=int(spec.get("weight", 50)),
                        order=len(rules),
                        fallback=bool(spec.get("fallback", False)),
                        any=_cond(field, spec["any"], groups),
                        also=_conds(spec.get("also"), field, groups),
                        unless=_conds(spec.get("unless"), field, groups),
                    )
                )
        self.rules = tuple(rules)
        self.rule_field = {r.id: r.any.field for r in rules}
        # Per field: every literal of every condition, longest first, in one lookahead
        # alternation; each hit is the longest literal at a position, and the shorter literals
        # matching there are exactly its prefixes that are literals too (`prefixes`).
        self.scan: dict[str, re.Pattern[str]] = {}
        self.prefixes: dict[str, dict[str, tuple[str, ...]]] = {}
        for field in FIELDS:
            lits = {
                lit
                for r in rules
                for c in (r.any, *r.also, *r.unless)
                if c.field == field
                for lit in c.literals
            }
            if not lits:
                continue
            ordered = sorted(lits, key=lambda s: (-len(s), s))
            self.scan[field] = re.compile("(?=(" + "|".join(map(re.escape, ordered)) + "))")
            self.prefixes[field] = {
                lit: tuple(lit[:i] for i in range(1, len(lit) + 1) if lit[:i] in lits)
                for lit in lits
            }

    def fields(self, item: dict[str, Any]) -> dict[str, str]:
        title = item.get("title") or ""
        subject = title
        if self.mask_re is not None and title:
            subject = self.mask_re.sub(lambda m: MASK_CHAR * len(m.group()), title)
        return {
            "title": title,
            "subject": subject,
            "topic": item.get("topic") or "",
            "genre": item.get("genre") or "",
            "publisher": item.get("publisher") or "",
            "doc_no": item.get("doc_no") or "",
            "body": (item.get("body_text") or "")[:BODY_CHARS],
        }

    def found(self, texts: dict[str, str]) -> dict[str, dict[str, None]]:
        """Literals present per field, in text order (dict as an ordered set)."""
        out: dict[str, dict[str, None]] = {}
        for field, scan in self.scan.items():
            text = texts[field]
            hits: dict[str, None] = {}
            if text:
                prefixes = self.prefixes[field]
                for hit in scan.findall(text):
                    for lit in prefixes[hit]:
                        hits[lit] = None
            out[field] = hits
        return out

    @staticmethod
    def first(cond: _Cond, texts: dict[str, str], found: dict[str, dict[str, None]]) -> str | None:
        """The text matching `cond`: the first literal found in text order, else a regex match."""
        hits = found.get(cond.field, {})
        for lit in hits:
            if lit in cond.literals:
                return lit
        text = texts[cond.field]
        for rx in cond.regexes:
            m = rx.search(text)
            if m:
                return m.group()
        return None

    def classify(self, item: dict[str, Any]) -> list[Match]:
        texts = self.fields(item)
        found = self.found(texts)
        best: dict[int, tuple[_Rule, str]] = {}
        fallbacks: dict[int, tuple[_Rule, str]] = {}
        for rule in self.rules:
            matched = self.first(rule.any, texts, found)
            if matched is None:
                continue
            if any(self.first(c, texts, found) is None for c in rule.also):
                continue
            if any(self.first(c, texts, found) is not None for c in rule.unless):
                continue
            target = fallbacks if rule.fallback else best
            cur = target.get(rule.area)
            if cur is None or rule.weight > cur[0].weight:
                target[rule.area] = (rule, matched)
        if not best:
            best = fallbacks
        areas = set(best)
        dropped: set[int] = set()
        for _pid, when, drop in self.precedence:
            if areas & when:
                dropped |= drop - when
        return [
            Match(area, rule.id, matched)
            for area, (rule, matched) in sorted(best.items())
            if area not in dropped
        ]


@cache
def _engine() -> _Engine:
    return _Engine(RULES_PATH)


def classify(item: dict[str, Any]) -> list[Match]:
    """The item's disclosure areas, sorted, one Match per area (its strongest rule)."""
    return _engine().classify(item)


def rules_version() -> str:
    """Hash of the rules file, recorded in the RDF next to the areas it produced."""
    return _engine().version


def rule_field(rule_id: str) -> str:
    """The item field a rule reads (`subject` is the title with agency names blanked)."""
    return _engine().rule_field[rule_id]


_engine()  # compile at import: errors in the rules file surface at once
