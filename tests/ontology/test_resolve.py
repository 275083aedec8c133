"""Publisher strings as portals print them → agency IRIs (ontology/resolve.py)."""

from __future__ import annotations

import random

import pytest

from harvesters.registry import sources_by_id
from ontology.namespaces import agency_iri
from ontology.resolve import PublisherResolver, printed_names


@pytest.fixture(scope="module")
def resolver() -> PublisherResolver:
    return PublisherResolver.load()


@pytest.fixture(scope="module")
def src():
    return sources_by_id()


def test_load_is_cached():
    assert PublisherResolver.load() is PublisherResolver.load()


def test_full_name(resolver):
    assert resolver.resolve("重庆市发展和改革委员会") == agency_iri("fzggw")


def test_municipal_abbreviation(resolver):
    assert resolver.resolve("市发改委") == agency_iri("fzggw")


def test_city_prefixed_abbreviation(resolver):
    assert resolver.resolve("重庆市发改委") == agency_iri("fzggw")


def test_district_government_short_form(resolver):
    assert resolver.resolve("渝北区政府") == agency_iri("yubei")


def test_district_government_with_city_prefix(resolver):
    assert resolver.resolve("重庆市渝北区人民政府") == agency_iri("yubei")


def test_county_government_printed_with_city_prefix(resolver):
    assert resolver.resolve("重庆市城口县人民政府") == agency_iri("chengkou")


def test_district_department_abbreviation(resolver):
    assert resolver.resolve("渝北区市场监管局") == agency_iri("yubei-scjgj")


def test_district_police_branch(resolver):
    assert resolver.resolve("重庆市公安局渝北区分局") == agency_iri("yubei-gaj")


def test_autonomous_county_short_name(resolver):
    assert resolver.resolve("石柱县财政局") == agency_iri("shizhu-czj")


def test_special_area_department(resolver):
    assert resolver.resolve("重庆两江新区财政局") == agency_iri("liangjiang-czj")


def test_special_area_committee_with_city_prefix(resolver):
    assert resolver.resolve("重庆市万盛经济技术开发区管理委员会") == agency_iri("wansheng")


def test_former_county_name_resolves_to_the_district(resolver):
    assert resolver.resolve("开县人民政府") == agency_iri("kaizhou")


def test_former_county_department(resolver):
    assert resolver.resolve("璧山县财政局") == agency_iri("bishan-czj")


def test_2014_lead_agency_abbreviation(resolver):
    assert resolver.resolve("市环保局") == agency_iri("hbj")


def test_general_office_is_the_municipal_government(resolver):
    assert resolver.resolve("重庆市人民政府办公厅") == agency_iri("szf")


def test_whitespace_inside_is_ignored(resolver):
    assert resolver.resolve(" 重庆市　财政局\n") == agency_iri("czj")


def test_full_width_characters_are_normalised(resolver):
    assert resolver.resolve("［重庆市财政局］") == agency_iri("czj")


def test_trailing_punctuation_is_ignored(resolver):
    assert resolver.resolve("市财政局。") == agency_iri("czj")


def test_field_label_is_ignored(resolver):
    assert resolver.resolve("发布机构：市财政局") == agency_iri("czj")


def test_agreeing_bracketed_name(resolver):
    assert resolver.resolve("重庆市人民政府（市政府办公厅）") == agency_iri("szf")


def test_trailing_office_of_a_government(resolver):
    assert resolver.resolve("重庆市渝北区人民政府办公室") == agency_iri("yubei")


def test_office_that_is_an_agency_keeps_its_name(resolver):
    assert resolver.resolve("重庆市人民政府外事办公室") == agency_iri("zfwb")


def test_relative_department_in_district_context(resolver, src):
    assert resolver.resolve("区市场监管局", src["yubei"]) == agency_iri("yubei-scjgj")


def test_relative_department_in_county_context(resolver, src):
    assert resolver.resolve("县财政局", src["chengkou"]) == agency_iri("chengkou-czj")


def test_relative_government_in_district_context(resolver, src):
    assert resolver.resolve("区政府", src["yubei"]) == agency_iri("yubei")


def test_relative_government_office_in_district_context(resolver, src):
    assert resolver.resolve("区政府办公室", src["yubei"]) == agency_iri("yubei")


def test_new_area_relative_form(resolver, src):
    assert resolver.resolve("新区财政局", src["liangjiang"]) == agency_iri("liangjiang-czj")


def test_bare_department_name_on_a_district_portal(resolver, src):
    assert resolver.resolve("发展改革委", src["yubei"]) == agency_iri("yubei-fzggw")


def test_bare_department_name_on_its_own_portal(resolver, src):
    assert resolver.resolve("发展改革委", src["fzggw"]) == agency_iri("fzggw")


