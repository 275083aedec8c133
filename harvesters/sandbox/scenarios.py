"""Completeness scenarios: reshape chosen sandbox notices so the completeness report has something
known to find (`gongkai sandbox --scenario FILE`, `gongkai run --scenario FILE`).

A scenario is a YAML file:

```yaml
baseline: compliant        # optional: every notice keeps the notice's rules first (see below)
rules:                     # applied in order; each rule sees the notice the previous ones made
  - sources: [sthjj]       # which notices (all keys optional, all must hold)
    areas: [14]            #   sandbox area of the notice as reshaped so far (0 = none)
    years: [2024]          #   year published
    every: 6               #   n % every == offset
    offset: 1
    title_contains: 预算
    # what happens (any combination, applied in this order)
    omit: true             # re-draw the notice as a notice of no area (area 0)
    area: 3                # re-draw it as a notice of this area ...
    title: 0               # ... with this title template of the area (index in corpus.yml)
    publish_month: 9       # move `published` (and `written`) into this month of the same year
    shift_days: 200        # or shift both by this many days
    bid_publicity_days: 1  # a bid result states a publicity period of this many days
    penalty_fields: false  # a penalty notice states its six fields (true) or only some (false)
```

`baseline: compliant` first makes every notice (and every notice a rule re-draws, right after
the re-draw) keep the founding notice's rules: budgets
(area 3, 预算 in the title) are published in the first half year, final accounts (决算) in the
second, bid results (area 9, 中标 in the title) state a 5-day publicity period and penalty notices
(area 2) state all six fields. The rules then break chosen ones. Notices stay a pure function
of `(seed, source, n)` and the scenario, so the sandbox still holds nothing in memory and
`truth.jsonl` (written from the same function) describes the reshaped notice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from harvesters.sandbox.generate import FIRST_DAY, LAST_DAY, Notice, corpus, template_values

MATCH_KEYS = ("sources", "areas", "years", "every", "offset", "title_contains")
ACTION_KEYS = (
    "omit",
    "area",
    "title",
    "publish_month",
    "shift_days",
    "bid_publicity_days",
    "penalty_fields",
)
# Titles of area 0 no classifier rule can mistake for an area (corpus.yml, areas: 0).
SAFE_NONE_TITLES = (0, 1, 3)
PENALTY_FIELDS = (
    ("案件名称", "{company}销售不合格商品案"),
    ("被处罚者姓名或单位名称", "{company}"),
    ("主要违法事实", "销售不符合保障人体健康和人身、财产安全的国家标准、行业标准的产品"),
    ("处罚种类", "罚款、没收违法所得"),
    ("处罚依据", "《中华人民共和国产品质量法》第四十九条"),
    ("处罚结果", "罚款人民币贰万元，没收违法所得叁仟元"),
)
# A penalty notice that breaks the rule leaves out these two of the six.
PENALTY_DROPPED = ("主要违法事实", "处罚依据")


class ScenarioError(ValueError):
    """A scenario file that does not say what it means; the message names the problem."""


def budget_kind(title: str | None) -> str | None:
    """budget | final_accounts | None from a title (决算 first: 预决算 is a final account)."""
    title = title or ""
    if "决算" in title:
        return "final_accounts"
    if "预算" in title:
        return "budget"
    return None


def _move_to_month(notice: Notice, month: int) -> Notice:
    year = notice.published.year
    day = min(notice.published.day, 28)
    published = date(year, month, day)
    return _shift(notice, (published - notice.published).days)


def _shift(notice: Notice, days: int) -> Notice:
    published = notice.published + timedelta(days=days)
    published = min(max(published, FIRST_DAY), LAST_DAY)
    delta = published - notice.published
    return replace(notice, published=published, written=notice.written + delta)


def _values(notice: Notice) -> dict[str, Any]:
    rng = random.Random(f"scenario:{notice.source}:{notice.n}")
    return template_values(rng, notice.publisher, notice.published.year)


def _redraw(notice: Notice, area: int, title: int | None) -> Notice:
    """The notice re-drawn as a notice of `area`: title, topic, genre and body's first line."""
    areas = corpus()["areas"]
    spec = areas.get(area) or areas.get(str(area))
    if spec is None:
        raise ScenarioError(f"no area {area} in corpus.yml")
    titles = spec["titles"]
    if title is None:
        pool = SAFE_NONE_TITLES if area == 0 else range(len(titles))
        title = pool[notice.n % len(pool)]
    if not 0 <= title < len(titles):
        raise ScenarioError(f"area {area} has {len(titles)} titles, not {title + 1}")
    text = titles[title].format(**_values(notice))
    new_title = None if notice.title is None else text
    lines = notice.body.split("\n")
    lines[0] = new_title or "（无标题）"
    return replace(
        notice,
        title=new_title,
        topic=spec["topic"],
        genre=spec.get("genre") or ("通知" if area == 0 else notice.genre),
        body="\n".join(lines),
        area=area,
    )


def _body_without(notice: Notice, prefixes: tuple[str, ...]) -> str:
    return "\n".join(ln for ln in notice.body.split("\n") if not ln.startswith(prefixes))


