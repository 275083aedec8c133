"""The standard tables of a sandbox 政府信息公开工作年度报告 (format of 国办公开办函〔2021〕30号).

Numbers are a pure function of (seed, source, year); the request matrix balances per applicant
column (一 + 二 = (七)总计 + 四), as a real report's must.
"""

from __future__ import annotations

import random

APPLICANTS = ("自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")

#: Section 三 rows below 三、本年度办理结果: (sub heading, items); "" = a single row.
OUTCOMES: list[tuple[str, list[str]]] = [
    ("（一）予以公开", [""]),
    ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", [""]),
    (
        "（三）不予公开",
        [
            "1.属于国家秘密",
            "2.其他法律行政法规禁止公开",
            "3.危及“三安全一稳定”",
            "4.保护第三方合法权益",
            "5.属于三类内部事务信息",
            "6.属于四类过程性信息",
            "7.属于行政执法案卷",
            "8.属于行政查询事项",
        ],
    ),
    (
        "（四）无法提供",
        ["1.本机关不掌握相关政府信息", "2.没有现成信息需要另行制作", "3.补正后申请内容仍不明确"],
    ),
    (
        "（五）不予处理",
        [
            "1.信访举报投诉类申请",
            "2.重复申请",
            "3.要求提供公开出版物",
            "4.无正当理由大量反复申请",
            "5.要求行政机关确认或重新出具已获取信息",
        ],
    ),
    (
        "（六）其他处理",
        [
            "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
            "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
            "3.其他",
        ],
    ),
]


def _td(v: object, **attrs: int) -> str:
    a = "".join(f' {k}="{n}"' for k, n in attrs.items())
    return f"<td{a}>{v}</td>"


def _proactive(rng: random.Random) -> str:
    rows = [
        '<tr><td colspan="4">第二十条第（一）项</td></tr>',
        "<tr><td>信息内容</td><td>本年制发件数</td><td>本年废止件数</td><td>现行有效件数</td></tr>",
        "<tr><td>规章</td><td>0</td><td>0</td><td>0</td></tr>",
        f"<tr><td>行政规范性文件</td><td>{rng.randint(0, 20)}</td><td>{rng.randint(0, 8)}</td>"
        f"<td>{rng.randint(20, 120)}</td></tr>",
        '<tr><td colspan="4">第二十条第（五）项</td></tr>',
        '<tr><td>信息内容</td><td colspan="3">本年处理决定数量</td></tr>',
        f'<tr><td>行政许可</td><td colspan="3">{rng.randint(0, 4000)}</td></tr>',
        '<tr><td colspan="4">第二十条第（六）项</td></tr>',
        '<tr><td>信息内容</td><td colspan="3">本年处理决定数量</td></tr>',
        f'<tr><td>行政处罚</td><td colspan="3">{rng.randint(0, 3000)}</td></tr>',
        f'<tr><td>行政强制</td><td colspan="3">{rng.randint(0, 60)}</td></tr>',
        '<tr><td colspan="4">第二十条第（八）项</td></tr>',
        '<tr><td>信息内容</td><td colspan="3">本年收费金额（单位：万元）</td></tr>',
        f'<tr><td>行政事业性收费</td><td colspan="3">{rng.randint(0, 500) / 10:.1f}</td></tr>',
    ]
    return '<table border="1"><tbody>' + "".join(rows) + "</tbody></table>"


def _requests(rng: random.Random) -> str:
    n_items = sum(len(items) for _, items in OUTCOMES)
    cols = []  # per applicant: new, carried in, outcomes…, carried out
    for i in range(len(APPLICANTS)):
        scale = 60 if i == 0 else 8
        outcomes = [rng.randint(0, scale) if rng.random() < 0.5 else 0 for _ in range(n_items)]
        carried_in = rng.randint(0, scale // 4)
        carried_out = rng.randint(0, scale // 4)
        new = max(0, sum(outcomes) + carried_out - carried_in)
        carried_out = new + carried_in - sum(outcomes)
        cols.append((new, carried_in, outcomes, carried_out))

    def cells(values: list[int]) -> str:
        return "".join(_td(v) for v in values) + _td(sum(values))

    rows = [
        '<tr><td colspan="3" rowspan="3">（本列数据的勾稽关系为：第一项加第二项之和，'
        '等于第三项加第四项之和）</td><td colspan="7">申请人情况</td></tr>',
        '<tr><td rowspan="2">自然人</td><td colspan="5">法人或其他组织</td>'
        '<td rowspan="2">总计</td></tr>',
        "<tr>" + "".join(_td(a) for a in APPLICANTS[1:]) + "</tr>",
        '<tr><td colspan="3">一、本年新收政府信息公开申请数量</td>'
        + cells([c[0] for c in cols])
        + "</tr>",
        '<tr><td colspan="3">二、上年结转政府信息公开申请数量</td>'
        + cells([c[1] for c in cols])
        + "</tr>",
    ]
    k = 0
    first = True
    for sub, items in OUTCOMES:
        for j, item in enumerate(items):
            lead = _td("三、本年度办理结果", rowspan=n_items + 1) if first else ""
            first = False
            if item == "":
                label = _td(sub, colspan=2)
            else:
                label = (_td(sub, rowspan=len(items)) if j == 0 else "") + _td(item)
            rows.append("<tr>" + lead + label + cells([c[2][k] for c in cols]) + "</tr>")
            k += 1
    rows.append('<tr><td colspan="2">（七）总计</td>' + cells([sum(c[2]) for c in cols]) + "</tr>")
    rows.append(
        '<tr><td colspan="3">四、结转下年度继续办理</td>' + cells([c[3] for c in cols]) + "</tr>"
    )
    return '<table border="1" cellspacing="0"><tbody>' + "".join(rows) + "</tbody></table>"


def _review(rng: random.Random) -> str:
    values: list[int] = []
    for _ in range(3):
        parts = [rng.randint(0, 3) if rng.random() < 0.4 else 0 for _ in range(4)]
        values += [*parts, sum(parts)]
    heads = "".join(_td(h) for h in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计"))
    return (
        '<table border="1"><tbody>'
        '<tr><td colspan="5">行政复议</td><td colspan="10">行政诉讼</td></tr>'
        "<tr>"
        + "".join(
            _td(h, rowspan=2) for h in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
        )
        + '<td colspan="5">未经复议直接起诉</td><td colspan="5">复议后起诉</td></tr>'
        f"<tr>{heads}{heads}</tr>"
        "<tr>" + "".join(_td(v) for v in values) + "</tr></tbody></table>"
    )


def report_tables(seed: int, source_id: str, year: int) -> str:
    """Sections 二, 三 and 四 of the report for `year`, as the HTML a portal's body carries."""
    rng = random.Random(f"{seed}:{source_id}:{year}:annual-report")
    return (
        "<p><strong>二、主动公开政府信息情况</strong></p>"
        + _proactive(rng)
        + "<p><strong>三、收到和处理政府信息公开申请情况</strong></p>"
        + _requests(rng)
        + "<p><strong>四、政府信息公开行政复议、行政诉讼情况</strong></p>"
        + _review(rng)
    )
