"""The canonical table: the one place its columns and dtypes are defined.

Every parser produces exactly these columns, so everything after parsing
(classification, events, sinks) can ignore where a line came from.
"""

from __future__ import annotations

import polars as pl

UTC = "UTC"

CANONICAL: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", UTC),
    "client_ip": pl.String(),
    "method": pl.String(),
    "scheme": pl.String(),
    "host": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "protocol": pl.String(),
    "status": pl.UInt16(),
    "bytes": pl.UInt64(),
    "referrer": pl.String(),
    "user_agent": pl.String(),
    "content_type": pl.String(),
    "xff": pl.String(),
    "request_time_ms": pl.Float64(),
    "file": pl.String(),
    "line": pl.UInt64(),
    "offset": pl.UInt64(),
}

CANONICAL_COLUMNS: list[str] = list(CANONICAL)

REJECTS: dict[str, pl.DataType] = {
    "file": pl.String(),
    "line": pl.UInt64(),
    "reason": pl.String(),
    "text": pl.String(),
}

REJECT_TEXT_LIMIT = 500


def empty_canonical() -> pl.DataFrame:
    """A zero-row frame with the canonical schema (for empty inputs)."""
    return pl.DataFrame(schema=CANONICAL)


def empty_rejects() -> pl.DataFrame:
    """A zero-row rejects frame."""
    return pl.DataFrame(schema=REJECTS)
