"""Structured facts from a notice's text: penalty cases, bid results, "three public" budgets.

The founding notice (渝府办发〔2014〕87号) names what these notices must show: a penalty case
its 案件名称, 被处罚者, 主要违法事实, 处罚种类, 依据, 结果 (area 2); a bid result its winner and a
公示期 of at least 3 days (area 9); a budget its "三公" figures (area 3). Portals print them as
label/value tables (rendered to text: one cell per line, `label：value`, tab- or `|`-separated
rows, or a header row over a value row) or as the prose of a 行政处罚决定书. We read labels
first and prose patterns second; a field we cannot find is absent, never guessed.

Amounts are `Decimal`: penalty and contract amounts in yuan, "three public" figures in 万元 (as
the budget tables print them). Chinese numerals (贰万元, 壹拾贰万叁仟元) are read for the
ordinary cases (digits and the units 十/拾 百/佰 千/仟 万 亿).
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ontology.namespaces import BASE
from ontology.ntriples import XSD, iri, literal, triple

GK = BASE + "def/gongkai#"

# -- text helpers ------------------------------------------------------------------------------
_FULLWIDTH = str.maketrans("０１２３４５６７８９．，：（）", "0123456789.,:()")
_SPACE_RE = re.compile(r"[ \u3000\xa0]+")
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4,
    "肆": 4, "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9,
    "玖": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN_CHARS = "".join(_CN_DIGITS) + "".join(_CN_UNITS) + "".join(_CN_BIG)
_NUM = rf"(?:\d[\d,]*(?:\.\d+)?|[{_CN_CHARS}]+)"


def normalise(text: str) -> str:
    """Full-width digits and punctuation to ASCII (but not the Chinese colon), spaces collapsed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(str.maketrans("０１２３４５６７８９．", "0123456789."))
    return "\n".join(_SPACE_RE.sub(" ", line).strip() for line in text.split("\n"))


def cn_number(text: str) -> Decimal | None:
    """`贰万伍仟` → 25000; `1,234.5` → 1234.5; None when it is not a number."""
    text = text.strip().replace(",", "").replace("，", "")
    if not text:
        return None
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return Decimal(text)
    if not all(ch in _CN_CHARS for ch in text):
        return None
    total = section = num = 0
    for ch in text:
        if ch in _CN_DIGITS:
            num = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            section += (num or 1) * _CN_UNITS[ch]
            num = 0
        else:
            section += num
            total = (
                (total + (section or 1)) * _CN_BIG[ch]
                if ch == "亿"
                else total + (section or 1) * _CN_BIG[ch]
            )
            section = num = 0
    return Decimal(total + section + num)


def amount_yuan(value: str, default_unit: str = "元") -> Decimal | None:
    """The first amount in `value`, in yuan: `2.5万元` → 25000, `￥12,000.00元` → 12000."""
    value = value.translate(_FULLWIDTH)
    m = re.search(rf"({_NUM})\s*(万元|万|元)?", value.replace("￥", "").replace("¥", ""))
    while m and cn_number(m.group(1)) is None:
        m = re.search(rf"({_NUM})\s*(万元|万|元)?", value[m.end() :])
    if not m:
        return None
    n = cn_number(m.group(1))
    unit = m.group(2) or default_unit
    if n is None:
        return None
    return _plain(n * 10_000 if unit.startswith("万") else n)


def _plain(d: Decimal) -> Decimal:
    """Drop trailing zeros without exponent notation: 20000.00 → 20000, 1.50 → 1.5."""
    d = d.normalize()
    return d.quantize(Decimal(1)) if d == d.to_integral() else d


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = re.sub(r"\s*\n\s*", "", value).strip(" \t|│：:;；,，")
    value = value.rstrip("。").strip()
    return value or None


