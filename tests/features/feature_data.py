"""Shared data for the feature tests (imported by the test modules): a run's items on disk, as the harvester writes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gongkai.config import DataDir
from gongkai.items import normalise_item

RUN_ID = "20250301T000000Z"

ITEMS: dict[str, list[dict[str, Any]]] = {
    "scjgj": [
        {
            "url": "https://scjgj.cq.gov.cn/zfxxgk_225/fdzdgknr/xzcf/202403/t20240305_1001.html",
            "title": "重庆市市场监督管理局行政处罚决定书（渝市监处罚〔2024〕12号）",
            "index_no": "11500000MB1502365L/2024-00012",
            "publisher": "重庆市市场监督管理局",
            "published": "2024-03-05",
            "body_text": "当事人重庆某某食品有限公司销售超过保质期的食品，依据《中华人民共和国食品安全法》第一百二十四条，罚款人民币贰万元。",
            "attachments": ["https://scjgj.cq.gov.cn/files/W020240305_处罚决定书.pdf"],
            "categories": [2],
        },
        {
            "url": "https://scjgj.cq.gov.cn/zfxxgk_225/fdzdgknr/202401/t20240110_1002.html",
            "title": "重庆市市场监督管理局2024年部门预算公开说明",
            "index_no": "11500000MB1502365L/2024-00002",
            "publisher": "重庆市市场监督管理局",
            "published": "2024-01-10",
            "body_text": "“三公”经费预算数为25.6万元，其中因公出国（境）费0万元。",
            "categories": [3],
        },
    ],
    "yuzhong": [
        {
            "url": "https://www.cqyz.gov.cn/zwgk_229/202402/t20240220_2001.html",
            "title": "渝中区某道路改造工程中标结果公示",
            "index_no": "11500103009337002Y/2024-00031",
            "publisher": "重庆市渝中区住房和城乡建设委员会",
            "published": "2024-02-20",
            "body_text": "中标单位：重庆某某建设有限公司。中标金额：1,234,567.00元。公示期：2024年2月20日至2024年2月22日。",
            "categories": [9],
        },
        {
            "url": "https://www.cqyz.gov.cn/zwgk_229/202312/t20231201_2002.html",
            "title": "关于<script>alert(1)</script>的通知",
            "index_no": "11500103009337002Y/2023-00400",
            "publisher": "重庆市渝中区人民政府办公室",
            "published": "2023-12-01",
            "body_text": '100%完成 under_score 任务。行政处罚 "引号" 内容。',
        },
    ],
}


def write_run(root: Path, items: dict[str, list[dict[str, Any]]] = ITEMS) -> DataDir:
    data = DataDir(root)
    for source, rows in items.items():
        path = data.items(RUN_ID, source)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                item = normalise_item({"source": source, **row})
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    return data
