"""Page views and opt-in custom events -> the exact Plausible Events API requests.

Body: name, url, domain, referrer (omitted when there is none) and props for
custom events; headers: the logged User-Agent and exactly one client IP in
X-Forwarded-For. JSON is assembled with polars expressions over the batch,
so even millions of events never pass through a per-row Python loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from importer.sinks.http1 import Endpoint

EVENT_COLUMNS: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "name": pl.String(),
    "domain": pl.String(),
    "url": pl.String(),
    "host": pl.String(),
    "path": pl.String(),
    "query": pl.String(),
    "referrer": pl.String(),
    "user_agent": pl.String(),
    "client_ip": pl.String(),
    "props": pl.String(),
    "browser": pl.String(),
    "browser_version": pl.String(),
    "os": pl.String(),
    "os_version": pl.String(),
    "device": pl.String(),
    "file": pl.String(),
    "line": pl.UInt64(),
    "offset": pl.UInt64(),
    "event_key": pl.String(),
}

MAX_URL_BYTES = 2000
MAX_REFERRER_CHARS = 2000


def _json_value(expr: pl.Expr, key: str) -> pl.Expr:
    """`"key":<json of value>` using polars' own JSON string escaping."""
    encoded = pl.struct(expr.alias(key)).struct.json_encode()
    return encoded.str.slice(1, encoded.str.len_chars() - 2)


def url_expr() -> pl.Expr:
    """scheme://host/path[?query]: the page address Plausible derives hostname, pathname and UTMs from."""
    query = pl.col("query")
    return pl.concat_str(
        pl.col("url_scheme"),
        pl.lit("://"),
        pl.col("url_host"),
        pl.col("path"),
        pl.when(query.is_not_null()).then(pl.lit("?") + query).otherwise(pl.lit("")),
    )


def url_bytes() -> pl.Expr:
    """Length in bytes of url_expr(), from the parts' lengths: no URL string is built for rows that are dropped."""
    query = pl.col("query")
    return (
        pl.col("url_scheme").str.len_bytes()
        + 3
        + pl.col("url_host").str.len_bytes()
        + pl.col("path").str.len_bytes()
        + pl.when(query.is_not_null()).then(query.str.len_bytes() + 1).otherwise(0)
    )


def build_events(rows: pl.DataFrame, names: pl.Expr, props: pl.Expr, key_prefix: str | pl.Expr) -> pl.DataFrame:
    """Rows that become events (page views and custom events) -> the event frame.

    An event's key is its file's `key_prefix` and the line's offset; rows of several files carry
    their own prefix as an expression, and their `file_id` column is kept.
    """
    prefix = pl.lit(key_prefix) if isinstance(key_prefix, str) else key_prefix
    key = prefix + pl.col("offset").cast(pl.String)
    kept = ["file_id"] if "file_id" in rows.columns else []
    return rows.select(
        pl.col("ts"),
        names.alias("name"),
        pl.col("domain"),
        url_expr().alias("url"),
        pl.col("url_host").alias("host"),
        pl.col("path"),
        pl.col("query"),
        pl.col("referrer").str.slice(0, MAX_REFERRER_CHARS),
        pl.col("user_agent"),
        pl.col("client_ip"),
        props.alias("props"),
        *[pl.col(c) for c in ("browser", "browser_version", "os", "os_version", "device", "file", "line", "offset")],
        key.alias("event_key"),
        *kept,
    )


def body_json(events: pl.DataFrame) -> pl.Expr:
    """The request body as JSON text, keys in Plausible's documented order."""
    referrer = pl.col("referrer")
    props = pl.col("props")
    return pl.concat_str(
        pl.lit("{"),
        _json_value(pl.col("name"), "name"),
        pl.lit(","),
        _json_value(pl.col("url"), "url"),
        pl.lit(","),
        _json_value(pl.col("domain"), "domain"),
        pl.when(referrer.is_not_null()).then(pl.lit(",") + _json_value(referrer, "referrer")).otherwise(pl.lit("")),
        pl.when(props.is_not_null()).then(pl.lit(',"props":') + props).otherwise(pl.lit("")),
        pl.lit("}"),
    )


def headers_json() -> pl.Expr:
    """User-Agent as logged (omitted when the log has none), one X-Forwarded-For, JSON content type."""
    agent = pl.col("user_agent")
    return pl.concat_str(
        pl.lit("{"),
        pl.when(agent.is_not_null()).then(_json_value(agent, "User-Agent") + pl.lit(",")).otherwise(pl.lit("")),
        _json_value(pl.col("client_ip"), "X-Forwarded-For"),
        pl.lit(',"Content-Type":"application/json"}'),
    )


def request_lines(events: pl.DataFrame) -> pl.Series:
    """One NDJSON line per request: {"ts", "headers", "body"}."""
    ts = pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.f+00:00")
    return events.select(
        pl.concat_str(
            pl.lit('{"ts":"'), ts, pl.lit('","headers":'), headers_json(), pl.lit(',"body":'), body_json(events),
            pl.lit("}"),
        ).alias("request")
    ).to_series()


def request_bytes(events: pl.DataFrame, endpoint: Endpoint) -> pl.Expr:
    """Each event's whole HTTP/1.1 request: the body of `events`' output, its headers, and the framing.

    User-Agent as logged (omitted when the log has none; CR, LF and NUL would break the framing and become
    spaces), exactly one X-Forwarded-For, a JSON content type.
    """
    body = body_json(events)
    agent = pl.col("user_agent").str.replace_all(r"[\r\n\x00]", " ")
    return pl.concat_str(
        pl.lit(endpoint.post_head()),
        pl.when(agent.is_not_null()).then(pl.lit("User-Agent: ") + agent + pl.lit("\r\n")).otherwise(pl.lit("")),
        pl.when(pl.col("client_ip").is_not_null())
        .then(pl.lit("X-Forwarded-For: ") + pl.col("client_ip") + pl.lit("\r\n")).otherwise(pl.lit("")),
        pl.lit("Content-Type: application/json\r\nAccept: */*\r\nContent-Length: "),
        body.str.len_bytes().cast(pl.String),
        pl.lit("\r\n\r\n"),
        body,
    ).cast(pl.Binary)


def path_props() -> pl.Expr:
    """props of a `404` event: the path Plausible's own script records."""
    return pl.struct(pl.col("path").alias("path")).struct.json_encode()


def url_props() -> pl.Expr:
    """props of a `File Download` event: the file's URL."""
    return pl.struct(url_expr().alias("url")).struct.json_encode()
