"""The pages in a real browser: the query page runs an example, notice pages render, and
hostile harvested text is shown as text and never runs."""

from __future__ import annotations

import pytest
from ld_data import HOSTILE, HOSTILE_NOTICE, NOTICE

from endpoint import pages
from ontology.namespaces import BASE

pytestmark = pytest.mark.services


def _id_path(iri: str) -> str:
    return "/" + iri[len(BASE) :]


def _csp_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if "Content Security Policy" in e]


def test_notice_page_renders(page, live_server: str) -> None:
    page.goto(live_server + _id_path(NOTICE))  # /id/… → 303 → /doc/…
    assert page.url == live_server + "/doc/" + NOTICE[len(BASE) + 3 :]
    assert page.locator("h1").inner_text() == "渝中区2024年第1期行政处罚案件信息公开"
    assert page.locator("table.props").count() >= 1
    assert page.get_by_role("link", name="重庆市渝中区人民政府").count() >= 1
    page.screenshot(path="/tmp/gongkai-notice-page.png", full_page=True)
    assert page.offsite == []
    assert _csp_errors(page.errors) == []


def test_hostile_title_is_text(page, live_server: str) -> None:
    page.goto(live_server + _id_path(HOSTILE_NOTICE))
    page.wait_for_timeout(300)
    assert page.title() != "pwned" and "pwned" not in page.title().split(" · ")[-1]
    assert page.locator("h1").inner_text() == HOSTILE
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.dialogs == []
    # the javascript: IRI harvested as the source page is shown, never a link
    assert page.locator('a[href^="javascript:"]').count() == 0
    assert page.offsite == []


def test_query_page_runs_an_example(page, live_server: str) -> None:
    if not pages.assets_built():
        pytest.skip(
            "YASGUI assets are not built (make assets)"
        ) if not _required() else pytest.fail("YASGUI assets are not built (make assets)")
    page.goto(live_server + "/query")
    page.wait_for_selector(".yasqe .CodeMirror")
    page.locator('a.run[data-example="09-largest-publishers"]').click()
    page.locator(".yasr tbody tr:visible").first.wait_for(timeout=20_000)
    table = page.locator(".yasr table:visible").first.inner_text()
    assert "重庆市渝中区人民政府" in table
    page.screenshot(path="/tmp/gongkai-query-page.png", full_page=True)
    assert page.offsite == []  # no CDN, no prefix.cc, no LOV
    assert _csp_errors(page.errors) == []


def test_query_results_show_hostile_text_as_text(page, live_server: str) -> None:
    if not pages.assets_built():
        pytest.skip("YASGUI assets are not built (make assets)")
    query = (
        "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        f"SELECT ?title WHERE {{ <{HOSTILE_NOTICE}> dcterms:title ?title }}"
    )
    from urllib.parse import quote

    page.goto(live_server + "/query#query=" + quote(query, safe=""))
    page.locator(".yasr tbody tr:visible").first.wait_for(timeout=20_000)
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.title() != "pwned"
    assert page.locator(".yasr img[src='x']").count() == 0
    assert "document.title" in page.locator(".yasr tbody:visible").first.inner_text()


def _required() -> bool:
    import os

    return os.environ.get("GONGKAI_REQUIRE_SERVICES") == "1"
