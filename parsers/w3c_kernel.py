"""The W3C reader's loops for parsers/w3c_fast.py (CloudFront TAB, IIS space), as numpy-in, numpy-out functions.

One pass per line cuts the fields as offsets, picks the first non-empty candidate of each
canonical text column, and converts date/time, status, bytes and time-taken; the work is done
in C (parsers/csrc/w3c.c, through parsers/native.py). A line is marked ok only when that
reading is unambiguous and the polars path would accept it; every other line goes through the
polars path, so results are identical by construction.
"""

from __future__ import annotations

import numpy as np

from parsers import native
from parsers.native import address, contiguous
from parsers.w3c_dialects import CLOUDFRONT_ENCODED_ASCII

# CloudFront percent-encodes these ASCII bytes (and bytes >= 0x80) in every field.
CF_SET = np.zeros(256, dtype=np.bool_)
CF_SET[list(CLOUDFRONT_ENCODED_ASCII)] = True

LOWER, HOST = 1, 2  # gather's tidy modes: lower-case ASCII; and a host's `:port` and `[]` dropped


def split_rows(data: np.ndarray, line_starts: np.ndarray, line_ends: np.ndarray, valid: np.ndarray, lo: int, hi: int,
               n_fields: int, sep: int, max_len: int, picks: np.ndarray, numbers: np.ndarray, dates: np.ndarray,
               required: np.ndarray, scale: float, fields: np.ndarray, ok: np.ndarray, micros: np.ndarray,
               values: np.ndarray, nulls: np.ndarray) -> None:
    """Read rows [lo, hi) under one field list of n_fields separated by byte sep.

    picks (slot, candidate) = field index (-1: none) of each text column, first non-blank wins;
    numbers = fields of status, bytes, time-taken; dates = fields of date and time; required =
    text slots that must have a value (method, path). fields (row, slot, 2): start and end. values
    (3, row) get status, bytes and time-taken x scale as float64, with nulls (3, row). A row not
    ok has every slot -1.
    """
    data = contiguous(data, np.uint8)
    line_starts, line_ends = contiguous(line_starts, np.int64), contiguous(line_ends, np.int64)
    valid, required = contiguous(valid, np.bool_), contiguous(required, np.bool_)
    picks, numbers, dates = contiguous(picks, np.int64), contiguous(numbers, np.int64), contiguous(dates, np.int64)
    native.checked(native.w3c_split_rows(
        address(data), address(line_starts), address(line_ends), address(valid), len(ok), lo, hi, n_fields, sep,
        max_len, address(picks), picks.shape[0], picks.shape[1], address(numbers), address(dates),
        address(required), float(scale), address(fields), address(ok), address(micros), address(values),
        address(nulls),
    ))


def gather(data: np.ndarray, fields: np.ndarray, rows: np.ndarray, decode: bool, cf_set: np.ndarray,
           tidy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every slot of the given rows as Arrow string views, visiting each line once.

    Returns the views (slot, row, 16 bytes): buffer 0 is data, buffer 1 the returned bytes that
    hold the values decoding or tidying rewrote; per (slot, row) whether there is a value (a
    negative start in fields (row, slot, 2) is none); and per (slot, row) whether the value needs
    the caller: it held an encoded byte >= 0x80 (copied, not decoded), or tidy[slot] (LOWER, HOST)
    met a non-ASCII byte.
    """
    data, rows = native.view_source(data), contiguous(rows, np.int64)
    cf_set, tidy = contiguous(cf_set, np.bool_), contiguous(tidy, np.int64)
    width, n = fields.shape[1], len(rows)
    out = np.empty(max(native.w3c_gather_room(address(fields), width, address(rows), n), 1), dtype=np.uint8)
    views = np.empty((width, n, 16), dtype=np.uint8)
    present = np.empty((width, n), dtype=np.bool_)
    high = np.empty((width, n), dtype=np.bool_)
    used = native.w3c_gather_views(address(data), len(data), address(fields), width, address(rows), n, int(decode),
                                   address(cf_set), address(tidy), address(out), len(out), address(views),
                                   address(present), address(high))
    return views, out[:used], present, high
