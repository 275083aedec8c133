"""A harvested link that is no IRI cannot stop a publish: before ontology.ntriples checked
each IRI, one `a%zz.pdf` made `bulk_load` reject the source's whole graph file."""

import json

import pyoxigraph as ox
import pytest

from endpoint.store import current_generation
from gongkai.cli import main
from gongkai.config import DataDir
from gongkai.items import normalise_item

RUN = "20260101T000000Z"
PAGE = "https://www.cqyz.gov.cn/zwgk_229/202105/t20210510_{}.html"
GK = "https://gongkai.example.org/def/gongkai#"


def item(n: int, **fields) -> dict:
    base = {
        "url": PAGE.format(n),
        "source": "yuzhong",
        "title": "渝中区2021年部门预算公开",
        "index_no": f"11500103009338112H/2021-0000{n}",
        "publisher": "渝中区人民政府",
        "published": "2021-05-10",
    }
    return normalise_item(base | fields)


@pytest.fixture
def data(tmp_path) -> DataDir:
    data = DataDir(tmp_path)
    path = data.items(RUN, "yuzhong")
    path.parent.mkdir(parents=True)
    lines = [
        item(1, attachments=["https://www.cqyz.gov.cn/fj/预算%zz.pdf"]),
        item(2, attachments=["http://[www.cqyz.gov.cn/fj/a.pdf"]),
        item(3, url="http://[www.cqyz.gov.cn/t3.html"),
    ]
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in lines))
    assert main(["validate", "--data-dir", str(data.root), "--only", "yuzhong"]) == 0
    return data


def objects(data: DataDir, prop: str) -> list[str]:
    store = ox.Store.read_only(str(current_generation(data)))
    query = f"SELECT ?o WHERE {{ GRAPH ?g {{ ?n <{prop}> ?o }} }}"
    return sorted(row["o"].value for row in store.query(query))


def test_a_stray_percent_is_encoded_and_the_notice_published(data: DataDir) -> None:
    assert objects(data, GK + "attachment") == ["https://www.cqyz.gov.cn/fj/预算%25zz.pdf"]


def test_a_notice_whose_only_bad_part_is_an_attachment_is_published_without_it(data) -> None:
    assert objects(data, GK + "sourcePage") == [PAGE.format(1), PAGE.format(2)]


def test_a_notice_whose_page_url_is_no_iri_is_quarantined_with_the_reason(data) -> None:
    (line,) = data.quarantined("yuzhong").read_text().splitlines()
    record = json.loads(line)
    assert record["item"]["url"] == "http://[www.cqyz.gov.cn/t3.html"
    assert record["problems"][0].startswith("page URL is not an IRI: ")
    assert "sourcePage" in record["report_text"]
