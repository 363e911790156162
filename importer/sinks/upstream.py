"""The Events API sender: batches of events in, each event answered exactly once.

Why it looks like this: Plausible has no idempotency key and no timestamp, so
(1) the ledger is told about every key before its request leaves and after
its answer (ledger.GroupCommit, shared by all workers, keeps that cheap), (2) a
visitor's events are sharded onto one worker so they arrive in log order
(Plausible builds sessions from arrival order), (3) a token bucket and a
shared Retry-After pause keep us polite, and (4) bounded queues keep memory
flat however big the log is. Every request's bytes are built for a whole
batch in polars, off the event loop; the event loop only writes them and
reads the answers (sinks/http1.py: aiohttp's per-request CPU alone was more
than the whole budget, see bench/bench_send.py --compare-clients).
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl

from importer.events import request_bytes, request_lines
from importer.ledger import FAILED, INFLIGHT, TERMINAL, GroupCommit, Ledger
from importer.sinks.http1 import Connection, ConnectionClosed, Endpoint, ProtocolError
from importer.sinks.retry import (
    Answer,
    Decision,
    EndpointGuard,
    TokenBucket,
    Verdict,
    decide,
    endpoint_message,
    history_message,
)
from importer.sinks.send_model import Outgoing, SendOptions, SendStats

MAX_LOGGED = 20
SLICE_EVENTS = 2048  # events prepared (requests as bytes, split per worker) at a time: bounds the queued memory


@dataclass
class _Ticket:
    """Counts down a batch's events so the file's watermark moves only past fully answered batches."""

    file_id: str | None
    end_offset: int
    next_line: int
    remaining: int
    blocked: bool = False


@dataclass(slots=True)
class _Chunk:
    """One worker's share of a slice of a batch, in log order, each request ready to write."""

    ticket: _Ticket
    keys: list[str]
    requests: list[bytes]
    places: list[str]  # file:line, for messages about rejected events


