"""The completeness report: who disclosed what, against 渝府办发〔2014〕87号's obligations, on time.

Computed at publish time, never by querying the store (a GROUP BY over 1M notices takes ~28 s):

1. `aggregate_source(path)` reads one source's published N-Triples in one streaming pass and
   keeps, per (area, publisher, half year), the notice count, first and last 发布日期 and the
   rule counters (budgets, final accounts, bid publicity, penalty fields). Written as
   `{data}/completeness/sources/{src}.json`, reused while the N-Triples file is unchanged;
   sources not re-harvested keep theirs, as they keep their graph in the store.
2. `build_cube(...)` joins those aggregates with the obligations (ontology/obligations.ttl), the
   agencies, divisions and the 2018 succession (ontology/reference/) and the registry, for every
   year and half year the data covers, and writes
   - `{data}/completeness/{run_id}/{period}.json` (+ `index.json`): what the report serves;
   - `{data}/completeness/{run_id}/completeness.nt`: the same as an RDF Data Cube, published as
     the named graph `graph/completeness`.

The model (docs/completeness.md): a cell is (area, body, period); the bodies of an obligation
are its lead agencies as carried on the period's last day (succession by date), the named obliged
agencies, every county-level division when `gk:everyDivision`, and the concerned municipal
departments when `gk:everyDepartment` (areas 1 and 2: a documented list of departments with
approval or penalty powers plus every department that published a notice of the area; other
areas: every municipal department of the registry).
"""

from __future__ import annotations

import bisect
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from gongkai.config import DataDir
from ontology.namespaces import BASE

GK = BASE + "def/gongkai#"
CAT = BASE + "def/category/"
AGENCY = BASE + "id/agency/"
DIVISION = BASE + "id/division/"
GKC = BASE + "def/completeness#"
QB = "http://purl.org/linked-data/cube#"
DCT = "http://purl.org/dc/terms/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
XSD = "http://www.w3.org/2001/XMLSchema#"
SDMX_DIM = "http://purl.org/linked-data/sdmx/2009/dimension#"
SDMX_MEAS = "http://purl.org/linked-data/sdmx/2009/measure#"
SDMX_ATTR = "http://purl.org/linked-data/sdmx/2009/attribute#"
DATASET_IRI = BASE + "id/dataset/completeness"
DSD_IRI = BASE + "def/completeness/structure"
AGGREGATE_VERSION = 1
SILENT_MONTHS = 6

STATUSES = ("met", "late", "missing", "unharvested", "not-due")
STATUS_LABELS = {
    "met": ("已公开", "met"),
    "late": ("逾期公开", "late"),
    "missing": ("未公开", "missing"),
    "unharvested": ("无采集来源", "no source harvested"),
    "not-due": ("本期不要求", "not due in this period"),
}
CHECK_LABELS = {
    "ok": ("符合", "ok"),
    "broken": ("不符合", "broken"),
    "none": ("无可核对公告", "nothing to check"),
    "not-checkable": ("数据尚不可核对", "not checkable"),
}
RULE_LABELS = {
    "ApprovalItemFields": ("审批项目八项内容", "approval items list eight fields"),
    "PenaltyCaseFields": ("处罚案件六项内容", "penalty cases show six fields"),
    "BudgetInFirstHalf": ("预算上半年公开", "budgets in the first half year"),
    "FinalAccountsInSecondHalf": ("决算下半年公开", "final accounts in the second half year"),
    "BidPublicityThreeDays": ("中标公示不少于3天", "bid results publicised ≥ 3 days"),
    "MinimumWagePeriodically": ("定期公布最低工资", "minimum wage published periodically"),
    "AirQualityRealTime": ("实时发布空气质量", "air quality in real time"),
}
NOT_CHECKABLE_WHY = {
    "ApprovalItemFields": "the published data carries no approval-item fields yet",
    "MinimumWagePeriodically": "the notice names no interval for 定期 (periodically)",
    "AirQualityRealTime": "real-time monitoring feeds are not harvested",
    "PenaltyCaseFields": "the published data carries no penalty-case fields (gk:caseName …) yet",
    "BidPublicityThreeDays": "the published data carries no publicity dates (gk:publicityStart) yet",
}
# Municipal departments with administrative penalty powers (area 2) and with administrative
# approval items (area 1), by registry agency slug: the departments whose remit includes
# enforcement or licensing (市场监管, 药监, 生态环境, 公安, 交通, 住建, 规划自然资源, 应急, 卫健,
# 人社, 文旅, 农业农村, 水利, 林业, 城管, 商务, 统计, 知识产权, 广电, 经信, 发改, 民政, 体育, 教委,
# 司法, 医保). Departments that published a notice of the area are added from the data.
PENALTY_AUTHORITIES = (
    "scjgj", "yaojianju", "sthjj", "gaj", "jtj", "zfcxjw", "ghzrzyj", "yjj", "wsjkw", "rlsbj",
    "whlyw", "nyncw", "slj", "lyj", "cgj", "sww", "tjj", "zscqj", "gbdsj", "jjxxw", "fzggw",
    "mzj", "tyj", "jw", "sfj", "ylbzj",
)  # fmt: skip
APPROVAL_AUTHORITIES = PENALTY_AUTHORITIES + ("kjj", "mzzjw", "dsjj", "jrjgj")
GROUPS = {GK + "PenaltyAuthorities": 2, GK + "ApprovalAuthorities": 1}

# predicates the streaming pass reads (everything else is skipped by one dict lookup)
P_AREA = "<" + GK + "area>"
P_ISSUED = "<" + DCT + "issued>"
P_PUBLISHER = "<" + DCT + "publisher>"
P_TITLE = "<" + DCT + "title>"
P_GENRE = "<" + GK + "genre>"
P_TYPE = "<" + RDF_TYPE + ">"
P_BUDGET = "<" + GK + "budgetKind>"
P_PUB_START = "<" + GK + "publicityStart>"
P_PUB_END = "<" + GK + "publicityEnd>"
PENALTY_PROPS = (
    "caseName",
    "penalisedParty",
    "violationFacts",
    "penaltyKind",
    "legalBasis",
    "penaltyResult",
)
P_PENALTY = {"<" + GK + p + ">" for p in PENALTY_PROPS}
WANTED = {
    P_AREA,
    P_ISSUED,
    P_PUBLISHER,
    P_TITLE,
    P_GENRE,
    P_TYPE,
    P_BUDGET,
    P_PUB_START,
    P_PUB_END,
    *P_PENALTY,
}
PENALTY_TYPE = "<" + GK + "PenaltyNotice>"
# counters of one (area, publisher, half) entry
C_COUNT, C_FIRST, C_LAST = 0, 1, 2
C_BUDGET, C_BUDGET_H2, C_FINAL, C_FINAL_H1 = 3, 4, 5, 6
C_BID_DATED, C_BID_SHORT, C_PENALTY, C_PENALTY_INCOMPLETE = 7, 8, 9, 10
N_COUNTERS = 11


# -- the streaming pass ------------------------------------------------------------------------
def _literal_text(obj: str) -> str:
    """The lexical form of an N-Triples literal (escapes left as they are: we only search it)."""
    end = obj.rfind('"')
    return obj[1:end] if obj.startswith('"') and end > 0 else obj


def budget_kind_of(title: str, budget_kind_iri: str | None) -> str | None:
    """gk:budgetKind when the notice carries it, else from the title (决算 first, then 预算)."""
    if budget_kind_iri:
        if budget_kind_iri.endswith("FinalAccounts>"):
            return "final"
        if budget_kind_iri.endswith("Budget>"):
            return "budget"
    if "决算" in title:
        return "final"
    if "预算" in title:
        return "budget"
    return None


