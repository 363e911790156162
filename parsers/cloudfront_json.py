"""CloudFront standard logging v2 with JSON output: one object per line, keyed by the W3C field names.

`{"date":"2024-03-05","time":"13:22:07","c-ip":"203.0.113.42","cs-method":"GET","cs-uri-stem":"/pricing",...}`
Every value is a string and the fields are the ones the distribution's owner picked, so
the time is `timestamp(ms)` when chosen, else `date` + `time` (UTC). The values carry the
same percent-encoding layer as the W3C files, which is undone the same way.
"""

from __future__ import annotations

import polars as pl

from parsers.fields import iso_time, nullify
from parsers.jsonlines import JsonField, JsonLinesFormat, jf
from parsers.w3c import cloudfront_decode

MAPPING = {
    "ts": jf("timestamp(ms)", "timestamp", conv="auto"),
    "client_ip": jf("c-ip"),
    "method": jf("cs-method"),
    "scheme": jf("cs-protocol", conv="lower"),
    "host": jf("x-host-header", "cs(Host)"),
    "path": jf("cs-uri-stem"),
    "query": jf("cs-uri-query"),
    "protocol": jf("cs-protocol-version"),
    "status": jf("sc-status"),
    "bytes": jf("sc-bytes"),
    "referrer": jf("cs(Referer)"),
    "user_agent": jf("cs(User-Agent)"),
    "content_type": jf("sc-content-type"),
    "xff": jf("x-forwarded-for"),
    "request_time_ms": jf("time-taken", conv="seconds"),
}
REQUIRED = ("cs-method", "cs-uri-stem")
_ENCODED = ("path", "query", "referrer", "user_agent", "content_type", "xff")


class CloudFrontJsonFormat(JsonLinesFormat):
    """CloudFront v2 JSON lines: the JSON-lines engine plus `date`/`time` and CloudFront's decoding."""

    def __post_init__(self) -> None:
        super().__post_init__()
        assert isinstance(self._dtype, pl.Struct)
        self._dtype = pl.Struct([*self._dtype.fields, pl.Field("date", pl.String), pl.Field("time", pl.String)])

    def _time(self, spec: JsonField) -> pl.Expr:
        record = pl.col("_j")
        day, clock = nullify(record.struct.field("date")), nullify(record.struct.field("time"))
        return pl.coalesce(super()._time(spec), iso_time(pl.concat_str([day, pl.lit("T"), clock])))

    def _canonical(self, frame: pl.DataFrame, file: str) -> pl.DataFrame:
        rows = super()._canonical(frame, file)
        decoded = {name: cloudfront_decode(rows.get_column(name)) for name in _ENCODED}
        agent = decoded["user_agent"]
        # As in the W3C files, some agents arrive encoded twice end to end: a second pass where `%20` is left.
        twice = agent.str.contains("%20", literal=True).fill_null(False)
        if twice.any():
            decoded["user_agent"] = pl.select(
                pl.when(twice).then(cloudfront_decode(agent)).otherwise(agent)
            ).to_series().alias("user_agent")
        return rows.with_columns(*decoded.values())


def cloudfront_json(description: str = "") -> CloudFrontJsonFormat:
    """The CloudFront v2 JSON reader."""
    return CloudFrontJsonFormat("cloudfront_json", MAPPING, REQUIRED, description)
