"""W3C extended logs: CloudFront standard logs (TAB-separated) and IIS (space-separated).

The columns are named by a `#Fields:` directive, which can appear again
mid-file with a different list (IIS after a restart or a config change).
So the field list is per-source state: `bind` reads the directives of a
batch in order (on the caller's thread), and returns a parse function that
starts from the list in force at the top of that batch. Batches can then be
parsed in parallel and in any order.

Each data line is split with one vectorised `splitn` per run of lines that
share a field list; directive lines are accounted as rejects with reason
`header`, so every line of the file is still a row or a reject.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import numpy as np
import polars as pl

from parsers import compiled
from parsers.fields import nullify
from parsers.lineview import FramedLines, view_of
from parsers.reader import MAX_LINE_BYTES, Batch
from parsers.schema import CANONICAL, REJECT_TEXT_LIMIT, REJECTS
from parsers.w3c_dialects import (
    CLOUDFRONT,
    CLOUDFRONT_ENCODED_ASCII,
    CLOUDFRONT_FIELDS,
    CLOUDFRONT_REALTIME,
    FIELD_SOURCES,
    IIS,
    IIS_FIELDS,
    TEXT_COLUMNS,
    Dialect,
    cloudfront_decode,
    parse_fields_directive,
)

__all__ = [  # the dialects are re-exported: callers know them as parsers.w3c's
    "CLOUDFRONT", "CLOUDFRONT_ENCODED_ASCII", "CLOUDFRONT_FIELDS", "CLOUDFRONT_REALTIME", "IIS", "IIS_FIELDS",
    "W3CFormat", "cloudfront", "cloudfront_decode", "cloudfront_realtime", "finish", "iis", "parse_fields_directive",
]

ParseFn = Callable[[pl.DataFrame, str], tuple[pl.DataFrame, pl.DataFrame]]

_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TIME = r"^\d{2}:\d{2}:\d{2}(?:\.\d+)?$"
_EPOCH = r"^\d{9,14}(?:\.\d+)?$"


def _time_shapes(fields: tuple[str, ...]) -> list[tuple[int, str]] | None:
    """The fields that carry the time, each with the pattern its values must match; None if there is none."""
    lower = [f.lower() for f in fields]
    if "date" in lower and "time" in lower:
        return [(lower.index("date"), _DATE), (lower.index("time"), _TIME)]
    for name in ("timestamp(ms)", "timestamp"):
        if name in lower:
            return [(lower.index(name), _EPOCH)]
    return None


class _SampleCheck:
    """Whether one data line fits a field list, the way `W3CFormat._split` and `_time_columns` judge it."""

    def __init__(self, fields: tuple[str, ...], separator: str) -> None:
        self.count = len(fields)
        self.separator = separator
        shapes = _time_shapes(fields)
        self.shapes = [(index, re.compile(pattern)) for index, pattern in shapes or []]
        self.timed = shapes is not None

    def __call__(self, text: str) -> tuple[bool, bool]:
        """(has at least the fields and a valid time, has nothing after the last field)."""
        if self.count == 0 or not self.timed:
            return False, False
        values = text.split(self.separator, self.count - 1)
        if len(values) < self.count:
            return False, False
        extra = _SPACE.search(values[-1]) is not None
        if extra:
            values[-1] = _LEADING.match(values[-1]).group(0)  # type: ignore[union-attr]
        timed = all(pattern.search(values[index]) for index, pattern in self.shapes)
        return timed, timed and not extra


_SPACE = re.compile(r"\s")
_LEADING = re.compile(r"\S*")


def finish(frame: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split a frame holding every canonical column (but `file`), `text` and `_reason` into rows and rejects."""
    good = pl.col("_reason").is_null()
    rows = frame.filter(good).select(
        *[
            pl.lit(file, dtype=pl.String).alias(name) if name == "file" else pl.col(name).cast(dtype)
            for name, dtype in CANONICAL.items()
        ]
    )
    rejects = frame.filter(~good).select(
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.col("line").cast(pl.UInt64),
        pl.col("_reason").cast(pl.String).alias("reason"),
        pl.col("text").fill_null("").str.slice(0, REJECT_TEXT_LIMIT).alias("text"),
    )
    return rows, rejects.cast(REJECTS)  # type: ignore[arg-type]


