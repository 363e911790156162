"""The template tokenizer's loops for parsers/compiled.py, as numpy-in, numpy-out functions.

The work is done in C (parsers/csrc/clf.c, through parsers/native.py); this module sizes the
output arrays and hands them over. Importing it raises ImportError when the extension is not built.
"""

from __future__ import annotations

import numpy as np

from parsers import native
from parsers.native import address, contiguous


def line_breaks(data: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """Positions of every newline byte; whether there is a carriage return, and a byte >= 0x80."""
    return native.line_breaks(data, 32)


def scan(data: np.ndarray, line_starts: np.ndarray, line_ends: np.ndarray, valid: np.ndarray, ops: np.ndarray,
         literals: np.ndarray, empty_ok: bool, ts_slot: int, max_len: int, fields: np.ndarray, ok: np.ndarray,
         micros: np.ndarray, escaped_lines: np.ndarray) -> None:
    """Walk every line through the template program, filling its fields and whether it matched.

    fields (line, slot, 2) gets each value's start and end, -1 for `-`, an empty value or a
    line not read. Also the UTC microseconds of the CLF time in slot ts_slot (if >= 0), and
    which lines hold a backslash. Lines over max_len bytes are left to the regex engine, which names them.
    """
    data = contiguous(data, np.uint8)
    line_starts, line_ends = contiguous(line_starts, np.int64), contiguous(line_ends, np.int64)
    valid, ops, literals = contiguous(valid, np.bool_), contiguous(ops, np.int64), contiguous(literals, np.uint8)
    native.checked(native.scan(
        address(data), len(data), address(line_starts), address(line_ends), address(valid), len(ok), address(ops),
        len(ops), address(literals), int(empty_ok), ts_slot, max_len, fields.shape[1], address(fields),
        address(ok), address(micros), address(escaped_lines),
    ))


def gather_rows(data: np.ndarray, fields: np.ndarray, text_slots: np.ndarray, number_slots: np.ndarray,
                rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The chosen rows' text fields as Arrow string views into data, and their numbers read.

    Returns the views (text slot, row, 16 bytes) with their validity, and the numbers
    (number slot, row) with theirs. Nothing is copied: a view's buffer 0 is data itself.
    """
    data = native.view_source(data)
    text_slots, number_slots, rows = (contiguous(a, np.int64) for a in (text_slots, number_slots, rows))
    width, n, slots = len(text_slots), len(rows), fields.shape[1]
    views = np.empty((width, n, 16), dtype=np.uint8)
    valid = np.empty((width, n), dtype=np.bool_)
    numbers = np.empty((len(number_slots), n), dtype=np.uint64)
    present = np.empty((len(number_slots), n), dtype=np.bool_)
    native.gather_rows_views(address(data), len(data), address(fields), slots, address(text_slots), width,
                             address(number_slots), len(number_slots), address(rows), n, address(views),
                             address(valid), address(numbers), address(present))
    return views, valid, numbers, present