def _half(issued: str) -> str:
    return f"{issued[:4]}-H{1 if issued[5:7] <= '06' else 2}"


def _count_budget(c: list, kind: str | None, half: str) -> None:
    """A budget (expected in the second half) or a final account (in the first) in its cell."""
    if kind == "budget":
        c[C_BUDGET] += 1
        c[C_BUDGET_H2] += half.endswith("2")
    elif kind == "final":
        c[C_FINAL] += 1
        c[C_FINAL_H1] += half.endswith("1")


class _Aggregator:
    def __init__(self) -> None:
        self.cells: dict[str, list] = {}
        self.dates: set[str] = set()
        self.notices = 0
        self.undated = 0
        self.facts = {"penalty": False, "publicity": False, "budget_kind": False}

    def add(self, n: dict[str, Any]) -> None:
        self.notices += 1
        issued = n.get("issued")
        if not issued:
            self.undated += 1
            return
        self.dates.add(issued)
        areas = n.get("areas")
        if not areas:
            return
        publisher = n.get("publisher") or ""
        half = _half(issued)
        title = n.get("title", "")
        for area in areas:
            key = f"{area}|{publisher}|{half}"
            c = self.cells.get(key)
            if c is None:
                c = self.cells[key] = [0, issued, issued] + [0] * (N_COUNTERS - 3)
            c[C_COUNT] += 1
            if issued < c[C_FIRST]:
                c[C_FIRST] = issued
            if issued > c[C_LAST]:
                c[C_LAST] = issued
            if area == 3:
                _count_budget(c, budget_kind_of(title, n.get("budget")), half)
            elif area == 9:
                start, end = n.get("pub_start"), n.get("pub_end")
                if start and end:
                    c[C_BID_DATED] += 1
                    try:
                        short = date.fromisoformat(end) < date.fromisoformat(start) + timedelta(3)
                    except ValueError:
                        short = False
                    c[C_BID_SHORT] += short
            elif area == 2 and (
                n.get("penalty_typed")
                or "行政处罚决定书" in title
                or "处罚决定" in n.get("genre", "")
            ):
                c[C_PENALTY] += 1
                c[C_PENALTY_INCOMPLETE] += n.get("penalty_fields", 0) < len(PENALTY_PROPS)

    def result(self) -> dict[str, Any]:
        return {
            "version": AGGREGATE_VERSION,
            "notices": self.notices,
            "undated": self.undated,
            "facts": self.facts,
            "dates": sorted(self.dates),
            "cells": self.cells,
        }


def _object(rest: str) -> str:
    """The object of a line from the text after its predicate's '>' (one separator skipped)."""
    obj = rest[1:].rstrip()
    return obj[:-2] if obj.endswith(" .") else obj


def _area_of(obj: str) -> int | None:
    return int(obj[len(CAT) + 1 : -1]) if obj.startswith("<" + CAT) else None


def _take(notice: dict[str, Any], facts: dict[str, bool], pred: str, obj: str) -> None:
    """What one triple of a WANTED predicate tells about its notice."""
    if pred == P_AREA:
        area = _area_of(obj)
        if area is not None:
            notice.setdefault("areas", []).append(area)
    elif pred == P_ISSUED:
        notice["issued"] = _literal_text(obj)[:10]
    elif pred == P_PUBLISHER:
        notice["publisher"] = obj[1:-1]
    elif pred == P_TYPE:
        if obj == "<" + GK + "Notice>":
            notice["is_notice"] = True
        elif obj == PENALTY_TYPE:
            notice["is_notice"] = True
            notice["penalty_typed"] = True
    elif pred == P_TITLE:
        notice["title"] = _literal_text(obj)
    elif pred == P_GENRE:
        notice["genre"] = _literal_text(obj)
    elif pred == P_BUDGET:
        notice["budget"] = obj
        facts["budget_kind"] = True
    elif pred == P_PUB_START:
        notice["pub_start"] = _literal_text(obj)
        facts["publicity"] = True
    elif pred == P_PUB_END:
        notice["pub_end"] = _literal_text(obj)
    elif pred in P_PENALTY:
        notice["penalty_fields"] = notice.get("penalty_fields", 0) + 1
        facts["penalty"] = True


def aggregate_lines(lines: Iterable[str]) -> dict[str, Any]:
    """One pass over a source's N-Triples (a notice's triples are contiguous, as mapped)."""
    agg = _Aggregator()
    current: str | None = None
    notice: dict[str, Any] = {}
    for line in lines:
        if line[0] != "<":
            continue
        try:
            s_end = line.index("> <")
        except ValueError:
            continue
        p_end = line.index(">", s_end + 3) + 1
        subject = line[1:s_end]
        if "#" in subject:
            continue  # classification nodes: the notice carries gk:area itself
        if subject != current:
            if current is not None and notice.get("is_notice"):
                agg.add(notice)
            current, notice = subject, {}
        pred = line[s_end + 2 : p_end]
        if pred in WANTED:
            _take(notice, agg.facts, pred, _object(line[p_end:]))
    if current is not None and notice.get("is_notice"):
        agg.add(notice)
    return agg.result()


# The same pass over bytes, for aggregate_source. One regular-expression match per run of lines
# with one subject (lines of '#' subjects within it skipped, as above) captures what the WANTED
# predicates say, so that Python handles each notice once instead of each line (about a fifth
# of the lines are WANTED). A repeated capture keeps its last value, as the reference does; the
# areas and the penalty fields, which accumulate, are captured one by one up to a bound. It
# relies on lines as ontology/ntriples.py writes them (IRIs without '>'); whatever it does not
# expect (one subject in two runs, more areas or types than it captures, issued written two
# ways, '\r') makes the reference pass read the file instead (_aggregate_bytes returns None).
_L = rb"[^\n]*+"
_MAX_AREAS = 4
# The WANTED predicates in the order their groups appear in the pattern: the ones most runs
# capture first, as matching copies the groups up to the last one set at every alternative.
_ORDER = (P_TITLE, P_ISSUED, P_PUBLISHER, P_GENRE, P_AREA, P_BUDGET, P_PUB_START, P_PUB_END)
_ORDER += (*sorted(P_PENALTY), P_TYPE)


def _e(text: str) -> bytes:
    return re.escape(text.encode())


def _nth(prefix: str, n: int, value: bytes, overflow: bytes) -> bytes:
    """Captures the k-th occurrence as group {prefix}k (k < n), any later one as {prefix}n."""
    alts = [
        b"(?({@%s%d})(?!))(?P<%s%d>%s)" % (prefix.encode(), k, prefix.encode(), k, value)
        for k in range(1, n)
    ]
    return b"(?:" + b"|".join([*alts, b"(?P<%s%d>%s)" % (prefix.encode(), n, overflow)]) + b")"


