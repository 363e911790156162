"""HAProxy `option httplog` lines, with or without the syslog prefix in front.

`ip:port [accept_date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes cc cs tsc ac/fc/bc/sc/rc sq/bq
{captured request headers} {captured response headers} "request"`

The accept date has milliseconds but no offset: it is the server's local time, read in
the zone given with `--timezone` (parsers.logzone). Host, user agent and referrer exist
only when they were captured (`capture request header ...`), and the log does not name
the captured headers, so each value is recognised by its shape: a URL is the referrer,
a dotted host name the host, any other value with a `/` the user agent; a MIME type in
the response block (or the only block) is the content type. HAProxy writes `"`, `#`,
`{`, `|`, `}` and control bytes in those fields as `#` and two hex digits; that is undone.
"""

from __future__ import annotations

import re

import polars as pl

from parsers.alb import url_parts
from parsers.fields import nullify
from parsers.logzone import check_zone, log_timezone
from parsers.reader import MAX_LINE_BYTES
from parsers.shares import split_shares
from parsers.w3c import finish

# Everything through the queues: the part every httplog line has. A syslog prefix may come first.
_CORE = (
    r"^(?:.*?\s)??(?P<client>\S+):(?P<cport>\d+) "
    r"\[(?P<accept>\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\] "
    r"(?P<frontend>\S+) (?P<backend>[^\s/]+)/(?P<server>\S+) "
    r"-?\d+/-?\d+/-?\d+/-?\d+/(?P<ta>\+?-?\d+) (?P<status>-?\d+) (?P<bytes>\+?\d+) "
    r"\S+ \S+ \S+ \d+/\d+/\d+/\d+/\+?\d+ \d+/\d+(?P<rest>.*)$"
)
# What follows the queues: optional capture blocks, then the quoted request line.
_REST = r'^(?: \{(?P<hreq>[^}]*)\})?(?: \{(?P<hres>[^}]*)\})? "(?P<request>[^"]*)"(?P<after>.*)$'
_REQUEST = r"^(?P<method>[A-Z][A-Za-z0-9_-]*) (?P<target>\S+)(?: (?P<protocol>[A-Z]+/[0-9.]+))?$"
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                        "Dec"), start=1)}

_REFERRER = r"^https?://"
_HOST = r"^(?:[A-Za-z0-9-]+\.)+[A-Za-z][A-Za-z0-9-]*\.?(?::\d+)?$"
_MIME = r"^(?:text|application|image|audio|video|font|multipart|message|model)/[\w.+-]+(?:\s*;.*)?$"
_ESCAPED = re.compile(rb"#([0-9A-Fa-f]{2})")



def _first(values: pl.Expr, keep: pl.Expr) -> pl.Expr:
    """The first element of a list column for which `keep` (over pl.element()) holds."""
    return values.list.eval(pl.element().filter(keep)).list.first()


def _captured(block: pl.Expr) -> dict[str, pl.Expr]:
    """referrer, host and user agent recognised among the values of a request capture block."""
    values = block.str.split("|")
    element = pl.element()
    url = element.str.contains(_REFERRER)
    return {
        "referrer": _first(values, url),
        "host": _first(values, element.str.contains(_HOST)),
        "user_agent": _first(values, element.str.contains("/", literal=True) & ~url & ~element.str.contains(_MIME)),
    }


def _accept_time(text: pl.Expr, zone: str) -> pl.Expr:
    """`05/Mar/2024:14:22:07.123` in `zone` -> UTC; a time in a DST gap is null, a repeated hour the first one."""
    def num(start: int, width: int) -> pl.Expr:
        return text.str.slice(start, width).cast(pl.Int32, strict=False)

    fraction = text.str.slice(21).str.pad_end(6, "0").cast(pl.Int32, strict=False).fill_null(0)
    local = pl.datetime(
        num(7, 4), text.str.slice(3, 3).replace_strict(_MONTHS, default=None, return_dtype=pl.Int32), num(0, 2),
        num(12, 2), num(15, 2), num(18, 2), fraction, time_unit="us",
    )
    return local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")


