"""Item pipeline: one JSON-lines file per source and run, written as items arrive.

When the spider closes, the known items it did not fetch again (incremental runs) are appended
too, so a run's items always hold every notice the source is known to have; the spider hands
most of them over as the JSON line the state stored (a `str`), written as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from gongkai.config import DataDir
from gongkai.items import normalise_item


class JsonLinesPerSource:
    def __init__(self, crawler):
        self.crawler = crawler
        settings = crawler.settings
        self.data = DataDir(Path(settings.get("GONGKAI_DATA_PATH")))
        self.run_id = settings.get("GONGKAI_RUN_ID")
        self.file: IO[str] | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        path = self.data.items(self.run_id, self.crawler.spider.source.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")

    def close_spider(self) -> None:
        if self.file is None:
            return
        spider = self.crawler.spider
        write = self.file.write
        for item in spider.finish() if hasattr(spider, "finish") else ():
            if isinstance(item, str):  # a carried-over item: its stored JSON line, as it is
                write(item)
            else:
                self.write(item)
        self.file.close()

    def write(self, item: dict[str, Any]) -> None:
        assert self.file is not None
        self.file.write(json.dumps(normalise_item(item), ensure_ascii=False) + "\n")

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.write(item)
        return item
