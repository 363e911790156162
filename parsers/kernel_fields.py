"""Machine-code checks of typed field values and CLF timestamps, for parsers/kernel.py.

Each check accepts exactly what the matching pattern in parsers/fields.py accepts, so the
compiled path and the regex engine agree on which lines are valid.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def is_space(c: int) -> bool:
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


@njit(cache=True, nogil=True, inline="always")
def hex_value(c: int) -> int:
    """The value of one hex digit byte, or -1."""
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    if 97 <= c <= 102:
        return c - 87
    return -1


@njit(cache=True, nogil=True)
def _digits(data: np.ndarray, s: int, e: int) -> bool:
    if e <= s:
        return False
    for j in range(s, e):  # noqa: SIM110 - numba compiles loops, not all() over a generator
        if not _is_digit(data[j]):
            return False
    return True


@njit(cache=True, nogil=True)
def method_end(data: np.ndarray, s: int, e: int) -> int:
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
def is_protocol(data: np.ndarray, s: int, e: int) -> bool:
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
def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(cache=True, nogil=True)
def days_in_month(year: int, month: int) -> int:
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


_NO_DAY = -(1 << 62)
_CLOCK_DIGITS = (12, 13, 15, 16, 18, 19)


@njit(cache=True, nogil=True)
def _clf_day_base(data: np.ndarray, s: int) -> int:
    """UTC seconds at the local midnight of a shape-checked CLF time; _NO_DAY for a date or offset that cannot be."""
    month = _month(data[s + 3], data[s + 4], data[s + 5])
    day, year = _num(data, s, 2), _num(data, s + 7, 4)
    offset_minutes = _num(data, s + 24, 2)
    if month == 0 or day < 1 or day > days_in_month(year, month) or offset_minutes > 59:
        return _NO_DAY
    offset = _num(data, s + 22, 2) * 60 + offset_minutes
    if data[s + 21] == 45:
        offset = -offset
    return days_from_civil(year, month, day) * 86400 - offset * 60


@njit(cache=True, nogil=True)
def _clf_clock(data: np.ndarray, s: int) -> int:
    """Seconds since local midnight of a shape-checked CLF time; -1 for hour 24, minute or second 60."""
    hour, minute, second = _num(data, s + 12, 2), _num(data, s + 15, 2), _num(data, s + 18, 2)
    if hour > 23 or minute > 59 or second > 59:
        return -1
    return hour * 3600 + minute * 60 + second


@njit(cache=True, nogil=True)
def clf_micros(data: np.ndarray, s: int, e: int, cache: np.ndarray) -> int:
    """`dd/Mon/yyyy:HH:MM:SS +zzzz` as UTC microseconds; -1 for an impossible time, -2 for another shape.

    Lines come in time order, so most share the previous line's date and offset: `cache`
    ([start of the last valid time, its day base]) lets those skip the calendar arithmetic.
    """
    if e - s != 26:
        return -2
    previous = cache[0]
    same_day = previous >= 0
    if same_day:
        for j in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 17, 20, 21, 22, 23, 24, 25):
            if data[s + j] != data[previous + j]:
                same_day = False
                break
    if same_day:
        for j in _CLOCK_DIGITS:
            if not _is_digit(data[s + j]):
                return -2
        base = cache[1]
    else:
        if not _is_clf_time(data, s, e):
            return -2
        base = _clf_day_base(data, s)
        if base == _NO_DAY:
            return -1
        cache[0], cache[1] = s, base
    clock = _clf_clock(data, s)
    if clock < 0:
        return -1
    return (base + clock) * 1_000_000


@njit(cache=True, nogil=True)
def check_field(kind: int, data: np.ndarray, s: int, e: int, empty_ok: bool) -> bool:
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
        return dash or method_end(data, s, e) == e
    if kind == 6:
        return dash or is_protocol(data, s, e)
    return True
