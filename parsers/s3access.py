"""Amazon S3 server access logs.

`owner bucket [time] remote_ip requester request_id operation key "request_uri" status error bytes_sent
object_size total_time turn_around "referer" "user_agent" version_id host_id sig_version cipher auth_type
host_header tls_version access_point_arn acl_required`
AWS has appended fields over the years and says it may append more, so everything after
the version id is optional and anything after the last known field is ignored. The host
is the Host header field (absent on old lines), the path and query come from the
request URI: for path-style requests that path starts with the bucket, as logged.
Lines without an HTTP request (lifecycle transitions, `"-"`) are invalid requests.
"""

from __future__ import annotations

import polars as pl

from parsers.fields import clf_time, nullify
from parsers.reader import MAX_LINE_BYTES
from parsers.shares import split_shares
from parsers.w3c import finish

_TIME = r"\[(?P<time>\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]"
# Through the opening quote of the request URI: a line that has this is an S3 log line.
_HEAD = rf"^\S+ \S+ {_TIME} \S+ \S+ \S+ [A-Z][A-Z0-9_.]*[A-Z0-9] \S+ \""
_LINE = (
    rf"^(?P<owner>\S+) (?P<bucket>\S+) {_TIME} (?P<ip>\S+) (?P<requester>\S+) (?P<request_id>\S+) "
    r'(?P<operation>\S+) (?P<key>\S+) "(?P<request>[^"]*)" (?P<status>\d{3}|-) (?P<error>\S+) '
    r'(?P<sent>\d+|-) (?P<size>\d+|-) (?P<total>\d+|-) (?P<turn>\d+|-) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)" '
    r"(?P<version>\S+)"
    r"(?: (?P<host_id>\S+) (?P<sig>\S+) (?P<cipher>\S+) (?P<auth>\S+) (?P<host>\S+)"
    r"(?: (?P<tls>\S+)(?: (?P<ap_arn>\S+)(?: (?P<acl>\S+))?)?)?)?"
    r"(?P<after>.*)$"
)
_REQUEST = r"^(?P<method>[A-Z][A-Za-z0-9_-]*) (?P<target>/\S*)(?: (?P<protocol>[A-Z]+/[0-9.]+))?$"



class S3AccessFormat:
    """S3 server access logs (stateless)."""

    name = "s3"
    description = "Amazon S3 server access logs (bucket owner, bucket, [time], ...; host from the Host header field)"

    @property
    def specificity(self) -> int:
        return 12

    @staticmethod
    def _split(frame: pl.LazyFrame) -> pl.LazyFrame:
        c = pl.col
        return (
            frame.with_columns(c("text").str.extract_groups(_LINE).alias("_m"))
            .unnest("_m")
            .with_columns(
                c("owner").is_not_null().alias("_loose"),
                (c("owner").is_not_null() & (c("after") == "")).alias("_exact"),
            )
        )

    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of S3 access log lines; exactly, nothing after the last known field."""
        return split_shares(self._split, texts)

    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) into canonical rows and rejects."""
        c = pl.col
        split = self._split(lines.lazy()).with_columns(c("request").str.extract_groups(_REQUEST).alias("_q")).unnest(
            "_q"
        )
        target = c("target").str.splitn("?", 2)
        ts = clf_time(c("time"))
        text = c("text")
        reason = (
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
            .when(c("owner").is_null() & text.str.contains(_HEAD)).then(pl.lit("truncated"))
            .when(c("owner").is_null()).then(pl.lit("no_match"))
            .when(c("method").is_null()).then(pl.lit("invalid_request"))
            .when(ts.is_null()).then(pl.lit("invalid_timestamp"))
        )
        tls = nullify(c("tls"))
        scheme = pl.when(c("tls").is_not_null()).then(pl.when(tls.is_not_null()).then(pl.lit("https"))
                                                       .otherwise(pl.lit("http")))
        host = nullify(c("host")).str.to_lowercase().str.replace(r":\d+$", "").str.strip_chars("[]")
        frame = split.select(
            ts.alias("ts"),
            nullify(c("ip")).alias("client_ip"),
            c("method"),
            scheme.alias("scheme"),
            host.alias("host"),
            target.struct.field("field_0").alias("path"),
            nullify(target.struct.field("field_1")).alias("query"),
            c("protocol"),
            c("status").cast(pl.UInt16, strict=False).alias("status"),
            c("sent").cast(pl.UInt64, strict=False).alias("bytes"),
            nullify(c("referer")).alias("referrer"),
            nullify(c("ua")).alias("user_agent"),
            pl.lit(None, dtype=pl.String).alias("content_type"),
            pl.lit(None, dtype=pl.String).alias("xff"),
            c("total").cast(pl.Float64, strict=False).alias("request_time_ms"),
            c("line"),
            c("offset"),
            text,
            reason.alias("_reason"),
        ).collect()
        return finish(frame, file)


def s3() -> S3AccessFormat:
    """The S3 access log reader."""
    return S3AccessFormat()
