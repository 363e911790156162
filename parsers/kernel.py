"""Machine-code loops for parsers/compiled.py (numba, compiled once and cached on disk).

Kept apart so that `import numba` (about half a second) only happens when a
batch is big enough to take the compiled path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_LIT, _FIELD, _REQUEST = 0, 1, 2
_TO_END, _TO_SPACE = -1, -2
_BACKSLASH, _SPACE = 92, 32


@njit(cache=True, nogil=True, inline="always")
def _is_space(c: int) -> bool:
    return c == 32 or (9 <= c <= 13)


@njit(cache=True, nogil=True, inline="always")
def _is_digit(c: int) -> bool:
    return 48 <= c <= 57


@njit(cache=True, nogil=True, inline="always")
def _is_upper(c: int) -> bool:
    return 65 <= c <= 90


@njit(cache=True, nogil=True, inline="always")
def _is_alpha(c: int) -> bool:
    return 65 <= c <= 90 or 97 <= c <= 122


@njit(cache=True, nogil=True)
def _digits(data: np.ndarray, s: int, e: int) -> bool:
    if e <= s:
        return False
    for j in range(s, e):  # noqa: SIM110 - numba compiles loops, not all() over a generator
        if not _is_digit(data[j]):
            return False
    return True


@njit(cache=True, nogil=True)
def _method_end(data: np.ndarray, s: int, e: int) -> int:
    """End of `[A-Z][A-Za-z0-9_-]*` starting at s, or -1."""
    if s >= e or not _is_upper(data[s]):
        return -1
    j = s + 1
    while j < e:
        c = data[j]
        if not (_is_alpha(c) or _is_digit(c) or c == 95 or c == 45):
            break
        j += 1
    return j


@njit(cache=True, nogil=True)
def _is_protocol(data: np.ndarray, s: int, e: int) -> bool:
    """`[A-Z]+/[0-9.]+` exactly."""
    j = s
    while j < e and _is_upper(data[j]):
        j += 1
    if j == s or j >= e or data[j] != 47:
        return False
    j += 1
    if j >= e:
        return False
    while j < e:
        c = data[j]
        if not (_is_digit(c) or c == 46):
            return False
        j += 1
    return True


@njit(cache=True, nogil=True)
def _is_decimal(data: np.ndarray, s: int, e: int) -> bool:
    """`\\d+(?:\\.\\d+)?` exactly."""
    dot = -1
    for j in range(s, e):
        if data[j] == 46:
            dot = j
            break
    if dot < 0:
        return _digits(data, s, e)
    return _digits(data, s, dot) and _digits(data, dot + 1, e)


@njit(cache=True, nogil=True)
def _is_clf_time(data: np.ndarray, s: int, e: int) -> bool:
    """`dd/Mon/yyyy:HH:MM:SS +zzzz`."""
    if e - s != 26:
        return False
    for j in (0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25):
        if not _is_digit(data[s + j]):
            return False
    for j in (3, 4, 5):
        if not _is_alpha(data[s + j]):
            return False
    c = data[s + 21]
    return (data[s + 2] == 47 and data[s + 6] == 47 and data[s + 11] == 58 and data[s + 14] == 58
            and data[s + 17] == 58 and data[s + 20] == 32 and (c == 43 or c == 45))


@njit(cache=True, nogil=True)
def _month(a: int, b: int, c: int) -> int:
    """1-12 for an English month abbreviation in CLF's case (`Jan`), else 0."""
    key = (a << 16) | (b << 8) | c
    names = (0x4A616E, 0x466562, 0x4D6172, 0x417072, 0x4D6179, 0x4A756E,
             0x4A756C, 0x417567, 0x536570, 0x4F6374, 0x4E6F76, 0x446563)
    for index in range(12):
        if names[index] == key:
            return index + 1
    return 0


@njit(cache=True, nogil=True)
def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True)
def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


@njit(cache=True, nogil=True, inline="always")
def _num(data: np.ndarray, s: int, width: int) -> int:
    value = 0
    for j in range(s, s + width):
        value = value * 10 + data[j] - 48
    return value


@njit(cache=True, nogil=True)
def clf_micros(data: np.ndarray, s: int) -> int:
    """`dd/Mon/yyyy:HH:MM:SS +zzzz` (already shape-checked) as UTC microseconds; -1 for an impossible date."""
    month = _month(data[s + 3], data[s + 4], data[s + 5])
    day, year = _num(data, s, 2), _num(data, s + 7, 4)
    hour, minute, second = _num(data, s + 12, 2), _num(data, s + 15, 2), _num(data, s + 18, 2)
    if month == 0 or day < 1 or day > _days_in_month(year, month) or hour > 23 or minute > 59 or second > 59:
        return -1
    offset = _num(data, s + 22, 2) * 60 + _num(data, s + 24, 2)
    if data[s + 21] == 45:
        offset = -offset
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset * 60
    return seconds * 1_000_000


@njit(cache=True, nogil=True)
def _check(kind: int, data: np.ndarray, s: int, e: int, empty_ok: bool) -> bool:
    if e == s:
        return empty_ok
    dash = e - s == 1 and data[s] == 45
    if kind == 1:
        return e - s == 3 and _digits(data, s, e)
    if kind == 2:
        return dash or _digits(data, s, e)
    if kind == 3:
        return dash or _is_decimal(data, s, e)
    if kind == 4:
        return _is_clf_time(data, s, e)
    if kind == 5:
        return dash or _method_end(data, s, e) == e
    if kind == 6:
        return dash or _is_protocol(data, s, e)
    return True


