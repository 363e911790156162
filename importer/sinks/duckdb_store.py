"""The DuckDB sink: page views and custom events in, Plausible-shaped events and sessions out.

Why this shape:

* **One writer.** DuckDB locks the file against other processes; we turn its lock error into
  :class:`StoreBusyError` with a message that says what to do, and also ``flock`` the file so a
  second store in the *same* process (which DuckDB would silently share) is refused the same way.
* **Data and ledger commit together.** :meth:`DuckDBStore.write_files` inserts events of one or more
  files and moves each file's committed offset in one transaction, so after ``kill -9`` the file holds
  either the whole batch and its offsets or neither (DuckDB's WAL replays only committed transactions).
* **No raw IP reaches DuckDB.** Visitor ids and countries are computed in polars/Python first and
  the ``client_ip`` and ``user_agent`` columns are dropped before DuckDB sees the batch.
* **Sessions are derived state.** Events get ``session_id = 0`` on insert;
  :meth:`DuckDBStore.rebuild_sessions` recomputes every session touching the days a run loaded
  (see :mod:`importer.sinks.sessions`), and always includes events a killed run left unsessioned.
* **So are the rollups** (:mod:`importer.sinks.rollups`): the per-day cells reports read are rebuilt for
  the UTC days those sessions span, in the same transaction, and for the whole site when its timezone
  changes. A file from schema version 1 gains them (built from its tables) the first time load opens it.
"""

from __future__ import annotations

import json
import os
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import polars as pl

from importer.attribution import attribute
from importer.geo import with_country
from importer.sinks import metrics, rollups, sessions
from importer.sinks.schema import SCHEMA_VERSION, TABLES
from importer.visitors import load_or_create_key, with_visitor_ids

try:  # POSIX only; elsewhere DuckDB's own lock is the only guard
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "ts", "name", "domain", "host", "path", "query", "referrer", "user_agent", "client_ip", "props",
    "browser", "browser_version", "os", "os_version", "device", "line",
)
_PASSED_THROUGH = ("browser", "browser_version", "os", "os_version", "device", "country", "visitor_id", "link_id")
_INSERT_EVENTS = """
INSERT INTO events (site, ts, name, hostname, pathname, referrer, referrer_source, utm_source, utm_medium,
  utm_campaign, utm_content, utm_term, browser, browser_version, os, os_version, device, country, visitor_id,
  session_id, props, file_id, line, link_id)
SELECT domain, ts, name, hostname, pathname, referrer, referrer_source, utm_source, utm_medium,
  utm_campaign, utm_content, utm_term, browser, browser_version, os, os_version, device, country, visitor_id,
  0, CAST(props AS JSON), file_id, line, link_id
FROM _store_batch
"""


_UTC = timezone.utc


@dataclass(frozen=True)
class FilePosition:
    """How far a file has been loaded once a write commits (and, for an S3 object read to its end, its new key
    and the compression its bytes showed: both commit with its last events, not in a transaction of their own)."""

    file_id: int
    end_offset: int
    end_line: int
    fingerprint: str | None = None
    compression: str | None = None


class StoreBusyError(RuntimeError):
    """Another load holds the DuckDB file."""


class StoreError(RuntimeError):
    """The DuckDB file cannot be used as it is (for example a newer schema)."""


class FileState(NamedTuple):
    """How far a log file (by content fingerprint) has been loaded."""

    file_id: int
    committed_offset: int
    committed_line: int


