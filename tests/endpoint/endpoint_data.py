"""Test data shared by the endpoint tests (a plain module: conftest is not importable)."""

from __future__ import annotations

from pathlib import Path

EX = "http://example.org/"
GRAPH_A = EX + "graph/a"
GRAPH_B = EX + "graph/b"

NT_A = f"""<{EX}id/a1> <{EX}p> "alpha" .
<{EX}id/a1> <{EX}n> "1"^^<http://www.w3.org/2001/XMLSchema#integer> .
<{EX}id/a2> <{EX}p> "comma, \\"quote\\"\\nnewline" .
<{EX}id/a3> <{EX}p> "重庆市人民政府"@zh .
"""
NT_B = f"""<{EX}id/b1> <{EX}p> "beta" .
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
