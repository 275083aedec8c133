"""Publisher string (发布机构 as printed) → agency IRI, from the reference Turtle.

Portals print the same agency many ways ("重庆市发展和改革委员会", "市发展改革委", "发展改革委")
and print relative forms ("区市场监管局", "本局") that only mean something on a given portal.
The labels live in `reference/agencies.ttl` (skos:prefLabel/altLabel/hiddenLabel); this module
only normalises the string and looks it up. A name that says whose it is (重庆市…, 市…, 渝北区…)
is looked up everywhere; a name that does not (财政局, 区财政局, 本局) is read only in the
context of the portal it was printed on, and an ambiguous or unknown name gives None: a wrong
publisher is worse than none.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING

import pyoxigraph as ox

from gongkai.config import DEFAULT_BASE_URI
from ontology import ONTOLOGY_DIR
from ontology.namespaces import agency_iri

if TYPE_CHECKING:
    from harvesters.registry import Source

REFERENCE_DIR = ONTOLOGY_DIR / "reference"
_AGENCY = DEFAULT_BASE_URI + "id/agency/"
_DIVISION = DEFAULT_BASE_URI + "id/division/"
_KIND = DEFAULT_BASE_URI + "def/"
_SKOS = "http://www.w3.org/2004/02/skos/core#"
_ORG = "http://www.w3.org/ns/org#"
_GK = DEFAULT_BASE_URI + "def/gongkai#"
_PREF, _ALT, _HIDDEN = _SKOS + "prefLabel", _SKOS + "altLabel", _SKOS + "hiddenLabel"
_SUB, _CLASS, _DIV = _ORG + "subOrganizationOf", _ORG + "classification", _GK + "division"
_ORIGINAL, _RESULTING = _ORG + "originalOrganization", _ORG + "resultingOrganization"

# Words a portal puts before a department's name to mean "of this district" (区财政局, 本县…).
_LOCAL_WORDS = {
    "district": ("区", "本区"),
    "county": ("县", "本县"),
    "autonomous_county": ("县", "本县", "自治县", "本自治县"),
    "special_area": ("区", "本区", "新区", "高新区", "经开区"),
}
# "本局", "本委" …: the portal's own agency, when its name ends that way.
_SELF_WORDS = {
    "本局": ("局",),
    "本委": ("委员会", "委"),
    "本办": ("办公室", "办"),
    "本厅": ("厅",),
    "本院": ("院",),
    "本社": ("社",),
    "本部门": ("",),
    "本机关": ("",),
    "本单位": ("",),
}
_OWNER_WORDS = ("本机关", "本单位")  # on a district portal: the district government
_ANCHORS = ("市", "重庆", "中共")
_LABEL_PREFIX = re.compile(r"^(发布机构|发布单位|发文机关|发文单位|信息来源|来源|公开主体)[:：]?")
_SPACE = re.compile(r"[\s\u200b\u200c\u200d\ufeff\u3000]+")
_EDGE_PUNCT = "\"'“”‘’「」『』《》:;,.!?、。，；：！？·-—_|/\\*"
_BRACKETS = re.compile(r"[(\[〔【〖{]([^()\[\]〔〕【】〖〗{}]*)[)\]〕】〗}]")
_SEPARATORS = re.compile(r"[、,;/|]|及|和(?=重庆|市|区|县)")
_OFFICE_SUFFIXES = ("办公室", "办公厅", "办")


def clean(printed: str) -> str:
    """Width, spaces and edge punctuation normalised; the place prefix left for `_key`."""
    text = unicodedata.normalize("NFKC", printed)
    text = _SPACE.sub("", text)
    text = _LABEL_PREFIX.sub("", text)
    while True:
        stripped = text.strip(_EDGE_PUNCT)
        if _BRACKETS.fullmatch(stripped):  # the whole name in brackets: [渝北区财政局]
            stripped = stripped[1:-1]
        if stripped == text:
            return text
        text = stripped


class PublisherResolver:
    """Lookup tables built once from the reference Turtle; `resolve` is dict lookups only."""

    def __init__(self, triples: Iterable[tuple[str, str, str, str | None]]) -> None:
        agencies: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        divisions: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        changes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for s, p, o, lang in triples:
            if lang not in (None, "zh"):
                continue
            if s.startswith(_AGENCY):
                agencies[s[len(_AGENCY) :]][p].append(o)
            elif s.startswith(_DIVISION):
                divisions[s[len(_DIVISION) :]][p].append(o)
            elif p in (_ORIGINAL, _RESULTING):
                changes[s][p].append(o)
        self._build(agencies, divisions, changes)
        self._cache: dict[tuple[str, str | None], tuple[str | None, str]] = {}

    @classmethod
    def load(cls) -> PublisherResolver:
        """The resolver over `ontology/reference/*.ttl`, parsed once per process."""
        return _load()

    # -- building ---------------------------------------------------------------------------

    def _build(self, agencies: dict, divisions: dict, changes: dict) -> None:
        def slug(iri: str, prefix: str) -> str:
            return iri[len(prefix) :] if iri.startswith(prefix) else iri

        def kind(props: dict) -> str:
            return slug(props[_CLASS][0], _KIND).split("/")[-1] if props.get(_CLASS) else ""

        # Place names of each division, with the names of the counties it replaced.
        place_names: dict[str, list[str]] = {
            code: [*props.get(_PREF, []), *props.get(_ALT, [])] for code, props in divisions.items()
        }
        former_county: set[str] = set()
        for event in changes.values():
            for old in event.get(_ORIGINAL, []):
                for new in event.get(_RESULTING, []):
                    new_code = slug(new, _DIVISION)
                    place_names[new_code] += divisions[slug(old, _DIVISION)].get(_PREF, [])
                    former_county.add(new_code)
        municipality = next((c for c, p in divisions.items() if kind(p) == "municipality"), None)
        self._places = tuple(
            sorted(
                {
                    n
                    for code, names in place_names.items()
                    if code != municipality
                    for n in names
                    if not n.startswith("重庆")
                },
                key=len,
                reverse=True,
            )
        )

        self.labels: dict[str, list[str]] = {}  # slug → printed names (pref first)
        self._district_of: dict[str, str] = {}  # district government slug → division
        self._local_words: dict[str, tuple[str, ...]] = {}
        for a, props in agencies.items():
            self.labels[a] = list(dict.fromkeys([*props.get(_PREF, []), *props.get(_ALT, [])]))
            division = slug(props[_DIV][0], _DIVISION) if props.get(_DIV) else None
            if kind(props) == "government" and division and division != municipality:
                self._district_of[a] = division
                dkind = kind(divisions[division])
                words = _LOCAL_WORDS.get(dkind, ())
                if division in former_county:
                    words += _LOCAL_WORDS["county"]
                self._local_words[a] = ("", *dict.fromkeys(words))

        # Relative forms: (district government, name without the place) → agency.
        relative: dict[tuple[str, str], set[str]] = defaultdict(set)
        for a, props in agencies.items():
            parent = slug(props[_SUB][0], _AGENCY) if props.get(_SUB) else None
            gov = a if a in self._district_of else parent
            if gov not in self._district_of:
                continue
            names = sorted(
                {self._key(n) for n in place_names[self._district_of[gov]]}, key=len, reverse=True
            )
            for label in (*props.get(_PREF, []), *props.get(_ALT, []), *props.get(_HIDDEN, [])):
                key = self._key(label)
                place = next((n for n in names if key.startswith(n) and len(key) > len(n)), None)
                if place:
                    relative[(gov, key[len(place) :])].add(a)
        self._relative = {k: _one(v) for k, v in relative.items()}
        suffixes = {suffix for _, suffix in relative}

        # Names that say whose they are, looked up everywhere; bare ones only on their portal.
        anchored: dict[str, set[str]] = defaultdict(set)
        self._bare: dict[str, set[str]] = defaultdict(set)  # agency → its bare keys
        for a, props in agencies.items():
            for label in (*props.get(_PREF, []), *props.get(_ALT, []), *props.get(_HIDDEN, [])):
                key = self._key(label)
                if key in suffixes or not self._anchored(key):
                    self._bare[a].add(key)
                else:
                    anchored[key].add(a)
        self._anchored_keys = {k: _one(v) for k, v in anchored.items()}
        self._bare_keys = suffixes | {k for keys in self._bare.values() for k in keys}

    def _anchored(self, key: str) -> bool:
        return key.startswith(_ANCHORS) or key.startswith(self._places)

    def _key(self, name: str) -> str:
        """Lookup key: cleaned, and "重庆市" read as "市" unless a district's name follows."""
        text = clean(name)
        if text.startswith("重庆市"):
            rest = text[3:]
            text = rest if rest.startswith(self._places) else "市" + rest
        return text

    # -- resolving --------------------------------------------------------------------------

    def resolve(self, printed: str, source: Source | None = None) -> str | None:
        """The agency IRI a portal means by `printed`, or None when unknown or ambiguous."""
        return self.resolve_or_reason(printed, source)[0]

    def resolve_or_reason(
        self, printed: str, source: Source | None = None
    ) -> tuple[str | None, str]:
        """Like `resolve`, with a short reason: how it matched, or why it did not."""
        ctx = source.agency if source is not None else None
        cache_key = (printed, ctx)
        hit = self._cache.get(cache_key)
        if hit is None:
            slug, reason = self._resolve(printed or "", ctx)
            hit = (agency_iri(slug) if slug else None, reason)
            if len(self._cache) < 200_000:
                self._cache[cache_key] = hit
        return hit

    def _resolve(self, printed: str, ctx: str | None) -> tuple[str | None, str]:
        key = self._key(printed)
        if not key:
            return None, "empty"
        found, reason = self._lookup(key, ctx)
        if found or reason.startswith("ambiguous"):
            return found, reason
        # "重庆市人民政府（市政府办公厅）", "渝北区财政局(渝北区国资委)": both halves must agree.
        if _BRACKETS.search(key):
            halves = [_BRACKETS.sub("", key), *_BRACKETS.findall(key)]
            return self._agree(halves, ctx, "brackets")
        if _SEPARATORS.search(key):
            return self._agree(_SEPARATORS.split(key), ctx, "joint publishers")
        for suffix in _OFFICE_SUFFIXES:  # 渝北区人民政府办公室 → 渝北区人民政府
            if key.endswith(suffix) and len(key) > len(suffix) + 1:
                found, why = self._lookup(key[: -len(suffix)], ctx)
                if found:
                    return found, f"{why}, without {suffix}"
        return None, reason

    def _agree(self, parts: list[str], ctx: str | None, what: str) -> tuple[str | None, str]:
        found = {self._lookup(self._key(p), ctx)[0] for p in parts if self._key(p)} - {None}
        if len(found) == 1:
            return found.pop(), f"label ({what} agree)"
        if found:
            return None, f"ambiguous: {what} name {len(found)} agencies"
        return None, "unknown name"

    def _lookup(self, key: str, ctx: str | None) -> tuple[str | None, str]:
        if key in self._anchored_keys:
            found = self._anchored_keys[key]
            return (found, "label") if found else (None, f"ambiguous label {key!r}")
        if ctx in self._district_of:
            for word in self._local_words[ctx]:
                if key.startswith(word) and (ctx, key[len(word) :]) in self._relative:
                    found = self._relative[(ctx, key[len(word) :])]
                    if found:
                        return found, f"relative to {ctx}"
                    return None, f"ambiguous in {ctx}: {key!r}"
            if key in _OWNER_WORDS:
                return ctx, f"portal owner {ctx}"
        elif ctx in self.labels:
            if key in self._bare.get(ctx, ()):
                return ctx, f"portal's own name ({ctx})"
            if any(key == word and self._ends(ctx, e) for word, e in _SELF_WORDS.items()):
                return ctx, f"portal's own agency ({ctx})"
        if key in self._bare_keys or key in _SELF_WORDS or key.startswith(("区", "县", "本")):
            where = f"on {ctx}'s portal" if ctx else "without a portal"
            return None, f"relative name {key!r} unresolvable {where}"
        return None, "unknown name"

    def _ends(self, agency: str, endings: tuple[str, ...]) -> bool:
        return any(label.endswith(endings) for label in self.labels[agency])

    def printed_names(self, agency: str, *, anywhere: bool = False) -> list[str]:
        """Names a portal may print for `agency` (IRI or slug); all resolve back to it on its
        own portal. `anywhere`: only those that resolve on any portal (no bare 发展改革委)."""
        slug = agency.rsplit("/", 1)[-1]
        names = self.labels.get(slug, [])
        if anywhere:
            return [n for n in names if self._anchored_keys.get(self._key(n)) == slug]
        return list(names)

    @property
    def agencies(self) -> list[str]:
        """Every agency slug in the reference data."""
        return sorted(self.labels)


def _one(found: set[str]) -> str | None:
    return next(iter(found)) if len(found) == 1 else None


def _triples(paths: Iterable) -> Iterable[tuple[str, str, str, str | None]]:
    for path in paths:
        for quad in ox.parse(path=path, format=ox.RdfFormat.TURTLE):
            o = quad.object
            if isinstance(o, ox.Literal):
                lang = (o.language or "").split("-")[0] or None
                if lang is None and o.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
                    continue
                yield quad.subject.value, quad.predicate.value, o.value, lang
            elif isinstance(o, ox.NamedNode):
                yield quad.subject.value, quad.predicate.value, o.value, None


@cache
def _load() -> PublisherResolver:
    files = [REFERENCE_DIR / "agencies.ttl", REFERENCE_DIR / "divisions.ttl"]
    return PublisherResolver(_triples(files))


def printed_names(agency: str, *, anywhere: bool = False) -> list[str]:
    """Labels a portal may print for an agency (prefLabel, altLabels), for the sandbox."""
    return PublisherResolver.load().printed_names(agency, anywhere=anywhere)