# -- labelled values ---------------------------------------------------------------------------
PENALTY_LABELS: dict[str, tuple[str, ...]] = {
    "case_name": ("案件名称", "案件名", "案由"),
    "penalised_party": (
        "被处罚者姓名或单位名称",
        "被处罚者姓名或名称",
        "被处罚人姓名或名称",
        "违法企业名称或违法自然人姓名",
        "行政相对人名称",
        "被处罚单位名称",
        "被处罚单位",
        "被处罚者",
        "被处罚人",
        "当事人名称",
        "当事人",
    ),
    "violation_facts": ("主要违法违规事实", "主要违法事实", "违法事实"),
    "kind_and_basis": ("行政处罚的种类和依据", "处罚种类和依据"),
    "penalty_kind": ("行政处罚种类", "处罚种类", "处罚类别"),
    "legal_basis": ("行政处罚依据", "处罚依据", "依据"),
    "penalty_result": ("行政处罚结果", "处罚结果", "处罚内容", "处罚决定", "结果"),
    "amount_wan": ("罚款金额(万元)", "罚款金额（万元）"),
    "amount": ("罚款金额(元)", "罚款金额（元）", "罚款金额", "罚没金额"),
}
BID_LABELS: dict[str, tuple[str, ...]] = {
    "winner": (
        "中标（成交）供应商名称",
        "中标(成交)供应商名称",
        "中标（成交）供应商",
        "中标(成交)供应商",
        "中标供应商名称",
        "成交供应商名称",
        "中标供应商",
        "成交供应商",
        "中标单位名称",
        "中标单位",
        "中标人名称",
        "中标人",
        "成交人",
    ),
    "amount_wan": (
        "中标（成交）金额（万元）",
        "中标(成交)金额(万元)",
        "中标金额（万元）",
        "中标金额(万元)",
        "成交金额（万元）",
        "成交金额(万元)",
        "中标价（万元）",
    ),
    "amount": (
        "中标（成交）金额（元）",
        "中标(成交)金额(元)",
        "中标（成交）金额",
        "中标(成交)金额",
        "中标金额（元）",
        "中标金额(元)",
        "中标金额",
        "成交金额（元）",
        "成交金额(元)",
        "成交金额",
        "中标价格",
        "中标价",
        "成交价格",
        "成交价",
        "中标报价",
    ),
    "publicity": ("公示期限", "公示期", "公示时间", "公告期限", "公示日期"),
}
SHORT_FIELDS = frozenset(
    {"case_name", "penalised_party", "winner", "amount", "amount_wan", "publicity"}
)
# Labels we do not extract but which end the value before them.
STOP_LABELS = (
    "序号",
    "行政处罚决定书文号",
    "处罚决定书文号",
    "决定文书号",
    "决定书文号",
    "统一社会信用代码",
    "违法企业统一社会信用代码",
    "法定代表人姓名",
    "法定代表人",
    "负责人",
    "住所",
    "地址",
    "身份证号码",
    "证件号码",
    "处罚机关",
    "作出处罚的机关名称和日期",
    "作出处罚决定的日期",
    "处罚决定日期",
    "处罚日期",
    "行政处罚的履行方式和期限",
    "公示截止期",
    "备注",
    "数据来源",
    "违法行为类型",
    "项目名称",
    "项目编号",
    "采购人",
    "招标人",
    "采购代理机构",
    "招标代理机构",
    "中标候选人",
    "联系人",
    "联系电话",
    "工期",
    "项目经理",
    "资质",
    "评标委员会",
    "采购方式",
    "监督部门",
)


def _label_regex(labels: list[str]) -> re.Pattern[str]:
    alts = "|".join(re.escape(x) for x in sorted(set(labels), key=len, reverse=True))
    # A label starts a line or a cell and is followed by a colon or a cell boundary.
    enum = r"(?:[一二三四五六七八九十\d]+[、.．]|[（(][一二三四五六七八九十\d]+[)）])?"
    unit = r"(?:\s*[（(](?:单位[：:])?\s*(万元|元)\s*[)）])?"
    return re.compile(
        rf"(?:^|(?<=[\n\t|│]))\s*{enum}\s*({alts}){unit}\s*(?:[：:]|(?=[\t|│\n])|$)", re.M
    )


