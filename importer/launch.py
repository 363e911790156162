"""The `plausible-logs` script: settings that must come before polars is imported, then the command line."""

from __future__ import annotations

import sys

from importer.allocators import keep_batch_memory

# Commands that only stream batches through: they gain from keeping batch memory (allocators.py). `load` holds
# DuckDB and session state as well and peaks ~30% higher with it, for no measurable speed-up.
_BATCH_STREAMING = frozenset({"parse", "events"})
_GROUP_OPTIONS_WITH_VALUE = frozenset({"--config"})


def command_of(args: list[str]) -> str | None:
    """The subcommand named on a command line (after the group's own options), or None."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _GROUP_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def prepare(args: list[str]) -> None:
    """Process-wide settings for the command these arguments run (before polars is imported)."""
    if command_of(args) in _BATCH_STREAMING:
        keep_batch_memory()


def main() -> None:
    prepare(sys.argv[1:])
    from importer.cli import main as command_line

    command_line()
