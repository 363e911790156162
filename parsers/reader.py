"""Input framing: turn paths, globs, directories and stdin into batches of lines.

Framing is kept apart from formats: this module knows about compression,
rotation order, line numbers and byte offsets, nothing about log syntax.
Batches are framed by polars' CSV reader with a separator byte that does not
occur in the chunk, so splitting lines is vectorised, not a Python loop.
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import hashlib
import io
import lzma
import os
import queue
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np
import polars as pl

MAX_LINE_BYTES = 64 * 1024
DEFAULT_BATCH_BYTES = 32 * 1024 * 1024
FINGERPRINT_BYTES = 4096
_READ_BLOCK = 1 << 20

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class InputError(Exception):
    """An input that cannot be opened at all (missing file, unreadable path)."""


@dataclass(frozen=True)
class Source:
    """One input stream: a file path, or '-' for standard input."""

    name: str

    @property
    def is_stdin(self) -> bool:
        return self.name == "-"


@dataclass
class Batch:
    """A run of consecutive lines of one source.

    `lines` has columns text (str, null for an empty line), line (1-based) and
    offset (byte offset of the line in the decompressed stream).
    """

    source: Source
    lines: pl.DataFrame
    end_offset: int
    invalid_utf8: int = 0


@dataclass
class ReadStats:
    """What framing noticed on one source, for the run summary."""

    compression: str = "none"
    truncated: bool = False
    truncation_error: str = ""
    fingerprint: str = ""
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)


_ROTATION = re.compile(r"^(?P<base>.*?)(?:[.-](?P<num>\d{1,4}|\d{8}|\d{10}))?(?P<ext>\.(?:gz|bz2|xz|zst))?$")


def _rotation_key(path: str) -> tuple[str, int, str]:
    """Sort key putting a rotated set oldest first: x.3.gz, x.2.gz, x.1, x.

    Small numbers are logrotate's counters (bigger is older); 8 or 10 digit
    suffixes are dates (bigger is newer); the live file comes last.
    """
    match = _ROTATION.match(os.path.basename(path))
    assert match is not None
    base, num = match["base"], match["num"]
    directory = os.path.dirname(path)
    if num is None:
        return (os.path.join(directory, base), 1 << 62, path)
    value = int(num)
    if len(num) <= 4:
        return (os.path.join(directory, base), -value, path)
    return (os.path.join(directory, base), value - (1 << 61), path)


def expand_inputs(specs: list[str]) -> list[Source]:
    """Expand paths, globs and directories into sources, rotated sets oldest first."""
    sources: list[Source] = []
    for spec in specs:
        if spec == "-":
            sources.append(Source("-"))
            continue
        if os.path.isdir(spec):
            found = [os.path.join(spec, n) for n in os.listdir(spec)]
            found = [p for p in found if os.path.isfile(p) and not os.path.basename(p).startswith(".")]
        elif glob.has_magic(spec):
            found = [p for p in glob.glob(spec) if os.path.isfile(p)]
            if not found:
                raise InputError(f"no files match '{spec}'.")
        elif os.path.isfile(spec):
            found = [spec]
        elif os.path.exists(spec):
            raise InputError(f"'{spec}' is not a regular file or directory.")
        else:
            raise InputError(f"file '{spec}' does not exist.")
        sources.extend(Source(p) for p in sorted(found, key=_rotation_key))
    return sources


def _raw_stream(source: Source) -> BinaryIO:
    if source.is_stdin:
        return sys.stdin.buffer
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


def _decompressing(raw: BinaryIO, kind: str) -> BinaryIO:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]
    return raw


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
    """Open a source as a decompressed byte stream; return it and the compression name."""
    raw = _raw_stream(source)
    head = raw.read(6)
    kind = sniff_compression(head)
    if raw.seekable():
        raw.seek(0)
        return _decompressing(raw, kind), kind
    peeked = io.BufferedReader(_PeekableRaw(head, raw), buffer_size=_READ_BLOCK)
    return _decompressing(peeked, kind), kind  # type: ignore[arg-type]


_TRUNCATION_ERRORS: tuple[type[BaseException], ...] = (EOFError, gzip.BadGzipFile, lzma.LZMAError, OSError)


def _read_chunks(stream: BinaryIO, size: int, stats: ReadStats) -> Iterator[bytes]:
    """Yield decompressed blocks; a corrupt or truncated tail ends the stream and is recorded."""
    errors = _TRUNCATION_ERRORS
    try:
        import zstandard

        errors = (*errors, zstandard.ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a dependency
        pass
    while True:
        try:
            block = stream.read(size)
        except errors as exc:
            stats.truncated = True
            stats.truncation_error = str(exc) or exc.__class__.__name__
            return
        if not block:
            return
        yield block


def _pick_separator(chunk: bytes) -> str | None:
    for code in (1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31):
        if bytes((code,)) not in chunk:
            return chr(code)
    return None


def _frame_fast(chunk: bytes, separator: str) -> pl.Series | None:
    """Split a chunk into lines with the CSV reader; None when it is not plain UTF-8."""
    try:
        frame = pl.read_csv(
            chunk,
            separator=separator,
            quote_char=None,
            has_header=False,
            new_columns=["text"],
            schema_overrides={"text": pl.String},
        )
    except pl.exceptions.ComputeError:
        return None
    return frame.get_column("text")


def _line_starts(chunk: bytes) -> np.ndarray:
    newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
    starts = np.empty(len(newlines) + 1, dtype=np.uint64)
    starts[0] = 0
    starts[1:] = newlines + 1
    if len(chunk) and chunk[-1:] == b"\n":
        starts = starts[:-1]
    return starts


def _frame_lossy(chunk: bytes) -> tuple[pl.Series, np.ndarray, int]:
    """Slow path for chunks with invalid UTF-8, CR bytes or no free separator byte."""
    starts = _line_starts(chunk)
    pieces = chunk.split(b"\n")
    if chunk.endswith(b"\n"):
        pieces.pop()
    texts = pl.Series("text", pieces, dtype=pl.Binary)
    valid = texts.cast(pl.String, strict=False)
    bad = valid.is_null() & texts.is_not_null()
    invalid = int(bad.sum())
    if invalid:
        fixed = {i: pieces[i].decode("utf-8", "replace") for i in np.flatnonzero(bad.to_numpy())}
        valid = valid.scatter(list(fixed), list(fixed.values()))
    valid = valid.str.strip_suffix("\r")
    valid = pl.select(pl.when(valid.str.len_bytes() > 0).then(valid).alias("text")).to_series()
    return valid, starts, invalid


def frame_chunk(chunk: bytes, first_line: int, base_offset: int, source: Source) -> Batch:
    """Frame one chunk of whole lines into a Batch with line numbers and offsets."""
    separator = None if b"\r" in chunk else _pick_separator(chunk)
    texts = _frame_fast(chunk, separator) if separator else None
    invalid = 0
    if texts is not None:
        lengths = texts.str.len_bytes().fill_null(0).cast(pl.UInt64) + 1
        offsets = (lengths.cum_sum() - lengths) + base_offset
    else:
        texts, starts, invalid = _frame_lossy(chunk)
        offsets = pl.Series(starts + np.uint64(base_offset), dtype=pl.UInt64)
    count = len(texts)
    frame = pl.DataFrame(
        {
            "text": texts,
            "line": pl.int_range(first_line, first_line + count, dtype=pl.UInt64, eager=True),
            "offset": offsets,
        }
    )
    return Batch(source, frame, base_offset + len(chunk), invalid)


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
) -> Iterator[Batch]:
    """Stream a source as batches of whole lines, in bounded memory.

    start_offset/start_line let a caller resume a file at a committed offset
    (the bytes before it are read and discarded, since compressed streams
    cannot seek).
    """
    stream, stats.compression = open_source(source)
    try:
        yield from prefetch(_batches(stream, source, stats, batch_bytes, start_offset, start_line))
    finally:
        if not source.is_stdin:
            stream.close()


def prefetch(items: Iterator[Batch], depth: int = 1) -> Iterator[Batch]:
    """Run a producer one step ahead in a thread, so reading overlaps parsing.

    Decompression, file reads and polars' CSV framing release the GIL, so
    on two cores the next batch is framed while this one is parsed.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                slots.put(("item", item))
            slots.put(("end", None))
        except BaseException as exc:  # re-raised in the consumer
            slots.put(("error", exc))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.05)


def _batches(
    stream: BinaryIO, source: Source, stats: ReadStats, batch_bytes: int, start_offset: int, line_no: int
) -> Iterator[Batch]:
    pending = b""
    offset = 0
    hasher = hashlib.sha256()
    fingerprinted = 0
    skip_over_long = False
    for block in _read_chunks(stream, batch_bytes, stats):
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
        data = pending + block
        cut = data.rfind(b"\n")
        if cut < 0:
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
        whole, pending = data[: cut + 1], data[cut + 1 :]
        if skip_over_long:
            first_newline = whole.find(b"\n")
            offset += first_newline + 1
            whole = whole[first_newline + 1 :]
            skip_over_long = False
        if whole:
            batch = frame_chunk(whole, line_no, offset, source)
            line_no += batch.lines.height
            offset = batch.end_offset
            yield batch
    if pending and not skip_over_long:
        batch = frame_chunk(pending, line_no, offset, source)
        yield batch
