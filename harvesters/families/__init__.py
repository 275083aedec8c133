"""One parser per CMS family: `parse(sel, url) -> dict` of the fields the family's markup gives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import parsel

from harvesters.families import generic, hanweb, trs, trs2017

FAMILIES = ("trs", "trs2017", "hanweb", "generic")

PARSERS: dict[str, Callable[[parsel.Selector, str], dict[str, Any]]] = {
    "trs": trs.parse,
    "trs2017": trs2017.parse,
    "hanweb": hanweb.parse,
    "generic": generic.parse,
}

__all__ = ["FAMILIES", "PARSERS", "generic", "hanweb", "trs", "trs2017"]
