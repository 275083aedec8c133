"""A PNG chart of one benchmark result, without dependencies (zlib + a 5×7 bitmap font).

Top: wall time per stage (light bar) with its CPU time (dark bar inside; above the light bar
when the stage used both cores). Bottom: the ratios ours/anchor, with 1.0 marked.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

# 5×7 glyphs, one string of 5 bits per row, top row first. Lower case is drawn as upper case.
_FONT_ROWS = {
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    " ": "00000 00000 00000 00000 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00001 00001 00010 00100 01000 10000 10000",
    "%": "11001 11010 00010 00100 01000 01011 10011",
    "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    "+": "00000 00100 00100 11111 00100 00100 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000",
    "<": "00010 00100 01000 10000 01000 00100 00010",
    ">": "01000 00100 00010 00001 00010 00100 01000",
    "_": "00000 00000 00000 00000 00000 00000 11111",
    "*": "00000 00100 10101 01110 10101 00100 00000",
    "?": "01110 10001 00001 00010 00100 00000 00100",
    "[": "01110 01000 01000 01000 01000 01000 01110",
    "]": "01110 00010 00010 00010 00010 00010 01110",
    ";": "00000 01100 01100 00000 01100 00100 01000",
    "'": "00100 00100 01000 00000 00000 00000 00000",
    "|": "00100 00100 00100 00100 00100 00100 00100",
}
FONT = {ch: [int(r, 2) for r in rows.split()] for ch, rows in _FONT_ROWS.items()}

WHITE = (255, 255, 255)
BLACK = (30, 30, 30)
GREY = (200, 200, 200)
LIGHT = (158, 202, 225)
DARK = (33, 113, 181)
ANCHOR = (253, 174, 107)
GOOD = (116, 196, 118)
BAD = (239, 59, 44)


class Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.px = bytearray(WHITE * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        x0, x1 = max(0, min(x0, x1)), min(self.w, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.h, max(y0, y1))
        row = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            i = (y * self.w + x0) * 3
            self.px[i : i + len(row)] = row

    def text(self, x: int, y: int, s: str, scale: int = 2, color=BLACK) -> int:
        for ch in s.upper():
            glyph = FONT.get(ch, FONT["?"])
            for r, bits in enumerate(glyph):
                for c in range(5):
                    if bits & (1 << (4 - c)):
                        self.rect(
                            x + c * scale,
                            y + r * scale,
                            x + (c + 1) * scale,
                            y + (r + 1) * scale,
                            color,
                        )
            x += 6 * scale
        return x

    def png(self) -> bytes:
        raw = b"".join(
            b"\0" + bytes(self.px[y * self.w * 3 : (y + 1) * self.w * 3]) for y in range(self.h)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        head = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", head)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def _fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def _bars(r: dict[str, Any]) -> list[tuple[str, float, float | None, tuple]]:
    """(label, wall seconds, CPU seconds or None, color) for the top panel."""
    s, a = r["stages"], r.get("anchors", {})
    order = ("harvest", "attachments", "map_validate", "publish", "dumps", "search_index")
    rows: list[tuple[str, float, float | None, tuple]] = [
        (
            name.replace("_validate", "+validate").replace("_", " "),
            s[name]["wall_s"],
            s[name]["cpu_s"],
            LIGHT,
        )
        for name in order
        if name in s
    ]
    if "naive_shacl" in a:
        nv = a["naive_shacl"]
        rows.append(
            (f"naive shacl {nv['notices']}", nv["naive"]["wall_s"], nv["naive"]["cpu_s"], ANCHOR)
        )
        b = nv["batched_one_process"]
        rows.append(("batched shacl 1 proc", b["wall_s"], b["cpu_s"], ANCHOR))
    if "bulk_load" in a:
        rows.append(("raw bulk_load", a["bulk_load"]["wall_s"], a["bulk_load"]["cpu_s"], ANCHOR))
        if "named_graphs" in a["bulk_load"]:
            nb = a["bulk_load"]["named_graphs"]
            rows.append(("raw bulk_load named", nb["wall_s"], nb["cpu_s"], ANCHOR))
        if "publish_replay" in a["bulk_load"]:
            pr = a["bulk_load"]["publish_replay"]
            rows.append(("store write (median)", pr["wall_s"], pr["cpu_s"], ANCHOR))
    if "incr_harvest" in s:
        incr = [k for k in s if k.startswith("incr_")]
        total = sum(s[k]["wall_s"] for k in incr)
        cpu = sum(s[k]["cpu_s"] for k in incr)
        rows.append(("daily run (epoch 2)", total, cpu, LIGHT))
    return rows


def render(r: dict[str, Any], out: Path) -> Path:
    bars = _bars(r)
    ratios = [(k, float(v)) for k, v in r.get("ratios", {}).items()]
    left, right, row_h = 300, 40, 34
    width = 1100
    top_h = 60 + len(bars) * row_h
    height = 90 + top_h + 50 + max(1, len(ratios)) * row_h + 40
    c = Canvas(width, height)
    peak = r.get("peak_rss_bytes", 0) / 2**30
    c.text(
        20,
        16,
        f"gongkai bench: {r['notices']} notices, serving after "
        f"{_fmt(r.get('to_serving_s', r['end_to_end_s']))} s, all {_fmt(r['end_to_end_s'])} s, "
        f"peak rss {peak:.2f} gib",
        2,
    )
    c.text(20, 50, f"{r.get('started', '')}  load {r['machine'].get('loadavg_start')}", 2, GREY)

    # -- top: seconds per stage --------------------------------------------------------------
    y = 90
    c.text(20, y, "seconds (light: wall, dark: cpu; orange: anchors)", 2)
    y += 34
    span = max(max(w, cpu or 0) for _, w, cpu, _ in bars) or 1
    scale = (width - left - right - 90) / span
    for label, wall, cpu, color in bars:
        c.text(20, y + 8, label, 2)
        c.rect(left, y, left + int(wall * scale), y + row_h - 8, color)
        if cpu is not None:
            dark = DARK if color == LIGHT else (217, 72, 1)
            c.rect(left, y + 8, left + int(cpu * scale), y + row_h - 16, dark)
        end = left + int(max(wall, cpu or 0) * scale)
        c.text(end + 8, y + 8, _fmt(wall), 2)
        y += row_h
    c.rect(left, 124, left + 1, y, BLACK)

    # -- bottom: ratios ----------------------------------------------------------------------
    y += 30
    c.text(20, y, "ratios ours/anchor (line: 1.0)", 2)
    y += 34
    rmax = max([v for _, v in ratios] + [1.2])
    rscale = (width - left - right - 90) / rmax
    y0 = y
    names = {
        "harvest_pages_per_s_vs_scrapy_bench": "harvest / scrapy bench",
        "validate_cpu_naive_over_batched": "naive / batched cpu",
        "validate_wall_naive_over_stage": "naive / stage wall",
        "validate_memory_naive_over_stage": "naive / stage memory",
        "publish_store_vs_bulk_load": "store / bulk_load",
        "publish_store_vs_bulk_load_named": "store / bulk_load named",
        "publish_stage_vs_bulk_load": "publish / bulk_load",
        "publish_replay_vs_bulk_load": "store / bulk_load med",
        "publish_replay_vs_bulk_load_named": "store / named med",
    }
    for key, v in ratios:
        c.text(20, y + 8, names.get(key, key.replace("_", " ")), 2)
        good = v >= 0.8 if key.startswith("publish") else v >= 1.0
        c.rect(left, y, left + int(v * rscale), y + row_h - 8, GOOD if good else BAD)
        end = left + int(v * rscale)
        c.text(end + 8 if abs(end - (left + int(rscale))) > 6 else end + 14, y + 8, _fmt(v), 2)
        y += row_h
    one = left + int(rscale)
    c.rect(one, y0 - 4, one + 2, y, BLACK)
    c.rect(left, y0 - 4, left + 1, y, BLACK)
    out = Path(out)
    out.write_bytes(c.png())
    return out
