"""load for many files in one pipeline: files parsed back to back, small batches classified together.

Why: CloudFront and S3 deliver thousands of small files of a few thousand lines. Read one at a
time, each file left a core idle while its last batch was parsed and then classified, and paid
the fixed cost of one classification (some 25 ms of polars queries) for its few lines: 100
files of 2,000 lines took 2.3x as long as the same lines in one file. Here the next files are
read and parsed while the last ones are classified, and consecutive batches are classified
together until they hold GROUP_LINES lines.

This needs every file's starting point before reading starts, so it is only used when no file's
starting point can depend on another file of the same run: distinct fingerprints, none taken
over less than 4 KiB (such a file may be the start of another one), no standard input. Otherwise
load.py goes file by file. What is committed, and when, is the same either way: events join the
open transaction in file order with their files' new positions.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import polars as pl

from importer.load import (
    COMMIT_EVENTS,
    S3_COMPLETE,
    LoadResult,
    TimeSpan,
    Unwritten,
    known_files,
    s3_fingerprint,
    settle_in_order,
)
from importer.pipeline import BatchCounts, EventOptions, event_key_prefix, events_of_rows
from importer.sinks.duckdb_store import DuckDBStore, FilePosition
from importer.useragents import AgentClassifier
from parsers.reader import DEFAULT_BATCH_BYTES, Source, compression_of
from parsers.s3_inputs import S3Object
from parsers.stream import FormatChoice, ParsedBatch, SourceReport, parse_all

GROUP_LINES = 50_000  # a classification's fixed cost is small next to this many lines


@dataclass
class PlannedFile:
    """A file of the run, known before reading: its key, where it resumes, and its row in `files`."""

    source: Source
    key: str
    start: tuple[int, int]  # (offset, line) to read from
    file_id: int
    remote: S3Object | None
    position: FilePosition = field(init=False)

    def __post_init__(self) -> None:
        self.position = FilePosition(self.file_id, self.start[0], self.start[1] - 1)


@dataclass
class _Group:
    """Consecutive batches classified together, and the files whose every batch is in it or before it."""

    parts: list[ParsedBatch]
    finished: list[PlannedFile]


def plan(sources: list[Source], store: DuckDBStore, skipped: list[Source]) -> list[PlannedFile] | None:
    """Every source's key and starting point, or None when one may depend on another's progress in this run.

    S3 objects read to their end by an earlier run are left out of the plan and put in `skipped`.
    The store is asked about all the files at once: a query each would cost more than a small file's load.
    """
    if any(source.is_stdin for source in sources):
        return None
    remotes = [source.remote if isinstance(source.remote, S3Object) else None for source in sources]
    local = [source for source, remote in zip(sources, remotes, strict=True) if remote is None]
    local_states = known_files(store, local)
    if local_states is None:
        return None
    local_known = iter(local_states)
    s3_keys = [s3_fingerprint(remote) for remote in remotes if remote is not None]
    s3_states = store.file_states(s3_keys + [key + S3_COMPLETE for key in s3_keys])
    found: list[tuple[Source, str, tuple[int, int, int] | None, str, S3Object | None]] = []
    for source, remote in zip(sources, remotes, strict=True):
        if remote is None:
            key, state = next(local_known)
            found.append((source, key, state, compression_of(source), None))
            continue
        key = s3_fingerprint(remote)
        if key + S3_COMPLETE in s3_states:
            skipped.append(source)
        else:
            found.append((source, key, s3_states.get(key), "unknown", remote))
    if len({key for _, key, _, _, _ in found}) < len(found):
        return None
    ids = store.register_files([(key, source.name, compression) for source, key, _, compression, _ in found])
    return [
        PlannedFile(source, key, (state[1], state[2] + 1) if state else (0, 1), file_id, remote)
        for (source, key, state, _, remote), file_id in zip(found, ids, strict=True)
    ]


def load_planned(
    planned: list[PlannedFile], store: DuckDBStore, choice: FormatChoice, options: EventOptions,
    agents: AgentClassifier, result: LoadResult, unwritten: Unwritten, pool: ThreadPoolExecutor, span: TimeSpan,
    batch_bytes: int = DEFAULT_BATCH_BYTES, commit_events: int = COMMIT_EVENTS,
) -> None:
    """Parse, classify and commit the planned files; `span` takes in the times of their events."""
    report = result.summary.parse
    first_report = len(report.sources)  # parse_all appends one report per file, in order
    reports = {id(p.source): first_report + i for i, p in enumerate(planned)}
    parsed = parse_all([p.source for p in planned], choice, report, batch_bytes, [p.start for p in planned])
    by_source = {id(p.source): p for p in planned}

    def settle(group: _Group, classified: tuple[pl.DataFrame, BatchCounts]) -> None:
        """A group joins the open transaction; files it finishes are marked done, in order."""
        events, counts = classified
        result.add(counts)
        positions: dict[int, FilePosition] = {}
        for part in group.parts:
            owner = by_source[id(part.source)]
            owner.position = positions[owner.file_id] = FilePosition(owner.file_id, part.end_offset, part.end_line)
        unwritten.add_files(events, positions, {by_source[id(p.source)].key for p in group.parts})
        span.add(events)
        for file in group.finished:
            _finish(file, report.sources[reports[id(file.source)]], result, unwritten)
        if unwritten.held >= commit_events:
            unwritten.flush(store, result)

    start = partial(pool.submit, _events_of_group, by_source=by_source, options=options, agents=agents)
    settle_in_order(_groups(parsed, planned), start, settle)


def _groups(parsed: Iterator[ParsedBatch], planned: list[PlannedFile]) -> Iterator[_Group]:
    """Batches in order, grouped up to GROUP_LINES lines; a file is finished once a later file's batch comes."""
    order = {id(p.source): i for i, p in enumerate(planned)}
    parts: list[ParsedBatch] = []
    finished: list[PlannedFile] = []
    lines = 0
    current = 0
    try:
        for batch in parsed:
            index = order[id(batch.source)]
            finished += planned[current:index]  # those files have no batch left
            current = index
            parts.append(batch)
            lines += batch.rows.height + batch.rejects.height
            if lines >= GROUP_LINES:
                yield _Group(parts, finished)
                parts, finished, lines = [], [], 0
    except Exception:
        if parts or finished:
            yield _Group(parts, finished)  # the file being read when it failed is not finished
        raise
    yield _Group(parts, finished + planned[current:])


