"""Lines as the compiled tokenizer reads them: one byte buffer and each line's start and end.

Two sources give them: a batch's raw bytes as read from the stream (no framing by polars
at all, no copy), or an already framed text column. Both also hand back, for a few
chosen lines, the (text, line, offset) frame the regex engine and the rejects need.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from parsers.compiled import text_buffers
from parsers.reader import Batch, RawChunk

# Above this share of lines needing the regex engine, frame the whole batch rather than decode line by line.
_DECODE_SHARE = 0.05


class FramedLines:
    """An already framed batch (text, line, offset)."""

    def __init__(self, lines: pl.DataFrame) -> None:
        self.lines = lines
        self.data, offsets, self.valid = text_buffers(lines.get_column("text"))
        self.starts, self.ends = offsets[:-1], offsets[1:]

    def positions(self, rows: np.ndarray) -> pl.DataFrame:
        """Line number and offset of the given lines."""
        positions = self.lines.select("line", "offset")
        return positions if len(rows) == self.lines.height else positions[rows]

    def frame(self, rows: np.ndarray) -> pl.DataFrame:
        """The given lines as (text, line, offset)."""
        return self.lines[rows]


class RawLines:
    """A batch's lines read straight from its bytes (UTF-8 without CR, checked by the reader)."""

    def __init__(self, batch: Batch, raw: RawChunk, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        self.batch, self.raw = batch, raw
        self.data, self.starts, self.ends = data, starts, ends
        self.valid = ends > starts  # an empty line is a null text, as in a framed batch

    def positions(self, rows: np.ndarray) -> pl.DataFrame:
        raw = self.raw
        return pl.DataFrame({
            "line": pl.Series(rows.astype(np.uint64) + np.uint64(raw.first_line), dtype=pl.UInt64),
            "offset": pl.Series(self.starts[rows].astype(np.uint64) + np.uint64(raw.base_offset), dtype=pl.UInt64),
        })

    def frame(self, rows: np.ndarray) -> pl.DataFrame:
        if len(rows) > _DECODE_SHARE * len(self.starts):
            return self.batch.lines[rows]
        chunk = self.raw.chunk
        bounds = zip(self.starts[rows].tolist(), self.ends[rows].tolist(), strict=True)
        texts = [chunk[start:end].decode() if end > start else None for start, end in bounds]
        return pl.concat([pl.DataFrame({"text": texts}, schema={"text": pl.String}), self.positions(rows)],
                         how="horizontal")


LineView = FramedLines | RawLines


def view_of(batch: Batch) -> LineView:
    """The batch's raw bytes when they are clean UTF-8 without CR, else its framed lines."""
    clean = batch.raw.clean_bytes() if batch.raw is not None else None
    if clean is None or batch.raw is None:
        return FramedLines(batch.lines)
    return RawLines(batch, batch.raw, *clean)
