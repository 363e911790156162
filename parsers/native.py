"""The parsers' machine-code loops (parsers/csrc/*.c), called through ctypes.

They are built at install time as the extension `parsers._kernels`. ctypes releases the GIL
for each call, so the parse threads run on both cores, and loading takes a millisecond (numba,
used before, took ~0.8 s per process and compiled for seconds on a first run). Without the
extension (installed where no C compiler was at hand) importing this module raises ImportError
and the regex engine parses every line instead: the same rows, only slower.
"""

from __future__ import annotations

import ctypes

import numpy as np

from parsers import _kernels

_library = ctypes.CDLL(_kernels.__file__)
_DOUBLE = ctypes.c_double
P, N = ctypes.c_void_p, ctypes.c_int64  # in the declarations below: a pointer, a number


def _function(name: str, result: type | None, *arguments: type) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = getattr(_library, name)
    function.restype = result
    function.argtypes = arguments
    return function


positions = _function("pl_positions", N, P, N, N, N, P, N, P)
scan = _function("pl_scan", ctypes.c_int, P, N, P, P, P, N, P, N, P, N, N, N, N, P, P, P, P)
gather_rows_views = _function("pl_gather_rows_views", None, P, N, P, N, P, N, P, N, P, N, P, P, P, P)
w3c_split_rows = _function("pl_w3c_split_rows", ctypes.c_int, P, P, P, P, N, N, N, N, N, N, P, N, N, P, P, P,
                           _DOUBLE, P, P, P, P, P)
w3c_gather_room = _function("pl_w3c_gather_room", N, P, N, P, N)
w3c_gather_views = _function("pl_w3c_gather_views", N, P, N, P, N, P, N, N, P, P, P, N, P, P, P)


def address(array: np.ndarray) -> int:
    """Where a C-contiguous array's first element is, for a C function to read or fill."""
    if not array.flags.c_contiguous:
        raise ValueError("machine-code loops need C-contiguous arrays")
    return array.ctypes.data


def contiguous(array: np.ndarray, dtype: type) -> np.ndarray:
    """The array as C-contiguous `dtype` (booleans as bytes), copying only when it is not already."""
    if dtype is np.bool_:
        return np.ascontiguousarray(array, dtype=np.bool_).view(np.uint8)
    return np.ascontiguousarray(array, dtype=dtype)


def view_source(data: np.ndarray) -> np.ndarray:
    """Bytes that Arrow string views will point into, as C-contiguous uint8: views hold 32-bit offsets."""
    if len(data) >= 1 << 31:
        raise ValueError("string views address at most 2 GiB of log bytes per batch")
    return contiguous(data, np.uint8)


def checked(status: int) -> None:
    """A C loop's status: 0, or -1 when it could not allocate its working memory."""
    if status != 0:
        raise MemoryError("a parsing loop ran out of memory")


def byte_positions(data: np.ndarray, first: int, second: int, expected_gap: int) -> np.ndarray:
    """Positions of every `first` and `second` byte of data, then a sentinel 1 << 62.

    Sized for one match per `expected_gap` bytes; counted and filled again when there are more.
    """
    return _positions(data, first, second, expected_gap, None)


def line_breaks(data: np.ndarray, expected_gap: int) -> tuple[np.ndarray, bool, bool]:
    """Positions of every newline (no sentinel); and whether data holds a carriage return, and a byte >= 0x80.

    One pass over the bytes answers all three: the reader needs them for every chunk it frames.
    """
    seen = np.zeros(1, dtype=np.uint8)
    found = _positions(data, 10, 10, expected_gap, seen)
    return found[:-1], bool(seen[0] & _SEEN_CR), bool(seen[0] & _SEEN_HIGH)


_SEEN_CR, _SEEN_HIGH = 1, 2  # the bits of `seen` (kernels.h)


def _positions(data: np.ndarray, first: int, second: int, expected_gap: int, seen: np.ndarray | None) -> np.ndarray:
    data = contiguous(data, np.uint8)
    flags = None if seen is None else address(seen)
    capacity = len(data) // expected_gap + 64
    out = np.empty(capacity, dtype=np.int64)
    count = positions(address(data), len(data), first, second, address(out), capacity, flags)
    if count >= capacity:
        out = np.empty(count + 1, dtype=np.int64)
        positions(address(data), len(data), first, second, address(out), count + 1, flags)
    return out[: count + 1]