def _line_kinds() -> list[bytes]:
    """One alternative per namespace of the WANTED predicates, for a line after its '> <'.

    Reading every line's predicate letter by letter would cost most of the matching time, so
    each namespace is recognised by its first distinct characters and skipped by its length;
    when a local name matches, a lookbehind checks the characters skipped, which keeps the test
    exact, and any other line of the namespace is taken as it is (unless another namespace
    starts the same way: the next alternatives try it then). Every group captures at least one
    character when it matches, findall giving b"" for the others."""
    value = rb">" + _L
    tails = {
        P_TITLE: b"(?P<ti>" + value + b")",
        # issued as the mapping writes it, "…"^^<…>, its lexical form captured: dates are
        # mostly distinct, too many to convert one by one
        P_ISSUED: rb'(?:> (?P<iq>"[^"\n]*+)"\^\^<[^>"\n]*+> \.(?=\n|\Z)|(?P<is>'
        + value + rb"))",
        P_PUBLISHER: b"(?P<pu>" + value + b")",
        P_GENRE: b"(?P<ge>" + value + b")",
        P_AREA: _nth("a", _MAX_AREAS + 1, value, b">") + _L,
        P_BUDGET: b"(?P<bk>" + value + b")",
        P_PUB_START: b"(?P<ps>" + value + b")",
        P_PUB_END: b"(?P<pe>" + value + b")",
        "penalty": _nth("p", len(PENALTY_PROPS), b">", b">") + _L,
        P_TYPE: rb"(?({@tx})(?=(?P<tx2>>)))(?P<tx>" + value + rb")",
    }  # fmt: skip
    spaces: dict[str, dict[str, list[str]]] = {}  # namespace → tail → local names
    for pred in _ORDER:
        iri = pred[1:-1]
        cut = max(iri.rfind("#"), iri.rfind("/")) + 1
        key = "penalty" if pred in P_PENALTY else pred
        spaces.setdefault(iri[:cut], {}).setdefault(key, []).append(iri[cut:])
    kinds = []
    for ns, by_tail in spaces.items():
        shared = max(len(os.path.commonprefix([ns, other])) for other in spaces if other != ns)
        head = min(shared + 1, len(ns))
        alts = [
            b"(?:"
            + b"|".join(_e(name) + b"(?<=" + _e(ns[head:] + name) + b")" for name in names)
            + b")"
            + tails[key]
            for key, names in by_tail.items()
        ]
        skip = b"[^\\n]{%d}" % (len(ns) - head) if len(ns) > head else b""
        if not any(other.startswith(ns[:head]) for other in spaces if other != ns):
            alts.append(_L)  # no other namespace starts the same way: its lines end here
        kinds.append(_e(ns[:head]) + skip + b"(?:" + b"|".join(alts) + b")")
    return kinds


def _build_pattern() -> re.Pattern[bytes]:
    """The run pattern. Its conditionals name groups as {@name}: a group defined further on
    has no number yet where Python reads them, so they are numbered from a first compilation."""
    lines = [b"#" + _L] + [b"> <" + kind for kind in _line_kinds()] + [b"> <" + _L]
    # the subject (lines with '#' in it are skipped); the first line, unless it types the
    # subject gk:Notice as the mapping writes it
    notice = _e(RDF_TYPE + "> <" + GK + "Notice> ") + rb"(?=\.(?:\n|\Z))(?P<n0>\.)"
    template = (
        rb"\n<(?P<s>[^>#\n]*+)> <(?:" + notice + rb"|(?P<f>" + _L + rb"))"
        + rb"(?:\n<(?P=s)(?:" + b"|".join(lines) + rb"))*"
    )  # fmt: skip
    numbers = re.compile(re.sub(rb"\{@\w+\}", b"1", template)).groupindex
    for name in re.findall(rb"\{@(\w+)\}", template):
        template = template.replace(b"{@%s}" % name, str(numbers[name.decode()]).encode())
    return re.compile(template)


_RUN = _build_pattern()
_GROUPS = ("s", "n0", "f", "ti", "iq", "is", "pu", "ge", "a1", "a2", "a3", "a4", "a5", "bk", "ps")
_GROUPS += ("pe", "p1", "p2", "p3", "p4", "p5", "p6", "tx2", "tx")
if tuple(sorted(_RUN.groupindex, key=_RUN.groupindex.__getitem__)) != _GROUPS:
    raise RuntimeError("completeness: the run pattern's groups are not in the expected order")
_HEAD = re.compile(rb"\n<([^>#\n]*+)> <")
_NOTICE_LINE = (RDF_TYPE + "> <" + GK + "Notice> .").encode()
_WANTED_IRI = {p[1:-1].encode(): p for p in WANTED}
# the first line of a run not typed gk:Notice matters with one of these predicates: it may make
# the run a notice, set a fact, or (an area) fail as in the reference
_FIRST = {p[1:-1].encode() for p in (P_TYPE, P_BUDGET, P_PUB_START, P_AREA, *P_PENALTY)}
_BLOCK = 1 << 19
_UNSEEN = object()


class _Fallback(Exception):
    """The bytes are not as the fast pass expects: the reference pass reads the file."""


def _tail(buf: bytearray, end: int) -> int:
    """Where the lines of the last subject of buf[:end] begin, with the skipped lines among and
    after them: its run may go on in the next block (0: all of it may)."""
    pos = last = buf.rfind(b"\n", 0, end)  # the last line may be incomplete
    subject = None
    while pos > 0:
        start = buf.rfind(b"\n<", 0, pos)  # lines not starting with '<' are skipped anyway
        if start < 0:
            break
        m = _HEAD.match(buf, start, pos)
        if m is not None:
            if subject is None:
                subject = m.group(1)
            elif m.group(1) != subject:
                return pos
        pos = start
    return 0 if subject is not None else last  # no run at all: only the last line goes on