class Sender:
    """Filters batches against the ledger and the history guard, then POSTs each event with retries."""

    def __init__(self, ledger: Ledger | None, options: SendOptions, stats: SendStats,
                 notice: Callable[[str], None], dry_run: Callable[[pl.Series], None] | None = None,
                 files: set[str] | None = None) -> None:
        self.ledger = ledger
        self.files = files if files is not None else set()  # ids of every input file, for the uncertain count
        self.options = options
        self.endpoint = Endpoint.parse(options.endpoint)
        self.stats = stats
        self.notice = notice
        self.dry_run = dry_run
        self.fatal: str | None = None
        self.stop = asyncio.Event()
        self.guard = EndpointGuard(options.endpoint_threshold)
        self.bucket = TokenBucket(options.rate) if options.rate else None
        self.pause_until = 0.0
        self.active: set[str] = set()
        self.tickets: dict[str | None, deque[_Ticket]] = {}
        self.logged = 0
        self.warned_history = False
        self.commit = GroupCommit(None if dry_run else ledger)
        self.queues: list[asyncio.Queue[_Chunk | None]] = [
            asyncio.Queue(options.queue_size) for _ in range(max(1, options.concurrency))
        ]
        self.tls: ssl.SSLContext | None = None

    async def run(self, batches: AsyncIterator[Outgoing]) -> None:
        """Send everything `batches` yields, until it ends or `stop` is set; then drain and save."""
        committer = asyncio.create_task(self.commit.run())
        if self.dry_run is None and self.endpoint.scheme == "https":
            self.tls = ssl.create_default_context()
        workers = [asyncio.create_task(self._work(q)) for q in self.queues]
        try:
            async for batch in batches:
                await self.dispatch(batch)
                if self.stop.is_set():
                    break
        finally:
            aclose = getattr(batches, "aclose", None)
            if aclose is not None:
                await aclose()
            for queue in self.queues:
                await queue.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
            self.commit.close()
            await committer
            if self.ledger is not None:  # all of them, also those behind a watermark this run did not re-read
                self.files.update(f for f in self.tickets if f is not None)
                self.stats.uncertain = max(self.stats.uncertain, self.ledger.uncertain(self.files))

    def select(self, batch: Outgoing) -> pl.DataFrame:
        """The batch's events that still need sending: not answered before, not in flight, not too old."""
        events = batch.events
        if batch.file_id is not None:
            key = pl.lit(batch.file_id + ":") + pl.col("offset").cast(pl.String)
            events = events.with_columns(key.alias("event_key"))
        if events.height == 0:
            return events
        busy_keys = frozenset(self.active)  # before the lookup: a key leaves `active` after its answer is saved
        keys = events.get_column("event_key")
        known = self.ledger.outcomes(keys.to_list()) if self.ledger is not None else {}
        busy = keys.is_in(list(busy_keys)) if busy_keys else pl.repeat(False, events.height, eager=True)
        if known:
            outcome = keys.replace_strict(list(known), list(known.values()), default=None, return_dtype=pl.String)
        else:
            outcome = pl.repeat(None, events.height, dtype=pl.String, eager=True)
        answered = outcome.is_in(list(TERMINAL)).fill_null(False)
        uncertain = (outcome == INFLIGHT).fill_null(False) & ~busy
        self.stats.skipped += int(answered.sum())
        drop = busy | answered
        if not self.options.resend_uncertain:
            self.stats.uncertain += int((uncertain & ~answered).sum())
            drop = drop | uncertain
        return self._guard_history(events.filter(~drop))

    def _guard_history(self, events: pl.DataFrame) -> pl.DataFrame:
        """Plausible stamps events on arrival: refuse old ones (or warn once when told to send them anyway)."""
        cutoff = datetime.now(timezone.utc) - self.options.max_age
        old = events.get_column("ts") < cutoff
        count = int(old.sum() or 0)
        if not count:
            return events
        oldest = events.get_column("ts").min()
        if self.options.allow_historical:
            if not self.warned_history:
                self.warned_history = True
                self.notice(f"warning: sending events as old as {oldest:%Y-%m-%d %H:%M} UTC because of "
                            "--allow-historical; Plausible will count them at the time they arrive, not when they "
                            "happened.")
            return events
        if not self.stats.refused:
            self.notice(history_message(oldest, self.options.max_age))
        self.stats.refused += count
        return events.filter(~old)

    def prepare(self, events: pl.DataFrame) -> pl.DataFrame:
        """Key, request bytes, place and worker of each event (runs in a thread: polars releases the GIL)."""
        visitor = pl.concat_str(pl.col("client_ip"), pl.col("user_agent"), pl.col("domain"), separator="\x00",
                                ignore_nulls=True)
        place = pl.concat_str(pl.col("file"), pl.lit(":"), pl.col("line").cast(pl.String))
        return events.select(
            pl.col("event_key"), request_bytes(events, self.endpoint).alias("request"), place.alias("place"),
            (visitor.hash(seed=7) % len(self.queues)).cast(pl.Int64).alias("shard"),
        )

    @staticmethod
    def split(rows: pl.DataFrame, ticket: _Ticket) -> list[tuple[int, _Chunk]]:
        """One slice of prepared rows as (worker, chunk) pairs, each chunk in log order."""
        parts = rows.partition_by("shard", maintain_order=True, as_dict=True)
        return [
            (int(shard), _Chunk(ticket, part.get_column("event_key").to_list(), part.get_column("request").to_list(),
                                part.get_column("place").to_list()))
            for (shard, *_), part in parts.items()
        ]

    async def dispatch(self, batch: Outgoing) -> None:
        """Hand a batch's new events to the visitor-sharded workers, a slice at a time (waiting when they are busy)."""
        events = await asyncio.to_thread(self.select, batch)
        ticket = _Ticket(batch.file_id, batch.end_offset, batch.next_line, events.height)
        self.tickets.setdefault(batch.file_id, deque()).append(ticket)
        if self.dry_run is not None:
            self.dry_run(request_lines(events))
            ticket.remaining = 0
            self._advance(batch.file_id)
            return
        if events.height == 0:
            self._advance(batch.file_id)
            return
        rows = await asyncio.to_thread(self.prepare, events)
        queued = 0
        for start in range(0, rows.height, SLICE_EVENTS):
            chunks = await asyncio.to_thread(self.split, rows.slice(start, SLICE_EVENTS), ticket)
            for shard, chunk in chunks:
                if self.stop.is_set():
                    self.stats.unsent += rows.height - queued
                    ticket.blocked = True
                    return
                self.active.update(chunk.keys)
                await self.queues[shard].put(chunk)
                queued += len(chunk.keys)

    async def _work(self, queue: asyncio.Queue[_Chunk | None]) -> None:
        """One shard, one request at a time, on one keep-alive connection. An answer is saved in the transaction
        that marks the next key inflight (or alone when the queue runs dry): half the commits, and still one
        uncertain key per worker."""
        connection = Connection(self.endpoint, self.tls)
        done: tuple[_Chunk, int, str] | None = None
        try:
            while True:
                if done is not None and queue.empty():
                    await self._save(done, ())
                    done = None
                chunk = await queue.get()
                if chunk is None:
                    break
                for index, key in enumerate(chunk.keys):
                    if self.stop.is_set():
                        self.stats.unsent += 1
                        self._finish(chunk, index, FAILED)
                        continue
                    saved = await self._save(done, (key,))
                    done = None
                    if not saved:  # the ledger cannot be written: sending on would forfeit exactly-once
                        self.stats.unsent += 1
                        self._finish(chunk, index, FAILED)
                        continue
                    done = (chunk, index, await self._deliver(connection, chunk, index))
            if done is not None:
                await self._save(done, ())
        finally:
            connection.close()

    async def _save(self, done: tuple[_Chunk, int, str] | None, inflight: tuple[str, ...]) -> bool:
        """Commit an answer and/or new inflight marks; a failure stops the run (the answered key stays uncertain)."""
        answers = () if done is None else ((done[0].keys[done[1]], done[2]),)
        try:
            await self.commit.record(inflight=inflight, answers=answers)
            saved = True
        except Exception as exc:
            self._fail(exc)
            saved = False
        if done is not None:
            self._finish(*done)
        return saved

    def _fail(self, exc: Exception) -> None:
        if self.fatal is None:
            self.fatal = f"cannot write the ledger {getattr(self.ledger, 'path', '')}: {exc}"
        self.stop.set()

    def _finish(self, chunk: _Chunk, index: int, outcome: str) -> None:
        self.active.discard(chunk.keys[index])
        ticket = chunk.ticket
        ticket.remaining -= 1
        if outcome == FAILED:
            ticket.blocked = True
        if ticket.remaining <= 0:
            self._advance(ticket.file_id)

    def _advance(self, file_id: str | None) -> None:
        """Move the file's watermark past every leading batch whose events are all answered."""
        queue = self.tickets.get(file_id)
        while queue and queue[0].remaining <= 0 and not queue[0].blocked:
            done = queue.popleft()
            if file_id is not None:
                self.commit.mark(file_id, done.end_offset, done.next_line)

    async def _deliver(self, connection: Connection, chunk: _Chunk, index: int) -> str:
        """Send one event until a final answer, the retry budget runs out, or the run stops."""
        request = chunk.requests[index]
        first = time.monotonic()
        attempt = 0
        self.stats.sent += 1
        while True:
            attempt += 1
            if self.bucket is not None or self.pause_until > first:
                await self._gate()
            answer = await self._post(connection, request)
            decision = decide(answer, attempt, time.monotonic() - first, self.options.retry, random.random())
            if decision.verdict is not Verdict.RETRY:
                return self._settle(chunk.places[index], decision)
            self.stats.retried += 1
            if answer.retry_after is not None:
                self.pause_until = max(self.pause_until, time.monotonic() + decision.delay)
            if await self._sleep(decision.delay):
                self.stats.undelivered["interrupted while waiting to retry"] += 1
                return FAILED

    async def _sleep(self, seconds: float) -> bool:
        """Wait, unless the run is stopping; True when it is."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            return False
        return True

    async def _gate(self) -> None:
        wait = self.pause_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.bucket is not None and (wait := self.bucket.reserve()) > 0:
            await asyncio.sleep(wait)

    async def _post(self, connection: Connection, request: bytes) -> Answer:
        try:
            response = await connection.post(request, self.options.timeout)
        except asyncio.TimeoutError:
            return Answer(error=f"no answer within {self.options.timeout:g}s")
        except (OSError, ConnectionClosed, ProtocolError) as exc:
            return Answer(error=f"connection error ({type(exc).__name__})")
        status, headers = response.status, response.headers
        body = "" if 200 <= status <= 299 else response.body[:65536].decode("utf-8", "replace")
        return Answer(status, body, headers.get("retry-after"), headers.get("x-plausible-dropped"))

    def _settle(self, place: str, decision: Decision) -> str:
        """Count a final decision and turn it into the outcome the ledger keeps."""
        if self.guard.observe(decision) and self.fatal is None:
            self.fatal = endpoint_message(self.options.endpoint, self.guard)
            self.stop.set()
        if decision.verdict is Verdict.ACCEPTED:
            self.stats.accepted += 1
            return "accepted"
        if decision.verdict is Verdict.DROPPED:
            self.stats.dropped += 1
            return "dropped"
        if decision.verdict is Verdict.REJECTED and not decision.endpoint_suspect:
            self.stats.rejected[decision.reason] += 1
            self._log(f"{place}: rejected: {decision.reason}")
            return "rejected"
        self.stats.undelivered[decision.reason] += 1
        self._log(f"{place}: not delivered: {decision.reason}")
        return FAILED

    def _log(self, line: str) -> None:
        self.logged += 1
        if self.logged <= MAX_LOGGED:
            self.notice(line)
        elif self.logged == MAX_LOGGED + 1:
            self.notice("(more rejected or undelivered events are counted in the summary only)")
