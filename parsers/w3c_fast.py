"""The Python side of the W3C machine-code reader (parsers/w3c_kernel.py): when it runs, and its rows.

parsers/w3c.py decides per batch; this module finds a batch's `#Fields` lines in its bytes,
runs the kernel over them, builds canonical rows for the lines it read and hands the rest
(directives, rejects, anything it cannot vouch for) back to the polars reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np
import polars as pl
import pyarrow as pa

from parsers import compiled
from parsers.lineview import LineView
from parsers.reader import MAX_LINE_BYTES, RawChunk
from parsers.schema import CANONICAL, REJECTS
from parsers.w3c import _agents_decoded_twice, _header_rejects, _iis_agent, _tidy_host
from parsers.w3c_dialects import (
    FIELD_SOURCES,
    TEXT_COLUMNS,
    Dialect,
    cloudfront_decode_text,
    parse_fields_directive,
)

PolarsReader = Callable[[tuple[str, ...], pl.DataFrame, str], tuple[pl.DataFrame, pl.DataFrame]]


def read(dialect: Dialect, start: tuple[str, ...], view: LineView, file: str,
         polars_reader: PolarsReader) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Lines the kernel reads unambiguously become rows here; the rest (directives, rejects) go to `polars_reader`."""
    from parsers import w3c_kernel

    data, count = view.data, len(view.valid)
    separator = ord(dialect.separator)
    cut = _Cut.empty(count)
    marks = _directive_lines(view)
    lists = [tuple(parse_fields_directive(t)) for t in view.frame(marks).get_column("text").to_list()]
    for (lo, hi), fields in zip(pairwise([0, *marks.tolist(), count]), [start, *lists], strict=True):
        plan = _kernel_plan(fields)
        if plan is not None and hi > lo:
            w3c_kernel.split_rows(
                data, view.starts, view.ends, view.valid, lo, hi, len(fields), separator,
                MAX_LINE_BYTES, plan.picks, plan.numbers, plan.dates, plan.required, dialect.time_taken_ms,
                cut.fields, cut.ok, cut.micros, cut.values, cut.nulls,
            )
    rows = _kernel_rows(dialect, view, data, cut, file)
    if rows.height == count:
        return rows, pl.DataFrame(schema=REJECTS)
    others = view.frame(np.flatnonzero(~cut.ok))
    if others.get_column("text").str.starts_with("#").fill_null(False).all():  # the usual case: only directives
        return rows, _header_rejects(others, file)
    rest, rejects = polars_reader(start, others, file)
    if rest.height:
        rows = pl.concat([rows, rest], how="vertical").sort("line")
    return rows, rejects

def _kernel_rows(dialect: Dialect, view: LineView, data: np.ndarray, cut: _Cut, file: str) -> pl.DataFrame:
    """Canonical rows for the lines the kernel marked ok, decoded like `_decode` does."""
    from parsers import w3c_kernel

    rows = np.flatnonzero(cut.ok)
    encoded = dialect.cloudfront_encoding
    tidy = _kernel_tidy(encoded)
    views, rewritten, present, flagged = w3c_kernel.gather(
        data, cut.fields, rows, encoded, w3c_kernel.CF_SET, tidy
    )
    buffers = [pa.py_buffer(data), pa.py_buffer(rewritten)]
    every_line = len(rows) == len(cut.ok)  # the usual batch: no directive, no reject

    def of_rows(values: np.ndarray) -> np.ndarray:
        return values if every_line else values[..., rows]

    arrays: dict[str, pa.Array] = {}  # converted to polars in one call: per column, the calls cost more
    for k, name in enumerate(TEXT_COLUMNS):
        arrays[name] = compiled.viewed_text(views[k], present[k], buffers)
    for k, (name, dtype) in enumerate(_KERNEL_NUMBERS):
        arrays[name] = pa.array(of_rows(cut.values[k]).astype(dtype), mask=of_rows(cut.nulls[k]))
    arrays["ts"] = pa.Array.from_buffers(pa.timestamp("us", "UTC"), len(rows),
                                         [None, pa.py_buffer(np.ascontiguousarray(of_rows(cut.micros)))])
    columns = pl.from_arrow(pa.table(arrays))
    assert isinstance(columns, pl.DataFrame)
    texts: dict[str, pl.Series] = {}
    for k, name in enumerate(TEXT_COLUMNS):
        column = columns.get_column(name)
        if flagged[k].any():  # raw UTF-8 the client sent (CloudFront encodes it), or non-ASCII to tidy
            where = np.flatnonzero(flagged[k])
            bounds = cut.fields[rows[where], k].tolist()
            values = pl.Series(name, [bytes(data[start:end]).decode() for start, end in bounds], dtype=pl.String)
            if encoded:
                values = values.map_elements(cloudfront_decode_text, return_dtype=pl.String)
            if tidy[k]:
                values = values.to_frame().select(_TIDY_EXPRS[tidy[k]](pl.col(name))).to_series()
            column = column.clone().scatter(where, values)
        texts[name] = column
    if encoded:
        texts = _agents_decoded_twice(texts, fast=True)
    numbers = {name: columns.get_column(name) for name, _ in _KERNEL_NUMBERS}
    stamp = columns.get_column("ts")
    place = view.positions(rows)
    frame = pl.DataFrame([stamp, *texts.values(), *numbers.values(), place.get_column("line"),
                          place.get_column("offset")])
    if not encoded:
        frame = frame.with_columns(_iis_agent(pl.col("user_agent")))
    return frame.select(
        *[
            pl.lit(file, dtype=pl.String).alias(name) if name == "file" else pl.col(name).cast(dtype)
            for name, dtype in CANONICAL.items()
        ]
    )



