"""Writing N-Triples directly: rdflib objects cost ~40 µs a triple we do not need to spend.

Every IRI written here is checked with the IRI parser the store itself uses (pyoxigraph's
`NamedNode`, RFC 3987), so what we write always loads: one harvested link such as
`a%zz.pdf` or `x#1#2` used to stop a whole publish (`bulk_load` rejects the file), and since
nothing invalid can be written, publishing can skip that check (endpoint/store.py).
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

from pyoxigraph import NamedNode

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LITERAL_RE = re.compile(r'[\\"\n\r\t]')
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Characters N-Triples forbids in an IRI (and space): percent-encode them, keep the rest.
_IRI_BAD_RE = re.compile(r'[\x00-\x20<>"{}|^`\\]')

XSD = "http://www.w3.org/2001/XMLSchema#"


# Repairing a harvested link: the scheme and authority are kept as they are; in the rest a
# "%" that starts no escape, every "#" after the first and any character RFC 3987 does not
# allow there (ipchar, "/", "?" and ucschar) is percent-encoded.
_HEAD_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*:(?://[^/?#]*)?)(.*)", re.S)
_STRAY_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# ucschar: U+A0–D7FF, F900–FDCF, FDF0–FFEF, then each plane 1–14 less its last two code
# points (plane 14 from E1000).
_UCSCHAR = "\\u00a0-\\ud7ff\\uf900-\\ufdcf\\ufdf0-\\uffef" + "".join(
    f"\\U{p:04x}{0x1000 if p == 0xE else 0:04x}-\\U{p:04x}fffd" for p in range(1, 15)
)
_NOT_IN_IRI_RE = re.compile(f"[^-A-Za-z0-9._~!$&'()*+,;=:@/?%{_UCSCHAR}]")


def _encoded(part: str) -> str:
    return _NOT_IN_IRI_RE.sub(lambda m: quote(m.group(0), safe="", errors="surrogatepass"), part)


class NotAnIRI(ValueError):
    """A value that no percent-encoding makes an absolute IRI (no scheme, a broken host)."""


@lru_cache(maxsize=4096)  # the same predicates and classes ~20 times a notice: checked once
def iri(value: str) -> str:
    """`<value>` as N-Triples, percent-encoding what the IRI grammar forbids; an IRI that is
    valid already is written unchanged. Raises `NotAnIRI` when no encoding helps."""
    text = _IRI_BAD_RE.sub(lambda m: quote(m.group(0), safe=""), value)
    try:
        NamedNode(text)
    except ValueError:
        text = _repaired(text)
    return "<" + text + ">"


def _repaired(text: str) -> str:
    head = _HEAD_RE.fullmatch(text)
    if head is None:
        raise NotAnIRI(f"not an absolute IRI: {text[:200]!r}")
    start, rest = head.groups()
    rest = _STRAY_PERCENT_RE.sub("%25", rest)
    path, hash_, fragment = rest.partition("#")
    text = start + _encoded(path) + hash_ + _encoded(fragment)
    try:
        NamedNode(text)
    except ValueError as exc:
        raise NotAnIRI(f"not an IRI ({exc}): {text[:200]!r}") from None
    return text


def literal(value: str, *, lang: str | None = None, datatype: str | None = None) -> str:
    text = _CONTROL_RE.sub("", value)
    text = _LITERAL_RE.sub(lambda m: _ESCAPES[m.group(0)], text)
    if lang:
        return f'"{text}"@{lang}'
    if datatype and datatype != XSD + "string":
        return f'"{text}"^^<{datatype}>'
    return f'"{text}"'


def triple(s: str, p: str, o: str) -> str:
    """One N-Triples line from already-serialised terms."""
    return f"{s} {p} {o} .\n"