def _unescape_one(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")
    return _ESCAPED.sub(lambda m: bytes((int(m.group(1), 16),)), raw).decode("utf-8", "replace")


def unescape_hash(values: pl.Series) -> pl.Series:
    """Undo HAProxy's `#XX` escapes, once per distinct value that has one."""
    if values.dtype != pl.String or values.len() == 0:
        return values
    escaped = values.str.contains(_ESCAPED.pattern.decode()).fill_null(False)
    if not escaped.any():
        return values
    distinct = values.filter(escaped).unique()
    return values.replace(distinct, [_unescape_one(v) for v in distinct.to_list()])


class HAProxyFormat:
    """HAProxy httplog lines (stateless), with offset-less times read in one zone."""

    name = "haproxy"
    description = "HAProxy `option httplog` (syslog prefix optional; accept date in --timezone; captured headers)"

    def __init__(self, zone: str | None = None) -> None:
        self.zone = check_zone(zone or log_timezone())

    @property
    def specificity(self) -> int:
        return 10

    @staticmethod
    def _split(frame: pl.LazyFrame) -> pl.LazyFrame:
        c = pl.col
        return (
            frame.with_columns(c("text").str.extract_groups(_CORE).alias("_c"))
            .unnest("_c")
            .with_columns(c("rest").str.extract_groups(_REST).alias("_r"))
            .unnest("_r")
            .with_columns(
                c("request").is_not_null().alias("_loose"),
                (c("request").is_not_null() & (c("after") == "")).alias("_exact"),
            )
        )

    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of lines that are httplog lines; exactly, nothing after the request."""
        return split_shares(self._split, texts)

    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) into canonical rows and rejects."""
        c = pl.col
        split = self._split(lines.lazy()).with_columns(c("request").str.extract_groups(_REQUEST).alias("_q")).unnest(
            "_q"
        )
        url = url_parts(c("target"))
        request_block = _captured(c("hreq"))
        response_block = pl.coalesce(c("hres"), c("hreq")).str.split("|")
        ts = _accept_time(c("accept"), self.zone)
        took = c("ta").str.strip_prefix("+").cast(pl.Float64, strict=False)
        text = c("text")
        reason = (
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
            .when(c("client").is_null()).then(pl.lit("no_match"))
            .when(c("request").is_null()).then(pl.lit("truncated"))
            .when(c("method").is_null() | ~c("target").str.contains(r"^(?:[A-Za-z][A-Za-z0-9+.-]*://|/)"))
            .then(pl.lit("invalid_request"))
            .when(ts.is_null()).then(pl.lit("invalid_timestamp"))
        )
        tls = pl.when(c("frontend").str.ends_with("~")).then(pl.lit("https"))
        frame = split.select(
            ts.alias("ts"),
            c("client").str.strip_chars("[]").alias("client_ip"),
            c("method"),
            pl.coalesce(url["scheme"], tls).alias("scheme"),
            pl.coalesce(url["host"], request_block["host"].str.to_lowercase().str.replace(r"\.?(?::\d+)?$", ""))
            .alias("host"),
            url["path"].alias("path"),
            url["query"].alias("query"),
            c("protocol"),
            c("status").cast(pl.UInt16, strict=False).alias("status"),
            c("bytes").str.strip_prefix("+").cast(pl.UInt64, strict=False).alias("bytes"),
            nullify(request_block["referrer"]).alias("referrer"),
            nullify(request_block["user_agent"]).alias("user_agent"),
            _first(response_block, pl.element().str.contains(_MIME)).alias("content_type"),
            pl.lit(None, dtype=pl.String).alias("xff"),
            pl.when(took >= 0).then(took).alias("request_time_ms"),
            c("line"),
            c("offset"),
            text,
            reason.alias("_reason"),
        ).collect()
        frame = frame.with_columns(
            [unescape_hash(frame.get_column(n)) for n in ("path", "query", "referrer", "user_agent", "content_type")]
        )
        return finish(frame, file)


def haproxy() -> HAProxyFormat:
    """The HAProxy reader, reading accept dates in the zone set for this run."""
    return HAProxyFormat()
