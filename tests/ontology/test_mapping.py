"""Item → N-Triples: keys, literals, dates, and what the mapping refuses to guess."""

import pyoxigraph as ox
import pytest

from gongkai.items import normalise_item
from harvesters.registry import Source
from ontology.mapping import item_to_ntriples, notice_key
from ontology.ntriples import iri, literal

SOURCE = Source(
    id="yubei",
    name="重庆市渝北区人民政府",
    kind="district",
    agency="yubei",
    division="500112",
    family="trs",
    start_urls=("https://www.ybq.gov.cn/",),
    domains=("www.ybq.gov.cn",),
    confidence="guess",
)
GK = "https://gongkai.example.org/def/gongkai#"


class FixedResolver:
    def __init__(self, known: dict[str, str]):
        self.known = known

    def resolve(self, printed, source=None):
        return self.known.get(printed)


ITEM = normalise_item(
    {
        "url": "https://www.ybq.gov.cn/zwgk_159/202105/t20210510_9345678.html",
        "source": "yubei",
        "title": '关于<script>alert("x")</script>的通知',
        "index_no": "11500112009338112H/2021-00021",
        "doc_no": "渝北府发〔2021〕5号",
        "publisher": "渝北区政府",
        "written": "2021-05-06",
        "published": "2021-05-10",
        "keywords": ["预算"],
        "attachments": ["https://www.ybq.gov.cn/zwgk_159/202105/P020210510.pdf"],
        "fetched_at": "2026-11-26T10:00:00+08:00",
        "sha256": "ab" * 32,
    }
)
RESOLVER = FixedResolver({"渝北区政府": "https://gongkai.example.org/id/agency/yubei"})


def parsed(nt: str) -> ox.Store:
    store = ox.Store()
    store.load(nt, format=ox.RdfFormat.N_TRIPLES)
    return store


def value(store: ox.Store, prop: str) -> list[str]:
    return sorted(q.object.value for q in store.quads_for_pattern(None, ox.NamedNode(prop), None))


def test_key_comes_from_the_index_number():
    assert notice_key(ITEM) == "11500112009338112H_2021-00021"


def test_key_falls_back_to_the_trs_document_id():
    assert notice_key({"url": ITEM["url"], "index_no": None}) == "doc-9345678"


def test_key_falls_back_to_a_url_hash():
    key = notice_key({"url": "https://example.org/a?b=1", "index_no": "  "})
    assert key.startswith("url-") and len(key) == 20


def test_notice_iri_follows_the_uri_pattern():
    mapped = item_to_ntriples(ITEM, "20261126T000000Z", RESOLVER, SOURCE)
    assert mapped.iri == (
        "https://gongkai.example.org/id/notice/yubei/11500112009338112H_2021-00021"
    )


def test_hostile_title_survives_as_an_exact_literal():
    store = parsed(item_to_ntriples(ITEM, "20261126T000000Z", RESOLVER, SOURCE).ntriples)
    assert value(store, "http://purl.org/dc/terms/title") == [
        '关于<script>alert("x")</script>的通知'
    ]


def test_dates_are_typed_xsd_date():
    store = parsed(item_to_ntriples(ITEM, "20261126T000000Z", RESOLVER, SOURCE).ntriples)
    issued = next(
        store.quads_for_pattern(None, ox.NamedNode("http://purl.org/dc/terms/issued"), None)
    )
    assert issued.object.datatype.value == "http://www.w3.org/2001/XMLSchema#date"


def test_resolved_publisher_becomes_the_agency():
    store = parsed(item_to_ntriples(ITEM, "20261126T000000Z", RESOLVER, SOURCE).ntriples)
    assert value(store, "http://purl.org/dc/terms/publisher") == [
        "https://gongkai.example.org/id/agency/yubei"
    ]


def test_unresolved_publisher_is_reported_not_guessed():
    item = dict(ITEM, publisher="某不存在的单位")
    mapped = item_to_ntriples(item, "20261126T000000Z", RESOLVER, SOURCE)
    assert mapped.problems == ["publisher not resolved: 某不存在的单位"]
    assert value(parsed(mapped.ntriples), "http://purl.org/dc/terms/publisher") == []


def test_an_unparsed_date_is_a_problem_not_a_triple():
    mapped = item_to_ntriples(dict(ITEM, published="2021年"), "r", RESOLVER, SOURCE)
    assert mapped.problems == ["published is not a date: 2021年"]
    assert value(parsed(mapped.ntriples), "http://purl.org/dc/terms/issued") == []


