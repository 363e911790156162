"""Input framing: turn paths, globs, directories and stdin into batches of lines.

Reading is kept apart from formats: this module knows about streams, rotation
order, line numbers and byte offsets, nothing about log syntax. It cuts streams
(decompressed by parsers/inflate.py) into chunks of whole lines; a batch frames
its lines (parsers/framing.py) only when a parser asks for them.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import polars as pl

from parsers.framing import frame_lines, is_invalid_utf8, line_breaks
from parsers.inflate import READ_BLOCK, inflate
from parsers.inputs import InputError, Source
from parsers.inputs import expand_inputs as expand_inputs  # re-exported: callers read inputs through here
from parsers.prefetch import prefetch

MAX_LINE_BYTES = 64 * 1024
DEFAULT_BATCH_BYTES = 16 * 1024 * 1024  # ~65k combined lines: bounded memory with two batches parsing at once
FINGERPRINT_BYTES = 4096

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class Batch:
    """A run of consecutive lines of one source.

    `lines` has columns text (str, null for an empty line), line (1-based) and
    offset (byte offset of the line in the decompressed stream). A batch read from
    a stream keeps its raw bytes and frames `lines` only when first asked, in the
    thread that parses it; the compiled tokenizer reads the raw bytes instead.
    """

    def __init__(self, source: Source, lines: pl.DataFrame | None, end_offset: int, invalid_utf8: int = 0,
                 raw: RawChunk | None = None) -> None:
        self.source = source
        self.end_offset = end_offset
        self.raw = raw
        self._lines = lines
        self._invalid_utf8 = invalid_utf8
        self.count = lines.height if lines is not None else raw.count if raw is not None else 0
        self.first_line = int(lines.get_column("line")[0]) if lines is not None and lines.height else (
            raw.first_line if raw is not None else 0)

    @property
    def lines(self) -> pl.DataFrame:
        if self._lines is None:
            assert self.raw is not None
            self._lines, self._invalid_utf8 = frame_lines(self.raw.chunk, self.raw.first_line, self.raw.base_offset)
            assert self._lines.height == self.count, "framing and the newline count disagree"
        return self._lines

    def head_texts(self, count: int) -> pl.Series:
        """The text of the first `count` lines (what detection samples), framing only those when not framed yet."""
        if self._lines is not None or self.raw is None or self.raw.count <= count:
            return self.lines.get_column("text").head(count)
        # Decoded here rather than by frame_lines (a polars CSV read, ~30 ms per file beside busy parse
        # threads): a run of many small files detects each one. Same texts as framing's careful path.
        head = self.raw.chunk[: int(self.raw.newlines[count - 1])].decode("utf-8", "replace")
        return pl.Series("text", [line.removesuffix("\r") or None for line in head.split("\n")], dtype=pl.String)

    @property
    def invalid_utf8(self) -> int:
        """Lines with bytes that are not UTF-8 (0 for a batch parsed from raw bytes: those are checked clean)."""
        return self._invalid_utf8

    @property
    def last_line(self) -> int:
        return self.first_line + self.count - 1


@dataclass(frozen=True)
class RawChunk:
    """Whole lines as read: the bytes, the first line's number and the stream offset of its first byte."""

    chunk: bytes
    first_line: int
    base_offset: int
    count: int
    newlines: np.ndarray  # the position of every newline byte
    carriage_return: bool  # some byte is a CR
    non_ascii: bool  # some byte is >= 0x80

    def clean_bytes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The bytes and each line's start and end (newline excluded), when every line is UTF-8 without CR.

        None otherwise: such chunks are framed the careful way (see _frame_lossy).
        """
        chunk = self.chunk
        if self.carriage_return or (self.non_ascii and is_invalid_utf8(chunk)):
            return None
        newlines = self.newlines
        ends = np.empty(self.count, dtype=np.int64)
        ends[: len(newlines)] = newlines[: self.count]
        if len(newlines) < self.count:  # the last line of a stream without a final newline
            ends[-1] = len(chunk)
        return np.frombuffer(chunk, dtype=np.uint8), self.line_starts(), ends

    def line_starts(self) -> np.ndarray:
        """The offset of each line's first byte in the chunk."""
        starts = np.empty(self.count, dtype=np.int64)
        starts[0] = 0
        starts[1:] = self.newlines[: self.count - 1] + 1
        return starts


