"""A compiled tokenizer for templates: the same fields as the template's regex, without the regex.

The regex engine costs about 2 CPU-seconds per million combined lines; this
path walks each line once in machine code (C through ctypes, GIL released, so
the parse threads run on both cores), cuts every field out as a pair of offsets, and
turns them into Arrow string-view columns over the log bytes in one pass over the
rows (no value is copied). It also undoes CloudFront's percent-encoding layer for
parsers/w3c.py.

It only accepts a line when the walk is unambiguous and every typed field
validates; anything else (a `"-"` request, an Apache `\\"` inside a request,
a truncated line, an impossible date) is marked not-ok and the caller sends
it through the full regex, so results are identical by construction and
rejects keep their reasons.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa

from parsers.fields import TIME_KINDS, Field, Kind
from parsers.reader import MAX_LINE_BYTES

if TYPE_CHECKING:
    from parsers.lineview import LineView

# Set PLAUSIBLE_LOGS_COMPILED=0 to always use the regex engine, =1 to use this one even for tiny batches.
_SWITCH = os.environ.get("PLAUSIBLE_LOGS_COMPILED", "auto")
MIN_LINES = 20_000  # smaller batches always take the regex engine

TS_COLUMN = "_ts"  # the kernel's own timestamp, when the template has exactly one CLF time field
ESCAPED_COLUMN = "_escaped"  # whether the line holds a backslash (only those need escape decoding)
PATH_SUFFIX, QUERY_SUFFIX = "_path", "_query"  # a request's target, split at its first `?`

_LIT, _FIELD, _REQUEST = 0, 1, 2
_TO_END, _TO_SPACE = -1, -2

# Typed field checks done in machine code; their byte sets must not contain the stop byte.
_CHECKS: dict[Kind, tuple[int, str]] = {
    Kind.STATUS: (1, "0123456789"),
    Kind.BYTES: (2, "0123456789-"),
    Kind.MICROS: (2, "0123456789-"),
    Kind.SECONDS: (3, "0123456789.-"),
    Kind.MILLIS: (3, "0123456789.-"),
    Kind.TIME_CLF: (4, "0123456789/:+- ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
    Kind.METHOD: (5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
    Kind.PROTOCOL: (6, "ABCDEFGHIJKLMNOPQRSTUVWXYZ/0123456789.-"),
}
# Kinds whose regex is generic text up to the next literal (no check needed).
_GENERIC = {
    Kind.CLIENT_IP, Kind.TARGET, Kind.PATH, Kind.QUERY, Kind.HOST, Kind.REFERRER, Kind.USER_AGENT,
    Kind.CONTENT_TYPE, Kind.XFF, Kind.SKIP, Kind.EXTRA,
}


load_error: Exception | None = None  # why the machine-code loops could not be loaded, if they could not


def enabled(lines: int) -> bool:
    """Whether a batch of this many lines should take the compiled path.

    Batches under MIN_LINES take the regex engine: at that size either is instant. The
    compiled path needs the C extension built at install time (parsers/native.py); without
    it every batch takes the regex engine, which gives the same rows, only slower.
    """
    if _SWITCH == "0":
        return False
    if _SWITCH == "1":
        return True
    return lines >= MIN_LINES and kernel_ready()


@functools.cache
def kernel_ready() -> bool:
    """Whether the machine-code loops are built and load (a millisecond; once per process)."""
    global load_error
    try:
        from parsers import native  # noqa: F401 - the import is the check
    except (ImportError, OSError) as exc:  # installed without a C compiler: the regex engine parses everything
        load_error = exc
        return False
    return True


# How a slot's values reach the frame: not at all, as text (`-` and "" as null), or as an unsigned integer.
_SKIP, _TEXT, _UINT16, _UINT64 = "", "text", "uint16", "uint64"
_TYPED_SLOTS = {Kind.STATUS: _UINT16, Kind.BYTES: _UINT64}


@dataclass(frozen=True)
class CompiledPlan:
    """The template as a small program of literal and field steps, run by the C kernel (parsers/csrc/clf.c).

    Its output is ready for the canonical table: text fields null where the log wrote `-` or
    nothing, status and bytes as integers, the request target split into path and query at the
    first `?`, and the time as UTC microseconds.
    """

    ops: np.ndarray  # (steps, 5) int64: kind, a, b, slot, check
    literals: np.ndarray  # uint8
    slots: list[tuple[str, str]]  # output column per slot and how it is materialised (_SKIP, _TEXT, ...)
    empty_ok: bool
    ts_slot: int  # the slot of the one CLF time field, whose UTC microseconds the kernel computes; -1 if none

    @classmethod
    def build(cls, tokens: list[str | Field], groups: dict[int, str], empty_ok: bool) -> CompiledPlan | None:
        """A plan when every field is one the kernel reproduces exactly; None otherwise."""
        ops: list[tuple[int, int, int, int, int]] = []
        literals = bytearray()
        slots: list[tuple[str, str]] = []
        times = [i for i, t in enumerate(tokens) if isinstance(t, Field) and t.kind in TIME_KINDS]
        kernel_time = len(times) == 1 and tokens[times[0]].kind is Kind.TIME_CLF  # type: ignore[union-attr]
        ts_slot = -1
        for index, token in enumerate(tokens):
            if isinstance(token, str):
                raw = token.encode()
                ops.append((_LIT, len(literals), len(raw), -1, 0))
                literals.extend(raw)
                continue
            following = tokens[index + 1] if index + 1 < len(tokens) else None
            if isinstance(following, Field):
                return None  # touching fields (path + ?query) need the regex's backtracking
            stop = ord(following[0]) if following else None
            if stop is not None and stop > 127:
                return None
            group = groups[index]
            if token.kind is Kind.REQUEST:
                if stop != ord('"'):
                    return None
                ops.append((_REQUEST, stop, 1, len(slots), 0))
                slots.extend([(f"{group}_m", _TEXT), (f"{group}{PATH_SUFFIX}", _TEXT), (f"{group}_p", _TEXT),
                              (f"{group}{QUERY_SUFFIX}", _TEXT)])
                continue
            if token.kind in _CHECKS:
                check, allowed = _CHECKS[token.kind]
                if chr(stop) in allowed if stop is not None else " " in allowed:
                    return None
                target = stop if stop is not None else _TO_SPACE
            elif token.kind in _GENERIC:
                check, target = 0, stop if stop is not None else _TO_END
            else:
                return None
            escaped = 1 if stop == ord('"') else 0
            ops.append((_FIELD, target, escaped, len(slots), check))
            mode = _TYPED_SLOTS.get(token.kind, _TEXT)
            if token.kind is Kind.SKIP:
                mode = _SKIP
            if kernel_time and index == times[0]:
                ts_slot, mode = len(slots), _SKIP  # the kernel's timestamp replaces the text
            slots.append((group, mode))
        if not slots:
            return None
        return cls(np.array(ops, dtype=np.int64), np.frombuffer(bytes(literals) or b"\0", dtype=np.uint8).copy(),
                   slots, empty_ok, ts_slot)

    def extract(self, view: LineView) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
        """Every materialised slot of the lines the kernel cut unambiguously; which lines those are (mask, indices).

        The columns also hold `_ts` (when the kernel dates lines) and `_escaped` (the line holds
        a backslash). Lines outside the mask are for the regex engine to parse or diagnose.
        """
        from parsers import kernel

        data = view.data
        count = len(view.valid)
        fields = np.empty((count, len(self.slots), 2), dtype=np.int64)
        ok = np.empty(count, dtype=np.bool_)
        micros = np.empty(count, dtype=np.int64)
        escaped = np.empty(count, dtype=np.bool_)
        kernel.scan(data, view.starts, view.ends, view.valid, self.ops, self.literals, self.empty_ok, self.ts_slot,
                    MAX_LINE_BYTES, fields, ok, micros, escaped)
        rows = np.flatnonzero(ok)
        arrays: dict[str, pa.Array] = {}  # converted to polars in one call: per column, the calls cost more
        text_slots = [slot for slot, (_, mode) in enumerate(self.slots) if mode == _TEXT]
        number_slots = [slot for slot, (_, mode) in enumerate(self.slots) if mode in (_UINT16, _UINT64)]
        views, present, numbers, numbers_present = kernel.gather_rows(
            data, fields, np.array(text_slots, dtype=np.int64), np.array(number_slots, dtype=np.int64), rows
        )
        log_bytes = [pa.py_buffer(data)]  # every text column's values point into the log bytes: none is copied
        for k, slot in enumerate(text_slots):
            arrays[self.slots[slot][0]] = viewed_text(views[k], present[k], log_bytes)
        for k, slot in enumerate(number_slots):
            name, mode = self.slots[slot]
            values = numbers[k]
            if mode == _UINT16:
                arrow_type, values = pa.uint16(), values.astype(np.uint16)
            else:
                arrow_type = pa.uint64()
            arrays[name] = pa.Array.from_buffers(arrow_type, len(rows), [_null_bitmap(numbers_present[k]),
                                                                         pa.py_buffer(values)])
        if self.ts_slot >= 0:
            arrays[TS_COLUMN] = pa.Array.from_buffers(pa.timestamp("us", "UTC"), len(rows),
                                                      [None, pa.py_buffer(micros[rows])])
        arrays[ESCAPED_COLUMN] = pa.array(escaped[rows])
        columns = pl.from_arrow(pa.table(arrays))
        assert isinstance(columns, pl.DataFrame)
        return columns, ok, rows


def _null_bitmap(present: np.ndarray) -> pa.Buffer | None:
    return None if present.all() else pa.py_buffer(np.packbits(present, bitorder="little"))


def viewed_text(views: np.ndarray, present: np.ndarray, buffers: list[pa.Buffer]) -> pa.StringViewArray:
    """A column of a kernel's gather as Arrow text: its string views (row, 16 bytes) over `buffers`."""
    return pa.Array.from_buffers(pa.string_view(), len(present),
                                 [_null_bitmap(present), pa.py_buffer(views), *buffers])


def text_buffers(values: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A string column as one byte buffer, value offsets into it and a validity mask."""
    text = values.to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    text = text.cast(pa.large_string())
    _, offsets_buf, data_buf = text.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=len(text) + 1, offset=text.offset * 8)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, dtype=np.uint8)
    return data, offsets, text.is_valid().to_numpy(zero_copy_only=False)


def cloudfront_unescape(values: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """CloudFront's %XX layer for its ASCII set undone in one pass; and which values hold an encoded byte >= 0x80.

    Those flagged values are copied as they are: the caller decodes them carefully (multi-byte UTF-8).
    """
    from parsers import w3c_kernel

    data, offsets, valid = text_buffers(values)
    fields = np.stack([np.where(valid, offsets[:-1], -1), np.where(valid, offsets[1:], -1)], axis=1).reshape(-1, 1, 2)
    rows = np.arange(len(valid), dtype=np.int64)
    views, rewritten, present, high = w3c_kernel.gather(
        data, fields, rows, True, w3c_kernel.CF_SET, np.zeros(1, dtype=np.int64)
    )
    text = viewed_text(views[0], present[0], [pa.py_buffer(data), pa.py_buffer(rewritten)])
    return pl.Series(values.name, text), high[0]
