"""load: files -> events -> the DuckDB store, idempotently and incrementally.

A file is known by a fingerprint of its first 4 KiB (decompressed), so a
rotated `access.log.1` that reappears as `access.log.2.gz` is recognised,
and by its committed offset, so a file that grew resumes where the last run
stopped. Events commit together with the new offsets of the files they came
from, in transactions of up to COMMIT_EVENTS events that may span many small
files; sessions are rebuilt for the days a run touched once everything is in.

An S3 object never changes, so it is known by `s3:<size>:<etag>` from the
listing alone, and `:complete` is appended once it has been read to its end:
a re-run skips complete objects without downloading them, and resumes an
object a killed run left part-way.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import polars as pl

from importer.pipeline import CLASSIFY_WORKERS, BatchCounts, EventOptions, RunSummary, events_of_batch
from importer.sinks.duckdb_store import DuckDBStore, FilePosition
from importer.useragents import AgentClassifier
from parsers.detect import Detector
from parsers.reader import DEFAULT_BATCH_BYTES, FINGERPRINT_BYTES, Source, compression_of, fingerprint_prefix
from parsers.s3_inputs import S3Object
from parsers.stream import FormatChoice, ParsedBatch, SourceReport, parse_source
from parsers.template import TemplateFormat

if TYPE_CHECKING:
    from importer.load_many import PlannedFile

# Events per transaction: each commit costs a WAL sync, so fewer, larger commits load faster;
# after a crash only the uncommitted part is read again, never written twice.
COMMIT_EVENTS = 200_000
S3_COMPLETE = ":complete"


def default_key_path() -> Path:
    """The visitor-hash secret lives in the user's state directory, away from the DB file."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "plausible-logs" / "visitor.key"


def fingerprint(prefix: bytes) -> str:
    """`<bytes>:<sha256>`; the length lets a small file that later grew be matched by its prefix."""
    return f"{len(prefix)}:{hashlib.sha256(prefix).hexdigest()}"


def s3_fingerprint(obj: S3Object) -> str:
    """`s3:<size>:<etag>`: the content's name from the listing, so a copy under another key is not loaded twice."""
    return f"s3:{obj.size}:{obj.etag or obj.url}"


@dataclass
class LoadResult:
    """What a load did, for the summary and the runs table."""

    summary: RunSummary = field(default_factory=RunSummary)
    files_loaded: list[str] = field(default_factory=list)
    files_skipped: list[str] = field(default_factory=list)
    events_written: int = 0
    sessions_rebuilt: int = 0
    progress: Callable[[RunSummary], None] | None = field(default=None, repr=False)

    def add(self, counts: BatchCounts) -> None:
        """A batch's counts join the run's (and whoever watches the run hears of it)."""
        self.summary.add(counts)
        if self.progress is not None:
            self.progress(self.summary)

    def as_dict(self) -> dict[str, object]:
        return {
            **self.summary.as_dict(),
            "files_loaded": self.files_loaded,
            "files_skipped": self.files_skipped,
            "events_written": self.events_written,
            "sessions_rebuilt": self.sessions_rebuilt,
        }


@dataclass
class Unwritten:
    """Events and file positions waiting for their transaction: many small files share one.

    Deferring a file's commit is safe because a killed run simply reads the file again (its
    offset did not move). A file whose content may equal a waiting one (same fingerprint, or a
    waiting file small enough to be a prefix of it) is looked up only after a flush.
    """

    frames: list[pl.DataFrame] = field(default_factory=list)
    positions: dict[int, FilePosition] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)
    held: int = 0

    def add(self, events: pl.DataFrame, position: FilePosition, key: str) -> None:
        if events.height:
            self.frames.append(events.with_columns(pl.lit(position.file_id, dtype=pl.Int64).alias("file_id")))
            self.held += events.height
        self.positions[position.file_id] = position
        self.keys.add(key)

    def add_files(self, events: pl.DataFrame, positions: dict[int, FilePosition], keys: set[str]) -> None:
        """Events of several files (their `file_id` column says whose) and each file's new position."""
        if events.height:
            self.frames.append(events)
            self.held += events.height
        self.positions.update(positions)
        self.keys |= keys

    def may_match(self, key: str) -> bool:
        """Same key, or a waiting local file under 4 KiB (its content may be the start of this one)."""
        return key in self.keys or any(
            not k.startswith(("s3:", f"{FINGERPRINT_BYTES}:")) for k in self.keys
        )

    def flush(self, store: DuckDBStore, result: LoadResult) -> None:
        if not self.positions:
            return
        frame = pl.concat(self.frames, how="vertical_relaxed") if self.frames else pl.DataFrame()
        result.events_written += store.write_files(frame, list(self.positions.values()))
        self.frames, self.positions, self.keys, self.held = [], {}, set(), 0