def directive_texts(raw: RawChunk) -> list[str]:
    """The `#Fields:` lines of a chunk of whole lines, in order, found from its line starts."""
    data = np.frombuffer(raw.chunk, dtype=np.uint8)
    starts = raw.line_starts()
    present = starts < len(data)
    hashes = np.flatnonzero(present & (data[np.minimum(starts, len(data) - 1)] == ord("#")))
    found = []
    for line in hashes.tolist():
        at = int(starts[line])
        if raw.chunk.startswith(b"#Fields:", at):
            end = raw.chunk.find(b"\n", at)
            found.append(raw.chunk[at : len(raw.chunk) if end < 0 else end].rstrip(b"\r").decode("utf-8", "replace"))
    return found


def _directive_lines(view: LineView) -> np.ndarray:
    """Indices of the `#Fields:` lines of a batch, from the bytes (lines starting with `#` are few)."""
    if not len(view.starts):
        return np.zeros(0, dtype=np.int64)
    first = view.data[np.minimum(view.starts, len(view.data) - 1)]
    hashes = np.flatnonzero(view.valid & (first == ord("#")))
    return np.array([i for i in hashes.tolist()
                     if bytes(view.data[view.starts[i] : view.starts[i] + 8]) == b"#Fields:"], dtype=np.int64)


# ----- when and how the machine-code reader runs -----------------------------
KERNEL_MIN_LINES = 1_000  # smaller batches are not worth leaving polars for
_KERNEL_NUMBERS = (("status", np.uint16), ("bytes", np.uint64), ("request_time_ms", np.float64))


def kernel_wanted(lines: int) -> bool:
    """Whether a batch takes the machine-code reader (PLAUSIBLE_LOGS_COMPILED=0/1 forces it off/on)."""
    if compiled._SWITCH in ("0", "1"):
        return compiled._SWITCH == "1"
    return lines >= KERNEL_MIN_LINES and compiled.kernel_ready()


_TIDY_EXPRS: dict[int, Callable[[pl.Expr], pl.Expr]] = {1: lambda c: c.str.to_lowercase(), 2: _tidy_host}


@lru_cache(maxsize=2)
def _kernel_tidy(cloudfront: bool) -> np.ndarray:
    """Per text column, what `_tidy` does to it that the kernel repeats (w3c_kernel.LOWER / HOST)."""
    modes = {"host": 2, "scheme": 1} if cloudfront else {"host": 2}
    return np.array([modes.get(name, 0) for name in TEXT_COLUMNS], dtype=np.int64)


@dataclass(frozen=True)
class _KernelPlan:
    """Where a field list keeps what the canonical table needs, as field indices (-1: absent)."""

    picks: np.ndarray  # (text column in TEXT_COLUMNS order, candidate): first non-blank candidate wins
    numbers: np.ndarray  # status, bytes, time-taken
    dates: np.ndarray  # date, time
    required: np.ndarray  # text columns a row cannot do without (method, path: else invalid_request)


@lru_cache(maxsize=64)
def _kernel_plan(fields: tuple[str, ...]) -> _KernelPlan | None:
    """The kernel's view of a field list; None when it has no separate date and time fields."""
    lower = [f.lower() for f in fields]
    if "date" not in lower or "time" not in lower:
        return None

    def where(canonical: str) -> list[int]:
        return [lower.index(name) for name in FIELD_SOURCES[canonical] if name in lower]

    picks = np.full((len(TEXT_COLUMNS), 3), -1, dtype=np.int64)
    for k, name in enumerate(TEXT_COLUMNS):
        found = where(name)
        picks[k, : len(found)] = found
    numbers = np.array([(where(name) or [-1])[0] for name, _ in _KERNEL_NUMBERS], dtype=np.int64)
    dates = np.array([lower.index("date"), lower.index("time")], dtype=np.int64)
    required = np.array([name in ("method", "path") for name in TEXT_COLUMNS], dtype=np.bool_)
    return _KernelPlan(picks, numbers, dates, required)


@dataclass
class _Cut:
    """What the kernel found per line of a batch."""

    ok: np.ndarray  # read unambiguously into a row
    fields: np.ndarray  # (line, text column, start/end) byte offsets, -1 for a null
    micros: np.ndarray  # UTC microseconds of date + time
    values: np.ndarray  # (status / bytes / time-taken ms, line)
    nulls: np.ndarray

    @classmethod
    def empty(cls, count: int) -> _Cut:
        width = len(TEXT_COLUMNS)
        return cls(
            np.zeros(count, dtype=np.bool_), np.full((count, width, 2), -1, dtype=np.int64),
            np.zeros(count, dtype=np.int64),
            np.zeros((3, count), dtype=np.float64), np.ones((3, count), dtype=np.bool_),
        )
