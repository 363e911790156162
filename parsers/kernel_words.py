"""Eight bytes at a time for the numba kernels: which bytes of a word hold a value, and where they are.

Most words of a log hold none of the bytes a kernel looks for, so testing a whole word and
then naming only its matching bytes beats comparing byte by byte.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ONES = np.uint64(0x0101010101010101)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_BITS = np.zeros(64, dtype=np.int64)  # bit index of a one-bit word, by its top 6 bits times _DEBRUIJN
for _bit in range(64):
    _DEBRUIJN_BITS[(((1 << _bit) * 0x03F79D71B4CB0A89) & 0xFFFFFFFFFFFFFFFF) >> 58] = _bit


@njit(cache=True, nogil=True, inline="always")
def equal_bytes(word: np.uint64, pattern: np.uint64) -> np.uint64:
    """0x80 in every byte of `word` equal to the byte repeated in `pattern` (exact: no borrow between bytes)."""
    x = word ^ pattern
    return ~(((x & _LOW7) + _LOW7) | x | _LOW7)


@njit(cache=True, nogil=True, inline="always")
def lowest_byte(flags: np.uint64) -> int:
    """Index (0-7, little-endian) of the lowest flagged byte of a non-zero `equal_bytes` result."""
    bit = flags & (~flags + np.uint64(1))
    return _DEBRUIJN_BITS[(bit * _DEBRUIJN) >> np.uint64(58)] >> 3


@njit(cache=True, nogil=True)
def two_byte_positions(data: np.ndarray, first: int, second: int, expected_gap: int) -> np.ndarray:
    """Positions of every `first` and `second` byte, then a sentinel 1 << 62.

    The output is sized for one match per `expected_gap` bytes, and sized for every byte when that is too small.
    """
    out = np.empty(len(data) // expected_gap + 64, dtype=np.int64)
    used = _fill_positions(data, out, first, second)
    if used < 0:
        out = np.empty(len(data) + 64, dtype=np.int64)
        used = _fill_positions(data, out, first, second)
    return out[: used + 1]


@njit(cache=True, nogil=True)
def _fill_positions(data: np.ndarray, out: np.ndarray, first: int, second: int) -> int:
    """Fill out with the positions of every `first` and `second` byte, then a sentinel 1 << 62.

    Returns how many positions (the sentinel not counted), or -1 when out is too small.
    """
    whole = len(data) // 8 * 8
    words = data[:whole].view(np.uint64)
    k = 0
    limit = len(out) - 9
    pattern_a = ONES * np.uint64(first)
    pattern_b = ONES * np.uint64(second)
    for w in range(len(words)):
        word = words[w]
        hits = equal_bytes(word, pattern_a) | equal_bytes(word, pattern_b)
        if hits == 0:
            continue
        if k > limit:
            return -1
        while hits != 0:
            out[k] = w * 8 + lowest_byte(hits)
            k += 1
            hits &= hits - np.uint64(1)
    for t in range(whole, len(data)):
        c = data[t]
        if c == first or c == second:  # noqa: SIM109 - two compares in machine code, no tuple
            if k > limit:
                return -1
            out[k] = t
            k += 1
    out[k] = 1 << 62
    return k
