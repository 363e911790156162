"""Machine-code loops for parsers/compiled.py (numba, compiled once and cached on disk).

Kept apart so that `import numba` (about half a second) only happens when a
batch is big enough to take the compiled path; typed-field checks and CLF
timestamps live in parsers/kernel_fields.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from parsers.kernel_fields import check_field, clf_micros, hex_value, is_protocol, is_space, method_end
from parsers.kernel_memcpy import copy_bytes
from parsers.kernel_words import two_byte_positions
from parsers.w3c_dialects import CLOUDFRONT_ENCODED_ASCII

_LIT, _FIELD, _REQUEST = 0, 1, 2
_TO_END, _TO_SPACE = -1, -2
_BACKSLASH, _SPACE, _QUESTION = 92, 32, 63
_CLF_TIME = 4  # the check kind of a CLF time field (parsers/compiled.py _CHECKS)


@njit(cache=True, nogil=True)
def specials(data: np.ndarray) -> np.ndarray:
    """Positions of every `"` and `\\` byte, then a sentinel."""
    return two_byte_positions(data, 34, _BACKSLASH, 16)


@njit(cache=True, nogil=True)
def newline_positions(data: np.ndarray) -> np.ndarray:
    """Positions of every newline byte."""
    return two_byte_positions(data, 10, 10, 32)[:-1]


@njit(cache=True, nogil=True)
def _request(data: np.ndarray, s: int, e: int, starts: np.ndarray, ends: np.ndarray, slot: int, i: int) -> bool:
    """`METHOD SP target [SP PROTOCOL]` inside a quoted request; target may hold backslash escapes.

    Slots: method, path (target up to the first `?`), protocol, query (after it; -1 when there is no `?`).
    An absolute-form target (`http://host/...`) is refused: the regex engine splits its host off.
    """
    m = method_end(data, s, e)
    if m < 0 or m >= e or data[m] != _SPACE:
        return False
    t = m + 1
    if e - t >= 4 and data[t] == 104 and data[t + 1] == 116 and data[t + 2] == 116 and data[t + 3] == 112:
        return False
    j = t
    q = -1
    while j < e:
        c = data[j]
        if c == _SPACE:
            break
        if c == _QUESTION and q < 0:
            q = j
        if c == _BACKSLASH:  # an escaped byte never ends the target, but an escaped `?` still splits it
            if q < 0 and j + 1 < e and data[j + 1] == _QUESTION:
                q = j + 1
            j += 2
        else:
            j += 1
    if j > e:
        return False
    starts[slot, i], ends[slot, i] = s, m
    if q < 0:
        starts[slot + 1, i], ends[slot + 1, i] = t, j
        starts[slot + 3, i], ends[slot + 3, i] = -1, -1
    else:
        starts[slot + 1, i], ends[slot + 1, i] = t, q
        starts[slot + 3, i], ends[slot + 3, i] = q + 1, j
    if j == e:
        starts[slot + 2, i], ends[slot + 2, i] = -1, -1
        return True
    if not is_protocol(data, j + 1, e):
        return False
    starts[slot + 2, i], ends[slot + 2, i] = j + 1, e
    return True


@njit(cache=True, nogil=True, inline="always")
def _literal_at(data: np.ndarray, p: int, end: int, literals: np.ndarray, at: int, length: int) -> bool:
    """Whether the template's literal text literals[at:at + length] stands at p."""
    if end - p < length:
        return False
    for j in range(length):  # noqa: SIM110 - numba compiles loops, not all() over a generator
        if data[p + j] != literals[at + j]:
            return False
    return True


@njit(cache=True, nogil=True, inline="always")
def _quote_at(data: np.ndarray, marks: np.ndarray, m: int, p: int, end: int) -> tuple[int, int]:
    """The first `"` at or after p not escaped by a backslash (end if none), jumping along the
    `"`/`\\` index from mark m on; and the mark to go on from."""
    while True:
        while marks[m] < p:
            m += 1
        q = marks[m]
        if q >= end:
            return end, m
        if data[q] == 34:
            return q, m
        p = q + 2


