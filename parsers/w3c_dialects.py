"""What W3C extended logs are: the writers' dialects and field lists, and CloudFront's encoding.

Shared by the polars reader (parsers/w3c.py) and the machine-code one (parsers/w3c_fast.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from parsers import compiled

_CLOUDFRONT_NAMES = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
    "cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken "
    "x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status "
    "fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)
_IIS_NAMES = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) "
    "sc-status sc-substatus sc-win32-status time-taken"
)
CLOUDFRONT_FIELDS = _CLOUDFRONT_NAMES.split()
IIS_FIELDS = _IIS_NAMES.split()

# Canonical column <- W3C field names, most preferred first (names compared in lower case).
FIELD_SOURCES: dict[str, tuple[str, ...]] = {
    "client_ip": ("c-ip",),
    "method": ("cs-method",),
    "scheme": ("cs-protocol",),
    "host": ("x-host-header", "cs-host", "cs(host)"),
    "path": ("cs-uri-stem",),
    "query": ("cs-uri-query",),
    "protocol": ("cs-protocol-version", "cs-version"),
    "status": ("sc-status",),
    "bytes": ("sc-bytes",),
    "referrer": ("cs(referer)", "cs-referer"),
    "user_agent": ("cs(user-agent)", "cs-user-agent"),
    "content_type": ("sc-content-type", "sc(content-type)"),
    "xff": ("x-forwarded-for", "cs(x-forwarded-for)"),
    "request_time_ms": ("time-taken",),
}
TEXT_COLUMNS = ("client_ip", "method", "scheme", "host", "path", "query", "protocol", "referrer", "user_agent",
         "content_type", "xff")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*(?:\([^()\s]*\))?$")

# CloudFront percent-encodes bytes 0-32 and >= 127 and these characters (and % itself) in every field.
CLOUDFRONT_ENCODED_ASCII = [*range(0x21), 0x7F, *b'"#%<>[\\]^`{|}~\'']
_CF_PATTERNS = [f"%{b:02X}" for b in CLOUDFRONT_ENCODED_ASCII]
_CF_PATTERNS += [f"%{b:02x}" for b in CLOUDFRONT_ENCODED_ASCII if f"{b:02x}" != f"{b:02X}"]
_CF_VALUES = [chr(int(p[1:], 16)) for p in _CF_PATTERNS]
_CF_HIGH = r"%[89A-Fa-f][0-9A-Fa-f]"
_CF_ANY = re.compile(rb"%([0-9A-Fa-f]{2})")
_CF_BYTES = frozenset(CLOUDFRONT_ENCODED_ASCII) | frozenset(range(0x80, 0x100))


def parse_fields_directive(text: str) -> list[str]:
    """`#Fields: a b c` -> names; stops at the first token that is no W3C field name (appended junk)."""
    names: list[str] = []
    for token in text.split(":", 1)[1].split():
        if not _FIELD_NAME.match(token):
            break
        names.append(token)
    return names


def cloudfront_decode_text(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")

    def one(match: re.Match[bytes]) -> bytes:
        byte = int(match.group(1), 16)
        return bytes((byte,)) if byte in _CF_BYTES else match.group(0)

    return _CF_ANY.sub(one, raw).decode("utf-8", "replace")


def cloudfront_decode(values: pl.Series, fast: bool = False) -> pl.Series:
    """Undo CloudFront's own layer of percent-encoding, once (`%2520` -> `%20`, `%20` -> space).

    Only the triplets CloudFront writes are decoded, in one pass, so the client's own encoding
    underneath is kept. Encoded bytes >= 0x80 (raw UTF-8 the client sent) are rare: those few
    values are decoded in Python so multi-byte characters come out whole. `fast` does the ASCII
    layer in machine code (parsers/kernel.py) instead of polars' replace_many: same result.
    """
    if values.dtype != pl.String or values.len() == 0 or not values.str.contains("%", literal=True).any():
        return values
    if fast:
        decoded, high = compiled.cloudfront_unescape(values)
    else:
        high = values.str.contains(_CF_HIGH).fill_null(False).to_numpy()
        decoded = values.str.replace_many(_CF_PATTERNS, _CF_VALUES)
    if not high.any():
        return decoded
    indices = np.flatnonzero(high)
    return decoded.scatter(indices, [cloudfront_decode_text(v) for v in values.gather(indices).to_list()])


@dataclass(frozen=True)
class Dialect:
    """What differs between W3C writers."""

    name: str
    description: str
    separator: str
    default_fields: tuple[str, ...]
    time_taken_ms: float  # milliseconds per unit of `time-taken`
    cloudfront_encoding: bool  # CloudFront percent-encodes every field; IIS writes spaces as `+`
    stem_has_query: bool = False  # real-time logs write `cs-uri-stem` with its `?query`
    tie_break: int = 0  # subtracted from specificity: a file with a #Fields header reads the same with both


CLOUDFRONT = Dialect(
    "cloudfront", "Amazon CloudFront standard logs (W3C, TAB-separated, #Fields header; .gz as delivered)",
    "\t", tuple(CLOUDFRONT_FIELDS), 1000.0, True,
)
REALTIME_FIELDS = (
    "timestamp c-ip time-to-first-byte sc-status sc-bytes cs-method cs-protocol cs-host cs-uri-stem cs-bytes "
    "x-edge-location x-edge-request-id x-host-header time-taken cs-protocol-version c-ip-version cs-user-agent "
    "cs-referer cs-cookie cs-uri-query x-edge-response-result-type x-forwarded-for ssl-protocol ssl-cipher "
    "x-edge-result-type fle-encrypted-fields fle-status sc-content-type sc-content-len sc-range-start sc-range-end "
    "c-port x-edge-detailed-result-type c-country cs-accept-encoding cs-accept cache-behavior-path-pattern cs-headers "
    "cs-header-names cs-headers-count"
)
CLOUDFRONT_REALTIME = Dialect(
    "cloudfront_realtime",
    "Amazon CloudFront real-time logs (TAB-separated, epoch timestamp; all 40 fields, or a prepended #Fields line)",
    "\t", tuple(REALTIME_FIELDS.split()), 1000.0, True, stem_has_query=True, tie_break=1,
)
IIS = Dialect(
    "iis", "Microsoft IIS W3C extended (space-separated, #Fields may change mid-file)",
    " ", tuple(IIS_FIELDS), 1.0, False,
)