def test_this_bureau_on_a_bureau_portal(resolver, src):
    assert resolver.resolve("本局", src["czj"]) == agency_iri("czj")


def test_this_bureau_on_a_commission_portal_is_unknown(resolver, src):
    assert resolver.resolve("本局", src["fzggw"]) is None


def test_this_bureau_on_a_district_portal_is_ambiguous(resolver, src):
    assert resolver.resolve("本局", src["yubei"]) is None


def test_relative_form_without_source_is_not_guessed(resolver):
    iri, reason = resolver.resolve_or_reason("区市场监管局")
    assert iri is None
    assert "relative" in reason


def test_district_form_on_a_department_portal_is_not_guessed(resolver, src):
    assert resolver.resolve("区政府", src["czj"]) is None


def test_bare_name_of_another_department_is_not_guessed(resolver, src):
    assert resolver.resolve("财政局", src["fzggw"]) is None


def test_county_form_on_a_district_portal_is_not_guessed(resolver, src):
    assert resolver.resolve("县财政局", src["yubei"]) is None


def test_joint_publishers_give_none(resolver):
    iri, reason = resolver.resolve_or_reason("市财政局、市发展改革委")
    assert iri is None
    assert "joint" in reason


def test_unknown_name_gives_none_with_reason(resolver):
    assert resolver.resolve_or_reason("渝北区龙溪街道办事处") == (None, "unknown name")


def test_empty_string(resolver):
    assert resolver.resolve_or_reason("  ") == (None, "empty")


def test_reason_names_the_rule(resolver, src):
    assert resolver.resolve_or_reason("区政府", src["yubei"]) == (
        agency_iri("yubei"),
        "relative to yubei",
    )


def test_printed_names_include_the_preferred_label_first():
    assert printed_names(agency_iri("fzggw"))[0] == "重庆市发展和改革委员会"


def test_printed_names_include_bare_forms():
    assert "发展改革委" in printed_names(agency_iri("fzggw"))


def test_printed_names_anywhere_leave_out_bare_forms():
    names = printed_names(agency_iri("fzggw"), anywhere=True)
    assert "市发改委" in names
    assert "发展改革委" not in names


def test_no_anchored_label_names_two_agencies(resolver):
    clashes = [
        name
        for slug in resolver.agencies
        for name in resolver.printed_names(slug)
        if "ambiguous" in resolver.resolve_or_reason(name)[1]
    ]
    assert clashes == []


def home_sources(resolver: PublisherResolver, src: dict) -> dict[str, object]:
    """The portal each agency publishes on: its own, else its district's (None: no portal)."""
    by_agency = {s.agency: s for s in src.values()}
    home = {}
    for slug in resolver.agencies:
        parent = slug.split("-", 1)[0]
        home[slug] = by_agency.get(slug) or (by_agency.get(parent) if "-" in slug else None)
    return home


def test_every_printed_name_resolves_back_on_its_home_portal(resolver, src):
    home = home_sources(resolver, src)
    failures = [
        (slug, name)
        for slug in resolver.agencies
        for name in resolver.printed_names(slug)
        if resolver.resolve(name, home[slug]) != agency_iri(slug)
    ]
    assert failures == []


def noisy(name: str, rng: random.Random) -> str:
    """A publisher string as portals mangle it: spaces, full width, brackets, office suffix."""
    variants = [
        lambda s: f" {s} ",
        lambda s: "　".join(s),
        lambda s: s.translate({ord(c): ord(c) + 0xFEE0 for c in "()[]:"}),
        lambda s: f"【{s}】",
        lambda s: f"{s}。",
        lambda s: f"发布机构：{s}",
        lambda s: s if s.startswith("重庆") else f"重庆市{s[1:]}" if s.startswith("市") else s,
        lambda s: f"{s}办公室" if s.endswith("政府") else s,
    ]
    return rng.choice(variants)(name)


def test_realistic_publisher_strings_resolve_at_least_99_percent(resolver, src):
    rng = random.Random(2014)
    home = home_sources(resolver, src)
    cases = [
        (slug, noisy(rng.choice(resolver.printed_names(slug)), rng))
        for slug in resolver.agencies
        for _ in range(5)
    ]
    wrong = [(s, n) for s, n in cases if resolver.resolve(n, home[s]) != agency_iri(s)]
    assert len(wrong) <= len(cases) * 0.01, wrong[:20]


def test_distinct_strings_resolve_fast(src):
    import time

    resolver = PublisherResolver.load()
    names = [f"{n}{i}" for i in range(5) for n in printed_names("yubei-czj")] * 500
    start = time.perf_counter()
    for name in names:
        resolver.resolve(name, src["yubei"])
    assert time.perf_counter() - start < 2.0