@njit(cache=True, nogil=True)
def _mark(data: np.ndarray, out: np.ndarray) -> int:
    """Fill out with the positions of `"` and `\\` and a sentinel; -1 when out is too small."""
    whole = len(data) // 8 * 8
    words = data[:whole].view(np.uint64)
    k = 0
    limit = len(out) - 9
    ones = np.uint64(0x0101010101010101)
    highs = np.uint64(0x8080808080808080)
    quotes = ones * np.uint64(34)
    slashes = ones * np.uint64(92)
    for w in range(len(words)):
        x = words[w]
        xq = x ^ quotes
        xs = x ^ slashes
        if (((xq - ones) & ~xq & highs) | ((xs - ones) & ~xs & highs)) != 0:
            if k > limit:
                return -1
            for t in range(w * 8, w * 8 + 8):
                c = data[t]
                if c == 34 or c == 92:
                    out[k] = t
                    k += 1
    for t in range(whole, len(data)):
        c = data[t]
        if c == 34 or c == 92:
            if k > limit:
                return -1
            out[k] = t
            k += 1
    out[k] = 1 << 62
    return k + 1


@njit(cache=True, nogil=True)
def specials(data: np.ndarray) -> np.ndarray:
    """Positions of every `"` and `\\` byte, then a sentinel, found 8 bytes at a time (most words hold neither)."""
    out = np.empty(len(data) // 16 + 64, dtype=np.int64)
    used = _mark(data, out)
    if used < 0:
        out = np.empty(len(data) + 64, dtype=np.int64)
        used = _mark(data, out)
    return out[:used]


@njit(cache=True, nogil=True)
def _request(data: np.ndarray, s: int, e: int, starts: np.ndarray, ends: np.ndarray, slot: int, i: int) -> bool:
    """`METHOD SP target [SP PROTOCOL]` inside a quoted request; target may hold backslash escapes."""
    m = _method_end(data, s, e)
    if m < 0 or m >= e or data[m] != _SPACE:
        return False
    t = m + 1
    j = t
    while j < e:
        c = data[j]
        if c == _SPACE:
            break
        j += 2 if c == _BACKSLASH else 1
    if j > e:
        return False
    starts[slot, i], ends[slot, i] = s, m
    starts[slot + 1, i], ends[slot + 1, i] = t, j
    if j == e:
        starts[slot + 2, i], ends[slot + 2, i] = -1, -1
        return True
    if not _is_protocol(data, j + 1, e):
        return False
    starts[slot + 2, i], ends[slot + 2, i] = j + 1, e
    return True


@njit(cache=True, nogil=True)
def scan(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, ops: np.ndarray, literals: np.ndarray,
         empty_ok: bool, ts_slot: int, starts: np.ndarray, ends: np.ndarray, ok: np.ndarray,
         micros: np.ndarray) -> None:
    """Walk every line through the template program, recording field offsets and whether it matched.

    Quoted fields jump from one `"`/`\\` position to the next (the index built by `specials`)
    instead of looking at every byte of a long user agent or referrer.
    """
    marks = specials(data)
    m = 0
    for i in range(len(ok)):
        p = offsets[i]
        end = offsets[i + 1]
        good = bool(valid[i])
        for k in range(ops.shape[0] if good else 0):
            kind = ops[k, 0]
            if kind == _LIT:
                at, length = ops[k, 1], ops[k, 2]
                if end - p < length:
                    good = False
                    break
                for j in range(length):
                    if data[p + j] != literals[at + j]:
                        good = False
                        break
                if not good:
                    break
                p += length
                continue
            stop, escaped, slot = ops[k, 1], ops[k, 2], ops[k, 3]
            s = p
            if stop == _TO_END:
                p = end
            elif stop == _TO_SPACE:
                while p < end and not _is_space(data[p]):
                    p += 1
            elif escaped == 1:  # the stop byte is `"`: find the first one not escaped by a backslash
                while True:
                    while marks[m] < p:
                        m += 1
                    q = marks[m]
                    if q >= end:
                        p = end
                        break
                    if data[q] == 34:
                        p = q
                        break
                    p = q + 2
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
            if ops[k, 4] != 0 and not _check(ops[k, 4], data, s, p, empty_ok):
                good = False
                break
        if good and p < end and not _is_space(data[p]):
            good = False
        if good and ts_slot >= 0:  # the slow path owns impossible dates, so it can name them invalid_timestamp
            micros[i] = clf_micros(data, starts[ts_slot, i])
            good = micros[i] >= 0
        ok[i] = good
        if not good:  # later slots were never written: make them empty, never stale offsets
            for slot in range(starts.shape[0]):
                starts[slot, i] = -1
                ends[slot, i] = -1


# CloudFront percent-encodes these ASCII bytes (and bytes >= 0x80) in every field; see parsers/w3c.py.
CF_SET = np.zeros(256, dtype=np.bool_)
for _byte in [*range(0x21), 0x7F, *b'"#%<>[\\]^`{|}~\'']:
    CF_SET[_byte] = True


@njit(cache=True, nogil=True, inline="always")
def _hex(c: int) -> int:
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


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
                            a = _hex(data[p + 1])
                            b = _hex(data[p + 2])
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
                    for p in range(s, e):
                        out[o] = data[p]
                        o += 1
            used[k] = o - bases[k]
            offsets[k, i + 1] = used[k]
    return offsets, out, bases, high
