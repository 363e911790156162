"""The run summary printed on stderr: every line accounted for, with reasons."""

from __future__ import annotations

import time
from typing import Any, TextIO

from importer.pipeline import ALL_DROP_REASONS, RunSummary
from parsers.stream import ParseReport, SourceReport

MAX_SHOWN_REJECTS = 5


def detection_line(report: SourceReport) -> str:
    """Say which format was chosen for a source, and how sure we are."""
    if report.confidence is None:
        return f"{report.name}: format {report.format}"
    line = f"{report.name}: detected format {report.format} ({report.confidence:.0%} of sampled lines parse)"
    exact = getattr(report, "exact_share", None)
    if exact is not None and exact < 0.5:
        line += (
            f"; most lines have more text after the last field of {report.format}. "
            "If that text matters, describe the format with --log-format or --apache-format"
        )
    return line


class FormatAnnouncer:
    """Says which format each file was read as, as the files come; past the first few, only when it changes.

    Why: a run over thousands of CloudFront deliveries or rotated logs would print a line per file.
    Files are announced in order, each once: a file still without a format (its reader has not
    started) waits, and one that never gets one (no line to read) is passed over.
    """

    LISTED = 20  # files always named one by one

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.next = 0
        self.previous = ""
        self.unlisted = 0

    def update(self, report: ParseReport) -> None:
        sources = report.sources
        last = len(sources) - 1
        while last >= self.next and not sources[last].format:
            last -= 1
        for index in range(self.next, last + 1):
            source = sources[index]
            if not source.format:
                continue
            if index < self.LISTED or source.format != self.previous:
                print(detection_line(source), file=self.out)
            else:
                self.unlisted += 1
            self.previous = source.format
        self.next = max(self.next, last + 1)

    def close(self) -> None:
        if self.unlisted:
            print(f"{self.unlisted:,} more files were read in the format of the file before them "
                  "(not listed one by one).", file=self.out)  # fmt: skip


class LiveLine:
    """A transient status line on a terminal while a long run goes (nothing when stderr is not a terminal).

    Why: a backfill of years of logs runs for hours; like `send`, `load` shows how far it is.
    Updates are throttled, so calling it for every batch costs nothing.
    """

    EVERY = 0.25  # seconds between redraws

    def __init__(self, files: int, enabled: bool) -> None:
        self.files = files
        self.started = time.monotonic()
        self.shown = 0.0
        self.live: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)  # fmt: skip
            self.task = self.live.add_task("starting", total=None)
            self.live.start()

    def update(self, summary: RunSummary) -> None:
        now = time.monotonic()
        if self.live is None or now - self.shown < self.EVERY:
            return
        self.shown = now
        self.live.update(self.task, description=load_status(summary, self.files, now - self.started))

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def load_status(summary: RunSummary, files: int, seconds: float) -> str:
    """`lines 1,200,000 (400,000/s) · file 12 of 100 · page views 300,000`."""
    rate = summary.lines / seconds if seconds > 0 else 0.0
    return (f"lines {summary.lines:,} ({rate:,.0f}/s) · file {len(summary.parse.sources):,} of {files:,}"
            f" · page views {summary.pageviews:,}")


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason} {count:,}" for reason, count in sorted(counts.items(), key=lambda kv: -kv[1]))


def print_parse_summary(report: ParseReport, seconds: float, out: TextIO, examples: list[str]) -> None:
    """Lines, parsed, rejected by reason and speed; then a few example rejects and truncations."""
    rejected = report.rejected
    total_rejected = sum(rejected.values())
    speed = report.lines / seconds if seconds > 0 else 0.0
    parts = [f"lines {report.lines:,}", f"parsed {report.parsed:,}", f"rejected {total_rejected:,}"]
    if total_rejected:
        parts[-1] += f" ({_reasons(dict(rejected))})"
    print(" · ".join(parts) + f" · {speed:,.0f} lines/s", file=out)
    if report.invalid_utf8:
        print(f"{report.invalid_utf8:,} lines had bytes that are not UTF-8; they were decoded leniently.", file=out)
    for line in examples[:MAX_SHOWN_REJECTS]:
        print(f"  rejected {line}", file=out)
    if total_rejected > len(examples[:MAX_SHOWN_REJECTS]):
        print("  (write every rejected line with --rejects PATH)", file=out)
    for source in report.truncated:
        print(
            f"{source.name}: the compressed data is cut short ({source.read.truncation_error}); "
            f"kept the {source.lines:,} lines before the damage.",
            file=out,
        )


def print_event_summary(summary: RunSummary, seconds: float, out: TextIO) -> None:
    """lines = pageviews + custom events + drops, each drop reason named."""
    custom = sum(summary.custom_events.values())
    dropped = sum(summary.drops.values())
    speed = summary.lines / seconds if seconds > 0 else 0.0
    print(
        f"lines {summary.lines:,} = pageviews {summary.pageviews:,} + custom events {custom:,}"
        f" + dropped {dropped:,} · {speed:,.0f} lines/s",
        file=out,
    )
    for name, count in sorted(summary.custom_events.items()):
        print(f"  custom event {name}: {count:,}", file=out)
    reasons = [(r, summary.drops.get(r, 0)) for r in ALL_DROP_REASONS if summary.drops.get(r, 0)]
    if reasons:
        print("  dropped: " + ", ".join(f"{r} {n:,}" for r, n in reasons), file=out)
    if summary.parse.rejected:
        print("  invalid lines: " + _reasons(dict(summary.parse.rejected)), file=out)