def test_an_impossible_calendar_date_is_a_problem_not_a_triple():
    mapped = item_to_ntriples(dict(ITEM, published="2020-02-30"), "r", RESOLVER, SOURCE)
    assert mapped.problems == ["published is not a date: 2020-02-30"]
    assert value(parsed(mapped.ntriples), "http://purl.org/dc/terms/issued") == []


def test_an_impossible_date_is_flagged_on_its_notice_and_does_not_fail_the_batch():
    from shapes.validate import validate_batch

    good = item_to_ntriples(ITEM, "r", RESOLVER, SOURCE)
    bad = item_to_ntriples(
        dict(ITEM, published="2020-02-30", index_no="11500112009338112H/2021-00022"),
        "r",
        RESOLVER,
        SOURCE,
    )
    verdicts = validate_batch(good.ntriples + bad.ntriples)
    assert set(verdicts) == {good.iri, bad.iri}
    assert "dcterms:issued" not in verdicts[good.iri].text
    assert (
        "缺少发布日期 / No date issued (发布日期) | path: dcterms:issued" in verdicts[bad.iri].text
    )


def test_provenance_names_the_run():
    store = parsed(item_to_ntriples(ITEM, "20261126T000000Z", RESOLVER, SOURCE).ntriples)
    assert value(store, "http://www.w3.org/ns/prov#wasGeneratedBy") == [
        "https://gongkai.example.org/id/run/20261126T000000Z"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('a"b', '"a\\"b"'), ("a\\b", '"a\\\\b"'), ("a\nb", '"a\\nb"'), ("a\x00b", '"ab"')],
)
def test_literals_are_escaped(raw, expected):
    assert literal(raw) == expected


def test_iris_with_spaces_are_percent_encoded():
    assert iri("https://x.org/a b<c>") == "<https://x.org/a%20b%3Cc%3E>"


def test_a_withdrawn_notice_is_kept_and_marked_with_its_day():
    item = dict(ITEM, withdrawn="2026-11-20")
    store = parsed(item_to_ntriples(item, "r", RESOLVER, SOURCE).ntriples)
    assert value(store, GK + "withdrawn") == ["true"]
    assert value(store, "http://www.w3.org/ns/prov#invalidatedAtTime") == [
        "2026-11-20T00:00:00+08:00"
    ]


def test_an_edited_notice_links_its_previous_version():
    item = dict(ITEM, version=2, previous_sha256="cd" * 32)
    mapped = item_to_ntriples(item, "r", RESOLVER, SOURCE)
    store = parsed(mapped.ntriples)
    assert value(store, GK + "previousVersion") == [mapped.iri + "#v1"]
    prev = store.quads_for_pattern(
        ox.NamedNode(mapped.iri + "#v1"), ox.NamedNode(GK + "sha256"), None
    )
    assert [q.object.value for q in prev] == ["cd" * 32]


def test_a_broken_attachment_link_is_encoded_and_the_notice_loads() -> None:
    item = dict(ITEM, attachments=["https://www.ybq.gov.cn/fj/预算%zz.pdf"])
    mapped = item_to_ntriples(item, "r", RESOLVER, SOURCE)
    store = ox.Store()
    store.bulk_load(input=mapped.ntriples.encode(), format=ox.RdfFormat.N_TRIPLES)  # strict
    assert value(store, GK + "attachment") == ["https://www.ybq.gov.cn/fj/预算%25zz.pdf"]
    assert mapped.problems == []


def test_an_attachment_link_that_is_no_iri_is_left_out_as_a_problem() -> None:
    item = dict(ITEM, attachments=["http://[www.ybq.gov.cn/a.pdf", ITEM["attachments"][0]])
    mapped = item_to_ntriples(item, "r", RESOLVER, SOURCE)
    assert value(parsed(mapped.ntriples), GK + "attachment") == [ITEM["attachments"][0]]
    assert len(mapped.problems) == 1
    assert mapped.problems[0].startswith("attachment link is not an IRI: ")


def test_a_page_url_that_is_no_iri_leaves_no_source_page() -> None:
    mapped = item_to_ntriples(dict(ITEM, url="http://[x/t1.html"), "r", RESOLVER, SOURCE)
    assert value(parsed(mapped.ntriples), GK + "sourcePage") == []
    assert mapped.problems[0].startswith("page URL is not an IRI: ")