def known_files(store: DuckDBStore, sources: list[Source]) -> list[tuple[str, tuple[int, int, int] | None]] | None:
    """known_file for many local files with one query for them all; None when one is under 4 KiB.

    Only the fingerprints are kept (a first 4 KiB each would be 400 MB for 100,000 files); a
    file's first bytes are read again only for the grown-file check, when the store has short ones.
    """
    keys = []
    for source in sources:
        prefix = fingerprint_prefix(source)
        if len(prefix) < FINGERPRINT_BYTES:
            return None
        keys.append(fingerprint(prefix))
    states = store.file_states(keys)
    if len(states) < len(keys) and _short_fingerprints(store):
        return [(key, states[key]) if key in states else known_file(store, fingerprint_prefix(source))
                for source, key in zip(sources, keys, strict=True)]  # fmt: skip
    return [(key, states.get(key)) for key in keys]


def _short_fingerprints(store: DuckDBStore) -> list[str]:
    rows = store.con.execute(
        "SELECT fingerprint FROM files WHERE fingerprint NOT LIKE ? AND fingerprint NOT LIKE 's3:%'",
        [f"{FINGERPRINT_BYTES}:%"],
    ).fetchall()
    return [row[0] for row in rows]


def known_file(store: DuckDBStore, prefix: bytes) -> tuple[str, tuple[int, int, int] | None]:
    """The fingerprint to record, and the stored state of this content if any.

    A file smaller than 4 KiB was fingerprinted over fewer bytes; if one of
    those is a prefix of this file, it is the same file, grown.
    """
    current = fingerprint(prefix)
    state = store.file_state(current)
    if state is not None or not prefix:
        return current, state
    for stored in _short_fingerprints(store):
        length = int(stored.split(":", 1)[0])
        if length < len(prefix) and fingerprint(prefix[:length]) == stored:
            store.con.execute("UPDATE files SET fingerprint = ? WHERE fingerprint = ?", [current, stored])
            return current, store.file_state(current)
    return current, None


T = TypeVar("T")
R = TypeVar("R")


def settle_in_order(items: Iterator[T], start: Callable[[T], Future[R]], settle: Callable[[T, R], None]) -> None:
    """Keep CLASSIFY_WORKERS items in flight and settle each one, in order, once its result is in.

    A reading error (raised by `items`) first settles the items read before it, as they were read
    whole, then propagates; an error while settling stops at once, so nothing after it is settled.
    """
    window: deque[tuple[T, Future[R]]] = deque()

    def settle_oldest() -> None:
        item, done = window.popleft()
        settle(item, done.result())

    while True:
        try:
            item = next(items)
        except StopIteration:
            break
        except Exception:
            while window:
                settle_oldest()
            raise
        window.append((item, start(item)))
        if len(window) >= CLASSIFY_WORKERS:
            settle_oldest()
    while window:
        settle_oldest()


@dataclass
class TimeSpan:
    """The first and last event times a run (or a file) has seen: the days whose sessions are rebuilt."""

    first: datetime | None = None
    last: datetime | None = None

    def add(self, events: pl.DataFrame) -> None:
        if events.height:
            low, high = events.get_column("ts").min(), events.get_column("ts").max()
            self.first = low if self.first is None or low < self.first else self.first  # type: ignore[operator]
            self.last = high if self.last is None or high > self.last else self.last  # type: ignore[operator]


