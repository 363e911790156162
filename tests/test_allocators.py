"""The allocator tuning done before `parse` starts: when it applies, what it changes, and that a user's settings win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from importer.launch import command_of

# Run in a fresh interpreter: the settings only take effect before polars is first imported.
_PROBE = """
import ctypes, os, resource, sys
from importer import launch
launch.prepare(sys.argv[1:])
import polars as pl
assert pl.DataFrame({"a": list(range(1000))}).select(pl.col("a").sum()).item() == 499500
print(os.environ.get("_RJEM_MALLOC_CONF", ""))

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]

def batch(size):
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(block)

batch(20 << 20)  # batches of varying size: by default each bigger one is mapped afresh
batch(24 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
batch(28 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
_PAGES = (28 << 20) // 4096


def _probe(args: list[str], env_extra: dict[str, str] | None = None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_RJEM_MALLOC_CONF", "MALLOC_", "GLIBC_TUNABLES"))}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env, capture_output=True, text=True, check=True)
    conf, faults = done.stdout.split()
    return conf, int(faults)


def test_the_command_is_found_after_the_groups_own_options() -> None:
    assert command_of(["parse", "access.log"]) == "parse"
    assert command_of(["--config", "site.toml", "parse", "-"]) == "parse"
    assert command_of(["--config=site.toml", "load", "x.log"]) == "load"
    assert command_of(["--help"]) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
@pytest.mark.parametrize("command", ["parse", "events"])
def test_batch_streams_reuse_the_memory_of_their_last_batch(command: str) -> None:
    conf, faults = _probe([command, "access.log"])
    # polars puts its own short default first; ours comes after it, so it wins.
    assert conf.endswith("dirty_decay_ms:5000,muzzy_decay_ms:5000")
    assert faults < _PAGES * 0.3  # only the 4 MiB the block grew by are new pages


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_other_commands_keep_the_allocators_defaults() -> None:
    conf, faults = _probe(["load", "access.log", "--domain", "example.com"])
    assert "5000" not in conf
    assert faults > _PAGES * 0.9  # glibc maps the 28 MiB block afresh


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_users_own_settings_are_left_alone() -> None:
    conf, faults = _probe(["parse", "access.log"], {"_RJEM_MALLOC_CONF": "dirty_decay_ms:100", "MALLOC_ARENA_MAX": "4"})
    assert conf.endswith("dirty_decay_ms:100")
    assert "5000" not in conf
    assert faults > _PAGES * 0.9
