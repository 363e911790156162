"""Streaming writers for canonical rows: table, NDJSON, CSV and Parquet.

Each writer takes batches one at a time so `parse` runs in bounded memory,
and writes to a temporary file renamed into place at the end, so an
interrupted run never leaves a half-written output behind.
"""

from __future__ import annotations

import io
import os
import queue
import sys
import threading
from collections.abc import Iterator
from typing import BinaryIO, Protocol

import polars as pl
from polars.io.plugins import register_io_source

ISO_UTC = "%Y-%m-%dT%H:%M:%S%.f+00:00"


def iso_timestamps(frame: pl.DataFrame) -> pl.DataFrame:
    """Render every UTC datetime column as ISO-8601 with an explicit +00:00."""
    return frame.with_columns(
        pl.col(name).dt.strftime(ISO_UTC) for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)
    )


class RowWriter(Protocol):
    """What `parse` needs of an output."""

    def write(self, frame: pl.DataFrame) -> None: ...

    def close(self) -> None: ...


class _Target:
    """An output path written atomically, or standard output."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        if path and path != "-":
            self.tmp = f"{path}.part-{os.getpid()}"
            self.handle: BinaryIO = open(self.tmp, "wb")  # noqa: SIM115 - closed in finish()
        else:
            self.tmp = ""
            self.handle = sys.stdout.buffer

    def finish(self) -> None:
        self.handle.flush()
        if self.tmp:
            self.handle.close()
            os.replace(self.tmp, self.path)  # type: ignore[arg-type]

    def abort(self) -> None:
        if self.tmp:
            self.handle.close()
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


class NdjsonWriter:
    """One JSON object per line, exactly the frame's columns."""

    def __init__(self, path: str | None) -> None:
        self.target = _Target(path)

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height:
            buffer = io.BytesIO()
            iso_timestamps(frame).write_ndjson(buffer)
            self.target.handle.write(buffer.getvalue())

    def close(self) -> None:
        self.target.finish()


class CsvWriter:
    """CSV with one header row."""

    def __init__(self, path: str | None) -> None:
        self.target = _Target(path)
        self.header = True

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height or self.header:
            buffer = io.BytesIO()
            iso_timestamps(frame).write_csv(buffer, include_header=self.header)
            self.target.handle.write(buffer.getvalue())
            self.header = False

    def close(self) -> None:
        self.target.finish()


class ParquetWriter:
    """Parquet through polars' streaming sink, fed from a bounded queue by a writer thread.

    polars writes Parquet about 4x faster than pyarrow's ParquetWriter, and the
    thread lets encoding overlap with parsing the next batch.
    """

    _DONE = None

    def __init__(self, path: str | None, schema: dict[str, pl.DataType]) -> None:
        if not path or path == "-":
            raise ValueError("parquet output needs a file: add -o PATH")
        self.path = path
        self.tmp = f"{path}.part-{os.getpid()}"
        self.queue: queue.Queue[pl.DataFrame | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        source = register_io_source(self._frames, schema=schema)
        self.thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self.thread.start()

    def _frames(self, *_: object) -> Iterator[pl.DataFrame]:
        while (frame := self.queue.get()) is not self._DONE:
            yield frame

    def _run(self, source: pl.LazyFrame) -> None:
        try:
            source.sink_parquet(self.tmp, compression="zstd", compression_level=1)
        except BaseException as exc:  # surfaced to the caller in close()
            self.error = exc

    def write(self, frame: pl.DataFrame) -> None:
        if frame.height and self.thread.is_alive():
            self.queue.put(frame)

    def close(self) -> None:
        self.queue.put(self._DONE)
        self.thread.join()
        if self.error is not None:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
            raise self.error
        os.replace(self.tmp, self.path)


class TableWriter:
    """A readable terminal table of the first rows (a preview, not an export)."""

    COLUMNS = ("ts", "client_ip", "method", "host", "path", "status", "bytes", "user_agent")

    def __init__(self, path: str | None, max_rows: int) -> None:
        self.path = path
        self.max_rows = max_rows
        self.rows: list[pl.DataFrame] = []
        self.kept = 0

    def write(self, frame: pl.DataFrame) -> None:
        if self.kept < self.max_rows and frame.height:
            part = frame.head(self.max_rows - self.kept)
            self.rows.append(part)
            self.kept += part.height

    def close(self) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for name in self.COLUMNS:
            table.add_column(name, overflow="fold")
        if self.rows:
            frame = iso_timestamps(pl.concat(self.rows))
            for row in frame.select(self.COLUMNS).iter_rows():
                table.add_row(*("" if v is None else str(v) for v in row))
        if self.path and self.path != "-":
            with open(self.path, "w", encoding="utf-8") as handle:
                Console(file=handle, width=160).print(table)
        else:
            Console(width=None).print(table)


def open_writer(kind: str, path: str | None, schema: dict[str, pl.DataType], preview_rows: int) -> RowWriter:
    """Build the writer for an --output name."""
    if kind == "ndjson":
        return NdjsonWriter(path)
    if kind == "csv":
        return CsvWriter(path)
    if kind == "parquet":
        return ParquetWriter(path, schema)
    return TableWriter(path, preview_rows)


class LineWriter:
    """Text lines (already JSON) streamed to a file or stdout."""

    def __init__(self, path: str | None) -> None:
        self.target = _Target(path)

    def write_lines(self, lines: pl.Series) -> None:
        if len(lines):
            self.target.handle.write(("\n".join(lines.to_list()) + "\n").encode())

    def close(self) -> None:
        self.target.finish()

    def abort(self) -> None:
        self.target.abort()


def write_json_atomically(path: str, value: object) -> None:
    """A small JSON document, renamed into place so readers never see half of it."""
    import json

    tmp = f"{path}.part-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2, sort_keys=False)
        handle.write("\n")
    os.replace(tmp, path)
