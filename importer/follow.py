"""Follow log files like `tail -F` and turn each new run of complete lines into events.

Why its own reader: the batch reader treats a file's unfinished last line as
a line and reads to EOF once; a live log needs only *complete* lines, read as
they appear, across rotation. Files are tracked by inode while open and
identified by their first bytes in the ledger, so:
- rename rotation (access.log -> access.log.1, new access.log): the old file is
  read to its end (the server may still write to it until it reopens) and the
  new one from its first line;
- copytruncate: a file that shrinks, or whose first bytes change, is new content
  and starts again at offset 0 under a new id;
- a restart resumes each file at its ledger watermark, and the ledger filters
  the lines between the watermark and what was really sent.
Compressed files matching the inputs are read once, whole (they do not grow).
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import glob
import gzip
import hashlib
import lzma
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from importer.ledger import HEAD_BYTES, FilePosition, Ledger
from importer.pipeline import EventOptions, RunSummary, events_of_batch
from importer.sinks.send_model import Outgoing
from importer.useragents import AgentClassifier
from parsers.detect import DetectionError, detect
from parsers.reader import MAX_LINE_BYTES, Source, frame_chunk, open_source, sniff_compression
from parsers.stream import ParsedBatch, SourceReport, parse_source
from parsers.template import TemplateFormat

POLL_SECONDS = 0.25
RETIRE_AFTER = 5.0  # a rotated-away file idle this long is closed
READ_BYTES = 4 << 20
T = TypeVar("T")


def file_head(path: str, size: int = HEAD_BYTES) -> bytes:
    """The first `size` bytes of a file's content, decompressed; b"" when unreadable."""
    try:
        raw, kind = open_source(Source(path))
    except Exception:
        return b""
    with raw:
        try:
            if kind == "none":
                return raw.read(size)
            if kind == "gzip":
                return gzip.GzipFile(fileobj=raw).read(size)
            if kind == "bzip2":
                return bz2.BZ2File(raw).read(size)
            if kind == "xz":
                return lzma.LZMAFile(raw).read(size)
            import zstandard

            return zstandard.ZstdDecompressor().stream_reader(raw).read(size)
        except Exception:  # a damaged archive: the batch reader's own fingerprint is used instead
            return b""


def identify(ledger: Ledger, path: str) -> FilePosition | None:
    """The ledger's id and watermark for a file, or None when its head cannot be read."""
    head = file_head(path)
    return ledger.identify(head, path) if head else None


def unfinished_tail(path: str, end_offset: int) -> int | None:
    """Where a plain file's unfinished last line starts, when the content read so far ends without a newline.

    Why: `send` run by cron on a live log must not send (and pass the watermark over) a line caught mid-write.
    """
    try:
        with open(path, "rb") as handle:
            if end_offset <= 0 or sniff_compression(handle.read(6)) != "none":
                return None
            start = max(0, end_offset - MAX_LINE_BYTES - 1)
            handle.seek(start)
            block = handle.read(end_offset - start)
    except OSError:
        return None
    if block.endswith(b"\n"):
        return None
    cut = block.rfind(b"\n")
    if cut < 0:
        return 0 if start == 0 else None
    return start + cut + 1


@dataclass
class _Tracked:
    """One open plain file and how far it has been read."""

    path: str
    handle: BinaryIO
    inode: tuple[int, int]
    report: SourceReport
    file_id: str | None = None
    head_len: int = 0
    head_sha: str = ""
    offset: int = 0
    line: int = 1
    size: int = 0
    fmt: TemplateFormat | None = None
    grown_at: float = field(default_factory=time.monotonic)
    rotated: bool = False