@njit(cache=True, nogil=True)
def scan(data: np.ndarray, line_starts: np.ndarray, line_ends: np.ndarray, valid: np.ndarray, ops: np.ndarray,
         literals: np.ndarray,
         empty_ok: bool, ts_slot: int, max_len: int, starts: np.ndarray, ends: np.ndarray, ok: np.ndarray,
         micros: np.ndarray, escaped_lines: np.ndarray) -> None:
    """Walk every line through the template program, recording field offsets and whether it matched.

    Quoted fields jump from one `"`/`\\` position to the next (the index built by `specials`)
    instead of looking at every byte of a long user agent or referrer. Lines over max_len bytes
    are left to the regex engine, which names them; escaped_lines marks lines holding a backslash.
    """
    marks = specials(data)
    m = 0
    clf_cache = np.array([-1, 0], dtype=np.int64)
    for i in range(len(ok)):
        p = line_starts[i]
        end = line_ends[i]
        good = bool(valid[i]) and end - p <= max_len
        for k in range(ops.shape[0] if good else 0):
            kind = ops[k, 0]
            if kind == _LIT:
                good = _literal_at(data, p, end, literals, ops[k, 1], ops[k, 2])
                if not good:
                    break
                p += ops[k, 2]
                continue
            stop, escaped, slot = ops[k, 1], ops[k, 2], ops[k, 3]
            s = p
            if stop == _TO_END:
                p = end
            elif stop == _TO_SPACE:
                while p < end and not is_space(data[p]):
                    p += 1
            elif escaped == 1:  # the stop byte is `"`: find the first one not escaped by a backslash
                p, m = _quote_at(data, marks, m, p, end)
                if p > end:
                    good = False
                    break
            else:
                while p < end and data[p] != stop:
                    p += 1
            if kind == _REQUEST:
                if not _request(data, s, p, starts, ends, slot, i):
                    good = False
                    break
                continue
            starts[slot, i], ends[slot, i] = s, p
            check = ops[k, 4]
            if check == _CLF_TIME:  # checked and converted in one step (the slow path owns impossible dates)
                value = clf_micros(data, s, p, clf_cache) if p > s else -1
                if value == -2 or (value == -1 and not empty_ok) or (slot == ts_slot and value < 0):
                    good = False
                    break
                if slot == ts_slot:
                    micros[i] = value
            elif check != 0 and not check_field(check, data, s, p, empty_ok):
                good = False
                break
        if good and p < end and not is_space(data[p]):
            good = False
        ok[i] = good
        if not good:  # later slots were never written: make them empty, never stale offsets
            for slot in range(starts.shape[0]):
                starts[slot, i] = -1
                ends[slot, i] = -1
    _mark_escaped_lines(data, marks, line_ends, escaped_lines)


@njit(cache=True, nogil=True)
def _mark_escaped_lines(data: np.ndarray, marks: np.ndarray, line_ends: np.ndarray,
                        escaped_lines: np.ndarray) -> None:
    """Which lines hold a backslash, from the `"`/`\\` index: only those need escape decoding.

    Lines are in buffer order; a backslash between two lines (a framed buffer has none) marks nothing.
    """
    escaped_lines[:] = False
    line = 0
    count = len(line_ends)
    for k in range(len(marks) - 1):
        q = marks[k]
        if data[q] != _BACKSLASH:
            continue
        while line < count and line_ends[line] <= q:
            line += 1
        if line < count:
            escaped_lines[line] = True


# CloudFront percent-encodes these ASCII bytes (and bytes >= 0x80) in every field.
CF_SET = np.zeros(256, dtype=np.bool_)
CF_SET[list(CLOUDFRONT_ENCODED_ASCII)] = True