@dataclass
class ReadStats:
    """What framing noticed on one source, for the run summary."""

    compression: str = "none"
    truncated: bool = False
    truncation_error: str = ""
    fingerprint: str = ""
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)


def _raw_stream(source: Source) -> BinaryIO:
    if source.is_stdin:
        return sys.stdin.buffer
    if source.remote is not None:  # an S3 object: a network stream, decompressed and framed like a file
        return source.remote.open()
    try:
        return open(source.name, "rb")
    except OSError as exc:
        raise InputError(f"cannot open '{source.name}': {exc.strerror}.") from exc


def sniff_compression(head: bytes) -> str:
    """Name the compression from magic bytes, never from the file name."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


class _PeekableRaw(io.RawIOBase):
    """Lets us read magic bytes from stdin and still hand the whole stream on."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_source(source: Source) -> tuple[BinaryIO, str]:
    """Open a source as a raw byte stream positioned at its start; return it and its compression."""
    raw = _raw_stream(source)
    head = raw.read(6)
    kind = sniff_compression(head)
    if raw.seekable():
        raw.seek(0)
        return raw, kind
    return io.BufferedReader(_PeekableRaw(head, raw), buffer_size=READ_BLOCK), kind  # type: ignore[arg-type]


def _blocks(raw: BinaryIO, kind: str, stats: ReadStats) -> Iterator[bytes]:
    if kind == "none":
        while block := raw.read(READ_BLOCK * 8):
            yield block
        return
    yield from inflate(raw, kind, stats)


def _read_chunks(raw: BinaryIO, kind: str, size: int, stats: ReadStats) -> Iterator[bytes]:
    """Group decompressed blocks into chunks of about `size` bytes, ending after a newline when one is at hand.

    Cutting in the copy that joins the blocks spares `_batches` a second copy of every chunk
    (a chunk that already ends with a newline is used as it is).
    """
    parts: list[bytes | memoryview] = []
    held = 0
    for block in _blocks(raw, kind, stats):
        parts.append(block)
        held += len(block)
        if held >= size:
            cut = block.rfind(b"\n")
            if 0 <= cut < len(block) - 1:
                parts[-1] = memoryview(block)[: cut + 1]
                yield b"".join(parts)
                parts, held = [block[cut + 1 :]], len(block) - cut - 1
            else:
                yield b"".join(parts)
                parts, held = [], 0
    if parts:
        yield b"".join(parts)


def frame_chunk(chunk: bytes, first_line: int, base_offset: int, source: Source) -> Batch:
    """A Batch of one chunk of whole lines; its lines are framed when first used."""
    newlines, carriage_return, non_ascii = line_breaks(chunk)
    count = len(newlines) + (0 if chunk.endswith(b"\n") else 1)
    raw = RawChunk(chunk, first_line, base_offset, count, newlines, carriage_return, non_ascii)
    return Batch(source, None, base_offset + len(chunk), raw=raw)


def _oversized_line(source: Source, line_no: int, offset: int, head: bytes) -> Batch:
    """A line longer than the framing buffer: keep its start as text, it is rejected by length."""
    text = head[: MAX_LINE_BYTES + 1].decode("utf-8", "replace")
    frame = pl.DataFrame(
        {"text": [text], "line": [line_no], "offset": [offset]},
        schema={"text": pl.String, "line": pl.UInt64, "offset": pl.UInt64},
    )
    return Batch(source, frame, offset, 0)


