"""The kernels' word-at-a-time byte search finds exactly the bytes a plain comparison finds.

Dense inputs also outgrow the first guess at the output's size, so the count-and-fill-again path runs."""

from __future__ import annotations

import numpy as np
import pytest

from parsers import kernel, native


def _dense_bytes(seed: int, size: int) -> np.ndarray:
    """Random bytes, with the searched-for ones frequent, several to a word, and at word edges."""
    rng = np.random.default_rng(seed)
    alphabet = np.frombuffer(b'ab "\\\\\t%\n\x00\x7f\x80\xff', dtype=np.uint8)
    return alphabet[rng.integers(0, len(alphabet), size)].copy()


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 63, 64, 1001, 40_000])
def test_quote_backslash_and_newline_positions(size: int) -> None:
    data = _dense_bytes(size, size)
    expected = np.flatnonzero((data == ord('"')) | (data == ord("\\")))
    found = native.byte_positions(data, ord('"'), ord("\\"), 16)
    assert found[-1] == 1 << 62
    assert np.array_equal(found[:-1], expected)
    assert np.array_equal(kernel.newline_positions(data), np.flatnonzero(data == ord("\n")))