class _Runs:
    """The fast pass: the runs of one file, block by block, into an _Aggregator."""

    def __init__(self) -> None:
        self.agg = _Aggregator()
        self.prev = None  # the subject of the last run: a second run of it goes to the reference
        self.values: dict[str, dict[bytes, Any]] = {p: {b"": None} for p in WANTED}
        self.halves: dict[str, str] = {}  # issued[:7] → _half(issued)
        self.bases: dict[tuple[bytes, bytes], tuple[int | None, str]] = {}  # → area, key start
        # (area, publisher) as captured, half year → _Runs.cell
        self.cell_of: dict[tuple[bytes, bytes, str], tuple[list | None, int | None]] = {}
        self.lexical: dict[bytes, str] = {}  # '"' + lexical form → date of issue

    def value(self, pred: str, cap: bytes) -> Any:
        """The notice's value for a captured object ('>' and what follows), as _take sets it;
        None when nothing was captured."""
        values = self.values[pred]
        value = values.get(cap, _UNSEEN)
        if value is _UNSEEN:
            notice: dict[str, Any] = {}
            _take(notice, {}, pred, _object(cap.decode()[1:]))
            value = notice.get("areas", [None])[0] if pred == P_AREA else notice.popitem()[1]
            values[cap] = value
        return value

    def areas(self, caps: tuple[bytes, ...], found: list[int]) -> list[int]:
        values = self.values[P_AREA]
        for cap in caps:
            if not cap:
                break
            area = values.get(cap, _UNSEEN)
            if area is _UNSEEN:
                area = self.value(P_AREA, cap)
            if area is not None:
                found.append(area)
        return found

    def issued(self, iq: bytes, iss: bytes) -> str | None:
        """The date of issue, from its lexical form ('"' and what follows) or its object."""
        if not iq:
            return self.value(P_ISSUED, iss)
        issued = self.lexical.get(iq)
        if issued is None:
            issued = self.lexical[iq] = iq.decode()[1:11]
        return issued

    def cell(self, a1: bytes, pu: bytes, half: str, issued: str) -> tuple[list | None, int | None]:
        """The counters a notice of this area, publisher and half year adds to, created as add()
        creates them, and its area; (None, None) when it has no area."""
        base = self.bases.get((a1, pu))
        if base is None:
            area = self.value(P_AREA, a1)
            prefix = f"{area}|{self.value(P_PUBLISHER, pu) or ''}|"
            base = self.bases[a1, pu] = (area, prefix)
        area, prefix = base
        if area is None:
            return None, None
        c = self.agg.cells.get(prefix + half)
        if c is None:
            c = self.agg.cells[prefix + half] = [0, issued, issued] + [0] * (N_COUNTERS - 3)
        return c, area

    def scan(self, buf: bytearray, end: int) -> None:
        """Aggregate the runs in buf[:end] (which ends where a run ends)."""
        agg, prev = self.agg, self.prev
        dates, lexical, halves, cell_of = agg.dates, self.lexical, self.halves, self.cell_of
        notices = undated = 0
        for row in _RUN.findall(buf, 0, end):
            s, n0, f, ti, iq, iss, pu, ge, a1, a2, _, _, _, bk, ps, pe, p1, _, _, _, _, _, _, tx = row  # fmt: skip
            if s == prev:
                raise _Fallback  # one subject in two runs: what separates them decides
            prev = s
            if not n0:  # not typed gk:Notice on its first line: most often no notice at all
                if tx or bk or ps or p1 or a1 or f[: f.find(b">")] in _FIRST:
                    self.other(row)
                continue
            if tx or iss or a2 or bk or ps or pe or p1:
                self.other(row)
                continue
            # The common case, with _Aggregator.add inlined: typed gk:Notice on its first line,
            # at most one area, issued as the mapping writes it, none of the rarer facts (so
            # no budget kind, publicity dates, penalty fields or penalty type).
            notices += 1
            issued = lexical.get(iq) if iq else ""
            if issued is None:
                issued = lexical[iq] = iq.decode()[1:11]
            if not issued:
                undated += 1
                self.value(P_AREA, a1)  # which may fail, as in the reference
                continue
            dates.add(issued)
            half = halves.get(issued[:7])  # all _half reads
            if half is None:
                half = halves[issued[:7]] = _half(issued)
            cell = cell_of.get((a1, pu, half))
            if cell is None:
                cell = cell_of[a1, pu, half] = self.cell(a1, pu, half, issued)
            c, area = cell
            if c is None:  # no area
                continue
            c[C_COUNT] += 1
            if issued < c[C_FIRST]:
                c[C_FIRST] = issued
            if issued > c[C_LAST]:
                c[C_LAST] = issued
            if area == 2 or area == 3:  # the counters that read the title and the genre
                obj = ti.decode()[2:].rstrip() if ti else ""
                title = _literal_text(obj[:-2] if obj.endswith(" .") else obj)
                if area == 3:
                    _count_budget(c, budget_kind_of(title, None), half)
                elif "行政处罚决定书" in title or "处罚决定" in (self.value(P_GENRE, ge) or ""):
                    c[C_PENALTY] += 1
                    c[C_PENALTY_INCOMPLETE] += 1  # no penalty fields
        agg.notices += notices
        agg.undated += undated
        self.prev = prev

    def other(self, row: tuple[bytes, ...]) -> None:
        """Any other run, field by field as in the reference."""
        (s, n0, f, ti, iq, iss, pu, ge, a1, a2, a3, a4, a5, bk, ps, pe, *pens, tx2, tx) = row
        if tx2 or a5 or (iq and iss):
            raise _Fallback  # more types or areas than captured; issued twice, differently
        facts = self.agg.facts
        notice: dict[str, Any] = {}
        if n0:
            notice["is_notice"] = True
        else:
            cut = f.find(b">")
            if cut < 0:
                raise _Fallback  # the reference fails on it
            pred = _WANTED_IRI.get(f[:cut])
            if pred is not None:
                _take(notice, facts, pred, _object(f[cut + 1 :].decode()))
        if tx:
            _take(notice, facts, P_TYPE, _object(tx.decode()[1:]))
        if bk:
            facts["budget_kind"] = True
        if ps:
            facts["publicity"] = True
        if pens[0]:
            facts["penalty"] = True
            notice["penalty_fields"] = notice.get("penalty_fields", 0) + sum(map(bool, pens))
        areas = self.areas((a1, a2, a3, a4), notice.get("areas") or [])
        if not notice.get("is_notice"):
            return
        if ti:
            notice["title"] = _literal_text(_object(ti.decode()[1:]))
        if iq or iss:
            notice["issued"] = self.issued(iq, iss)
        for key, pred, cap in (
            ("publisher", P_PUBLISHER, pu),
            ("genre", P_GENRE, ge),
            ("budget", P_BUDGET, bk),
            ("pub_start", P_PUB_START, ps),
            ("pub_end", P_PUB_END, pe),
        ):
            if cap:
                notice[key] = self.value(pred, cap)
        if areas:
            notice["areas"] = areas
        self.agg.add(notice)


def _aggregate_bytes(nt_path: Path, block: int = _BLOCK) -> dict[str, Any] | None:
    """The fast pass over the file's bytes, read `block` bytes at a time; None when the file
    is not as it expects."""
    runs = _Runs()
    buf = bytearray(block)  # one buffer: fresh blocks would cost a page fault per 4 KiB
    buf[0] = ord("\n")
    filled = 1
    try:
        with open(nt_path, "rb", buffering=0) as f:
            while True:
                if filled == len(buf):  # one run longer than the buffer
                    buf.extend(bytes(len(buf)))
                with memoryview(buf) as view:
                    n = f.readinto(view[filled:])
                if not n:
                    break
                if buf.find(b"\r", filled, filled + n) >= 0:
                    raise _Fallback  # text mode reads it as a line end
                filled += n
                end = _tail(buf, filled)
                runs.scan(buf, end)
                buf[: filled - end] = buf[end:filled]
                filled -= end
            runs.scan(buf, filled)
    except _Fallback:
        return None
    return runs.agg.result()


def aggregate_source(nt_path: Path) -> dict[str, Any]:
    """aggregate_lines over the file: the same dict, from its bytes, without Python for each line."""
    agg = _aggregate_bytes(nt_path)
    if agg is None:
        with open(nt_path, encoding="utf-8") as f:
            agg = aggregate_lines(f)
    return agg


def _file_key(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def aggregates_dir(data: DataDir) -> Path:
    return data.root / "completeness" / "sources"


def cube_dir(data: DataDir, run_id: str) -> Path:
    return data.root / "completeness" / run_id


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def _aggregate_one(nt_path: str, out: str) -> str:
    path, target = Path(nt_path), Path(out)
    key = _file_key(path)
    if target.exists():
        try:
            old = json.loads(target.read_text(encoding="utf-8"))
            if old.get("file") == key and old.get("version") == AGGREGATE_VERSION:
                return out
        except (OSError, json.JSONDecodeError):
            pass
    agg = aggregate_source(path)
    agg["file"] = key
    _write_json(target, agg)
    return out


def update_aggregates(
    data: DataDir, source_graphs: Mapping[str, Path], *, workers: int | None = None
) -> None:
    """Aggregate the sources published now (source id → N-Triples), in parallel."""
    jobs = [
        (str(path), str(aggregates_dir(data) / f"{sid}.json"))
        for sid, path in sorted(source_graphs.items())
        if Path(path).is_file()
    ]
    workers = workers or min(len(jobs), os.cpu_count() or 1) or 1
    if workers <= 1 or len(jobs) <= 2:
        for job in jobs:
            _aggregate_one(*job)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_aggregate_one, *zip(*jobs, strict=True)))


# -- reference model ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Obligation:
    id: str
    iri: str
    area: int
    label_zh: str
    label_en: str
    leads: tuple[str, ...]
    obliged: tuple[str, ...]
    every_division: bool
    every_department: bool
    period: str  # Continuous | RealTime | Periodic | Yearly | HalfYearly
    rules: tuple[str, ...]


