"""JSON-lines access logs (Caddy, Cloudflare Logpush, Traefik, CDN exports) -> canonical rows.

A format is a mapping from canonical fields to JSON paths (`request.headers.User-Agent[0]`)
and a converter. One explicit struct dtype is built from the mapping, so polars decodes
each batch in a single `str.json_decode` pass (about 3x faster than one `json_path_match`
per field). A batch that fails to decode as a whole (a cut-off line, a value of an
unexpected type) is split until the offending lines are isolated; they become rejects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

import polars as pl

from parsers.fields import clf_time, iso_time, nullify
from parsers.reader import MAX_LINE_BYTES
from parsers.schema import CANONICAL, REJECT_TEXT_LIMIT, REJECTS

# canonical text fields plus two composite targets: a full URL and a path?query target
TARGETS = (
    "ts", "client_ip", "method", "scheme", "host", "path", "query", "protocol", "status", "bytes",
    "referrer", "user_agent", "content_type", "xff", "request_time_ms", "url", "uri",
)
TIME_CONVERTERS = ("auto", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns", "iso")
CONVERTERS = (*TIME_CONVERTERS, "text", "lower", "urldecode", "tls", "bool_https", "seconds", "ms", "ns", "duration")

_URL = r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>[^/?#]*)(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?"
_JUNK_AFTER_OBJECT = r"\}\s+[^{}]*$"
_DECODE_SINGLE = 16


class JsonMapError(ValueError):
    """A mapping or `--json-map` value that cannot be used."""


@dataclass(frozen=True)
class JsonField:
    """Where one canonical field comes from: JSON paths tried in order, and how to convert the value."""

    paths: tuple[str, ...]
    conv: str = "text"


def jf(*paths: str, conv: str = "text") -> JsonField:
    """Shorthand for a JsonField."""
    return JsonField(tuple(paths), conv)


Step = str | int


def parse_path(path: str) -> tuple[Step, ...]:
    """`a.b['c.d'][0]` -> ('a', 'b', 'c.d', 0)."""
    steps: list[Step] = []
    pattern = re.compile(r"\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]|\.?([^.\[\]]+)")
    position = 0
    text = path.strip()
    while position < len(text):
        found = pattern.match(text, position)
        if found is None or found.end() == position:
            raise JsonMapError(f"cannot read the JSON path '{path}'")
        index, single, double, plain = found.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(single if single is not None else double if double is not None else plain)
        position = found.end()
    if not steps or isinstance(steps[0], int):
        raise JsonMapError(f"the JSON path '{path}' must start with a key")
    return tuple(steps)


def _insert(tree: dict, steps: tuple[Step, ...], path: str) -> None:
    """Add a path to a tree of dicts; a leaf is None, a list level is the key ('[]')."""
    node = tree
    for i, step in enumerate(steps):
        key: str = "[]" if isinstance(step, int) else step
        last = i == len(steps) - 1
        if last:
            if key in node and node[key] is not None:
                raise JsonMapError(f"the JSON path '{path}' is both a value and an object")
            node[key] = None
        else:
            if key in node and node[key] is None:
                raise JsonMapError(f"the JSON path '{path}' is both a value and an object")
            node = node.setdefault(key, {})


def _dtype(node: dict | None) -> pl.DataType:
    if node is None:
        return pl.String()
    if "[]" in node:
        if len(node) > 1:
            raise JsonMapError("a JSON value cannot be both a list and an object")
        return pl.List(_dtype(node["[]"]))
    return pl.Struct({key: _dtype(child) for key, child in node.items()})


def _extract(steps: tuple[Step, ...]) -> pl.Expr:
    expr = pl.col("_j")
    for step in steps:
        expr = expr.list.get(step, null_on_oob=True) if isinstance(step, int) else expr.struct.field(step)
    return expr


@dataclass
class JsonLinesFormat:
    """A JSON-lines log format: canonical fields read from JSON paths."""

    name: str
    mapping: dict[str, JsonField]
    required: tuple[str, ...] = ()
    description: str = ""
    _steps: dict[str, tuple[Step, ...]] = field(init=False, repr=False)
    _dtype: pl.DataType = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if "ts" not in self.mapping:
            raise JsonMapError("the JSON mapping has no ts (time) field, so events cannot be dated")
        tree: dict = {}
        self._steps = {}
        for target, spec in self.mapping.items():
            if target not in TARGETS:
                raise JsonMapError(f"unknown field '{target}'; use one of {', '.join(TARGETS)}")
            if spec.conv not in CONVERTERS:
                raise JsonMapError(f"unknown converter '{spec.conv}' for {target}")
            for path in spec.paths:
                self._steps[path] = parse_path(path)
        for path in self.required:
            self._steps[path] = parse_path(path)
        for path, steps in self._steps.items():
            _insert(tree, steps, path)
        self._dtype = _dtype(tree)

    @property
    def specificity(self) -> int:
        """How many fields the format maps (breaks detection ties)."""
        return len(self.mapping) + len(self.required)

    # ----- decoding ------------------------------------------------------
    def _decode(self, texts: pl.Series) -> pl.Series:
        """Decode every line to the mapping's struct; lines that do not decode give null."""
        try:
            return texts.str.json_decode(self._dtype)
        except pl.exceptions.PolarsError:
            pass
        if len(texts) <= _DECODE_SINGLE:
            parts = []
            for i in range(len(texts)):
                try:
                    parts.append(texts.slice(i, 1).str.json_decode(self._dtype))
                except pl.exceptions.PolarsError:
                    parts.append(pl.Series([None], dtype=self._dtype))
            return pl.concat(parts)
        # drop lines that are not JSON at all first: usually the only reason a batch fails
        valid = texts.is_null() | texts.str.json_path_match("$").is_not_null()
        if not valid.all():
            kept = pl.when(valid).then(texts)
            return pl.select(kept.alias("t")).to_series().pipe(self._decode)
        half = len(texts) // 2
        return pl.concat([self._decode(texts.slice(0, half)), self._decode(texts.slice(half))])

    def _prepare(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Add `_reason` (null for a decodable object), `_junk` and the decoded `_j` struct."""
        text = pl.col("text")
        framed = lines.with_columns(
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
            .when(~text.str.strip_chars_start().str.starts_with("{")).then(pl.lit("no_match"))
            .alias("_reason"),
            text.str.strip_chars().alias("_t"),
        )
        unclosed = framed.get_column("_reason").is_null() & ~framed.get_column("_t").str.ends_with("}")
        junk = pl.Series("_junk", [False] * framed.height, dtype=pl.Boolean)
        if unclosed.any():
            trimmed = framed.select(
                pl.when(unclosed).then(pl.col("_t").str.replace(_JUNK_AFTER_OBJECT, "}")).otherwise(pl.col("_t"))
            ).to_series()
            junk = unclosed & trimmed.str.ends_with("}")
            framed = framed.with_columns(trimmed.alias("_t"))
        framed = framed.with_columns(
            junk.alias("_junk"),
            pl.when(pl.col("_reason").is_null() & pl.col("_t").str.ends_with("}")).then(pl.col("_t")).alias("_t"),
        )
        decoded = self._decode(framed.get_column("_t")).alias("_j")
        framed = framed.with_columns(decoded)
        return framed.with_columns(
            pl.when(pl.col("_reason").is_null() & pl.col("_j").is_null()).then(pl.lit("invalid_json"))
            .otherwise(pl.col("_reason")).alias("_reason")
        ).drop("_t")

    def _present(self) -> pl.Expr:
        ok = pl.lit(True)
        for path in self.required:
            ok = ok & nullify(_extract(self._steps[path])).is_not_null()
        return ok

    # ----- detection support ---------------------------------------------
    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of lines that are objects of this format, exactly and with trailing text allowed."""
        if len(texts) == 0:
            return 0.0, 0.0
        lines = pl.DataFrame({"text": texts.cast(pl.String)})
        if not lines.get_column("text").str.strip_chars_start().str.starts_with("{").any():
            return 0.0, 0.0
        framed = self._prepare(lines)
        ts = self._time(self.mapping["ts"])
        out = framed.select(
            (pl.col("_reason").is_null() & self._present() & ts.is_not_null()).fill_null(False).alias("ok"),
            pl.col("_junk"),
        )
        ok = out.get_column("ok")
        return float((ok & ~out.get_column("_junk")).mean() or 0.0), float(ok.mean() or 0.0)

    # ----- parsing -------------------------------------------------------
    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) into canonical rows and rejects."""
        framed = self._prepare(lines)
        ts = self._time(self.mapping["ts"])
        framed = framed.with_columns(
            pl.when(pl.col("_reason").is_not_null()).then(pl.col("_reason"))
            .when(~self._present().fill_null(False)).then(pl.lit("no_match"))
            .when(ts.is_null()).then(pl.lit("invalid_timestamp"))
            .alias("_reason"),
            ts.alias("_ts"),
        )
        bad_mask = framed.get_column("_reason").is_not_null()
        rejects = _rejects_of(framed.filter(bad_mask), file, pl.col("_reason"))
        good = framed.filter(~bad_mask)
        rows = self._canonical(good, file)
        no_request = rows.get_column("path").is_null()
        if no_request.any():  # e.g. TLS garbage logged with "uri":"" by a hand-written JSON template
            rejects = pl.concat([rejects, _rejects_of(good.filter(no_request), file, "invalid_request")])
            rows = rows.filter(~no_request)
            rejects = rejects.sort("line")
        return rows, rejects.select([pl.col(c).cast(t) for c, t in REJECTS.items()])

    def _value(self, spec: JsonField | None) -> pl.Expr | None:
        if spec is None:
            return None
        values = [nullify(_extract(self._steps[p])) for p in spec.paths]
        return values[0] if len(values) == 1 else pl.coalesce(values)

    def _time(self, spec: JsonField) -> pl.Expr:
        value = self._value(spec)
        assert value is not None
        if spec.conv == "iso":
            return iso_time(value)
        if spec.conv.startswith("epoch_"):
            return _epoch(value, spec.conv)
        return auto_time(value)

    def _canonical(self, frame: pl.DataFrame, file: str) -> pl.DataFrame:
        m = self.mapping
        exprs: dict[str, pl.Expr] = {"ts": pl.col("_ts")}
        for name in ("client_ip", "method", "protocol", "referrer", "user_agent", "content_type", "xff", "path",
                     "query", "host", "scheme"):
            spec = m.get(name)
            value = self._value(spec)
            if value is None or spec is None:
                continue
            if spec.conv == "urldecode":
                value = _urldecode(value)
            elif spec.conv == "lower":
                value = value.str.to_lowercase()
            elif spec.conv == "tls":
                value = pl.when(value.is_not_null()).then(pl.lit("https")).otherwise(pl.lit("http"))
            elif spec.conv == "bool_https":
                value = pl.when(value.str.to_lowercase().is_in(["true", "1"])).then(pl.lit("https")) \
                    .when(value.is_not_null()).then(pl.lit("http"))
            exprs[name] = value
        if (uri := self._value(m.get("uri"))) is not None:
            split = uri.str.splitn("?", 2)
            exprs["path"] = _prefer(nullify(split.struct.field("field_0")), exprs.get("path"))
            exprs["query"] = _prefer(nullify(split.struct.field("field_1")), exprs.get("query"))
        if (url := self._value(m.get("url"))) is not None:
            parts = url.str.extract_groups(_URL)
            relative = ~url.str.contains("://")
            path = pl.when(relative).then(url.str.splitn("?", 2).struct.field("field_0")) \
                .otherwise(parts.struct.field("path"))
            path = pl.when(path == "").then(pl.lit("/")).otherwise(path)
            query = pl.when(relative).then(url.str.splitn("?", 2).struct.field("field_1")) \
                .otherwise(parts.struct.field("query"))
            exprs["path"] = _prefer(exprs.get("path"), nullify(path))
            exprs["query"] = _prefer(exprs.get("query"), nullify(query))
            exprs["host"] = _prefer(exprs.get("host"), nullify(parts.struct.field("host")))
            exprs["scheme"] = _prefer(exprs.get("scheme"), nullify(parts.struct.field("scheme")))
        if "host" in exprs:
            exprs["host"] = exprs["host"].str.to_lowercase().str.replace(r":\d+$", "").str.strip_chars("[]")
        if "scheme" in exprs:
            exprs["scheme"] = exprs["scheme"].str.to_lowercase()
        if (status := self._value(m.get("status"))) is not None:
            exprs["status"] = status.cast(pl.UInt16, strict=False)
        if (size := self._value(m.get("bytes"))) is not None:
            exprs["bytes"] = size.cast(pl.UInt64, strict=False)
        if (spec := m.get("request_time_ms")) is not None and (took := self._value(spec)) is not None:
            if spec.conv == "duration":
                took = took.str.strip_suffix("s")
            scale = {"ms": 1.0, "ns": 1e-6}.get(spec.conv, 1000.0)
            exprs["request_time_ms"] = took.cast(pl.Float64, strict=False) * scale
        return frame.lazy().select(
            *[exprs.get(name, pl.lit(None)).cast(dtype).alias(name) for name, dtype in CANONICAL.items()
              if name not in ("file", "line", "offset")],
            pl.lit(file, dtype=pl.String).alias("file"),
            pl.col("line").cast(pl.UInt64),
            pl.col("offset").cast(pl.UInt64),
        ).collect()


def _rejects_of(frame: pl.DataFrame, file: str, reason: pl.Expr | str) -> pl.DataFrame:
    return frame.select(
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.col("line").cast(pl.UInt64),
        (pl.lit(reason) if isinstance(reason, str) else reason).cast(pl.String).alias("reason"),
        pl.col("text").fill_null("").str.slice(0, REJECT_TEXT_LIMIT).alias("text"),
    )


def _prefer(first: pl.Expr | None, second: pl.Expr | None) -> pl.Expr:
    if first is None:
        assert second is not None
        return second
    return first if second is None else pl.coalesce(first, second)


def _urldecode(value: pl.Expr) -> pl.Expr:
    """Form-style URL decoding (`+` is a space), computed once per distinct value."""
    return value.map_batches(
        lambda s: s.replace_strict(
            (u := s.unique().drop_nulls()), [unquote_plus(v) for v in u.to_list()], default=None,
            return_dtype=pl.String,
        ),
        return_dtype=pl.String,
    )


_NUMBER = r"^(\d+)(?:\.(\d+))?$"


def _epoch(value: pl.Expr, unit: str) -> pl.Expr:
    """Epoch seconds / ms / ns (decimal text, exact: no float rounding) -> UTC datetime, truncated to µs."""
    whole = value.str.extract(_NUMBER, 1).cast(pl.Int64, strict=False)
    fraction = value.str.extract(_NUMBER, 2).str.pad_end(9, "0").str.slice(0, 9).cast(pl.Int64, strict=False)
    fraction = fraction.fill_null(0)
    if unit == "epoch_s":
        micros = whole * 1_000_000 + fraction // 1000
    elif unit == "epoch_ms":
        micros = whole * 1000 + fraction // 1_000_000
    elif unit == "epoch_us":
        micros = whole
    else:
        micros = whole // 1000
    floated = value.cast(pl.Float64, strict=False)  # scientific notation, e.g. 1.709644927e9
    scale = {"epoch_s": 1e6, "epoch_ms": 1e3, "epoch_us": 1.0, "epoch_ns": 1e-3}[unit]
    micros = pl.coalesce(micros, (floated * scale).floor().cast(pl.Int64, strict=False))
    return pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")


def auto_time(value: pl.Expr) -> pl.Expr:
    """Epoch s/ms/µs/ns told apart by the number of integer digits, else ISO 8601 / RFC 3339, else CLF."""
    digits = value.str.extract(r"^(\d+)(?:\.\d+)?$", 1).str.len_bytes()
    number = value.cast(pl.Float64, strict=False)
    return (
        pl.when(digits >= 17).then(_epoch(value, "epoch_ns"))
        .when(digits >= 14).then(_epoch(value, "epoch_us"))
        .when(digits >= 11).then(_epoch(value, "epoch_ms"))
        .when(digits.is_not_null()).then(_epoch(value, "epoch_s"))
        .when(number >= 1e17).then(_epoch(value, "epoch_ns"))  # scientific notation, e.g. 1.709644927e9
        .when(number >= 1e14).then(_epoch(value, "epoch_us"))
        .when(number >= 1e11).then(_epoch(value, "epoch_ms"))
        .when(number.is_not_null()).then(_epoch(value, "epoch_s"))
        .otherwise(pl.coalesce(iso_time(value), clf_time(value)))
    )
