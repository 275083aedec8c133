"""The sandbox: deterministic notices, TRS list pagination, detail pages that round-trip."""

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from harvesters.registry import load_sources
from harvesters.sandbox.generate import make_notice
from harvesters.sandbox.server import Sandbox, SandboxConfig

SOURCE = next(s for s in load_sources() if s.id == "yuzhong")


def fetch(sandbox: Sandbox, path: str) -> tuple[int, str]:
    async def go():
        async with TestClient(TestServer(sandbox.app())) as client:
            response = await client.get(path)
            return response.status, await response.text()

    return asyncio.run(go())


def test_a_notice_is_a_pure_function_of_seed_source_and_number():
    assert make_notice(7, SOURCE, 3, 20) == make_notice(7, SOURCE, 3, 20)


def test_another_seed_gives_another_notice():
    assert make_notice(7, SOURCE, 3, 20).title != make_notice(8, SOURCE, 3, 20).title or (
        make_notice(7, SOURCE, 3, 20).publisher != make_notice(8, SOURCE, 3, 20).publisher
    )


def test_list_page_announces_its_page_count_the_trs_way():
    sandbox = Sandbox(SandboxConfig((SOURCE,), per_source=45))
    status, html = fetch(sandbox, f"/yuzhong{SOURCE.live_path}index.html")
    assert status == 200
    assert "createPageHTML('page_div', 3, 0, 'index', 'html', 45)" in html


def test_second_list_page_is_index_1():
    sandbox = Sandbox(SandboxConfig((SOURCE,), per_source=45))
    status, html = fetch(sandbox, f"/yuzhong{SOURCE.live_path}index_1.html")
    assert status == 200 and html.count("<li>") == 20


def test_page_past_the_end_is_404():
    sandbox = Sandbox(SandboxConfig((SOURCE,), per_source=45))
    assert fetch(sandbox, f"/yuzhong{SOURCE.live_path}index_3.html")[0] == 404


def test_detail_page_carries_the_metadata_table(tmp_path):
    department = next(s for s in load_sources() if s.id == "czj")  # standard TRS layout
    sandbox = Sandbox(SandboxConfig((department,), per_source=5))
    sandbox.write_truth(tmp_path / "truth.jsonl", "http://sandbox")
    record = json.loads((tmp_path / "truth.jsonl").read_text().splitlines()[0])
    path = record["url"].removeprefix("http://sandbox")
    status, html = fetch(sandbox, path)
    assert status == 200
    assert f'<td class="t2">{record["index_no"]}</td>' in html


def test_truth_has_one_line_per_notice(tmp_path):
    sandbox = Sandbox(SandboxConfig((SOURCE,), per_source=7))
    assert sandbox.write_truth(tmp_path / "t.jsonl", "http://s") == 7
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 7


def test_unknown_document_is_404():
    sandbox = Sandbox(SandboxConfig((SOURCE,), per_source=5))
    assert fetch(sandbox, f"/yuzhong{SOURCE.live_path}201409/t20140901_1.html")[0] == 404
