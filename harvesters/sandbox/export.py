"""`gongkai sandbox --export DIR`: the sandbox's TRS-family portals as static files.

For benchmarks: a static web server (nginx) serves them far faster than the sandbox computes
them, so the harvester is what gets measured. Hanweb portals need POST (`dataproxy.jsp`) and
are left out; faults are not exported. ETags and 304s come from the static server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from harvesters.registry import Source
from harvesters.sandbox.server import Sandbox, SandboxConfig


class _Request:
    headers: dict[str, str] = {}
    method = "GET"


def export(
    sources: list[Source],
    out: Path,
    *,
    per_source: int,
    seed: int = 2014,
    epoch: int = 1,
    churn: Any = None,
) -> int:
    """Write every list and detail page and every attachment of the TRS/TRS-2017 sources;
    returns the file count."""
    sources = [s for s in sources if s.family in ("trs", "trs2017")]
    sandbox = Sandbox(SandboxConfig(tuple(sources), per_source, seed, None, None, epoch, churn))
    written = 0

    async def one(source: Source, path: str) -> bytes:
        page = await sandbox.page(source, path, _Request())
        assert page.status == 200, (path, page.status)
        return page.body

    async def run() -> None:
        nonlocal written
        for source in sources:
            root = out / source.id
            _, total = sandbox.entries(source, 0, 0)
            pages = max(1, -(-total // 20))
            for page in range(pages):
                name = "index.html" if page == 0 else f"index_{page}.html"
                path = f"{source.live_path}{name}"
                target = root / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(await one(source, path))
                written += 1
            for n in sandbox.live(source):
                notice = sandbox.notice(source, n)
                path = sandbox.detail_path(source, notice).removeprefix(f"/{source.id}")
                target = root / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(await one(source, path))
                written += 1
                for name in notice.attachments:  # fetched by the crawl like any page
                    attachment = f"{path.rsplit('/', 1)[0]}/{name}"
                    (root / attachment.lstrip("/")).write_bytes(await one(source, attachment))
                    written += 1
        (out / "robots.txt").write_text(sandbox.robots_txt)

    asyncio.run(run())
    return written