def _events_of_group(group: _Group, by_source: dict[int, PlannedFile], options: EventOptions,
                     agents: AgentClassifier) -> tuple[pl.DataFrame, BatchCounts]:
    """One classification for the rows of every batch in the group, each row keeping its file's key and id."""
    if not group.parts:
        return pl.DataFrame(), BatchCounts()
    rows = pl.concat(
        [
            part.rows.with_columns(
                pl.lit(event_key_prefix(part.fingerprint), dtype=pl.String).alias("_key_prefix"),
                pl.lit(by_source[id(part.source)].file_id, dtype=pl.Int64).alias("file_id"),
            )
            for part in group.parts
        ],
        how="diagonal_relaxed",  # files of a run may be in formats with different extra columns
    )
    rejected = sum(part.rejects.height for part in group.parts)
    return events_of_rows(rows, rejected, pl.col("_key_prefix"), options, agents)


def _finish(file: PlannedFile, report: SourceReport, result: LoadResult, unwritten: Unwritten) -> None:
    """A file read to its end: listed as loaded (or skipped, when it had no new line); an S3 object marked complete."""
    (result.files_loaded if report.lines else result.files_skipped).append(file.source.name)
    if file.remote is not None:  # later runs skip it without a download, once this commits
        done = FilePosition(file.file_id, file.position.end_offset, file.position.end_line, file.key + S3_COMPLETE,
                            report.read.compression)  # fmt: skip
        unwritten.add_files(pl.DataFrame(), {file.file_id: done}, {file.key})