@dataclass
class Reference:
    obligations: list[Obligation]
    areas: dict[int, tuple[str, str]]
    agencies: dict[str, dict[str, Any]]  # iri → {zh, en, division}
    divisions: dict[str, tuple[str, str]]  # county-level divisions with a source
    # predecessor iri → (date, [(successor iri, areas)])
    succession: dict[str, tuple[str, list[tuple[str, frozenset[int]]]]]
    departments: list[str]  # municipal department agency IRIs with a registry source
    source_agency: dict[str, str]  # source id → agency iri
    source_division: dict[str, str | None]  # source id → division iri (None: municipal)
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)


def _store(files: Iterable[Path]):
    import pyoxigraph as ox

    store = ox.Store()
    for f in files:
        store.bulk_load(path=str(f), format=ox.RdfFormat.TURTLE)
    return store


def _local(iri: str) -> str:
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


@cache
def _reference_graphs() -> tuple:
    from ontology import ONTOLOGY_DIR

    onto = _store([ONTOLOGY_DIR / "obligations.ttl", ONTOLOGY_DIR / "categories.ttl"])
    ref = _store(sorted((ONTOLOGY_DIR / "reference").glob("*.ttl")))
    return onto, ref


def load_reference(sources: Iterable[Any] | None = None) -> Reference:
    """Obligations, areas, agencies, divisions, succession and the registry, as plain data."""
    if sources is None:
        from harvesters.registry import load_sources

        sources = load_sources()
    sources = list(sources)
    onto, ref = _reference_graphs()
    pre = f"PREFIX gk: <{GK}> PREFIX skos: <{SKOS}> PREFIX rdfs: <{RDFS}> PREFIX dcterms: <{DCT}> PREFIX org: <http://www.w3.org/ns/org#> "

    def rows(store, q):
        result = store.query(pre + q)
        names = [v.value for v in result.variables]
        return [{k: (r[k].value if r[k] is not None else None) for k in names} for r in result]

    areas = {}
    for r in rows(
        onto,
        "SELECT ?n ?zh ?en WHERE { ?c a gk:Area ; skos:notation ?n ; skos:prefLabel ?zh, ?en . FILTER(LANG(?zh)='zh' && LANG(?en)='en') }",
    ):
        areas[int(r["n"])] = (r["zh"], r["en"])
    obls: dict[str, dict[str, Any]] = {}
    for r in rows(
        onto,
        """SELECT ?o ?area ?lead ?ob ?ed ?edep ?period ?rule ?zh ?en WHERE {
             ?o a gk:Obligation ; gk:obligedArea ?area ; gk:leadAgency ?lead ; gk:period ?period ;
                rdfs:label ?zh, ?en . FILTER(LANG(?zh)='zh' && LANG(?en)='en')
             OPTIONAL { ?o gk:everyDivision ?ed } OPTIONAL { ?o gk:everyDepartment ?edep }
             OPTIONAL { ?o gk:obligedAgency ?ob } OPTIONAL { ?o gk:rule ?rule } }""",
    ):
        o = obls.setdefault(
            r["o"],
            {
                "area": int(_local(r["area"])),
                "leads": set(),
                "obliged": set(),
                "rules": set(),
                "ed": r["ed"] == "true",
                "edep": r["edep"] == "true",
                "period": _local(r["period"]),
                "zh": r["zh"],
                "en": r["en"],
            },
        )
        o["leads"].add(r["lead"])
        if r["ob"]:
            o["obliged"].add(r["ob"])
        if r["rule"]:
            o["rules"].add(_local(r["rule"]))

    def sort_key(iri: str) -> tuple:
        local = _local(iri)
        num = "".join(ch for ch in local if ch.isdigit())
        return (int(num or 0), local)

    obligations = [
        Obligation(
            id=_local(i),
            iri=i,
            area=o["area"],
            label_zh=o["zh"],
            label_en=o["en"],
            leads=tuple(sorted(o["leads"])),
            obliged=tuple(sorted(o["obliged"])),
            every_division=o["ed"],
            every_department=o["edep"],
            period=o["period"],
            rules=tuple(sorted(o["rules"])),
        )
        for i, o in sorted(obls.items(), key=lambda kv: sort_key(kv[0]))
    ]
    agencies: dict[str, dict[str, Any]] = {}
    for r in rows(
        ref,
        """SELECT ?a ?zh ?en ?div WHERE { ?a a org:Organization ; skos:prefLabel ?zh .
             FILTER(LANG(?zh)='zh' && STRSTARTS(STR(?a), '"""
        + AGENCY
        + """'))
             OPTIONAL { ?a skos:prefLabel ?en FILTER(LANG(?en)='en') }
             OPTIONAL { ?a gk:division ?div } }""",
    ):
        agencies[r["a"]] = {"zh": r["zh"], "en": r["en"] or "", "division": r["div"]}
    all_divisions = {}
    for r in rows(
        ref,
        """SELECT ?d ?zh ?en WHERE { ?d a gk:Division ; skos:prefLabel ?zh .
             FILTER(LANG(?zh)='zh') OPTIONAL { ?d skos:prefLabel ?en FILTER(LANG(?en)='en') } }""",
    ):
        all_divisions[r["d"]] = (r["zh"], r["en"] or "")
    succession: dict[str, tuple[str, list]] = {}
    for r in rows(
        ref,
        """SELECT ?pre ?date ?succ (GROUP_CONCAT(STR(?area); separator=' ') AS ?areas) WHERE {
             ?e a org:ChangeEvent ; org:originalOrganization ?pre ; dcterms:date ?date ;
                dcterms:hasPart ?part . ?part org:resultingOrganization ?succ .
             OPTIONAL { ?part gk:area ?area } } GROUP BY ?pre ?date ?succ""",
    ):
        areas_of = frozenset(int(_local(a)) for a in (r["areas"] or "").split())
        entry = succession.setdefault(r["pre"], (r["date"], []))
        entry[1].append((r["succ"], areas_of))
    source_agency = {s.id: AGENCY + s.agency for s in sources}
    source_division: dict[str, str | None] = {}
    for s in sources:
        div = agencies.get(AGENCY + s.agency, {}).get("division")
        if s.kind == "department" or div == DIVISION + "500000":
            source_division[s.id] = None
        else:
            source_division[s.id] = div or (DIVISION + s.division if s.division else None)
    divisions = {
        d: all_divisions.get(d, (d, "")) for d in sorted({d for d in source_division.values() if d})
    }
    departments = sorted({AGENCY + s.agency for s in sources if s.kind == "department"})
    labels = {iri: (a["zh"], a["en"]) for iri, a in agencies.items()}
    labels |= divisions
    labels[GK + "PenaltyAuthorities"] = (
        "具有行政处罚权的市级部门",
        "departments with penalty powers",
    )
    labels[GK + "ApprovalAuthorities"] = ("各行政审批实施部门", "approving departments")
    return Reference(
        obligations,
        areas,
        agencies,
        divisions,
        succession,
        departments,
        source_agency,
        source_division,
        labels,
    )


