"""IRIs as N-Triples: whatever `iri` writes, the store's strict parser accepts."""

import pyoxigraph as ox
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ontology.ntriples import NotAnIRI, iri


def loads_strictly(term: str) -> bool:
    line = f"<http://example.org/s> <http://example.org/p> {term} .\n"
    ox.Store().bulk_load(input=line.encode(), format=ox.RdfFormat.N_TRIPLES)
    return True


@pytest.mark.parametrize(
    "value",
    [
        "https://www.ybq.gov.cn/zwgk_159/202105/t20210510_9345678.html",
        "https://www.cq.gov.cn/附件/2021年预算.xlsx",
        "http://a.example/x?q=1&r=%E4%B8%AD#part",
    ],
)
def test_a_valid_iri_is_written_unchanged(value: str) -> None:
    assert iri(value) == f"<{value}>"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("http://a.example/b%zz.pdf", "<http://a.example/b%25zz.pdf>"),
        ("http://a.example/x.pdf#p1#p2", "<http://a.example/x.pdf#p1%23p2>"),
        ("http://a.example/[1].pdf", "<http://a.example/%5B1%5D.pdf>"),
        ("http://a.example/a b.pdf", "<http://a.example/a%20b.pdf>"),
        ("http://a.example/x\ufffd.doc", "<http://a.example/x%EF%BF%BD.doc>"),
    ],
)
def test_a_broken_link_is_percent_encoded_into_an_iri(value: str, written: str) -> None:
    assert iri(value) == written
    assert loads_strictly(written)


@pytest.mark.parametrize("value", ["files/a.pdf", "http://[bad/x.pdf", ""])
def test_what_no_encoding_repairs_is_refused(value: str) -> None:
    with pytest.raises(NotAnIRI):
        iri(value)


@given(st.text(max_size=40))
def test_any_path_under_a_host_becomes_a_loadable_iri(tail: str) -> None:
    assert loads_strictly(iri("http://a.example/" + tail))


@given(st.text(max_size=40))
def test_any_text_is_a_loadable_iri_or_refused(value: str) -> None:
    try:
        term = iri(value)
    except NotAnIRI:
        return
    assert loads_strictly(term)
