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


def test_gathered_string_views_hold_every_length_also_at_the_end_of_the_bytes() -> None:
    """Views of 0-20 byte values, inline (<= 12 bytes) or pointing into the data, wherever the value sits."""
    import pyarrow as pa

    from parsers import compiled, w3c_kernel

    rng = np.random.default_rng(5)
    data = rng.integers(ord("a"), ord("z") + 1, 64, dtype=np.uint8)
    spans = [(start, start + length) for length in range(21) for start in (0, 3, 64 - length)]
    spans.append((-1, -1))  # no value
    fields = np.array(spans, dtype=np.int64).reshape(-1, 1, 2)
    rows = np.arange(len(spans), dtype=np.int64)
    expected = [None if s < 0 else bytes(data[s:e]).decode() for s, e in spans]

    views, valid, _, _ = kernel.gather_rows(data, fields, np.array([0]), np.array([], dtype=np.int64), rows)
    column = compiled.viewed_text(views[0], valid[0], [pa.py_buffer(data)])
    column.validate(full=True)
    assert column.to_pylist() == expected

    views, rewritten, present, _ = w3c_kernel.gather(data, fields, rows, False, w3c_kernel.CF_SET,
                                                     np.zeros(1, dtype=np.int64))
    column = compiled.viewed_text(views[0], present[0], [pa.py_buffer(data), pa.py_buffer(rewritten)])
    column.validate(full=True)
    assert column.to_pylist() == expected