# -- periods -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    key: str  # "2024" | "2024-H1" | "2024-H2"
    year: int
    half: int | None
    start: date
    end: date

    @classmethod
    def parse(cls, key: str) -> Period:
        year = int(key[:4])
        if len(key) == 4:
            return cls(key, year, None, date(year, 1, 1), date(year, 12, 31))
        half = int(key[-1])
        if key[4:6] != "-H" or half not in (1, 2):
            raise ValueError(f"not a period: {key!r} (expected 2024, 2024-H1 or 2024-H2)")
        start = date(year, 1 if half == 1 else 7, 1)
        end = date(year, 6, 30) if half == 1 else date(year, 12, 31)
        return cls(key, year, half, start, end)

    @property
    def halves(self) -> tuple[str, ...]:
        if self.half:
            return (self.key,)
        return (f"{self.year}-H1", f"{self.year}-H2")

    @property
    def iri(self) -> str:
        return f"{BASE}id/period/{self.key}"

    @property
    def label(self) -> str:
        return (
            f"{self.year}年"
            if self.half is None
            else f"{self.year}年{'上' if self.half == 1 else '下'}半年"
        )

    @property
    def label_en(self) -> str:
        return (
            str(self.year)
            if self.half is None
            else f"{self.year} {'first' if self.half == 1 else 'second'} half"
        )


def period_key(year: int, half: int | None = None) -> str:
    return f"{year}" if not half else f"{year}-H{half}"


# -- who carries an obligation ---------------------------------------------------------------
def carriers(ref: Reference, agency: str, area: int, on: date) -> list[str]:
    """Who carries `agency`'s obligations of `area` on `on` (2018 succession, by date)."""
    event = ref.succession.get(agency)
    if event is None or date.fromisoformat(event[0]) > on:
        return [agency]
    taken = [succ for succ, areas in event[1] if area in areas]
    return taken or [agency]


def publishers_for(ref: Reference, body: str, area: int) -> set[str]:
    """Publishers whose notices count for an agency body: the body, the predecessor whose
    duties of the area it took over, and (for a predecessor) the successors of the area, whose
    portals keep the predecessor's archive."""
    out = {body}
    for pre, (_d, parts) in ref.succession.items():
        for succ, areas in parts:
            if area in areas and succ == body:
                out.add(pre)
            if area in areas and pre == body:
                out.add(succ)
    return out


def bodies_of(
    ref: Reference, o: Obligation, period: Period, observed: Mapping[int, set[str]]
) -> list[tuple[str, str]]:
    """(kind, body IRI) pairs that carry obligation `o` in `period`."""
    out: list[tuple[str, str]] = []
    for lead in o.leads:
        if lead in GROUPS:
            out += [("agency", a) for a in group_members(ref, GROUPS[lead], observed)]
        else:
            out += [("agency", a) for a in carriers(ref, lead, o.area, period.end)]
    out += [("agency", a) for a in o.obliged]
    if o.every_department:
        if o.area in (1, 2):
            out += [("agency", a) for a in group_members(ref, o.area, observed)]
        else:
            out += [("agency", a) for a in ref.departments]
    if o.every_division:
        out += [("division", d) for d in ref.divisions]
    seen: set[tuple[str, str]] = set()
    return [b for b in out if not (b in seen or seen.add(b))]


def group_members(ref: Reference, area: int, observed: Mapping[int, set[str]]) -> list[str]:
    listed = PENALTY_AUTHORITIES if area == 2 else APPROVAL_AUTHORITIES
    members = {AGENCY + s for s in listed} | (observed.get(area, set()) & set(ref.departments))
    return sorted(m for m in members if m in ref.departments)


# -- evaluation --------------------------------------------------------------------------------
def _empty() -> list:
    return [0, None, None] + [0] * (N_COUNTERS - 3)


def _merge(into: list, c: list) -> None:
    into[C_COUNT] += c[C_COUNT]
    if c[C_COUNT]:
        into[C_FIRST] = c[C_FIRST] if into[C_FIRST] is None else min(into[C_FIRST], c[C_FIRST])
        into[C_LAST] = c[C_LAST] if into[C_LAST] is None else max(into[C_LAST], c[C_LAST])
    for i in range(3, N_COUNTERS):
        into[i] += c[i]


def obligation_status(o: Obligation, period: Period, per_half: Mapping[str, list]) -> str:
    """met | late | missing | not-due for one obligation, from the counters of each half year.

    `per_half` holds the counters of the year's two halves (keys "YYYY-H1", "YYYY-H2").
    """
    h1 = per_half.get(f"{period.year}-H1") or _empty()
    h2 = per_half.get(f"{period.year}-H2") or _empty()
    in_period = [per_half.get(h) or _empty() for h in period.halves]
    count = sum(c[C_COUNT] for c in in_period)
    if "BudgetInFirstHalf" in o.rules:  # yearly budget: after June 30 is late
        on_time = h1[C_BUDGET] - h1[C_BUDGET_H2]
        late = h2[C_BUDGET]
        if period.half == 2:
            return "late" if late else "not-due"
        if on_time:
            return "met"
        return "late" if late and period.half is None else "missing"
    if "FinalAccountsInSecondHalf" in o.rules:  # yearly final accounts: in the second half
        if period.half == 1:
            return "met" if h1[C_FINAL] else "not-due"
        finals = h2[C_FINAL] + (h1[C_FINAL] if period.half is None else 0)
        return "met" if finals else "missing"
    if o.period == "Yearly":  # at least once in the year (a half year: the year so far)
        so_far = h1[C_COUNT] + (h2[C_COUNT] if period.half != 1 else 0)
        if period.half == 1:
            return "met" if so_far else "not-due"
        return "met" if so_far else "missing"
    if o.period == "HalfYearly" and period.half is None:
        if h1[C_COUNT] and h2[C_COUNT]:
            return "met"
        if h2[C_COUNT]:
            return "late"
        return "met" if h1[C_COUNT] else "missing"
    return "met" if count else "missing"  # continuous, real-time, periodic, half-yearly


def rule_check(rule: str, c: list, facts: Mapping[str, bool]) -> dict[str, Any]:
    """One rule of the notice on a cell's notices: status, checked, violations."""
    if rule == "BudgetInFirstHalf":
        checked, bad = c[C_BUDGET], c[C_BUDGET_H2]
    elif rule == "FinalAccountsInSecondHalf":
        checked, bad = c[C_FINAL], c[C_FINAL_H1]
    elif rule == "BidPublicityThreeDays" and facts.get("publicity"):
        checked, bad = c[C_BID_DATED], c[C_BID_SHORT]
    elif rule == "PenaltyCaseFields" and facts.get("penalty"):
        checked, bad = c[C_PENALTY], c[C_PENALTY_INCOMPLETE]
    else:
        return {
            "rule": rule,
            "status": "not-checkable",
            "checked": None,
            "violations": None,
            "why": NOT_CHECKABLE_WHY.get(rule, "the data does not carry this fact"),
        }
    status = "none" if not checked else ("broken" if bad else "ok")
    return {"rule": rule, "status": status, "checked": checked, "violations": bad}


def _worst(statuses: Iterable[str]) -> str:
    order = {"missing": 0, "late": 1, "met": 2, "not-due": 3}
    due = sorted(statuses, key=lambda s: order.get(s, 9))
    return due[0] if due else "not-due"


def _silent(dates: list[str], end: date) -> bool:
    """No notice in the SILENT_MONTHS before `end`, though the source had published before."""
    month = end.month - SILENT_MONTHS
    year = end.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    window_start = date(year, month, min(end.day, 28)).isoformat()
    i = bisect.bisect_right(dates, end.isoformat())
    if i == 0:
        return False  # nothing published yet: not silent, not started
    return dates[i - 1] <= window_start


