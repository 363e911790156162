"""load: files -> events -> the DuckDB store, idempotently and incrementally.

A file is known by a fingerprint of its first 4 KiB (decompressed), so a
rotated `access.log.1` that reappears as `access.log.2.gz` is recognised,
and by its committed offset, so a file that grew resumes where the last run
stopped. Each batch commits its events and the new offset together; sessions
are rebuilt for the days a run touched once its batches are in.

An S3 object never changes, so it is known by `s3:<size>:<etag>` from the
listing alone, and `:complete` is appended once it has been read to its end:
a re-run skips complete objects without downloading them, and resumes an
object a killed run left part-way.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

from importer.pipeline import EventOptions, RunSummary, events_of_batch
from importer.sinks.duckdb_store import DuckDBStore
from importer.useragents import AgentClassifier
from parsers.reader import DEFAULT_BATCH_BYTES, FINGERPRINT_BYTES, Source, compression_of, fingerprint_prefix
from parsers.s3_inputs import S3Object
from parsers.stream import FormatChoice, SourceReport, parse_source

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

    def as_dict(self) -> dict[str, object]:
        return {
            **self.summary.as_dict(),
            "files_loaded": self.files_loaded,
            "files_skipped": self.files_skipped,
            "events_written": self.events_written,
            "sessions_rebuilt": self.sessions_rebuilt,
        }


def _known_file(store: DuckDBStore, prefix: bytes) -> tuple[str, tuple[int, int, int] | None]:
    """The fingerprint to record, and the stored state of this content if any.

    A file smaller than 4 KiB was fingerprinted over fewer bytes; if one of
    those is a prefix of this file, it is the same file, grown.
    """
    current = fingerprint(prefix)
    state = store.file_state(current)
    if state is not None or not prefix:
        return current, state
    rows = store.con.execute(
        "SELECT fingerprint FROM files WHERE fingerprint NOT LIKE ? AND fingerprint NOT LIKE 's3:%'",
        [f"{FINGERPRINT_BYTES}:%"],
    ).fetchall()
    for (stored,) in rows:
        length = int(stored.split(":", 1)[0])
        if length < len(prefix) and fingerprint(prefix[:length]) == stored:
            store.con.execute("UPDATE files SET fingerprint = ? WHERE fingerprint = ?", [current, stored])
            return current, store.file_state(current)
    return current, None


def _load_source(
    source: Source, store: DuckDBStore, choice: FormatChoice, options: EventOptions, agents: AgentClassifier,
    result: LoadResult, batch_bytes: int, commit_events: int,
) -> tuple[datetime | None, datetime | None]:
    report = SourceReport(source.name)
    result.summary.parse.sources.append(report)
    remote = source.remote if isinstance(source.remote, S3Object) else None
    if remote is not None:
        key, compression = s3_fingerprint(remote), "unknown"  # known from the magic bytes once it is read
        if store.file_state(key + S3_COMPLETE) is not None:
            result.files_skipped.append(source.name)
            return None, None
        state = store.file_state(key)
    else:
        key, state = _known_file(store, fingerprint_prefix(source))
        compression = compression_of(source)
    offset, line = (state[1], state[2] + 1) if state else (0, 1)
    file_id = store.register_file(key, source.name, compression)
    first: datetime | None = None
    last: datetime | None = None
    batches = parse_source(source, choice.build(), report, batch_bytes, start_offset=offset, start_line=line)
    pending: list[pl.DataFrame] = []
    held = 0
    end: tuple[int, int] | None = None
    for batch in batches:
        events, counts = events_of_batch(batch, options, agents)
        result.summary.add(counts)
        pending.append(events)
        held += events.height
        end = (batch.end_offset, batch.end_line)
        if events.height:
            low, high = events.get_column("ts").min(), events.get_column("ts").max()
            first = low if first is None or low < first else first  # type: ignore[operator]
            last = high if last is None or high > last else last  # type: ignore[operator]
        if held >= commit_events:
            result.events_written += store.write_batch(pl.concat(pending), file_id, *end)
            pending, held = [], 0
    if end is not None and (pending or held):
        result.events_written += store.write_batch(pl.concat(pending), file_id, *end)
    if remote is not None:  # read to its end: later runs skip it without a download
        store.con.execute("UPDATE files SET fingerprint = ?, compression = ? WHERE file_id = ?",
                          [key + S3_COMPLETE, report.read.compression, file_id])
    (result.files_loaded if report.lines else result.files_skipped).append(source.name)
    return first, last


def load_files(
    sources: list[Source], store: DuckDBStore, choice: FormatChoice, options: EventOptions, site_timezone: str,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    commit_events: int = COMMIT_EVENTS,
) -> LoadResult:
    """Load every source; then rebuild the sessions of the days touched (and any a killed run left)."""
    result = LoadResult()
    agents = AgentClassifier()
    for site in _sites(options):
        store.ensure_site(site, site_timezone)
    started = datetime.now(timezone.utc)
    windows: dict[str, tuple[datetime, datetime]] = {}
    for source in sources:
        first, last = _load_source(source, store, choice, options, agents, result, batch_bytes, commit_events)
        if first is None or last is None:
            continue
        for site in _sites(options):
            lo, hi = windows.get(site, (first, last))
            windows[site] = (min(lo, first), max(hi, last))
    for site, (lo, hi) in sorted(windows.items()):
        result.sessions_rebuilt += store.rebuild_sessions(site, lo, hi)
    result.sessions_rebuilt += store.rebuild_pending()
    store.record_run("load", result.as_dict(), started)
    return result


def _sites(options: EventOptions) -> list[str]:
    return sorted({options.sites.domain, *options.sites.host_map.values()} - {None})  # type: ignore[arg-type]