def _load_source(
    source: Source, store: DuckDBStore, fixed: TemplateFormat | None, options: EventOptions, agents: AgentClassifier,
    result: LoadResult, batch_bytes: int, commit_events: int, detector: Detector, unwritten: Unwritten,
    pool: ThreadPoolExecutor, span: TimeSpan,
) -> None:
    """Parse one source and classify its batches in `pool` (two at a time), committing them in file order."""
    report = SourceReport(source.name)
    result.summary.parse.sources.append(report)
    remote = source.remote if isinstance(source.remote, S3Object) else None
    if remote is not None:
        key, compression = s3_fingerprint(remote), "unknown"  # known from the magic bytes once it is read
        if unwritten.may_match(key):
            unwritten.flush(store, result)
        if store.file_state(key + S3_COMPLETE) is not None:
            result.files_skipped.append(source.name)
            return None, None
        state = store.file_state(key)
    else:
        prefix = fingerprint_prefix(source)
        if unwritten.may_match(fingerprint(prefix)):
            unwritten.flush(store, result)
        key, state = known_file(store, prefix)
        compression = compression_of(source)
    offset, line = (state[1], state[2] + 1) if state else (0, 1)
    file_id = store.register_file(key, source.name, compression)
    batches = parse_source(source, fixed, report, batch_bytes, start_offset=offset, start_line=line, detector=detector)
    position = FilePosition(file_id, offset, line - 1)

    def settle(batch: ParsedBatch, classified: tuple[pl.DataFrame, BatchCounts]) -> None:
        """A classified batch joins the open transaction, in file order."""
        nonlocal position
        events, counts = classified
        result.add(counts)
        span.add(events)
        position = FilePosition(file_id, batch.end_offset, batch.end_line)
        unwritten.add(events, position, key)
        if unwritten.held >= commit_events:
            unwritten.flush(store, result)

    settle_in_order(batches, lambda batch: pool.submit(events_of_batch, batch, options, agents), settle)
    if remote is not None:  # read to its end: later runs skip it without a download, once this commits
        complete = FilePosition(file_id, position.end_offset, position.end_line, key + S3_COMPLETE,
                                report.read.compression)  # fmt: skip
        unwritten.add(pl.DataFrame(), complete, key)
    (result.files_loaded if report.lines else result.files_skipped).append(source.name)


def load_files(
    sources: list[Source], store: DuckDBStore, choice: FormatChoice, options: EventOptions, site_timezone: str,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    commit_events: int = COMMIT_EVENTS,
    on_progress: Callable[[RunSummary], None] | None = None,
) -> LoadResult:
    """Load every source; then rebuild the sessions of the days touched (and any a killed run left).

    `on_progress` is called with the run's counts each time a batch joins the open transaction.
    """
    result = LoadResult(progress=on_progress)
    agents = AgentClassifier()
    for site in _sites(options):
        store.ensure_site(site, site_timezone)
    started = datetime.now(timezone.utc)
    span = TimeSpan()  # of every event loaded: the days whose sessions are rebuilt
    detector = Detector()  # one per run: files like the previous one are detected without scoring every format
    fixed = choice.build()
    unwritten = Unwritten()
    pool = ThreadPoolExecutor(max_workers=CLASSIFY_WORKERS, thread_name_prefix="classify")
    try:
        planned = _many_files(sources, store, result) if len(sources) > 1 else None
        if planned is not None:
            from importer.load_many import load_planned

            load_planned(planned, store, choice, options, agents, result, unwritten, pool, span, batch_bytes,
                         commit_events)  # fmt: skip
        for source in sources if planned is None else []:
            _load_source(source, store, fixed, options, agents, result, batch_bytes, commit_events, detector,
                         unwritten, pool, span)  # fmt: skip
    except Exception:  # keep the whole batches read before the failure, as a commit per file would have
        with suppress(Exception):
            unwritten.flush(store, result)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    unwritten.flush(store, result)
    if span.first is not None and span.last is not None:
        for site in _sites(options):
            result.sessions_rebuilt += store.rebuild_sessions(site, span.first, span.last)
    result.sessions_rebuilt += store.rebuild_pending()
    store.record_run("load", result.as_dict(), started)
    return result


def _many_files(sources: list[Source], store: DuckDBStore, result: LoadResult) -> list[PlannedFile] | None:
    """The files planned for one pipeline (load_many.py), S3 objects already complete listed as skipped; or None."""
    from importer.load_many import plan

    skipped: list[Source] = []
    planned = plan(sources, store, skipped)
    if planned is None:
        return None
    for source in skipped:
        result.summary.parse.sources.append(SourceReport(source.name))
        result.files_skipped.append(source.name)
    return planned


def _sites(options: EventOptions) -> list[str]:
    return sorted({options.sites.domain, *options.sites.host_map.values()} - {None})  # type: ignore[arg-type]