def build_cube(
    data: DataDir,
    run_id: str,
    source_ids: Iterable[str] | None = None,
    *,
    ref: Reference | None = None,
    sources: Iterable[Any] | None = None,
) -> Path:
    """Compute every period's cells from the per-source aggregates; write JSON and N-Triples.

    Returns the cube's N-Triples file (the `graph/completeness` graph).
    """
    ref = ref or load_reference(sources)
    aggs: dict[str, dict[str, Any]] = {}
    for path in sorted(aggregates_dir(data).glob("*.json")):
        if source_ids is not None and path.stem not in set(source_ids):
            continue
        try:
            aggs[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
    facts = {k: any(a["facts"].get(k) for a in aggs.values()) for k in ("penalty", "publicity")}
    # (area, publisher) → half → counters, across sources
    table: dict[tuple[int, str], dict[str, list]] = defaultdict(dict)
    years: set[int] = set()
    for agg in aggs.values():
        for key, c in agg["cells"].items():
            area, publisher, half = key.split("|")
            years.add(int(half[:4]))
            slot = table[(int(area), publisher)]
            if half in slot:
                _merge(slot[half], c)
            else:
                slot[half] = list(c)
    observed: dict[int, set[str]] = defaultdict(set)
    by_division: dict[tuple[int, str], dict[str, list]] = defaultdict(dict)
    for (area, publisher), halves in table.items():
        observed[area].add(publisher)
        div = ref.agencies.get(publisher, {}).get("division")
        if div in ref.divisions:
            slot = by_division[(area, div)]
            for half, c in halves.items():
                if half in slot:
                    _merge(slot[half], c)
                else:
                    slot[half] = list(c)
    harvested_agencies = {ref.source_agency[s] for s in aggs if s in ref.source_agency}
    harvested_divisions = {ref.source_division.get(s) for s in aggs} - {None}
    body_sources: dict[str, list[str]] = defaultdict(list)
    for sid in aggs:
        if sid in ref.source_agency:
            body_sources[ref.source_agency[sid]].append(sid)
            if ref.source_division.get(sid):
                body_sources[ref.source_division[sid]].append(sid)
    dates = {sid: agg["dates"] for sid, agg in aggs.items()}

    periods = []
    for y in sorted(years):
        periods += [Period.parse(f"{y}"), Period.parse(f"{y}-H1"), Period.parse(f"{y}-H2")]
    out_dir = cube_dir(data, run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_periods = []
    nt_path = out_dir / "completeness.nt"
    with nt_path.open("w", encoding="utf-8") as nt:
        nt.write(structure_ntriples(ref))
        for period in periods:
            cells = period_cells(
                ref,
                period,
                table,
                by_division,
                observed,
                facts,
                harvested_agencies,
                harvested_divisions,
                body_sources,
                dates,
            )
            silent = sorted(s for s, d in dates.items() if _silent(d, period.end))
            doc = {
                "run_id": run_id,
                "period": period.key,
                "label": [period.label, period.label_en],
                "facts": facts,
                "silent": silent,
                "cells": cells,
            }
            _write_json(out_dir / f"{period.key}.json", doc)
            nt.write(observations_ntriples(period, cells))
            index_periods.append(period.key)
    index = {
        "run_id": run_id,
        "periods": index_periods,
        "sources": sorted(aggs),
        "notices": sum(a["notices"] for a in aggs.values()),
        "undated": sum(a["undated"] for a in aggs.values()),
        "facts": facts,
        "areas": {str(k): v for k, v in sorted(ref.areas.items())},
        "obligations": [
            {
                "id": o.id,
                "iri": o.iri,
                "area": o.area,
                "zh": o.label_zh,
                "en": o.label_en,
                "period": o.period,
                "rules": list(o.rules),
            }
            for o in ref.obligations
        ],
        "bodies": {
            iri: {"zh": zh, "en": en, "kind": "division" if iri in ref.divisions else "agency"}
            for iri, (zh, en) in sorted(ref.labels.items())
            if iri.startswith((AGENCY, DIVISION))
        },
        "departments": ref.departments,
        "divisions": list(ref.divisions),
        "source_bodies": {
            sid: {"agency": ref.source_agency.get(sid), "division": ref.source_division.get(sid)}
            for sid in sorted(aggs)
        },
        "silent_months": SILENT_MONTHS,
    }
    _write_json(out_dir / "index.json", index)
    return nt_path


def period_cells(
    ref: Reference,
    period: Period,
    table,
    by_division,
    observed,
    facts,
    harvested_agencies,
    harvested_divisions,
    body_sources,
    dates,
) -> list[dict[str, Any]]:
    cells: dict[tuple[int, str], dict[str, Any]] = {}
    for o in ref.obligations:
        for kind, body in bodies_of(ref, o, period, observed):
            key = (o.area, body)
            cell = cells.get(key)
            if cell is None:
                if kind == "division":
                    per_half = by_division.get((o.area, body), {})
                    publishers = None
                    harvested = body in harvested_divisions
                else:
                    publishers = publishers_for(ref, body, o.area)
                    per_half = {}
                    for p in publishers:
                        for half, c in table.get((o.area, p), {}).items():
                            if half[:4] == str(period.year):
                                per_half.setdefault(half, _empty())
                                _merge(per_half[half], c)
                    harvested = bool(publishers & harvested_agencies)
                total = _empty()
                for h in period.halves:
                    if h in per_half:
                        _merge(total, per_half[h])
                srcs = sorted(body_sources.get(body, []))
                if publishers is not None:
                    for p in publishers - {body}:
                        srcs += body_sources.get(p, [])
                cell = cells[key] = {
                    "area": o.area,
                    "body": body,
                    "kind": kind,
                    "publishers": sorted(publishers) if publishers is not None else None,
                    "count": total[C_COUNT],
                    "first": total[C_FIRST],
                    "last": total[C_LAST],
                    "obligations": [],
                    "rules": [],
                    "_c": total,
                    "_h": per_half,
                    "_harvested": harvested,
                    "sources": sorted(set(srcs)),
                    "silent": any(_silent(dates.get(s, []), period.end) for s in srcs),
                }
            cell["obligations"].append(
                {"id": o.id, "period": o.period, "status": obligation_status(o, period, cell["_h"])}
            )
            for rule in o.rules:
                if all(r["rule"] != rule for r in cell["rules"]):
                    cell["rules"].append(rule_check(rule, cell["_c"], facts))
    out = []
    for cell in cells.values():
        status = _worst(ob["status"] for ob in cell["obligations"])
        if not cell.pop("_harvested") and cell["count"] == 0 and status != "not-due":
            status = "unharvested"
        cell["status"] = status
        del cell["_c"], cell["_h"]
        out.append(cell)
    out.sort(key=lambda c: (c["kind"], c["body"], c["area"]))
    return out


# -- RDF Data Cube -----------------------------------------------------------------------------
def _t(s: str, p: str, o: str) -> str:
    return f"<{s}> <{p}> {o} .\n"


def _lit(value: str, lang: str | None = None, dt: str | None = None) -> str:
    from ontology.ntriples import literal

    return literal(value, lang=lang, datatype=dt)


def status_iri(status: str) -> str:
    return f"{BASE}def/completeness/status/{status}"


def check_iri(status: str) -> str:
    return f"{BASE}def/completeness/check/{status}"


def structure_ntriples(ref: Reference) -> str:
    """The dataset, its structure (DSD) and component properties, status code lists."""
    out = []
    a = RDF_TYPE
    ds = DATASET_IRI
    out += [
        _t(ds, a, f"<{QB}DataSet>"),
        _t(ds, a, "<http://www.w3.org/ns/dcat#Dataset>"),
        _t(ds, QB + "structure", f"<{DSD_IRI}>"),
        _t(ds, RDFS + "label", _lit("政府信息公开完整性（渝府办发〔2014〕87号）", "zh")),
        _t(ds, RDFS + "label", _lit("Disclosure completeness against notice 87 (2014)", "en")),
        _t(
            ds,
            DCT + "description",
            _lit(
                "One observation per disclosure area, obliged body (agency or division) and "
                "period: notices published, first and last date, and whether the obligation "
                "was met, late or missing.",
                "en",
            ),
        ),
        _t(ds, DCT + "source", f"<{BASE}id/notice-law/yfbf-2014-87>"),
        _t(DSD_IRI, a, f"<{QB}DataStructureDefinition>"),
    ]
    components = [
        ("area", "dimension", "公开领域", "disclosure area", SDMX_DIM + "refArea", 1),
        ("body", "dimension", "义务主体", "obliged body (agency or division)", None, 2),
        ("period", "dimension", "期间", "period", SDMX_DIM + "refPeriod", 3),
        ("noticeCount", "measure", "公告数", "notices published", SDMX_MEAS + "obsValue", None),
        ("firstIssued", "measure", "最早发布日期", "first date published", None, None),
        ("lastIssued", "measure", "最晚发布日期", "last date published", None, None),
        ("status", "attribute", "状态", "status", SDMX_ATTR + "obsStatus", None),
        ("obligation", "attribute", "义务", "obligation", None, None),
        ("ruleCheck", "attribute", "规则核对", "rule check", None, None),
        ("silentSource", "attribute", "来源停更", "a source of the body went silent", None, None),
    ]
    for i, (name, kind, zh, en, sup, order) in enumerate(components):
        prop = GKC + name
        comp = f"{DSD_IRI}#component-{name}"
        cls = {
            "dimension": "DimensionProperty",
            "measure": "MeasureProperty",
            "attribute": "AttributeProperty",
        }[kind]
        out += [
            _t(DSD_IRI, QB + "component", f"<{comp}>"),
            _t(comp, QB + kind, f"<{prop}>"),
            _t(comp, QB + "order", _lit(str(order or i + 1), dt=XSD + "integer")),
            _t(prop, a, f"<{QB}{cls}>"),
            _t(prop, a, "<http://www.w3.org/1999/02/22-rdf-syntax-ns#Property>"),
            _t(prop, RDFS + "label", _lit(zh, "zh")),
            _t(prop, RDFS + "label", _lit(en, "en")),
            _t(prop, RDFS + "isDefinedBy", f"<{DSD_IRI}>"),
        ]
        if sup:
            out.append(_t(prop, RDFS + "subPropertyOf", f"<{sup}>"))
        if kind == "attribute":
            out.append(_t(comp, QB + "componentAttachment", f"<{QB}Observation>"))
    for s, (zh, en) in STATUS_LABELS.items():
        out += [
            _t(status_iri(s), a, f"<{SKOS}Concept>"),
            _t(status_iri(s), SKOS + "prefLabel", _lit(zh, "zh")),
            _t(status_iri(s), SKOS + "prefLabel", _lit(en, "en")),
            _t(status_iri(s), SKOS + "notation", _lit(s)),
        ]
    for s, (zh, en) in CHECK_LABELS.items():
        out += [
            _t(check_iri(s), a, f"<{SKOS}Concept>"),
            _t(check_iri(s), SKOS + "prefLabel", _lit(zh, "zh")),
            _t(check_iri(s), SKOS + "prefLabel", _lit(en, "en")),
        ]
    return "".join(out)


def observation_iri(period: str, area: int, body: str) -> str:
    slug = body[len(AGENCY) :] if body.startswith(AGENCY) else "division-" + body.rsplit("/", 1)[-1]
    return f"{BASE}id/completeness/{period}/{area}/{slug}"


def observations_ntriples(period: Period, cells: list[dict[str, Any]]) -> str:
    out = [
        _t(period.iri, RDF_TYPE, "<http://www.w3.org/2006/time#Interval>"),
        _t(period.iri, RDFS + "label", _lit(period.label, "zh")),
        _t(period.iri, RDFS + "label", _lit(period.label_en, "en")),
        _t(period.iri, SKOS + "notation", _lit(period.key)),
        _t(period.iri, GKC + "start", _lit(period.start.isoformat(), dt=XSD + "date")),
        _t(period.iri, GKC + "end", _lit(period.end.isoformat(), dt=XSD + "date")),
    ]
    d = XSD + "date"
    for c in cells:
        o = observation_iri(period.key, c["area"], c["body"])
        out += [
            _t(o, RDF_TYPE, f"<{QB}Observation>"),
            _t(o, QB + "dataSet", f"<{DATASET_IRI}>"),
            _t(o, GKC + "area", f"<{CAT}{c['area']}>"),
            _t(o, GKC + "body", f"<{c['body']}>"),
            _t(o, GKC + "period", f"<{period.iri}>"),
            _t(o, GKC + "noticeCount", f'"{c["count"]}"^^<{XSD}integer>'),
            _t(o, GKC + "status", f"<{status_iri(c['status'])}>"),
        ]
        if c["first"]:
            out.append(_t(o, GKC + "firstIssued", f'"{c["first"]}"^^<{d}>'))
            out.append(_t(o, GKC + "lastIssued", f'"{c["last"]}"^^<{d}>'))
        if c["silent"]:
            out.append(_t(o, GKC + "silentSource", f'"true"^^<{XSD}boolean>'))
        for ob in c["obligations"]:
            out.append(_t(o, GKC + "obligation", f"<{BASE}def/obligation/{ob['id']}>"))
        for r in c["rules"]:
            rc = f"{o}#{r['rule']}"
            out += [
                _t(o, GKC + "ruleCheck", f"<{rc}>"),
                _t(rc, GKC + "rule", f"<{GK}{r['rule']}>"),
                _t(rc, GKC + "checkStatus", f"<{check_iri(r['status'])}>"),
            ]
            if r["checked"] is not None:
                out.append(_t(rc, GKC + "checked", f'"{r["checked"]}"^^<{XSD}integer>'))
                out.append(_t(rc, GKC + "violations", f'"{r["violations"]}"^^<{XSD}integer>'))
    return "".join(out)


# -- the publish-time entry point --------------------------------------------------------------
def compute(
    data: DataDir,
    run_id: str,
    source_graphs: Mapping[str, Path],
    sources: Iterable[Any] | None = None,
) -> Path:
    """Aggregate the sources published now, then build the cube; returns its N-Triples file."""
    update_aggregates(data, source_graphs)
    return build_cube(data, run_id, sources=sources)


# -- reading the cube back (server, CLI) -------------------------------------------------------
class CubeMissing(LookupError):
    """No completeness cube for the published generation (one-line message)."""


class CubeReader:
    """The cube of the current generation, read from its JSON files, cached per file."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self._cache: dict[Path, tuple[int, Any]] = {}

    def run_id(self) -> str:
        from endpoint.store import current_generation, read_manifest

        gen = current_generation(self.data)
        if gen is None:
            raise CubeMissing(f"nothing published in {self.data.store}")
        run_id = read_manifest(gen).get("run_id")
        if not run_id or not (cube_dir(self.data, run_id) / "index.json").exists():
            raise CubeMissing(f"no completeness cube for the published run {run_id}")
        return run_id

    def _load(self, path: Path) -> Any:
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise CubeMissing(f"no completeness data at {path}") from None
        hit = self._cache.get(path)
        if hit and hit[0] == mtime:
            return hit[1]
        value = json.loads(path.read_text(encoding="utf-8"))
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[path] = (mtime, value)
        return value

    def index(self, run_id: str | None = None) -> dict[str, Any]:
        return self._load(cube_dir(self.data, run_id or self.run_id()) / "index.json")

    def period(self, key: str, run_id: str | None = None) -> dict[str, Any]:
        return self._load(cube_dir(self.data, run_id or self.run_id()) / f"{key}.json")