def _utc_naive(value: datetime | date) -> datetime:
    """Naive UTC, the form the events table stores (a date means its 00:00 UTC)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0))
    return value.astimezone(_UTC).replace(tzinfo=None) if value.tzinfo else value


def _first(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple | None:
    """First row or None; fetches everything, as DuckDB 2 keeps a half-read result busy."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class DuckDBStore:
    """A DuckDB file opened for loading; use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        key_path: str | os.PathLike[str],
        wait: bool = False,
        *,
        wait_timeout: float | None = None,
        poll_interval: float = 0.25,
        window_events: int = sessions.WINDOW_EVENTS,
    ) -> None:
        self.db_path = Path(db_path)
        self.window_events = window_events  # events per session-rebuild step
        self._secret = load_or_create_key(Path(key_path))
        self._lock_fd: int | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        deadline = None if wait_timeout is None else _time.monotonic() + wait_timeout
        while True:
            try:
                self._connect_once()
                break
            except StoreBusyError:
                if not wait or (deadline is not None and _time.monotonic() >= deadline):
                    raise
                _time.sleep(poll_interval)
        try:
            self._init_schema()
        except BaseException:
            self.close()
            raise

    # -- connection -------------------------------------------------------------------------

    def _busy_message(self) -> str:
        return f"another plausible-logs load is using {self.db_path}; wait for it or add --wait"

    def _connect_once(self) -> None:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = duckdb.connect(str(self.db_path))
        except duckdb.IOException as exc:
            if _is_lock_error(exc):
                raise StoreBusyError(self._busy_message()) from exc
            raise
        if fcntl is not None:
            fd = os.open(self.db_path, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                con.close()
                raise StoreBusyError(self._busy_message()) from exc
            self._lock_fd = fd
        self._con = con

    def _init_schema(self) -> None:
        con = self.con
        con.execute("SET TimeZone = 'UTC'")
        with self._transaction():
            con.execute(TABLES)
            row = _first(con, "SELECT value FROM meta WHERE key = 'schema_version'")
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            elif int(row[0]) == 1:  # before rollups: build them from the stored sessions and events
                rollups.rebuild_all(con)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION)])
            elif int(row[0]) != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.db_path} has schema version {row[0]}, this plausible-logs writes version "
                    f"{SCHEMA_VERSION}; load into a new --db file or use the matching plausible-logs version"
                )
            metrics.create_views(con)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The open connection (for reports and tests); writes should go through the methods."""
        if self._con is None:
            raise StoreError(f"{self.db_path} is closed")
        return self._con

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            with suppress(duckdb.Error):  # an aborted transaction is discarded either way
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (DuckDB also does this on close)."""
        self.con.execute("CHECKPOINT")

    def close(self) -> None:
        """Close the connection and release the file lock; safe to call twice."""
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sites, files, runs -----------------------------------------------------------------

    def ensure_site(self, site: str, timezone: str) -> None:
        """Create the site, or update its report timezone (an IANA name such as Europe/Berlin)."""
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {timezone!r}; use an IANA name such as Europe/Berlin or UTC") from exc
        with self._transaction() as con:
            con.execute(
                "INSERT INTO sites VALUES (?, ?) ON CONFLICT (site) DO UPDATE SET timezone = excluded.timezone",
                [site, timezone],
            )
            cut_in = _first(con, "SELECT timezone FROM rollup_sites WHERE site = ?", [site])
            if cut_in is not None and cut_in[0] != timezone:  # local days move: every cell changes
                rollups.rebuild_site(con, site, timezone)

    def file_state(self, fingerprint: str) -> FileState | None:
        """(file_id, committed_offset, committed_line) of a known file, else None."""
        row = _first(
            self.con, "SELECT file_id, committed_offset, committed_line FROM files WHERE fingerprint = ?", [fingerprint]
        )
        return None if row is None else FileState(int(row[0]), int(row[1]), int(row[2]))

    def file_states(self, fingerprints: list[str]) -> dict[str, FileState]:
        """The states of many files in one query: a run of thousands of small files would pay a query each."""
        if not fingerprints:
            return {}
        wanted = pl.DataFrame({"fingerprint": fingerprints}, schema={"fingerprint": pl.String})
        self.con.register("_wanted_files", wanted)
        try:
            rows = self.con.execute(
                "SELECT fingerprint, file_id, committed_offset, committed_line FROM files"
                " WHERE fingerprint IN (SELECT fingerprint FROM _wanted_files)"
            ).fetchall()
        finally:
            self.con.unregister("_wanted_files")
        return {row[0]: FileState(int(row[1]), int(row[2]), int(row[3])) for row in rows}

    def register_files(self, files: list[tuple[str, str, str]]) -> list[int]:
        """file_ids of many (fingerprint, path, compression), as register_file gives them, in one transaction."""
        if not files:
            return []
        wanted = pl.DataFrame(files, schema={"fingerprint": pl.String, "path": pl.String, "compression": pl.String},
                              orient="row").with_row_index("position")  # fmt: skip
        with self._transaction() as con:
            con.register("_new_files", wanted)
            try:
                con.execute("UPDATE files SET path = w.path FROM _new_files w WHERE files.fingerprint = w.fingerprint")
                con.execute(
                    "INSERT INTO files SELECT (SELECT coalesce(max(file_id), 0) FROM files)"
                    " + row_number() OVER (ORDER BY position), fingerprint, path, compression, 0, 0, now(), now()"
                    " FROM _new_files WHERE fingerprint NOT IN (SELECT fingerprint FROM files)"
                    " QUALIFY row_number() OVER (PARTITION BY fingerprint ORDER BY position) = 1"
                )
                ids = dict(con.execute(
                    "SELECT fingerprint, file_id FROM files WHERE fingerprint IN (SELECT fingerprint FROM _new_files)"
                ).fetchall())  # fmt: skip
            finally:
                con.unregister("_new_files")
        return [int(ids[fingerprint]) for fingerprint, _, _ in files]

    def register_file(self, fingerprint: str, path: str, compression: str) -> int:
        """file_id for a fingerprint, created at offset 0 when new (the path is refreshed when known)."""
        with self._transaction() as con:
            row = _first(con, "SELECT file_id FROM files WHERE fingerprint = ?", [fingerprint])
            if row is not None:
                con.execute("UPDATE files SET path = ? WHERE file_id = ?", [path, row[0]])
                return int(row[0])
            (file_id,) = con.execute("SELECT coalesce(max(file_id), 0) + 1 FROM files").fetchall()[0]
            con.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, 0, 0, now(), now())",
                [file_id, fingerprint, path, compression],
            )
            return int(file_id)

    def record_run(self, command: str, summary: dict[str, Any], started: datetime | None = None) -> int:
        """Append a run (command, JSON summary) to ``runs``; returns its run_id."""
        with self._transaction() as con:
            (run_id,) = con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchall()[0]
            con.execute(
                "INSERT INTO runs VALUES (?, coalesce(?, now()), now(), ?, ?)",
                [run_id, started, command, json.dumps(summary, default=str, sort_keys=True)],
            )
            return int(run_id)

    # -- events -----------------------------------------------------------------------------

    def _prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Visitor ids, country, attribution; drops the IP and agent before DuckDB sees the rows."""
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"write_batch: frame lacks column(s) {', '.join(missing)}")
        ts = pl.col("ts")
        if frame.schema["ts"].time_zone is not None:  # type: ignore[union-attr]
            ts = ts.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        frame = frame.with_columns(ts=ts.dt.truncate("1s"))
        frame = with_country(with_visitor_ids(frame, self._secret))
        keep = ["ts", "name", "domain", "host", "path", "query", "referrer", "props", "file_id", "line",
                *_PASSED_THROUGH]
        return attribute(frame.select(keep))

    def write_batch(self, frame: pl.DataFrame, file_id: int, end_offset: int, end_line: int) -> int:
        """Insert one file's batch of events and move its committed offset/line, atomically.

        ``end_offset``/``end_line`` say how far the file has been read once this batch is in; a
        batch without events still moves them. Returns the number of events inserted.
        """
        frame = frame.with_columns(pl.lit(file_id, dtype=pl.Int64).alias("file_id"))
        return self.write_files(frame, [FilePosition(file_id, end_offset, end_line)])

    def write_files(self, frame: pl.DataFrame, positions: list[FilePosition]) -> int:
        """Insert events of several files (their `file_id` column says whose) and move every file's position.

        One transaction for many small files (CloudFront, S3 deliveries) instead of one each; a
        position may also give the file its final fingerprint (an S3 object read to its end).
        """
        if frame.height and "file_id" not in frame.columns:
            raise ValueError("write_files: frame lacks the file_id column")
        prepared = self._prepare(frame) if frame.height else None
        with self._transaction() as con:
            for position in positions:
                row = _first(con, "SELECT committed_offset FROM files WHERE file_id = ?", [position.file_id])
                if row is None:
                    raise ValueError(f"write_batch: unknown file_id {position.file_id}; call register_file first")
                if position.end_offset < row[0]:
                    raise ValueError(
                        f"write_batch: end_offset {position.end_offset} is before the committed offset {row[0]}"
                    )
            if prepared is not None:
                con.register("_store_batch", prepared)
                try:
                    con.execute(_INSERT_EVENTS)
                    con.execute(
                        "INSERT INTO sites SELECT DISTINCT domain, 'UTC' FROM _store_batch ON CONFLICT DO NOTHING"
                    )
                finally:
                    con.unregister("_store_batch")
            for position in positions:
                con.execute(
                    "UPDATE files SET committed_offset = ?, committed_line = ?, last_loaded = now(),"
                    " fingerprint = coalesce(?, fingerprint), compression = coalesce(?, compression) WHERE file_id = ?",
                    [position.end_offset, position.end_line, position.fingerprint, position.compression,
                     position.file_id],
                )
        return 0 if prepared is None else prepared.height

    # -- sessions ---------------------------------------------------------------------------

    def rebuild_sessions(
        self, site: str, since_utc: datetime | date | None = None, until_utc: datetime | date | None = None
    ) -> int:
        """Recompute the sessions of ``site`` for the UTC days since..until, one day either side.

        Events not yet in a session (``session_id = 0``, e.g. left by a killed run) widen the
        window automatically, so ``rebuild_sessions(site)`` alone finishes pending work.
        A span of more than ``sessions.WINDOW_EVENTS`` events is rebuilt in steps of about that many, one
        transaction each (a step a crash cuts short leaves its events unsessioned: the next run finishes it).
        Returns the number of sessions written (for several steps: the sessions touching the span afterwards).
        """
        pending = self.con.execute(
            "SELECT min(ts), max(ts) FROM events WHERE site = ? AND session_id = 0", [site]
        ).fetchall()[0]
        points = [_utc_naive(p) for p in (since_utc, until_utc, *pending) if p is not None]
        if not points:
            return 0
        lo = datetime.combine(min(points).date(), time(0)) - timedelta(days=1)
        hi = datetime.combine(max(points).date(), time(0)) + timedelta(days=2)
        (tz,) = _first(self.con, "SELECT timezone FROM sites WHERE site = ?", [site]) or ("UTC",)
        steps = sessions.windows(self.con, site, lo, hi, self.window_events)
        written = 0
        for step_lo, step_hi in steps:
            with self._transaction() as con:
                rebuilt = sessions.rebuild_window(con, site, step_lo, step_hi)
                if rebuilt.first is not None and rebuilt.last is not None:
                    rollups.rebuild_days(con, site, rebuilt.first.date(), rebuilt.last.date(), tz)
            written = rebuilt.sessions
        if len(steps) > 1:  # sessions at a cut were written twice: count what the span holds now
            (written,) = self.con.execute(
                'SELECT count(*) FROM sessions WHERE site = ? AND start < ? AND "end" >= ?', [site, hi, lo]
            ).fetchall()[0]
        return int(written)

    def rebuild_pending(self) -> int:
        """Rebuild sessions for every site that has events without a session."""
        sites = [r[0] for r in self.con.execute("SELECT DISTINCT site FROM events WHERE session_id = 0").fetchall()]
        return sum(self.rebuild_sessions(site) for site in sorted(sites))
