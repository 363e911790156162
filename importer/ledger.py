"""The send ledger: which events Plausible has answered, so nothing is sent twice.

Plausible has no idempotency key, so exactly-once lives here. Each event key
(file id + byte offset) is marked `inflight` and committed *before* its
request leaves, and its outcome replaces the mark only *after* the answer.
After a kill -9, a key still `inflight` is "uncertain": its request may or may
not have reached Plausible, and only `--resend-uncertain` sends it again.
SQLite in WAL mode makes each small group of marks one atomic transaction
that survives the process being killed (synchronous=NORMAL only risks the last
transactions on power loss, not on a crash of this process).

Files are identified by their first bytes, not their path (Vector's
checkpointer): a rotated file keeps its id, and a file first seen shorter
than 4 KiB keeps the id it got then, recognised later by a prefix hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

SCHEMA_VERSION = "1"
HEAD_BYTES = 4096
TERMINAL = frozenset({"accepted", "dropped", "rejected"})
INFLIGHT = "inflight"
FAILED = "failed"  # a final try ended without delivery (budget spent, interrupted, wrong endpoint): send again

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    event_key TEXT PRIMARY KEY,     -- file id : byte offset of the line
    outcome TEXT NOT NULL,          -- inflight, accepted, dropped, rejected, failed
    answered_at REAL                -- unix time of the answer; NULL while inflight
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,       -- the prefix of its event keys
    head_len INTEGER NOT NULL,      -- how many first bytes the id was made from (<= 4096)
    head_sha TEXT NOT NULL,         -- sha256 of those bytes
    path TEXT NOT NULL,             -- where it was last seen
    done_offset INTEGER NOT NULL,   -- every line before this offset is answered
    done_line INTEGER NOT NULL,     -- the line number at done_offset
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_head ON files (head_len, head_sha);
"""


class LedgerError(Exception):
    """The ledger cannot be used: busy with another run, unwritable, or from a newer version."""


@dataclass(frozen=True)
class FilePosition:
    """A file's identity and how far it is known to be done."""

    file_id: str
    offset: int = 0
    line: int = 1


