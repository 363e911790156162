"""Keep freed batch memory in the process between batches instead of handing it back to the kernel.

A run allocates and frees the same few buffers of ~16 MB per batch. With the defaults, both
allocators return them to the kernel at once (glibc maps and unmaps big blocks; polars' jemalloc
purges after 0.5 s), so every batch faults its buffers in again page by page: about a fifth
of a big parse's CPU went to the kernel. Peak memory stays bounded by the batches in flight.
importer/launch.py applies this to the commands that only stream batches.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys

# glibc mallopt parameters (malloc.h) and their values here.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's ceiling: blocks below this come from (and go back to) the heap
_TRIM_THRESHOLD = 64 << 20  # free memory an arena keeps before it gives some back
_JEMALLOC_DECAY = "dirty_decay_ms:5000,muzzy_decay_ms:5000"  # polars reads this before it loads


def keep_batch_memory() -> None:
    """Tune both allocators for a batch pipeline; a no-op where they are not the ones in use.

    Must run before polars is imported (its allocator reads the setting once). A user's own
    `_RJEM_MALLOC_CONF` wins, and so does glibc's own tuning when MALLOC_* or GLIBC_TUNABLES is set.
    """
    os.environ.setdefault("_RJEM_MALLOC_CONF", _JEMALLOC_DECAY)
    users_own = any(name.startswith(("MALLOC_", "GLIBC_TUNABLES")) for name in os.environ)
    if users_own or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