def iter_batches(
    source: Source,
    stats: ReadStats,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    start_offset: int = 0,
    start_line: int = 1,
    frame_ahead: Callable[[], bool] | None = None,
    ahead: bool = True,
) -> Iterator[Batch]:
    """Stream a source as batches of whole lines, in bounded memory.

    start_offset/start_line let a caller resume a file at a committed offset
    (the bytes before it are read and discarded, since compressed streams
    cannot seek). Batches are framed in the reading thread while `frame_ahead()`
    says the parser will want their lines; otherwise they keep their raw bytes.
    With `ahead`, a thread reads one batch ahead (callers with their own reading thread pass False).
    """
    stream, stats.compression = open_source(source)
    try:
        chunks = _read_chunks(stream, stats.compression, batch_bytes, stats)
        batches = _batches(chunks, source, stats, batch_bytes, start_offset, start_line)
        framed = _framed_ahead(batches, frame_ahead)
        yield from prefetch(framed) if ahead else framed
    finally:
        if not source.is_stdin:
            stream.close()


def _framed_ahead(batches: Iterator[Batch], frame_ahead: Callable[[], bool] | None) -> Iterator[Batch]:
    for batch in batches:
        if frame_ahead is None or frame_ahead():
            batch.lines  # noqa: B018 - frames it here, off the parsing threads' critical path
        yield batch


def _batches(
    chunks: Iterator[bytes], source: Source, stats: ReadStats, batch_bytes: int, start_offset: int, line_no: int
) -> Iterator[Batch]:
    pending = b""
    offset = 0
    hasher = hashlib.sha256()
    fingerprinted = 0
    skip_over_long = False
    for block in chunks:
        stats.bytes_read += len(block)
        if fingerprinted < FINGERPRINT_BYTES:
            piece = block[: FINGERPRINT_BYTES - fingerprinted]
            hasher.update(piece)
            fingerprinted += len(piece)
            stats.fingerprint = hasher.hexdigest()
        if offset + len(pending) + len(block) <= start_offset:
            offset += len(block)
            continue
        if offset < start_offset:
            block = block[start_offset - offset :]
            offset = start_offset
        cut = block.rfind(b"\n")  # `pending` never holds a newline
        if cut < 0:
            data = pending + block
            if len(data) > max(batch_bytes, MAX_LINE_BYTES) * 2:
                if not skip_over_long:
                    yield _oversized_line(source, line_no, offset, data)
                    line_no += 1
                skip_over_long = True
                offset += len(data)
                pending = b""
            else:
                pending = data
            continue
        # One copy of the block's whole lines (slicing the joined bytes would copy them twice).
        whole = pending + memoryview(block)[: cut + 1] if pending else block[: cut + 1]
        pending = block[cut + 1 :]
        if skip_over_long:
            first_newline = whole.find(b"\n")
            offset += first_newline + 1
            whole = whole[first_newline + 1 :]
            skip_over_long = False
        if whole:
            batch = frame_chunk(whole, line_no, offset, source)
            line_no += batch.count
            offset = batch.end_offset
            yield batch
    if pending and not skip_over_long:
        batch = frame_chunk(pending, line_no, offset, source)
        yield batch


def fingerprint_prefix(source: Source, size: int = FINGERPRINT_BYTES) -> bytes:
    """The first `size` decompressed bytes of a file: what identifies it across renames and compression."""
    stats = ReadStats()
    stream, kind = open_source(source)
    try:
        held = b""
        for block in _blocks(stream, kind, stats):
            held += block
            if len(held) >= size:
                break
        return held[:size]
    finally:
        stream.close()


def compression_of(source: Source) -> str:
    """gzip, bzip2, xz, zstd or none, from the magic bytes (stdin: 'stream')."""
    if source.is_stdin:
        return "stream"
    with open(source.name, "rb") as handle:
        return sniff_compression(handle.read(6))