def default_ledger_path() -> Path:
    """$XDG_STATE_HOME/plausible-logs/ledger.sqlite, else ~/.local/state/plausible-logs/ledger.sqlite."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "plausible-logs" / "ledger.sqlite"


class Ledger:
    """One SQLite file; every method is one short transaction, safe to call from two threads."""

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        self._lockfile: IO[str] | None = None
        self._db: sqlite3.Connection | None = None
        if readonly:
            if self.path.exists():
                # Not `mode=ro`: a read-only open cannot always use the WAL's shared memory and may then read
                # the main file without the latest commits. This object never writes when readonly.
                self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._take_lock()
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except (OSError, sqlite3.Error) as exc:
            self.close()
            raise LedgerError(f"cannot use the ledger {self.path}: {exc}") from exc

    def _take_lock(self) -> None:
        """One sending run per ledger: 'inflight' would be ambiguous with two."""
        self._lockfile = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held for the ledger's lifetime
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            self._lockfile = None
            raise LedgerError(
                f"another plausible-logs send is using the ledger {self.path}; wait for it, or give this run "
                "its own --state PATH"
            ) from None

    def _check_version(self) -> None:
        assert self._db is not None
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            raise LedgerError(f"schema version {row[0]}, this plausible-logs reads version {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                if not self.readonly:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._db.close()
                self._db = None
            if self._lockfile is not None:
                self._lockfile.close()
                self._lockfile = None

    def outcomes(self, keys: Iterable[str]) -> dict[str, str]:
        """The recorded outcome of each key that has one (a join against a temporary table)."""
        if self._db is None:
            return {}
        with self._lock:
            db = self._db
            db.execute("CREATE TEMP TABLE IF NOT EXISTS probe (k TEXT PRIMARY KEY) WITHOUT ROWID")
            db.execute("BEGIN")
            try:
                db.execute("DELETE FROM temp.probe")
                db.executemany("INSERT OR IGNORE INTO temp.probe VALUES (?)", ((k,) for k in keys))
                rows = db.execute(
                    "SELECT e.event_key, e.outcome FROM temp.probe p JOIN events e ON e.event_key = p.k"
                ).fetchall()
                db.execute("DELETE FROM temp.probe")
            finally:
                db.execute("COMMIT")
        return dict(rows)

    def record(
        self,
        inflight: Iterable[str] = (),
        answers: Iterable[tuple[str, str]] = (),
        marks: Iterable[tuple[str, int, int]] = (),
    ) -> None:
        """One transaction: answers, then new inflight marks, then file watermarks (file_id, offset, line)."""
        now = time.time()
        rows = [(key, outcome, now) for key, outcome in answers]
        rows.extend((key, INFLIGHT, None) for key in inflight)
        marks = list(marks)
        with self._lock:
            db = self._require()
            db.execute("BEGIN IMMEDIATE")
            try:
                if rows:  # answers first: in one list, a key's later mark wins, as it should
                    db.executemany(
                        "INSERT INTO events VALUES (?, ?, ?) ON CONFLICT(event_key) DO UPDATE "
                        "SET outcome = excluded.outcome, answered_at = excluded.answered_at",
                        rows,
                    )
                if marks:
                    db.executemany(
                        "UPDATE files SET done_offset = ?, done_line = ?, updated_at = ? WHERE file_id = ? "
                        "AND done_offset <= ?",
                        ((offset, line, now, file_id, offset) for file_id, offset, line in marks),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise LedgerError("the ledger is closed or read-only")
        return self._db

    def identify(self, head: bytes, path: str) -> FilePosition:
        """The id of a file whose first bytes are `head` (up to 4 KiB), registering it when new.

        A file known from a shorter head keeps that id when its content still starts with it.
        """
        head = head[:HEAD_BYTES]
        with self._lock:
            if self._db is None:
                return FilePosition(hashlib.sha256(head).hexdigest()[:16])
            db = self._db
            lengths = [r[0] for r in db.execute("SELECT DISTINCT head_len FROM files WHERE head_len <= ?",
                                                (len(head),))]
            for length in sorted(lengths, reverse=True):
                digest = hashlib.sha256(head[:length]).hexdigest()
                row = db.execute(
                    "SELECT file_id, done_offset, done_line FROM files WHERE head_len = ? AND head_sha = ?",
                    (length, digest),
                ).fetchone()
                if row is not None:
                    if not self.readonly:
                        db.execute("UPDATE files SET path = ? WHERE file_id = ?", (path, row[0]))
                    return FilePosition(row[0], int(row[1]), int(row[2]))
            digest = hashlib.sha256(head).hexdigest()
            position = FilePosition(digest[:16])
            if not self.readonly:
                db.execute(
                    "INSERT OR IGNORE INTO files VALUES (?, ?, ?, ?, 0, 1, ?)",
                    (position.file_id, len(head), digest, path, time.time()),
                )
            return position

    def uncertain(self, file_ids: Iterable[str]) -> int:
        """Keys of these files still marked inflight: sent by a run that died before saving the answer."""
        if self._db is None:
            return 0
        with self._lock:
            return sum(
                self._db.execute(
                    "SELECT count(*) FROM events WHERE event_key >= ? AND event_key < ? AND outcome = 'inflight'",
                    (f"{file_id}:", f"{file_id};"),
                ).fetchone()[0]
                for file_id in file_ids
            )

    def counts(self) -> dict[str, int]:
        """Keys per outcome, for status lines and tests."""
        if self._db is None:
            return {}
        with self._lock:
            return dict(self._db.execute("SELECT outcome, count(*) FROM events GROUP BY outcome").fetchall())


class GroupCommit:
    """Ledger writes from many asyncio workers, gathered into one transaction per turn of the event loop.

    `record` returns only once its writes are committed, so a worker can send after marking a key inflight.
    Written inline rather than in a thread: a WAL commit without fsync costs less than the thread hop (measured).
    """

    def __init__(self, ledger: Ledger | None) -> None:
        self.ledger = ledger
        self.inflight: list[str] = []
        self.answers: list[tuple[str, str]] = []
        self.marks: dict[str, tuple[int, int]] = {}
        self.waiters: list[asyncio.Future[None]] = []
        self.wake = asyncio.Event()
        self.closing = False
        self.error: Exception | None = None

    async def record(self, inflight: tuple[str, ...] = (), answers: tuple[tuple[str, str], ...] = ()) -> None:
        if self.ledger is None:
            return
        waiter = asyncio.get_running_loop().create_future()
        self.inflight.extend(inflight)
        self.answers.extend(answers)
        self.waiters.append(waiter)
        self.wake.set()
        await waiter

    def mark(self, file_id: str, offset: int, line: int) -> None:
        self.marks[file_id] = (offset, line)

    async def run(self) -> None:
        while not (self.closing and not self.waiters and not self.marks):
            await self.wake.wait()
            self.wake.clear()
            inflight, answers, waiters = self.inflight, self.answers, self.waiters
            marks = [(f, o, n) for f, (o, n) in self.marks.items()]
            self.inflight, self.answers, self.waiters, self.marks = [], [], [], {}
            error = self.error
            if error is None and self.ledger is not None and (inflight or answers or marks):
                try:
                    self.ledger.record(inflight, answers, marks)
                except Exception as exc:  # every waiter, now and later, learns of it
                    error = self.error = exc
            for waiter in waiters:
                if waiter.done():
                    continue
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    def close(self) -> None:
        self.closing = True
        self.wake.set()
