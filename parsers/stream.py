"""Parse whole inputs: framing + format (given or detected) -> canonical batches.

This is the parsers' public entry point. It yields one (rows, rejects) pair
per batch so callers stream in bounded memory, and it keeps the accounting
that proves no line was lost: lines == parsed + rejected, per source.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from parsers import apache, jsonpresets, nginx
from parsers.detect import SAMPLE_LINES, Detection, Detector
from parsers.prefetch import prefetch
from parsers.reader import DEFAULT_BATCH_BYTES, Batch, ReadStats, Source, iter_batches
from parsers.registry import lookup
from parsers.template import TemplateFormat


@dataclass(frozen=True)
class FormatChoice:
    """What the user asked for: a registry name, 'auto', or a format string."""

    name: str = "auto"
    log_format: str | None = None
    apache_format: str | None = None
    json_map: str | None = None

    def build(self) -> TemplateFormat | None:
        """The fixed format, or None when it must be detected per source."""
        if self.json_map:
            return jsonpresets.from_json_map(self.json_map)  # type: ignore[return-value]
        if self.log_format:
            return nginx.compile_log_format(self.log_format)
        if self.apache_format:
            return apache.compile_apache_format(self.apache_format)
        if self.name.lower() == "auto":
            return None
        return lookup(self.name).build()


@dataclass
class SourceReport:
    """Accounting for one source."""

    name: str
    format: str = ""
    confidence: float | None = None
    exact_share: float | None = None
    lines: int = 0
    parsed: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    invalid_utf8: int = 0
    read: ReadStats = field(default_factory=ReadStats)
    end_offset: int = 0


@dataclass
class ParseReport:
    """Accounting for a whole run."""

    sources: list[SourceReport] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(s.lines for s in self.sources)

    @property
    def parsed(self) -> int:
        return sum(s.parsed for s in self.sources)

    @property
    def rejected(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.sources:
            total.update(s.rejected)
        return total

    @property
    def invalid_utf8(self) -> int:
        return sum(s.invalid_utf8 for s in self.sources)

    @property
    def truncated(self) -> list[SourceReport]:
        return [s for s in self.sources if s.read.truncated]


@dataclass
class ParsedBatch:
    """Canonical rows and rejects of one batch, and where in its source the batch ended."""

    source: Source
    rows: pl.DataFrame
    rejects: pl.DataFrame
    end_offset: int
    end_line: int
    fingerprint: str


DETECTION_LINES = 4 * SAMPLE_LINES  # detection samples the first non-empty lines among these
PARSE_WORKERS = 2  # batches parsed at once: one polars query alone keeps only about one core busy


def parse_source(
    source: Source,
    fixed: TemplateFormat | None,
    report: SourceReport,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    start_offset: int = 0,
    start_line: int = 1,
    detector: Detector | None = None,
) -> Iterator[ParsedBatch]:
    """Parse one source batch by batch, in order, detecting its format from the first batch if needed.

    Up to PARSE_WORKERS batches are parsed at the same time in threads (polars and the
    kernel release the GIL), and results are yielded in file order. Pass one `detector`
    for all the sources of a run, so files like the previous one are detected quickly.
    """
    detector = detector or Detector()
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS, thread_name_prefix="parse") as pool:
        yield from _in_order(
            _submitted(source, fixed, report, pool, detector, batch_bytes, start_offset, start_line)
        )


@dataclass
class _Pending:
    """A batch handed to the parse pool, with what its result must be accounted to."""

    source: Source
    report: SourceReport
    batch: Batch
    parsed: Future[tuple[pl.DataFrame, pl.DataFrame]]
    start_line: int


class _Chosen:
    """The format of one source once known (until then nothing is framed ahead: detection frames its sample)."""

    def __init__(self, fixed: TemplateFormat | None) -> None:
        # Header-driven formats (W3C `#Fields`) keep per-source state: a fresh reader for each source.
        self.fmt = fixed.fresh() if fixed is not None and hasattr(fixed, "fresh") else fixed

    def frame_ahead(self) -> bool:
        """Frame lines in the reading thread for formats that need them; formats that read raw bytes, and
        detection (it frames only its sample), do not. A run of small files is mostly first batches."""
        fmt = self.fmt
        return fmt is not None and not (hasattr(fmt, "parse_batch") or hasattr(fmt, "bind_batch"))


def _submitted(
    source: Source, fixed: TemplateFormat | None, report: SourceReport, pool: ThreadPoolExecutor,
    detector: Detector, batch_bytes: int, start_offset: int = 0, start_line: int = 1,
    batches: Iterator[Batch] | None = None, chosen: _Chosen | None = None,
) -> Iterator[_Pending]:
    """Read a source's batches in order (or take them from `batches`) and submit each one's parse to the pool."""
    chosen = chosen or _Chosen(fixed)
    if fixed is not None:
        report.format = fixed.name
    if batches is None:
        batches = iter_batches(source, report.read, batch_bytes, start_offset, start_line, chosen.frame_ahead)
    for batch in batches:
        fmt = chosen.fmt
        if fmt is None:
            detection = detector.detect(batch.head_texts(DETECTION_LINES), source.name)
            fmt = chosen.fmt = detection.format
            report.format, report.confidence = fmt.name, detection.confidence
            report.exact_share = detection.scores[0].exact
        # `bind` reads a batch's headers in file order here, so its parse can run in parallel.
        if hasattr(fmt, "bind_batch"):
            parsed = pool.submit(fmt.bind_batch(batch), batch, source.name)
        elif hasattr(fmt, "bind"):
            parsed = pool.submit(fmt.bind(batch.lines), batch.lines, source.name)
        elif hasattr(fmt, "parse_batch"):  # reads the raw bytes, or frames the lines in the worker thread
            parsed = pool.submit(fmt.parse_batch, batch, source.name)
        else:
            parsed = pool.submit(_parse_lines, fmt, batch, source.name)
        yield _Pending(source, report, batch, parsed, start_line)


def _parse_lines(fmt: TemplateFormat, batch: Batch, file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return fmt.parse(batch.lines, file)


def _in_order(pending: Iterator[_Pending]) -> Iterator[ParsedBatch]:
    """Keep PARSE_WORKERS parses in flight and hand out their results in submission order."""
    window: deque[_Pending] = deque()
    try:
        for item in pending:
            window.append(item)
            if len(window) >= PARSE_WORKERS:
                yield _finished(window.popleft())
    except Exception:  # what was parsed before a reading error is still delivered (and accounted) first
        while window:
            yield _finished(window.popleft())
        raise
    while window:
        yield _finished(window.popleft())


def _finished(item: _Pending) -> ParsedBatch:
    rows, rejects = item.parsed.result()
    _account(item.report, item.batch, rows, rejects)
    batch = item.batch
    last_line = batch.last_line if batch.count else item.start_line - 1
    return ParsedBatch(item.source, rows, rejects, batch.end_offset, last_line, item.report.read.fingerprint)


def _account(report: SourceReport, batch: Batch, rows: pl.DataFrame, rejects: pl.DataFrame) -> None:
    report.lines += batch.count
    report.parsed += rows.height
    report.invalid_utf8 += batch.invalid_utf8
    report.end_offset = batch.end_offset
    if rejects.height:
        counts = rejects.get_column("reason").value_counts()
        for reason, count in counts.iter_rows():
            report.rejected[reason] += count
    assert report.parsed + sum(report.rejected.values()) == report.lines, "a line was lost in parsing"


def parse_all(
    sources: list[Source], choice: FormatChoice, report: ParseReport, batch_bytes: int = DEFAULT_BATCH_BYTES,
    starts: list[tuple[int, int]] | None = None,
) -> Iterator[ParsedBatch]:
    """Parse every source in order; the next source's first batches are parsed while the last ones finish.

    Many small files (CloudFront and S3 deliveries hold a few batches each) would otherwise
    leave a core idle at every file boundary. `starts` gives each source's (offset, line) to
    resume from; by default every source is read from its start.
    """
    fixed = choice.build()
    detector = Detector()
    starts = starts or [(0, 1)] * len(sources)
    plans = [(source, SourceReport(source.name), _Chosen(fixed)) for source in sources]
    reading = _ReadAhead(plans, batch_bytes, starts)

    def submissions(pool: ThreadPoolExecutor) -> Iterator[_Pending]:
        for index, (source, source_report, chosen) in enumerate(plans):
            report.sources.append(source_report)
            offset, line = starts[index]
            yield from _submitted(source, fixed, source_report, pool, detector, batch_bytes, offset, line,
                                  batches=reading.batches_of(index), chosen=chosen)

    with ThreadPoolExecutor(max_workers=PARSE_WORKERS, thread_name_prefix="parse") as pool:
        yield from _in_order(submissions(pool))


class _ReadAhead:
    """One reading thread for all the sources of a run, so the next file is opened, inflated and framed
    while the last batches of this one are parsed (a run of many small files otherwise stalls at each).
    """

    def __init__(self, plans: list[tuple[Source, SourceReport, _Chosen]], batch_bytes: int,
                 starts: list[tuple[int, int]]) -> None:
        self.stream = prefetch(self._read(plans, batch_bytes, starts))
        self.head: tuple[int, Batch] | None = None

    @staticmethod
    def _read(plans: list[tuple[Source, SourceReport, _Chosen]], batch_bytes: int,
              starts: list[tuple[int, int]]) -> Iterator[tuple[int, Batch]]:
        for index, ((source, source_report, chosen), (offset, line)) in enumerate(zip(plans, starts, strict=True)):
            for batch in iter_batches(source, source_report.read, batch_bytes, offset, line,
                                      frame_ahead=chosen.frame_ahead, ahead=False):
                yield index, batch

    def batches_of(self, index: int) -> Iterator[Batch]:
        """The batches of source `index`, in order; a reading error surfaces where that source's turn comes."""
        while True:
            if self.head is None:
                try:
                    self.head = next(self.stream)
                except StopIteration:
                    return
            owner, batch = self.head
            if owner != index:
                return
            self.head = None
            yield batch


__all__ = [
    "Detection", "FormatChoice", "ParseReport", "ParsedBatch", "SourceReport",
    "parse_all", "parse_source",
]
