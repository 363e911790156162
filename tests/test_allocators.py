"""The allocator tuning done when the application starts: what it sets, and that a user's own settings win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import ctypes, os, sys
import importer, polars as pl
print(os.environ.get("_RJEM_MALLOC_CONF", ""))
print(pl.DataFrame({"a": list(range(1000))}).select(pl.col("a").sum()).item())
"""


def _probe(env_extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_RJEM_MALLOC_CONF", "MALLOC_", "GLIBC_TUNABLES"))}
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_polars_keeps_freed_memory_longer_when_the_app_starts() -> None:
    conf, total = _probe({})
    # polars puts its own short default first; ours comes after it, so it wins.
    assert conf.endswith("dirty_decay_ms:5000,muzzy_decay_ms:5000")
    assert total == str(sum(range(1000)))


def test_a_users_own_jemalloc_setting_is_left_alone() -> None:
    conf, _ = _probe({"_RJEM_MALLOC_CONF": "dirty_decay_ms:100"})
    assert conf.endswith("dirty_decay_ms:100")
    assert "5000" not in conf


_GROWING_BATCHES = """
import ctypes, resource, sys
if sys.argv[1] == "app":
    import importer  # noqa: F401  (the tuning happens here)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def batch(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)

batch(20 << 20)
batch(24 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
batch(28 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_growing_batch_reuses_the_memory_of_the_last_one() -> None:
    """Batches of varying size: by default each bigger one is mapped afresh and faulted in page by page."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}

    def faults(mode: str) -> int:
        done = subprocess.run([sys.executable, "-c", _GROWING_BATCHES, mode], env=env, capture_output=True,
                              text=True, check=True)
        return int(done.stdout)

    pages = (28 << 20) // 4096
    assert faults("plain") > pages * 0.9  # glibc maps the 28 MiB block afresh
    assert faults("app") < pages * 0.3  # only the 4 MiB it grew by are new