class Follower:
    """Polls its inputs and yields events of newly completed lines until `stop` is set."""

    def __init__(self, specs: list[str], fixed: TemplateFormat | None, options: EventOptions, ledger: Ledger,
                 summary: RunSummary, stop: threading.Event, from_start: bool = False,
                 poll: float = POLL_SECONDS) -> None:
        self.specs = specs
        self.fixed = fixed
        self.options = options
        self.ledger = ledger
        self.summary = summary
        self.stop = stop
        self.from_start = from_start
        self.poll = poll
        self.agents = AgentClassifier()
        self.files: dict[tuple[int, int], _Tracked] = {}
        self.static: set[tuple[int, int, int]] = set()  # compressed files already read: (dev, inode, size)
        self.last_fmt: TemplateFormat | None = fixed

    def batches(self) -> Iterator[Outgoing]:
        try:
            while not self.stop.is_set():
                produced = False
                for batch in self._scan():
                    produced = True
                    yield batch
                for tracked in list(self.files.values()):
                    for batch in self._read(tracked):
                        produced = True
                        yield batch
                self._retire()
                if not produced:
                    self.stop.wait(self.poll)
        finally:
            for tracked in self.files.values():
                tracked.handle.close()

    def _paths(self) -> list[str]:
        found: list[str] = []
        for spec in self.specs:
            if os.path.isdir(spec):
                found.extend(os.path.join(spec, n) for n in sorted(os.listdir(spec)) if not n.startswith("."))
            elif glob.has_magic(spec):
                found.extend(sorted(glob.glob(spec)))
            else:
                found.append(spec)
        return [p for p in dict.fromkeys(found) if os.path.isfile(p)]

    def _scan(self) -> Iterator[Outgoing]:
        """Start tracking files that appeared; notice files whose path now names another file."""
        seen: set[tuple[int, int]] = set()
        for path in self._paths():
            try:
                stat = os.stat(path)
                if (stat.st_dev, stat.st_ino) in self.files:
                    seen.add((stat.st_dev, stat.st_ino))
                    self.files[(stat.st_dev, stat.st_ino)].path = path
                    continue
                handle = open(path, "rb")  # noqa: SIM115 - kept open while tracked
            except OSError:
                continue
            stat = os.fstat(handle.fileno())
            inode = (stat.st_dev, stat.st_ino)
            seen.add(inode)
            if inode in self.files:
                handle.close()
                continue
            if sniff_compression(os.pread(handle.fileno(), 6, 0)) != "none":
                handle.close()
                yield from self._read_static(path, (*inode, stat.st_size))
                continue
            report = SourceReport(path)
            self.summary.parse.sources.append(report)
            self.files[inode] = _Tracked(path, handle, inode, report)
        for inode, tracked in self.files.items():
            tracked.rotated = inode not in seen

    def _read_static(self, path: str, key: tuple[int, int, int]) -> Iterator[Outgoing]:
        """A compressed file: read once from its watermark, whole."""
        if key in self.static:
            return
        self.static.add(key)
        position = identify(self.ledger, path)
        report = SourceReport(path)
        self.summary.parse.sources.append(report)
        offset, line = (0, 1) if position is None or self.from_start else (position.offset, position.line)
        for batch in parse_source(Source(path), self.fixed, report, start_offset=offset, start_line=line):
            events, counts = events_of_batch(batch, self.options, self.agents)
            self.summary.add(counts)
            yield Outgoing(events, position.file_id if position else None, batch.end_offset, batch.end_line + 1)

    def _retire(self) -> None:
        """Close rotated-away files that stopped growing: their writer has moved to the new file."""
        now = time.monotonic()
        for inode, tracked in list(self.files.items()):
            if tracked.rotated and now - tracked.grown_at > RETIRE_AFTER:
                tracked.handle.close()
                del self.files[inode]

    def _read(self, tracked: _Tracked) -> Iterator[Outgoing]:
        """Events of the complete lines written since the last poll."""
        size = os.fstat(tracked.handle.fileno()).st_size
        if size != tracked.size and tracked.file_id is not None and not self._same_content(tracked, size):
            self._restart(tracked)
        if size == tracked.size and tracked.file_id is not None:
            return
        tracked.size = size
        tracked.grown_at = time.monotonic()
        if tracked.file_id is None and not self._identify(tracked):
            return
        while tracked.offset < size and not self.stop.is_set():
            data = os.pread(tracked.handle.fileno(), min(READ_BYTES, size - tracked.offset), tracked.offset)
            cut = data.rfind(b"\n")
            if cut < 0 and len(data) < READ_BYTES:
                return  # an unfinished line: wait for its newline
            whole = data if cut < 0 else data[: cut + 1]
            yield self._events(tracked, whole)

    def _same_content(self, tracked: _Tracked, size: int) -> bool:
        """False after copytruncate: the file shrank below what was read, or its first bytes changed."""
        if size < tracked.offset or size < tracked.head_len:
            return False
        head = os.pread(tracked.handle.fileno(), tracked.head_len, 0)
        return hashlib.sha256(head).hexdigest() == tracked.head_sha

    def _restart(self, tracked: _Tracked) -> None:
        tracked.file_id, tracked.head_len, tracked.head_sha = None, 0, ""
        tracked.offset, tracked.line, tracked.size = 0, 1, 0

    def _identify(self, tracked: _Tracked) -> bool:
        """Give a file its id once it holds a complete first line (or 4 KiB), and resume at its watermark."""
        head = os.pread(tracked.handle.fileno(), HEAD_BYTES, 0)
        if b"\n" not in head and len(head) < HEAD_BYTES:
            return False
        position = self.ledger.identify(head, tracked.path)
        tracked.file_id = position.file_id
        tracked.head_len = len(head)
        tracked.head_sha = hashlib.sha256(head).hexdigest()
        if not self.from_start:
            tracked.offset, tracked.line = position.offset, position.line
        return True

    def _events(self, tracked: _Tracked, whole: bytes) -> Outgoing:
        source = Source(tracked.path)
        lines = frame_chunk(whole, tracked.line, tracked.offset, source)
        fmt = tracked.fmt or self._format(lines.lines.get_column("text"), tracked.path)
        tracked.fmt = fmt
        rows, rejects = fmt.parse(lines.lines, source.name)
        tracked.offset += len(whole)
        tracked.line += lines.lines.height
        report = tracked.report
        report.format = fmt.name
        report.lines += lines.lines.height
        report.parsed += rows.height
        if rejects.height:
            for reason, count in rejects.get_column("reason").value_counts().iter_rows():
                report.rejected[reason] += count
        assert tracked.file_id is not None
        parsed = ParsedBatch(source, rows, rejects, tracked.offset, tracked.line - 1, tracked.file_id)
        events, counts = events_of_batch(parsed, self.options, self.agents)
        self.summary.add(counts)
        return Outgoing(events, tracked.file_id, tracked.offset, tracked.line)

    def _format(self, texts: object, path: str) -> TemplateFormat:
        try:
            fmt = detect(texts, path).format  # type: ignore[arg-type]
        except DetectionError:
            if self.last_fmt is None:
                raise
            return self.last_fmt
        self.last_fmt = fmt
        return fmt


async def iterate_in_thread(items: Iterator[T], stop: threading.Event) -> AsyncIterator[T]:
    """Run a blocking producer (parsing, tailing) in a thread, one item ahead of the event loop.

    Why ahead: the next batch is parsed and classified while this one is being sent.
    """
    end = object()
    pending: asyncio.Future[object] | None = asyncio.ensure_future(asyncio.to_thread(next, items, end))
    try:
        while pending is not None:
            item = await pending
            pending = None
            if item is end:
                return
            pending = asyncio.ensure_future(asyncio.to_thread(next, items, end))
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        if pending is not None:  # a follower sees `stop` and returns; a file producer ends its batch first
            with contextlib.suppress(Exception):
                await asyncio.shield(pending)
        close = getattr(items, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