def _all_labels(groups: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out = {}
    for name, labels in groups.items():
        for label in labels:
            out.setdefault(label, name)
    return out


def labelled(text: str, groups: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Values of labelled fields: vertical (`label：value`, `label<tab>value`, label over value
    line) and horizontal (a row of labels over a row of values, cells split by tab or `|`)."""
    names = _all_labels(groups)
    out: dict[str, str] = {}
    lines = text.split("\n")
    # Horizontal tables first: a header line of ≥ 2 known labels, values on the next line.
    for i, line in enumerate(lines[:-1]):
        cells = [c.strip() for c in re.split(r"\t|\|", line)]
        if sum(1 for c in cells if c in names) >= 2 and all(
            c in names or c in STOP_LABELS or not c for c in cells
        ):
            values = [c.strip() for c in re.split(r"\t|\|", lines[i + 1])]
            if len(values) == len(cells):
                for c, v in zip(cells, values, strict=True):
                    if c in names and v:
                        out.setdefault(names[c], v)
    rx = _label_regex([*names, *STOP_LABELS])
    hits = list(rx.finditer(text))
    if not hits:
        return out
    for h, nxt in zip(hits, [*hits[1:], None], strict=True):
        name = names.get(h.group(1))
        if name is None or name in out:
            continue
        value = text[h.end() : nxt.start() if nxt else len(text)]
        if name in SHORT_FIELDS:
            # A name or an amount is one line: what follows is the next paragraph.
            value = next((line for line in value.split("\n") if line.strip(" \t|│")), "")
        value = _clean(value)
        if value:
            if h.group(2) and "元" not in value:
                value += h.group(2)  # the unit printed in the label: 罚款金额（万元）
            out[name] = value
    return out


# -- penalty cases (area 2) --------------------------------------------------------------------
PENALTY_KINDS = (
    "警告",
    "通报批评",
    "罚款",
    "没收违法所得",
    "没收非法财物",
    "暂扣许可证件",
    "降低资质等级",
    "吊销许可证件",
    "吊销营业执照",
    "吊销许可证",
    "限制开展生产经营活动",
    "责令停产停业",
    "责令关闭",
    "限制从业",
    "行政拘留",
)
_FINE_RE = re.compile(
    rf"罚款(?:人民币)?\s*(?:共计|合计)?\s*[:：]?\s*(?:￥|¥)?\s*({_NUM})\s*(万元|元)"
)


def penalty_kinds(text: str) -> str | None:
    found = sorted((text.find(k), k) for k in PENALTY_KINDS if k in text)
    kinds: list[str] = []
    for _, k in found:
        if not any(k in other or other in k for other in kinds):
            kinds.append(k)
    return "、".join(kinds) or None


def fine_amount(text: str) -> Decimal | None:
    m = _FINE_RE.search(text.translate(_FULLWIDTH))
    if not m:
        return None
    n = cn_number(m.group(1))
    return None if n is None else _plain(n * 10_000 if m.group(2) == "万元" else n)


_FACTS_START = re.compile(r"(?:经查|经调查|现查明|经本局查明|查明)[，,：:]\s*")
_FACTS_END = re.compile(
    r"(?:[。；]\s*)?(?:以上事实|上述事实|当事人的上述行为|当事人上述行为|你单位的上述行为|你的上述行为|该行为违反|其行为违反|违反了《)"
)
_BASIS_RE = re.compile(
    r"(?:依据|根据|依照)(《[^。\n]*?)(?:(?:的|之)?规定)?[，,]\s*(?:本局|本机关|我局|我委|本委|现|决定|责令|对当事人|对你)"
)
_RESULT_RE = re.compile(r"(?:如下(?:行政)?处罚(?:决定)?|处罚如下|处罚决定如下)[：:]\s*")
_ENUM_RE = re.compile(
    r"^(?:\d+[.、．]|[（(][一二三四五六七八九十\d]+[)）]|[一二三四五六七八九十]+、)"
)


def _prose_penalty(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if m := _FACTS_START.search(text):
        end = _FACTS_END.search(text, m.end())
        stop = end.start() if end else text.find("\n", m.end())
        out["violation_facts"] = text[m.end() : stop if stop > 0 else len(text)]
    if m := _BASIS_RE.search(text):
        out["legal_basis"] = m.group(1)
    if m := _RESULT_RE.search(text):
        rest = text[m.end() :].split("\n")
        parts = [rest[0]]
        for line in rest[1:]:
            if not _ENUM_RE.match(line.strip()):
                break
            parts.append(line.strip())
        out["penalty_result"] = "".join(p.strip() for p in parts)
    return {k: v for k, v in ((k, _clean(v)) for k, v in out.items()) if v}


def penalty_facts(text: str) -> dict[str, Any]:
    found = labelled(text, PENALTY_LABELS)
    prose = _prose_penalty(text)
    facts: dict[str, Any] = {}
    for key in (
        "case_name",
        "penalised_party",
        "violation_facts",
        "penalty_kind",
        "legal_basis",
        "penalty_result",
    ):
        facts[key] = found.get(key) or prose.get(key)
    if facts["penalised_party"]:
        facts["penalised_party"] = _clean(facts["penalised_party"].split("（统一社会信用代码")[0])
    if kb := found.get("kind_and_basis"):
        facts["legal_basis"] = facts["legal_basis"] or kb
        facts["penalty_kind"] = facts["penalty_kind"] or penalty_kinds(kb)
    if not facts["penalty_kind"]:
        facts["penalty_kind"] = penalty_kinds(facts["penalty_result"] or "")
    amount = None
    if "amount_wan" in found:
        amount = amount_yuan(found["amount_wan"], default_unit="万元")
    elif "amount" in found:
        amount = amount_yuan(found["amount"])
    if amount is None:
        amount = fine_amount(facts["penalty_result"] or "") or fine_amount(
            found.get("kind_and_basis") or ""
        )
    if amount is None and "罚款" in (facts["penalty_kind"] or ""):
        amount = fine_amount(text)
    facts["penalty_amount"] = amount
    return facts


# -- bid results (areas 8, 9) ------------------------------------------------------------------
_DATE = r"(?:(\d{4})\s*[年\-/.]\s*)?(\d{1,2})\s*[月\-/.]\s*(\d{1,2})\s*日?"
_RANGE_RE = re.compile(
    rf"{_DATE}(?:\s*\d{{1,2}}[:：]\d{{2}})?[^\d\n]{{0,6}}?(?:至|到|—|–|-|~|～)+\s*{_DATE}"
)
_PUBLICITY_RE = re.compile(r"公示期|公示时间|公示期限|公告期限|公示日期|公示")
_DAYS_RE = re.compile(
    r"(?:公示期|公示时间|公示期限|公告期限)[^。\d]{0,14}?(\d+|[一二三四五六七八九十]+)\s*(?:个)?(工作日|日|天)"
)


def _mkdate(y: str | None, m: str, d: str, year: int | None) -> date | None:
    try:
        return date(int(y) if y else (year or 0), int(m), int(d))
    except ValueError:
        return None


def publicity_period(text: str) -> tuple[date | None, date | None, int | None]:
    for p in _PUBLICITY_RE.finditer(text):
        window = text[p.start() : p.start() + 80]
        if m := _RANGE_RE.search(window):
            start = _mkdate(m.group(1), m.group(2), m.group(3), None)
            if start:
                end = _mkdate(m.group(4), m.group(5), m.group(6), start.year)
                if end and end >= start:
                    return start, end, (end - start).days + 1
    if m := _DAYS_RE.search(text):
        n = cn_number(m.group(1))
        return None, None, int(n) if n is not None else None
    return None, None, None


def bid_facts(text: str) -> dict[str, Any]:
    found = labelled(text, BID_LABELS)
    winner = found.get("winner")
    if winner:
        winner = _clean(re.split(r"[；;]|\s{2,}|地址|联系", winner)[0])
    amount = None
    if "amount_wan" in found:
        amount = amount_yuan(found["amount_wan"], default_unit="万元")
    elif "amount" in found:
        amount = amount_yuan(found["amount"])
    start, end, days = publicity_period(text)
    return {
        "winner": winner,
        "contract_amount": amount,
        "publicity_start": start.isoformat() if start else None,
        "publicity_end": end.isoformat() if end else None,
        "publicity_days": days,
    }


# -- "three public" budgets (area 3) -----------------------------------------------------------
THREE_PUBLIC = {
    "three_public_overseas": r"因公出国[（(]境[）)](?:费用|经费|费)",
    "three_public_vehicles": r"公务用车购置及运行(?:维护)?(?:费用|经费|费)",
    "three_public_reception": r"公务接待(?:费用|经费|费)",
}
_ANY_TP = "|".join(THREE_PUBLIC.values())
_FIGURE_RE = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(万元|元)?(?![\d年月日%个人次辆台批项])")


def budget_kind(title: str, text: str) -> str | None:
    for t in (title, text[:200]):
        if "决算" in t:
            return "final_accounts"
        if "预算" in t:
            return "budget"
    return None


def _figure_after(text: str, start: int, unit_yuan: bool) -> Decimal | None:
    gap = text[start : start + 40]
    for m in _FIGURE_RE.finditer(gap):
        before = gap[: m.start()]
        if re.search(rf"[、。；;\n]|{_ANY_TP}", before):
            return None
        try:
            n = Decimal(m.group(1).replace(",", ""))
        except InvalidOperation:
            return None
        unit = m.group(2) or ("元" if unit_yuan else "万元")
        return _plain(n / 10_000 if unit == "元" else n)
    return None


def three_public_facts(title: str, text: str) -> dict[str, Any]:
    unit_yuan = bool(re.search(r"单位[：:]\s*元", text))
    facts: dict[str, Any] = {"budget_kind": budget_kind(title, text)}
    lines = text.split("\n")
    # Header row of the three labels over a row of figures (tab- or |-separated).
    for i, line in enumerate(lines[:-1]):
        cells = [c.strip() for c in re.split(r"\t|\|", line)]
        keys = [
            next((k for k, rx in THREE_PUBLIC.items() if re.fullmatch(rx, c)), None) for c in cells
        ]
        values = [c.strip() for c in re.split(r"\t|\|", lines[i + 1])]
        if sum(k is not None for k in keys) >= 2 and len(values) == len(cells):
            for k, v in zip(keys, values, strict=True):
                if k and re.fullmatch(r"\d[\d,]*(?:\.\d+)?", v):
                    n = Decimal(v.replace(",", ""))
                    facts.setdefault(k, _plain(n / 10_000 if unit_yuan else n))
    for key, rx in THREE_PUBLIC.items():
        if key in facts:
            continue
        facts[key] = None
        for m in re.finditer(rx, text):
            value = _figure_after(text, m.end(), unit_yuan)
            if value is not None:
                facts[key] = value
                break
    return facts


# -- the entry point ---------------------------------------------------------------------------
def notice_kind(item: dict[str, Any]) -> str | None:
    """penalty | bid | budget | None, from the title first, then body cues and categories."""
    title = item.get("title") or ""
    body = item.get("body_text") or ""
    areas = set(item.get("categories") or [])
    if re.search(r"行政处罚|处罚决定|处罚信息|处罚案件", title):
        return "penalty"
    if re.search(r"中标|成交结果|成交公告|结果公示|结果公告", title):
        return "bid"
    if "三公" in body and re.search(r"预算|决算", title + body[:200]):
        return "budget"
    if 2 in areas or re.search(r"案件名称|被处罚", body):
        return "penalty"
    if areas & {8, 9} or re.search(r"中标(?:单位|人|供应商|金额)|成交供应商", body):
        return "bid"
    if 3 in areas and re.search(r"因公出国", body):
        return "budget"
    return None


def extract_facts(item: dict[str, Any]) -> dict[str, Any]:
    """The facts a notice states: `{"kind": ..., field: value}`; absent fields are None."""
    text = normalise(item.get("body_text") or "")
    title = item.get("title") or ""
    kind = notice_kind(item)
    if kind == "penalty":
        facts = penalty_facts(text)
    elif kind == "bid":
        facts = bid_facts(text)
    elif kind == "budget":
        facts = three_public_facts(title, text)
    else:
        return {"kind": None}
    return {"kind": kind, **facts}


PROPERTIES: dict[str, tuple[str, str]] = {
    # fact key → (gk property, "text" | "decimal" | "date" | "iri")
    "case_name": ("caseName", "text"),
    "penalised_party": ("penalisedParty", "text"),
    "violation_facts": ("violationFacts", "text"),
    "penalty_kind": ("penaltyKind", "text"),
    "legal_basis": ("legalBasis", "text"),
    "penalty_result": ("penaltyResult", "text"),
    "penalty_amount": ("penaltyAmount", "decimal"),
    "winner": ("winner", "text"),
    "contract_amount": ("contractAmount", "decimal"),
    "publicity_start": ("publicityStart", "date"),
    "publicity_end": ("publicityEnd", "date"),
    "budget_kind": ("budgetKind", "iri"),
    "three_public_overseas": ("threePublicOverseas", "decimal"),
    "three_public_vehicles": ("threePublicVehicles", "decimal"),
    "three_public_reception": ("threePublicReception", "decimal"),
}
BUDGET_KINDS = {"budget": GK + "Budget", "final_accounts": GK + "FinalAccounts"}


def facts_ntriples(notice_iri: str, facts: dict[str, Any]) -> str:
    """The facts as N-Triples on the notice (gk: vocabulary); absent facts write nothing."""
    s = iri(notice_iri)
    out: list[str] = []
    for key, (prop, kind) in PROPERTIES.items():
        value = facts.get(key)
        if value is None or value == "":
            continue
        p = iri(GK + prop)
        if kind == "text":
            o = literal(str(value), lang="zh")
        elif kind == "decimal":
            o = literal(format(Decimal(value), "f"), datatype=XSD + "decimal")
        elif kind == "date":
            o = literal(str(value), datatype=XSD + "date")
        else:
            if value not in BUDGET_KINDS:
                continue
            o = iri(BUDGET_KINDS[value])
        out.append(triple(s, p, o))
    return "".join(out)
