"""Bunny CDN (bunny.net) logging API v1: pipe-separated, epoch milliseconds, full URL.

`cache|status|ts_ms|bytes|zone|ip|referrer|url|edge|user_agent|request_id|country`
A `|` inside the user agent is not escaped, so the first nine fields are taken from the
left and the last two from the right; what is left in between is the user agent.
Bunny logs no method, protocol or content type: those columns are null.
"""

from __future__ import annotations

import polars as pl

from parsers.alb import url_parts
from parsers.fields import nullify
from parsers.reader import MAX_LINE_BYTES
from parsers.shares import split_shares
from parsers.w3c import finish

_TAIL = r"^(?P<ua>.*)\|(?P<rid>[^|]*)\|(?P<cc>[^|]*)$"
_LEFT = [f"_b{i}" for i in range(9)] + ["_rest"]



class BunnyFormat:
    """Bunny CDN pipe-separated logs (stateless)."""

    name = "bunny"
    description = "Bunny CDN logging API v1 (pipe-separated, epoch milliseconds, full URL, no method)"

    @property
    def specificity(self) -> int:
        return 9

    @staticmethod
    def _split(frame: pl.LazyFrame) -> pl.LazyFrame:
        c = pl.col
        split = (
            frame.with_columns(c("text").str.splitn("|", 10).struct.rename_fields(_LEFT).alias("_s"))
            .unnest("_s")
            .with_columns(c("_rest").str.extract_groups(_TAIL).alias("_t"))
            .unnest("_t")
        )
        shape = (
            c("_b0").str.contains(r"^[A-Z_]+$") & c("_b1").str.contains(r"^\d{3}$")
            & c("_b2").str.contains(r"^\d{12,14}$") & c("_b3").str.contains(r"^\d+$")
            & c("_b4").str.contains(r"^\d+$")
        ).fill_null(False)
        complete = c("cc").is_not_null() & c("_b7").str.contains(r"^[A-Za-z][A-Za-z0-9+.-]*://").fill_null(False)
        return split.with_columns(
            shape.alias("_shape"),
            (shape & complete & c("cc").str.contains(r"^(?:[A-Z]{2}|-)?(?:\s.*)?$")).fill_null(False).alias("_loose"),
            (shape & complete & c("cc").str.contains(r"^(?:[A-Z]{2}|-)?$")).fill_null(False).alias("_exact"),
        )

    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of lines with the twelve Bunny fields; exactly, nothing after the country code."""
        return split_shares(self._split, texts)

    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) into canonical rows and rejects."""
        c = pl.col
        url = url_parts(c("_b7"))
        ms = c("_b2").cast(pl.Int64, strict=False)
        ts = (ms * 1000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        text = c("text")
        reason = (
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
            .when(~c("_shape")).then(pl.lit("no_match"))
            .when(c("cc").is_null()).then(pl.lit("truncated"))
            .when(~c("_loose")).then(pl.lit("invalid_request"))
            .when(ts.is_null()).then(pl.lit("invalid_timestamp"))
        )
        frame = self._split(lines.lazy()).select(
            ts.alias("ts"),
            nullify(c("_b5")).alias("client_ip"),
            pl.lit(None, dtype=pl.String).alias("method"),
            url["scheme"].alias("scheme"),
            url["host"].alias("host"),
            url["path"].alias("path"),
            url["query"].alias("query"),
            pl.lit(None, dtype=pl.String).alias("protocol"),
            c("_b1").cast(pl.UInt16, strict=False).alias("status"),
            c("_b3").cast(pl.UInt64, strict=False).alias("bytes"),
            nullify(c("_b6")).alias("referrer"),
            nullify(c("ua")).alias("user_agent"),
            pl.lit(None, dtype=pl.String).alias("content_type"),
            pl.lit(None, dtype=pl.String).alias("xff"),
            pl.lit(None, dtype=pl.Float64).alias("request_time_ms"),
            c("line"),
            c("offset"),
            text,
            reason.alias("_reason"),
        ).collect()
        return finish(frame, file)


def bunny() -> BunnyFormat:
    """The Bunny reader."""
    return BunnyFormat()
