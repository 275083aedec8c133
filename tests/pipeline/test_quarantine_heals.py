"""`gongkai validate` re-checks the quarantine and publishes what now passes."""

import json

import pyoxigraph as ox
import pytest

from gongkai.cli import main
from gongkai.config import DataDir
from gongkai.items import normalise_item

RUN = "20260101T000000Z"
URL = "https://www.cqyz.gov.cn/zwgk_229/202105/t20210510_{}.html"


def item(n: int, title: str | None) -> dict:
    return normalise_item(
        {
            "url": URL.format(n),
            "source": "yuzhong",
            "title": title,
            "index_no": f"11500103009338112H/2021-0000{n}",
            "publisher": "渝中区人民政府",
            "published": "2021-05-10",
        }
    )


@pytest.fixture
def data(tmp_path):
    data = DataDir(tmp_path)
    path = data.items(RUN, "yuzhong")
    path.parent.mkdir(parents=True)
    lines = [item(1, "渝中区2021年部门预算公开"), item(2, None)]
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in lines))
    return data


def notices(data: DataDir) -> int:
    from endpoint.store import current_generation

    store = ox.Store.read_only(str(current_generation(data)))
    query = "SELECT (COUNT(*) AS ?c) WHERE { GRAPH ?g { ?n a <https://gongkai.example.org/def/gongkai#Notice> } }"
    return int(next(iter(store.query(query)))["c"].value)


def test_untitled_notice_is_quarantined_with_a_readable_report(data):
    assert main(["validate", "--data-dir", str(data.root), "--only", "yuzhong"]) == 0
    text = (data.root / "reports" / "quality" / "yuzhong.txt").read_text()
    assert "1 quarantined" in text and "dcterms:title" in text


def test_html_report_escapes_harvested_text(data):
    path = data.items(RUN, "yuzhong")
    hostile = item(3, None) | {"publisher": "<script>alert(1)</script>"}
    path.write_text(path.read_text() + json.dumps(hostile, ensure_ascii=False) + "\n")
    main(["validate", "--data-dir", str(data.root), "--only", "yuzhong"])
    html = (data.root / "reports" / "quality" / "yuzhong.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_a_fixed_notice_is_published_on_the_next_validate(data):
    main(["validate", "--data-dir", str(data.root), "--only", "yuzhong"])
    assert notices(data) == 1
    path = data.items(RUN, "yuzhong")
    fixed = [json.loads(line) for line in path.read_text().splitlines()]
    fixed[1]["title"] = "渝中区关于做好2021年春节期间有关工作的通知"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in fixed))
    main(["validate", "--data-dir", str(data.root), "--only", "yuzhong"])
    assert notices(data) == 2
    assert data.quarantined("yuzhong").read_text() == ""