class W3CFormat:
    """A W3C extended log reader for one dialect, holding the `#Fields` list of one source."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.name = dialect.name
        self.description = dialect.description
        self._fields: tuple[str, ...] = dialect.default_fields

    def fresh(self) -> W3CFormat:
        """A new reader with no header seen yet (one per source)."""
        return W3CFormat(self.dialect)

    @property
    def specificity(self) -> int:
        """How many canonical columns the current field list fills."""
        lower = {f.lower() for f in self._fields}
        found = sum(1 for names in FIELD_SOURCES.values() if lower & set(names))
        return found + int({"date", "time"} <= lower or "timestamp" in lower) - self.dialect.tie_break

    # ----- per-source header state ---------------------------------------
    @staticmethod
    def _directives(texts: pl.Series) -> tuple[pl.Series, list[tuple[str, ...]]]:
        """Per line, the number of `#Fields` lines up to it; and the field list of each."""
        is_fields = texts.str.starts_with("#Fields:").fill_null(False)
        lists = [tuple(parse_fields_directive(t)) for t in texts.filter(is_fields).to_list()]
        return is_fields.cast(pl.UInt32).cum_sum(), lists

    def bind(self, lines: pl.DataFrame) -> ParseFn:
        """Read this batch's `#Fields` in order; return a parse function for it (safe to run in parallel)."""
        _, lists = self._directives(lines.get_column("text"))
        start = self._fields
        if lists:
            self._fields = lists[-1]
        return partial(self._parse_batch, start)

    def bind_batch(self, batch: Batch) -> Callable[[Batch, str], tuple[pl.DataFrame, pl.DataFrame]]:
        """`bind` for a batch as read: its `#Fields` lines are found in the raw bytes, so nothing is framed here."""
        if batch.raw is None:
            parse = self.bind(batch.lines)
            return lambda batch, file: parse(batch.lines, file)
        from parsers import w3c_fast

        lists = [tuple(parse_fields_directive(line)) for line in w3c_fast.directive_texts(batch.raw)]
        start = self._fields
        if lists:
            self._fields = lists[-1]
        return partial(self._parse_raw, start)

    def parse(self, lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Parse a batch (text, line, offset) that follows the previous one of the same source."""
        return self.bind(lines)(lines, file)

    # ----- splitting -------------------------------------------------------
    def _split(self, frame: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
        """Split `text` into one column per field; `_n_ok` (enough fields), `_exact` (nothing after the last)."""
        n = len(fields)
        text = pl.col("text")
        if n == 0:
            return frame.with_columns(pl.lit(False).alias("_n_ok"), pl.lit(False).alias("_exact"))
        names = [f"_f{i}" for i in range(n)]
        out = frame.with_columns(
            text.str.splitn(self.dialect.separator, n).struct.rename_fields(names).alias("_s")
        ).unnest("_s")
        last = pl.col(names[-1])
        extra = last.str.contains(r"\s").fill_null(False)
        return out.with_columns(
            pl.when(extra).then(last.str.extract(r"^(\S*)")).otherwise(last).alias(names[-1]),
            last.is_not_null().alias("_n_ok"),
            (last.is_not_null() & ~extra).alias("_exact"),
        )

    @staticmethod
    def _column(fields: tuple[str, ...], canonical: str) -> pl.Expr | None:
        lower = [f.lower() for f in fields]
        found = [pl.col(f"_f{lower.index(name)}") for name in FIELD_SOURCES[canonical] if name in lower]
        if not found:
            return None
        return pl.coalesce([nullify(c) for c in found]) if len(found) > 1 else nullify(found[0])

    @staticmethod
    def _time_columns(fields: tuple[str, ...]) -> tuple[pl.Expr, pl.Expr] | None:
        """(looks like a time, the UTC timestamp) for the field list, or None if it has no time."""
        shapes = _time_shapes(fields)
        if shapes is None:
            return None
        columns = [pl.col(f"_f{index}") for index, _ in shapes]
        shape = pl.all_horizontal([pl.col(f"_f{index}").str.contains(pattern) for index, pattern in shapes])
        if len(shapes) == 2:  # date and time
            stamp = pl.concat_str(columns, separator=" ").str.to_datetime(
                "%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC", strict=False
            )
            return shape.fill_null(False), stamp
        scale = 1000 if fields[shapes[0][0]].lower() == "timestamp(ms)" else 1
        micros = (columns[0].cast(pl.Float64, strict=False) * (1_000_000 / scale)).round(0).cast(pl.Int64)
        return shape.fill_null(False), micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")

    # ----- detection -------------------------------------------------------
    def match_fractions(self, texts: pl.Series) -> tuple[float, float]:
        """Share of lines that are directives or data lines with exactly / at least the declared fields.

        Plain Python over the (at most a few hundred) sample lines: detection runs once per file
        beside busy parse threads, and a polars query there waited ~15 ms for a free worker.
        """
        lines = texts.drop_nulls().to_list()
        if not lines:
            return 0.0, 0.0
        check = _SampleCheck(self._fields, self.dialect.separator)
        exact = loose = data_ok = 0
        for text in lines:
            if text.startswith("#"):
                if text.startswith("#Fields:"):
                    check = _SampleCheck(tuple(parse_fields_directive(text)), self.dialect.separator)
                exact, loose = exact + 1, loose + 1
                continue
            enough, whole = check(text)
            data_ok += enough
            loose += enough
            exact += enough and whole
        if data_ok == 0:
            return 0.0, 0.0
        return exact / len(lines), loose / len(lines)

    # ----- parsing -----------------------------------------------------------
    def _parse_batch(
        self, start: tuple[str, ...], lines: pl.DataFrame, file: str
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The machine-code reader for big batches of the dialects it knows, else the polars one."""
        from parsers import w3c_fast

        if self.dialect.stem_has_query or not w3c_fast.kernel_wanted(lines.height):
            return self._parse(start, lines, file)
        return w3c_fast.read(self.dialect, start, FramedLines(lines), file, self._parse)

    def _parse_raw(self, start: tuple[str, ...], batch: Batch, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """`_parse_batch` reading the raw bytes when they are clean UTF-8 without CR (else the framed lines)."""
        from parsers import w3c_fast

        if self.dialect.stem_has_query or not w3c_fast.kernel_wanted(batch.count):
            return self._parse(start, batch.lines, file)
        return w3c_fast.read(self.dialect, start, view_of(batch), file, self._parse)

    def _parse(self, start: tuple[str, ...], lines: pl.DataFrame, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        segments, lists = self._directives(lines.get_column("text"))
        frame = lines.with_columns(segments.alias("_seg"))
        text = pl.col("text")
        base = (
            pl.when(text.is_null()).then(pl.lit("empty"))
            .when(text.str.starts_with("#")).then(pl.lit("header"))
            .when(text.str.len_bytes() > MAX_LINE_BYTES).then(pl.lit("line_too_long"))
        )
        frame = frame.with_columns(base.alias("_reason"))
        parts = [frame.filter(pl.col("_reason").is_not_null())]
        data = frame.filter(pl.col("_reason").is_null())
        for seg, fields in enumerate([start, *lists]):
            chunk = data.filter(pl.col("_seg") == seg) if lists else data
            if chunk.height:
                parts.append(self._parse_segment(chunk, fields))
        merged = pl.concat([self._canonical_frame(p) for p in parts], how="vertical").sort("line")
        return finish(self._decode(merged, compiled.enabled(lines.height)), file)

    def _canonical_frame(self, part: pl.DataFrame) -> pl.DataFrame:
        """Bring a part to the shared layout: canonical columns (no file), text, line, offset, _reason."""
        cols = []
        for name, dtype in CANONICAL.items():
            if name == "file":
                continue
            cols.append(pl.col(name).cast(dtype) if name in part.columns else pl.lit(None, dtype=dtype).alias(name))
        return part.select(*cols, pl.col("text"), pl.col("_reason").cast(pl.String))

    def _parse_segment(self, chunk: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
        timing = self._time_columns(fields)
        if timing is None:
            return chunk.with_columns(pl.lit("no_match").alias("_reason"))
        shape, stamp = timing
        split = self._split(chunk, fields)
        exprs = {name: self._column(fields, name) for name in FIELD_SOURCES}
        if self.dialect.stem_has_query and (stem := exprs["path"]) is not None:
            parts = stem.str.splitn("?", 2)
            after = nullify(parts.struct.field("field_1"))
            exprs["path"] = parts.struct.field("field_0")
            exprs["query"] = after if exprs["query"] is None else pl.coalesce(exprs["query"], after)
        selected = [e.alias(name) for name, e in exprs.items() if e is not None and name not in ("status", "bytes",
                                                                                                "request_time_ms")]
        if (e := exprs["status"]) is not None:
            selected.append(e.cast(pl.UInt16, strict=False).alias("status"))
        if (e := exprs["bytes"]) is not None:
            selected.append(e.cast(pl.UInt64, strict=False).alias("bytes"))
        if (e := exprs["request_time_ms"]) is not None:
            selected.append((e.cast(pl.Float64, strict=False) * self.dialect.time_taken_ms).alias("request_time_ms"))
        missing_request = pl.lit(False)
        for name in ("method", "path"):
            if exprs[name] is not None:
                missing_request = missing_request | exprs[name].is_null()
        reason = (
            pl.when(~shape).then(pl.lit("no_match"))
            .when(~pl.col("_n_ok")).then(pl.lit("truncated"))
            .when(stamp.is_null()).then(pl.lit("invalid_timestamp"))
            .when(missing_request).then(pl.lit("invalid_request"))
        )
        return split.select(
            stamp.alias("ts"), *selected, pl.col("line"), pl.col("offset"), pl.col("text"), reason.alias("_reason")
        )

    def _decode(self, frame: pl.DataFrame, fast: bool = False) -> pl.DataFrame:
        """Undo the writer's encoding in the text columns (`fast`: CloudFront's layer in machine code)."""
        if self.dialect.cloudfront_encoding:
            decoded = {name: cloudfront_decode(frame.get_column(name), fast) for name in TEXT_COLUMNS}
            frame = frame.with_columns(*_agents_decoded_twice(decoded, fast).values())
        return self._tidy(frame)

    def _tidy(self, frame: pl.DataFrame) -> pl.DataFrame:
        """After CloudFront's layer is gone: host without port or brackets, scheme in lower case; IIS agents' `+`."""
        if not self.dialect.cloudfront_encoding:
            return frame.with_columns(_iis_agent(pl.col("user_agent")), _tidy_host(pl.col("host")))
        return frame.with_columns(pl.col("scheme").str.to_lowercase(), _tidy_host(pl.col("host")))

def _tidy_host(host: pl.Expr) -> pl.Expr:
    return host.str.to_lowercase().str.replace(r":\d+$", "").str.strip_chars("[]")


def _iis_agent(agent: pl.Expr) -> pl.Expr:
    """IIS writes a space as `+`; `++` is then most likely a space before a literal `+` (`;++http://...`)."""
    return (
        agent.str.replace_all("++", " \x00", literal=True)
        .str.replace_all("+", " ", literal=True).str.replace_all("\x00", "+", literal=True)
    )


def _header_rejects(lines: pl.DataFrame, file: str) -> pl.DataFrame:
    """Directive and comment lines as `header` rejects, as `finish` would write them."""
    return lines.select(
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.col("line").cast(pl.UInt64),
        pl.lit("header", dtype=pl.String).alias("reason"),
        pl.col("text").str.slice(0, REJECT_TEXT_LIMIT),
    )


def _agents_decoded_twice(decoded: dict[str, pl.Series], fast: bool = False) -> dict[str, pl.Series]:
    """Some agents arrive encoded twice end to end (`%2520`): a second pass where a `%20` is left.

    `fast` (the kernel is loaded) decodes them in machine code: polars' replace_many builds its
    matcher again on every call, which cost more than reading the batch.
    """
    agent = decoded["user_agent"]
    twice = agent.str.contains("%20", literal=True).fill_null(False)
    if twice.any():
        rows = np.flatnonzero(twice.to_numpy())
        decoded["user_agent"] = agent.clone().scatter(rows, cloudfront_decode(agent.gather(rows), fast))
    return decoded


def cloudfront() -> W3CFormat:
    """CloudFront standard (legacy) and v2 W3C logs."""
    return W3CFormat(CLOUDFRONT)


def cloudfront_realtime() -> W3CFormat:
    """CloudFront real-time logs (Kinesis records written out as lines)."""
    return W3CFormat(CLOUDFRONT_REALTIME)


def iis() -> W3CFormat:
    """IIS W3C extended logs."""
    return W3CFormat(IIS)
