"""Typed values of W3C fields for parsers/w3c_kernel.py: integers, decimals, and date + time as UTC.

Each reader accepts exactly what the polars path reads the same way and returns -1 for anything
else, which sends the line to the polars path: so both paths give the same rows by construction.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from parsers.kernel_fields import days_from_civil, days_in_month

_DASH = 45
POW10 = np.array([float(10**k) for k in range(23)])  # exact doubles: m / 10^k is then correctly rounded


@njit(cache=True, nogil=True, inline="always")
def digit(c: int) -> bool:
    return 48 <= c <= 57


@njit(cache=True, nogil=True)
def integer(data: np.ndarray, s: int, e: int, max_digits: int) -> int:
    """The ASCII digits in [s, e) as an integer; -1 when empty, too long or not all digits."""
    if e <= s or e - s > max_digits:
        return -1
    value = 0
    for p in range(s, e):
        c = data[p]
        if not digit(c):
            return -1
        value = value * 10 + c - 48
    return value


@njit(cache=True, nogil=True)
def decimal(data: np.ndarray, s: int, e: int, pow10: np.ndarray) -> float:
    """`123` or `0.123` as the nearest double (-1.0: another spelling, left to polars' parser).

    At most 15 significant digits, so the mantissa and 10^k are exact and one division rounds correctly.
    """
    mantissa = 0
    digits = 0
    fraction = -1
    for p in range(s, e):
        c = data[p]
        if digit(c):
            mantissa = mantissa * 10 + c - 48
            digits += 1
            if fraction >= 0:
                fraction += 1
        elif c == 46 and fraction < 0 and digits > 0:
            fraction = 0
        else:
            return -1.0
    if digits == 0 or digits > 15 or fraction == 0:
        return -1.0
    if fraction < 0:
        return float(mantissa)
    return mantissa / pow10[fraction]


@njit(cache=True, nogil=True)
def utc_micros(data: np.ndarray, ds: int, de: int, ts: int, te: int) -> int:
    """`yyyy-mm-dd` + `HH:MM:SS` as UTC microseconds; -1 for any other shape or an impossible date."""
    if de - ds != 10 or te - ts != 8:
        return -1
    for k in range(10):
        c = data[ds + k]
        if (k == 4 or k == 7) != (c == _DASH) or (k != 4 and k != 7 and not digit(c)):
            return -1
    for k in range(8):
        c = data[ts + k]
        if (k == 2 or k == 5) != (c == 58) or (k != 2 and k != 5 and not digit(c)):
            return -1
    year = integer(data, ds, ds + 4, 4)
    month = integer(data, ds + 5, ds + 7, 2)
    day = integer(data, ds + 8, ds + 10, 2)
    hour, minute, second = integer(data, ts, ts + 2, 2), integer(data, ts + 3, ts + 5, 2), integer(data, ts + 6,
                                                                                                         ts + 8, 2)
    if year < 1 or month < 1 or month > 12 or day < 1 or day > days_in_month(year, month):
        return -1
    if hour > 23 or minute > 59 or second > 59:
        return -1
    return (days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second) * 1_000_000


@njit(cache=True, nogil=True, inline="always")
def blank(data: np.ndarray, s: int, e: int) -> bool:
    """`-` and the empty string mean "no value" (parsers.fields.nullify)."""
    return e == s or (e - s == 1 and data[s] == _DASH)
