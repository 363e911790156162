"""The kernels' word-at-a-time byte search finds exactly the bytes a plain comparison finds.

Dense inputs also outgrow the first guess at the output's size, so the count-and-fill-again path runs."""

from __future__ import annotations

import numpy as np
import pytest

from parsers import kernel, native


def _dense_bytes(seed: int, size: int) -> np.ndarray:
    """Random bytes, with the searched-for ones frequent, several to a word, and at word edges."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b'ab "\\\\\t%\n\r\x00\x7f\x80\xff', dtype=np.uint8)
    return alphabet[rng.integers(0, len(alphabet), size)].copy()


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 63, 64, 1001, 40_000])
def test_quote_backslash_and_newline_positions(size: int) -> None:
    data = _dense_bytes(size, size)
    expected = np.flatnonzero((data == ord('"')) | (data == ord("\\")))
    found = native.byte_positions(data, ord('"'), ord("\\"), 16)
    assert found[-1] == 1 << 62
    assert np.array_equal(found[:-1], expected)
    newlines, carriage_return, non_ascii = kernel.line_breaks(data)
    assert np.array_equal(newlines, np.flatnonzero(data == ord("\n")))
    assert (carriage_return, non_ascii) == (bool((data == ord("\r")).any()), bool((data >= 0x80).any()))


@pytest.mark.parametrize("size", [1, 8, 15, 16, 17, 40_000])
@pytest.mark.parametrize("where", ["first", "last"])
def test_line_breaks_notice_a_single_carriage_return_or_high_byte_anywhere(size: int, where: str) -> None:
    for special, flags in ((ord("\r"), (True, False)), (0xC3, (False, True))):
        data = np.full(size, ord("a"), dtype=np.uint8)
        data[0 if where == "first" else -1] = special
        assert kernel.line_breaks(data)[1:] == flags
    assert kernel.line_breaks(np.full(33, ord("a"), dtype=np.uint8))[1:] == (False, False)