def _with_bid_publicity(notice: Notice, days: int) -> Notice:
    start = notice.published
    end = start + timedelta(days=days)
    body = _body_without(notice, ("公示期",))
    line = (
        f"公示期：{start.year}年{start.month}月{start.day}日至{end.year}年{end.month}月{end.day}日"
    )
    return replace(notice, body=f"{body}\n{line}")


def _with_penalty_fields(notice: Notice, complete: bool) -> Notice:
    values = _values(notice)
    body = _body_without(notice, tuple(label for label, _ in PENALTY_FIELDS))
    lines = [
        f"{label}：{value.format(**values)}"
        for label, value in PENALTY_FIELDS
        if complete or label not in PENALTY_DROPPED
    ]
    return replace(notice, body=body + "\n" + "\n".join(lines))


def _is_bid_result(notice: Notice) -> bool:
    return notice.area == 9 and "中标" in (notice.title or "")


@dataclass(frozen=True)
class Rule:
    match: dict[str, Any]
    actions: dict[str, Any]

    def matches(self, notice: Notice) -> bool:
        m = self.match
        if "sources" in m and notice.source not in m["sources"]:
            return False
        if "areas" in m and notice.area not in m["areas"]:
            return False
        if "years" in m and notice.published.year not in m["years"]:
            return False
        if "every" in m and notice.n % int(m["every"]) != int(m.get("offset", 0)):
            return False
        return not ("title_contains" in m and m["title_contains"] not in (notice.title or ""))

    def apply(self, notice: Notice, normalise: Any = None) -> Notice:
        """Apply the actions; `normalise` (the baseline) runs again on a re-drawn notice."""
        a = self.actions
        if a.get("omit"):
            notice = _redraw(notice, 0, a.get("title"))
        elif "area" in a:
            notice = _redraw(notice, int(a["area"]), a.get("title"))
        if normalise is not None and (a.get("omit") or "area" in a):
            notice = normalise(notice)
        if "publish_month" in a:
            notice = _move_to_month(notice, int(a["publish_month"]))
        if "shift_days" in a:
            notice = _shift(notice, int(a["shift_days"]))
        if "bid_publicity_days" in a and notice.area == 9:
            notice = _with_bid_publicity(notice, int(a["bid_publicity_days"]))
        if "penalty_fields" in a and notice.area == 2:
            notice = _with_penalty_fields(notice, bool(a["penalty_fields"]))
        return notice


@dataclass(frozen=True)
class Scenario:
    rules: tuple[Rule, ...] = ()
    baseline: str | None = None
    name: str = "scenario"
    raw: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
        return cls.from_dict(data, name=path.stem)

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str = "scenario") -> Scenario:
        if not isinstance(data, dict):
            raise ScenarioError("a scenario is a mapping with `rules` (and optional `baseline`)")
        unknown = set(data) - {"baseline", "rules", "description"}
        if unknown:
            raise ScenarioError(f"unknown scenario keys: {', '.join(sorted(unknown))}")
        baseline = data.get("baseline")
        if baseline not in (None, "compliant"):
            raise ScenarioError(f"unknown baseline {baseline!r} (expected: compliant)")
        rules = []
        for i, spec in enumerate(data.get("rules") or []):
            if not isinstance(spec, dict):
                raise ScenarioError(f"rule {i + 1} is not a mapping")
            bad = set(spec) - set(MATCH_KEYS) - set(ACTION_KEYS)
            if bad:
                raise ScenarioError(f"rule {i + 1}: unknown keys {', '.join(sorted(bad))}")
            match = {k: spec[k] for k in MATCH_KEYS if k in spec}
            for k in ("sources", "areas", "years"):
                if k in match and not isinstance(match[k], list):
                    match[k] = [match[k]]
            actions = {k: spec[k] for k in ACTION_KEYS if k in spec}
            if not actions:
                raise ScenarioError(f"rule {i + 1} changes nothing")
            if "publish_month" in actions and not 1 <= int(actions["publish_month"]) <= 12:
                raise ScenarioError(f"rule {i + 1}: publish_month must be 1-12")
            rules.append(Rule(match, actions))
        return cls(tuple(rules), baseline, name, data)

    def _compliant(self, notice: Notice) -> Notice:
        if notice.area == 3 and notice.title:
            kind = budget_kind(notice.title)
            month = notice.published.month
            if kind == "budget" and month > 6:
                notice = _move_to_month(notice, month - 6)
            elif kind == "final_accounts" and month <= 6:
                notice = _move_to_month(notice, month + 6)
        if _is_bid_result(notice):
            notice = _with_bid_publicity(notice, 5)
        if notice.area == 2:
            notice = _with_penalty_fields(notice, True)
        return notice

    def apply(self, notice: Notice) -> Notice:
        normalise = self._compliant if self.baseline == "compliant" else None
        if normalise is not None:
            notice = normalise(notice)
        for rule in self.rules:
            if rule.matches(notice):
                notice = rule.apply(notice, normalise)
        return notice


def load(path: str | Path | None) -> Scenario | None:
    return Scenario.load(path) if path else None