@njit(cache=True, nogil=True)
def gather_many(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, slots: np.ndarray, decode: np.ndarray,
                cf_set: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Copy several fields per row into one buffer with a region per field, visiting each line once.

    One pass over the rows (rather than one per field) touches each line's memory once, which is
    what bounds this on large batches. Fields with decode[k] lose CloudFront's %XX layer for its
    ASCII set; a value with an encoded byte >= 0x80 is copied as it is and flagged in `high`.
    Returns offsets (field, row + 1) relative to the field's region, the buffer, region bases, high.
    """
    width = len(slots)
    n = starts.shape[1]
    bases = np.zeros(width + 1, dtype=np.int64)
    for k in range(width):
        total = 0
        row_starts = starts[slots[k]]
        row_ends = ends[slots[k]]
        for i in range(n):
            if row_starts[i] >= 0:
                total += row_ends[i] - row_starts[i]
        bases[k + 1] = bases[k] + total
    out = np.empty(max(bases[width], 1), dtype=np.uint8)
    offsets = np.zeros((width, n + 1), dtype=np.int64)
    high = np.zeros((width, n), dtype=np.bool_)
    used = np.zeros(width, dtype=np.int64)
    for i in range(n):
        for k in range(width):
            s = starts[slots[k], i]
            o = bases[k] + used[k]
            if s >= 0:
                e = ends[slots[k], i]
                if decode[k]:
                    p = s
                    while p < e:
                        c = data[p]
                        if c == 37 and p + 2 < e:
                            a = hex_value(data[p + 1])
                            b = hex_value(data[p + 2])
                            if a >= 0 and b >= 0:
                                value = a * 16 + b
                                if value >= 128:
                                    high[k, i] = True
                                elif cf_set[value]:
                                    out[o] = value
                                    o += 1
                                    p += 3
                                    continue
                        out[o] = c
                        o += 1
                        p += 1
                else:
                    copy_bytes(out, o, data, s, e - s)
                    o += e - s
            used[k] = o - bases[k]
            offsets[k, i + 1] = used[k]
    return offsets, out, bases, high


@njit(cache=True, nogil=True)
def gather_rows(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, slots: np.ndarray, number_slots: np.ndarray,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Copy the chosen rows' text fields into one buffer with a region per field, and read their numbers.

    `-` and empty values become nulls. Numbers are read in the same pass over the rows as the
    text, while each line is in the cache (a pass of its own cost as much as the copying).
    Returns offsets (field, row + 1) relative to the field's region, the buffer, region bases and
    validity; and the numbers (number slot, row) with their validity.
    """
    width = len(slots)
    n = len(rows)
    valid = np.zeros((width, n), dtype=np.bool_)
    bases = np.zeros(width + 1, dtype=np.int64)
    for k in range(width):
        total = 0
        for r in range(n):
            i = rows[r]
            s = starts[slots[k], i]
            e = ends[slots[k], i]
            if s >= 0 and e > s and not (e - s == 1 and data[s] == 45):
                valid[k, r] = True
                total += e - s
        bases[k + 1] = bases[k] + total
    out = np.empty(max(bases[width], 1), dtype=np.uint8)
    offsets = np.zeros((width, n + 1), dtype=np.int64)
    used = np.zeros(width, dtype=np.int64)
    numbers = np.zeros((len(number_slots), n), dtype=np.uint64)
    present = np.zeros((len(number_slots), n), dtype=np.bool_)
    for r in range(n):
        i = rows[r]
        for k in range(width):
            if valid[k, r]:
                s = starts[slots[k], i]
                length = ends[slots[k], i] - s
                copy_bytes(out, bases[k] + used[k], data, s, length)
                used[k] += length
            offsets[k, r + 1] = used[k]
        for k in range(len(number_slots)):
            numbers[k, r], present[k, r] = _uint(data, starts[number_slots[k], i], ends[number_slots[k], i])
    return offsets, out, bases, valid, numbers, present


_UINT64_TENTH = np.uint64(1844674407370955161)  # (2**64 - 1) // 10


@njit(cache=True, nogil=True, inline="always")
def _uint(data: np.ndarray, s: int, e: int) -> tuple[np.uint64, bool]:
    """An already-checked digit field as an unsigned integer; not present for `-`, empty, or past 2**64 - 1."""
    value = np.uint64(0)
    if s < 0 or e <= s or data[s] == 45:
        return value, False
    for j in range(s, e):
        digit = np.uint64(data[j] - 48)
        if value > _UINT64_TENTH or (value == _UINT64_TENTH and digit > 5):
            return value, False
        value = value * np.uint64(10) + digit
    return value, True
