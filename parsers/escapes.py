"""Decoding of the escapes web servers write into log fields.

nginx (escape=default) writes `\\xHH` with upper-case hex, Apache writes
`\\"`, `\\\\`, C escapes and `\\xhh` with lower-case hex; nginx escape=json
writes JSON string escapes. Only values that contain a backslash need work,
which is a tiny share of real logs, so those few values are decoded in
Python and scattered back; every other value is left untouched.
"""

from __future__ import annotations

import json
import re
from enum import Enum

import numpy as np
import polars as pl


class Escaping(str, Enum):
    """How a format escapes special bytes inside field values."""

    CLF = "clf"  # nginx escape=default and Apache: \xHH either case, \" \\ and C escapes
    JSON = "json"  # nginx escape=json
    NONE = "none"  # nginx escape=none


_CLF_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|[\"\\bnrtvf])")
_C_ESCAPES = {b'"': b'"', b"\\": b"\\", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v", b"f": b"\f"}
_JSON_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|[\"\\/bfnrt])")
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _clf_replacement(match: re.Match[bytes]) -> bytes:
    token = match.group(1)
    if token[:1] == b"x":
        return bytes((int(token[1:], 16),))
    return _C_ESCAPES[token]


def decode_clf(text: str) -> str:
    """Decode nginx/Apache escapes; bytes that do not form UTF-8 become U+FFFD."""
    raw = text.encode("utf-8", "surrogateescape")
    return _CLF_ESCAPE.sub(_clf_replacement, raw).decode("utf-8", "replace")


def _json_replacement(match: re.Match[str]) -> str:
    token = match.group(1)
    if token[0] == "u":
        return chr(int(token[1:], 16))
    return _JSON_SIMPLE[token]


def decode_json(text: str) -> str:
    """Decode JSON string escapes, tolerating the raw control bytes json.loads refuses."""
    try:
        value = json.loads(f'"{text}"')
    except ValueError:
        value = _JSON_ESCAPE.sub(_json_replacement, text)
    return value.encode("utf-8", "replace").decode("utf-8", "replace") if isinstance(value, str) else text


_DECODERS = {Escaping.CLF: decode_clf, Escaping.JSON: decode_json}


def unescape_series(values: pl.Series, escaping: Escaping) -> pl.Series:
    """Decode escapes in the few values that have a backslash; leave the rest as they are."""
    decoder = _DECODERS.get(escaping)
    if decoder is None or values.dtype != pl.String:
        return values
    marked = values.str.contains("\\", literal=True).fill_null(False)
    if not marked.any():
        return values
    indices = np.flatnonzero(marked.to_numpy())
    decoded = [decoder(v) for v in values.gather(indices).to_list()]
    return values.scatter(indices, decoded)
