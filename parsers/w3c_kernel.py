"""Machine code for parsers/w3c.py: split W3C lines (CloudFront TAB, IIS space) and check their typed fields.

Kept apart so `import numba` only happens once a run has big W3C batches. One pass per
line cuts the fields as offsets, picks the first non-empty candidate of each canonical
text column, and converts date/time, status, bytes and time-taken. A line is marked ok
only when that reading is unambiguous and the polars path would accept it; every other
line (directives, rejects, fractional seconds, odd numbers) goes through the polars path,
so results are identical by construction.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from parsers.kernel_fields import hex_value
from parsers.kernel_memcpy import copy_bytes
from parsers.kernel_words import two_byte_positions
from parsers.w3c_values import POW10, blank, decimal, digit, integer, utc_micros

# numbers[] slots: which field holds the status, the bytes and time-taken (-1: none)
STATUS, BYTES, TAKEN = 0, 1, 2
LOWER, HOST = 1, 2  # gather's tidy modes: lower-case ASCII; and a host's `:port` and `[]` dropped
_HASH, _PERCENT = 35, 37


@njit(cache=True, nogil=True)
def marks(data: np.ndarray, sep: int) -> np.ndarray:
    """Positions of every separator and `%` byte in the batch, then a sentinel."""
    return two_byte_positions(data, sep, _PERCENT, 6)


@njit(cache=True, nogil=True)
def _cut_fields(data: np.ndarray, found: np.ndarray, m: int, p: int, end: int, sep: int, fs: np.ndarray,
                fe: np.ndarray, fm: np.ndarray) -> int:
    """Split [p, end) like `splitn(sep, n)`, from the mark index m; -1 when there are fewer than n fields.

    fm[k] is the index of the first mark inside field k (its `%`s are found from there).
    Returns the mark index after the last separator used.
    """
    n = len(fs)
    k = 0
    fs[0] = p
    fm[0] = m
    while k < n - 1:
        q = found[m]
        if q >= end:
            return -1
        m += 1
        if data[q] != sep:
            continue
        fe[k] = q
        k += 1
        fs[k] = q + 1
        fm[k] = m
    fe[n - 1] = end
    return m


@njit(cache=True, nogil=True)
def _trim_last(data: np.ndarray, fs: np.ndarray, fe: np.ndarray) -> bool:
    """Cut the last field at its first ASCII whitespace (the `^(\\S*)` of the polars path); False on non-ASCII."""
    last = len(fs) - 1
    for p in range(fs[last], fe[last]):
        c = data[p]
        if c >= 128:
            return False  # Unicode whitespace is the regex's business
        if c == 32 or 9 <= c <= 13:
            fe[last] = p
            return True
    return True


@njit(cache=True, nogil=True)
def split_rows(data: np.ndarray, line_starts: np.ndarray, line_ends: np.ndarray, valid: np.ndarray, found: np.ndarray,
               lo: int, hi: int,
               n_fields: int, sep: int, max_len: int, picks: np.ndarray, numbers: np.ndarray, dates: np.ndarray,
               required: np.ndarray, scale: float, starts: np.ndarray, ends: np.ndarray, first_marks: np.ndarray,
               ok: np.ndarray, micros: np.ndarray, values: np.ndarray, nulls: np.ndarray) -> None:
    """Read rows [lo, hi) under one field list, with `found` = marks(data, sep).

    Line i is data[line_starts[i]:line_ends[i]] (Arrow offsets, or a raw chunk's lines without newline).

    picks (slot, candidate) = field index (-1: none) of each text column, first non-blank wins;
    numbers = fields of status, bytes, time-taken; dates = fields of date and time; required =
    text slots that must have a value (method, path). Per (slot, row): starts, ends and the
    first mark inside the value. values (3, row) get status, bytes and time-taken x scale as
    float64, with nulls (3, row). A row not ok has every slot -1.
    """
    fs = np.empty(n_fields, dtype=np.int64)
    fe = np.empty(n_fields, dtype=np.int64)
    fm = np.empty(n_fields, dtype=np.int64)
    last = n_fields - 1
    last_needed = dates[0] == last or dates[1] == last
    for slot in range(picks.shape[0]):
        for c in range(picks.shape[1]):
            last_needed |= picks[slot, c] == last
    for k in range(3):
        last_needed |= numbers[k] == last
    m = np.searchsorted(found, line_starts[lo])
    for i in range(lo, hi):
        p, end = line_starts[i], line_ends[i]
        while found[m] < p:
            m += 1
        good = valid[i] and end > p and end - p <= max_len and data[p] != _HASH
        if good:
            after = _cut_fields(data, found, m, p, end, sep, fs, fe, fm)
            good = after >= 0 and (not last_needed or _trim_last(data, fs, fe))
            if good:
                m = after
                good = _row(data, i, picks, numbers, dates, required, scale, fs, fe, fm, starts, ends, first_marks,
                            micros, values, nulls)
        ok[i] = good
        if not good:
            for slot in range(starts.shape[0]):
                starts[slot, i] = -1
                ends[slot, i] = -1


@njit(cache=True, nogil=True)
def _row(data: np.ndarray, i: int, picks: np.ndarray, numbers: np.ndarray, dates: np.ndarray, required: np.ndarray,
         scale: float, fs: np.ndarray, fe: np.ndarray, fm: np.ndarray, starts: np.ndarray, ends: np.ndarray,
         first_marks: np.ndarray, micros: np.ndarray, values: np.ndarray, nulls: np.ndarray) -> bool:
    """Dates, text columns and numbers of one split line; False when the polars path must judge it."""
    micros[i] = utc_micros(data, fs[dates[0]], fe[dates[0]], fs[dates[1]], fe[dates[1]])
    if micros[i] < 0:
        return False
    for slot in range(picks.shape[0]):
        starts[slot, i] = -1
        ends[slot, i] = -1
        for c in range(picks.shape[1]):
            f = picks[slot, c]
            if f < 0:
                break
            if not blank(data, fs[f], fe[f]):
                starts[slot, i] = fs[f]
                ends[slot, i] = fe[f]
                first_marks[slot, i] = fm[f]
                break
        if required[slot] and starts[slot, i] < 0:
            return False
    return _numbers(data, i, numbers, scale, fs, fe, values, nulls)


@njit(cache=True, nogil=True)
def _numbers(data: np.ndarray, i: int, numbers: np.ndarray, scale: float, fs: np.ndarray, fe: np.ndarray,
             values: np.ndarray, nulls: np.ndarray) -> bool:
    """Status (UInt16), bytes (UInt64) and time-taken (Float64 x scale); False when polars must judge."""
    for k in range(3):
        f = numbers[k]
        nulls[k, i] = True
        values[k, i] = 0.0
        if f < 0 or blank(data, fs[f], fe[f]):
            continue
        if k == TAKEN:
            seconds = decimal(data, fs[f], fe[f], POW10)
            if seconds < 0:
                return False
            values[k, i] = seconds * scale
        else:
            number = integer(data, fs[f], fe[f], 15)
            if number < 0 or (k == STATUS and number > 65535):
                return False
            values[k, i] = number  # < 10^15: exact in a double
        nulls[k, i] = False
    return True


@njit(cache=True, nogil=True)
def _decoded(data: np.ndarray, s: int, e: int, found: np.ndarray, m: int, out: np.ndarray, o: int,
             cf_set: np.ndarray) -> tuple[int, bool]:
    """Copy [s, e) to out at o undoing CloudFront's %XX for cf_set bytes, jumping from `%` to `%` (mark m on).

    Returns the new o and whether a value held an encoded byte >= 0x80 (left encoded for the caller).
    """
    high = False
    p = s
    while True:
        q = found[m]
        while q < p:
            m += 1
            q = found[m]
        if q >= e:
            q = e
        copy_bytes(out, o, data, p, q - p)
        o += q - p
        if q == e:
            return o, high
        m += 1
        p = q
        if data[q] != _PERCENT:
            continue
        if q + 2 < e:
            a = hex_value(data[q + 1])
            b = hex_value(data[q + 2])
            if a >= 0 and b >= 0:
                value = a * 16 + b
                if value >= 128:
                    high = True
                elif cf_set[value]:
                    out[o] = value
                    o += 1
                    p = q + 3
                    continue
        out[o] = _PERCENT
        o += 1
        p = q + 1


@njit(cache=True, nogil=True)
def _tidy(out: np.ndarray, s: int, e: int, mode: int) -> int:
    """Lower-case ASCII [s, e) in place; for a host (mode HOST) also drop `:port` and surrounding `[]`.

    Returns the new end, or -1 when the value holds a non-ASCII byte (polars' Unicode rules decide).
    """
    for p in range(s, e):
        c = out[p]
        if c >= 128:
            return -1
        if 65 <= c <= 90:
            out[p] = c + 32
    if mode != HOST:
        return e
    digits = e
    while digits > s and digit(out[digits - 1]):
        digits -= 1
    if digits < e and digits > s and out[digits - 1] == 58:  # `:\d+$`
        e = digits - 1
    a = s
    while a < e and (out[a] == 91 or out[a] == 93):
        a += 1
    while e > a and (out[e - 1] == 91 or out[e - 1] == 93):
        e -= 1
    if a > s:
        out[s : s + e - a] = out[a:e].copy()
    return s + e - a


@njit(cache=True, nogil=True)
def gather(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, first_marks: np.ndarray, found: np.ndarray,
           rows: np.ndarray, decode: bool, cf_set: np.ndarray, tidy: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every slot of the given rows copied into one buffer, a region per slot, visiting each line once.

    Returns Arrow offsets (slot, row + 1) relative to the slot's region, the buffer, the region
    bases, and per (slot, row) whether the value needs the caller: it held an encoded byte >= 0x80
    (copied, not decoded), or tidy[slot] (LOWER, HOST) met a non-ASCII byte. A negative start is a
    null (an empty value here; the caller sets the validity).
    """
    width = starts.shape[0]
    n = len(rows)
    bases = np.zeros(width + 1, dtype=np.int64)
    for k in range(width):
        total = 0
        for r in range(n):
            i = rows[r]
            if starts[k, i] >= 0:
                total += ends[k, i] - starts[k, i]
        bases[k + 1] = bases[k] + total
    out = np.empty(max(bases[width], 1), dtype=np.uint8)
    offsets = np.zeros((width, n + 1), dtype=np.int64)
    high = np.zeros((width, n), dtype=np.bool_)
    used = bases[:width].copy()
    for r in range(n):
        i = rows[r]
        for k in range(width):
            s = starts[k, i]
            if s >= 0:
                e = ends[k, i]
                o = used[k]
                if decode:
                    used[k], high[k, r] = _decoded(data, s, e, found, first_marks[k, i], out, o, cf_set)
                else:
                    copy_bytes(out, o, data, s, e - s)
                    used[k] += e - s
                if tidy[k] != 0 and not high[k, r]:
                    tidied = _tidy(out, o, used[k], tidy[k])
                    if tidied < 0:
                        high[k, r] = True
                    else:
                        used[k] = tidied
            offsets[k, r + 1] = used[k] - bases[k]
    return offsets, out, bases, high
