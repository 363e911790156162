"""AWS Application Load Balancer access logs.

`type time elb client:port target:port rpt tpt spt elb_status target_status received sent "request" "user_agent" ...`
Splitting on `"` first gives the twelve unquoted fields, the request and the user agent
without a regex over the long values; everything after the user agent (TLS, ARNs, trace id,
and the fields AWS keeps appending) is ignored. The request holds an absolute URL, which
gives scheme, host, path and query. There is no referrer and no content type.
"""

from __future__ import annotations

import polars as pl

from parsers.escapes import Escaping, unescape_series
from parsers.fields import nullify
from parsers.reader import MAX_LINE_BYTES
from parsers.w3c import finish

_PREFIX = (
    r"^(?P<type>[a-z0-9]+) (?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) (?P<elb>\S+) (?P<client>\S+) "
    r"(?P<target>\S+) (?P<rpt>-?[\d.]+) (?P<tpt>-?[\d.]+) (?P<spt>-?[\d.]+) (?P<status>\d{3}|-) (?P<tstatus>\S+) "
    r"(?P<received>\d+|-) (?P<sent>\d+|-) $"
)
_REQUEST = r"^(?P<method>[A-Z][A-Za-z0-9_-]*) (?P<url>\S+) (?P<protocol>[A-Z]+/[0-9.]+)$"
_URL = r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#]*))?(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?"
_Q = r'"[^"]*"'
# Fields 15-29 of the documented layout, then the newer 30-33 (conn_trace_id and three quoted ones).
_TAIL = rf"^ \S+ \S+ \S+ {_Q} {_Q} {_Q} \S+ \S+ {_Q} {_Q} {_Q} {_Q} {_Q} {_Q} {_Q}(?: \S+(?: {_Q} {_Q} {_Q})?)?$"
_TYPE_SCHEME = {"http": "http", "ws": "http", "https": "https", "h2": "https", "wss": "https", "grpcs": "https"}



def _closed(rest: pl.Expr) -> pl.Expr:
    """The user agent's closing quote is followed by the next field or the end of the line."""
    return rest.is_not_null() & ((rest == "") | rest.str.starts_with(" "))


def url_parts(url: pl.Expr) -> dict[str, pl.Expr]:
    """scheme, host (lower case, no port or brackets), path (`/` when empty) and query of an absolute URL."""
    parts = url.str.extract_groups(_URL)
    host = (
        parts.struct.field("host").str.to_lowercase().str.replace(r":\d+$", "").str.strip_chars("[]")
    )
    path = parts.struct.field("path")
    return {
        "scheme": nullify(parts.struct.field("scheme").str.to_lowercase()),
        "host": nullify(host),
        "path": pl.when(path == "").then(pl.lit("/")).otherwise(path),
        "query": nullify(parts.struct.field("query")),
    }


class ALBFormat:
    """AWS ALB access logs (stateless)."""

    name = "alb"
    description = "AWS Application Load Balancer access logs (space-separated, quoted request with absolute URL)"
    prefix = _PREFIX  # the unquoted fields before the request, each a named group
    tail = _TAIL  # what an exact line has after the user agent

    @property
    def specificity(self) -> int:
        return 11

    def _split(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        parts = [f"_q{i}" for i in range(5)]
        return (
            frame.with_columns(pl.col("text").str.splitn('"', 5).struct.rename_fields(parts).alias("_q"))
            .unnest("_q")
            .with_columns(pl.col("_q0").str.extract_groups(self.prefix).alias("_p"))
            .unnest("_p")
            .with_columns(
                (pl.col("time").is_not_null() & (pl.col("_q2") == " ") & _closed(pl.col("_q4")))
                .fill_null(False).alias("_loose")
            )
        )

    @staticmethod
    def _listener_scheme() -> pl.Expr:
        """The scheme the `type` field implies, for requests whose target is not an absolute URL."""
        return pl.col("type").replace_strict(_TYPE_SCHEME, default=None, return_dtype=pl.String)

    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of lines with the ALB layout through the user agent; exactly, also the documented tail."""
        texts = texts.drop_nulls()
        if len(texts) == 0:
            return 0.0, 0.0
        out = self._split(pl.LazyFrame({"text": texts})).select(
            (pl.col("_loose") & pl.col("_q4").str.contains(self.tail).fill_null(False)).mean().alias("exact"),
            pl.col("_loose").mean().alias("loose"),
        ).collect()
        return float(out["exact"][0]), float(out["loose"][0])

    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) into canonical rows and rejects."""
        split = self._split(lines.lazy()).with_columns(pl.col("_q1").str.extract_groups(_REQUEST).alias("_r")).unnest(
            "_r"
        )
        url = url_parts(pl.col("url"))
        times = [pl.col(c).cast(pl.Float64, strict=False) for c in ("rpt", "tpt", "spt")]
        total = times[0] + times[1] + times[2]
        failed = (times[0] < 0) | (times[1] < 0) | (times[2] < 0)
        ts = pl.col("time").str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us", time_zone="UTC", strict=False)
        text = pl.col("text")
        reason = (
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
            .when(pl.col("time").is_null()).then(pl.lit("no_match"))
            .when(~_closed(pl.col("_q4")).fill_null(True)).then(pl.lit("truncated"))
            .when(pl.col("_q2") != " ").then(pl.lit("no_match"))
            .when(pl.col("method").is_null() | ~pl.col("url").str.contains(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|/)"))
            .then(pl.lit("invalid_request"))
            .when(ts.is_null()).then(pl.lit("invalid_timestamp"))
        )
        frame = split.select(
            ts.alias("ts"),
            pl.col("client").str.replace(r":\d+$", "").str.strip_chars("[]").alias("client_ip"),
            pl.col("method"),
            pl.coalesce(url["scheme"], self._listener_scheme()).alias("scheme"),
            url["host"].alias("host"),
            url["path"].alias("path"),
            url["query"].alias("query"),
            pl.col("protocol"),
            pl.col("status").cast(pl.UInt16, strict=False).alias("status"),
            pl.col("sent").cast(pl.UInt64, strict=False).alias("bytes"),
            pl.lit(None, dtype=pl.String).alias("referrer"),
            nullify(pl.col("_q3")).alias("user_agent"),
            pl.lit(None, dtype=pl.String).alias("content_type"),
            pl.lit(None, dtype=pl.String).alias("xff"),
            pl.when(~failed).then(total * 1000.0).alias("request_time_ms"),
            pl.col("line"),
            pl.col("offset"),
            text,
            reason.alias("_reason"),
        ).collect()
        # A `"` inside the request or agent is written as \x22: decode the few values with a backslash.
        frame = frame.with_columns(
            [unescape_series(frame.get_column(c), Escaping.CLF) for c in ("path", "query", "user_agent")]
        )
        return finish(frame, file)


def alb() -> ALBFormat:
    """The ALB reader."""
    return ALBFormat()
