"""files -> parsed batches -> client IP -> classification -> sites -> events.

Owns batching and the run summary: every input line ends as a page view, a
custom event or exactly one drop reason (`invalid` for lines the parser
rejected), and `lines == pageviews + custom events + sum(drops)` is checked
on every batch.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import polars as pl

from importer.classify import DROP_REASONS, ClassifyOptions, classify, drop_reason
from importer.clientip import ClientIpPolicy, with_client_ip
from importer.events import MAX_URL_BYTES, build_events, path_props, url_bytes, url_props
from importer.sites import SiteMap
from importer.useragents import AgentClassifier
from parsers.reader import Source
from parsers.stream import FormatChoice, ParsedBatch, ParseReport, SourceReport, parse_all

ALL_DROP_REASONS: tuple[str, ...] = ("invalid", *DROP_REASONS, "excluded_host")


@dataclass(frozen=True)
class EventOptions:
    """Everything that decides which lines become which events."""

    sites: SiteMap
    classify: ClassifyOptions = field(default_factory=ClassifyOptions)
    client_ip: ClientIpPolicy = field(default_factory=ClientIpPolicy)
    track_404: bool = False
    downloads: tuple[str, ...] = ()


@dataclass
class BatchCounts:
    """Where the lines of one batch went."""

    lines: int = 0
    pageviews: int = 0
    custom_events: Counter[str] = field(default_factory=Counter)
    drops: Counter[str] = field(default_factory=Counter)


@dataclass
class RunSummary(BatchCounts):
    """Where every line of a run went: the batches' counts added up, plus the parser's own report."""

    parse: ParseReport = field(default_factory=ParseReport)

    def add(self, other: BatchCounts) -> None:
        self.lines += other.lines
        self.pageviews += other.pageviews
        self.custom_events.update(other.custom_events)
        self.drops.update(other.drops)
        assert self.balanced(), "a line was lost between parsing and events"

    def balanced(self) -> bool:
        return self.lines == self.pageviews + sum(self.custom_events.values()) + sum(self.drops.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "pageviews": self.pageviews,
            "custom_events": dict(self.custom_events),
            "dropped": {reason: self.drops.get(reason, 0) for reason in ALL_DROP_REASONS},
            "parse_rejects": dict(self.parse.rejected),
            "invalid_utf8": self.parse.invalid_utf8,
            "files": [_file_summary(f) for f in self.parse.sources],
        }


def _file_summary(report: SourceReport) -> dict[str, object]:
    return {
        "file": report.name,
        "format": report.format,
        "lines": report.lines,
        "parsed": report.parsed,
        "truncated": report.read.truncated,
    }


@dataclass
class EventBatch:
    """The events of one parsed batch, and where its source stands after it."""

    source: Source
    events: pl.DataFrame
    end_offset: int
    end_line: int
    fingerprint: str
    counts: BatchCounts


def _custom_event_names(classified: pl.DataFrame, options: EventOptions) -> pl.Series:
    """'404' / 'File Download' for dropped rows that the opt-in custom events claim, else null."""
    if not (options.track_404 or options.downloads):
        return pl.Series("custom", [None] * classified.height, dtype=pl.String)
    widened = replace(
        options.classify,
        count_status=(*options.classify.count_status, "404") if options.track_404 else options.classify.count_status,
        asset_extensions=tuple(e for e in options.classify.asset_extensions if e not in options.downloads),
    )
    downloads = "|".join(options.downloads)
    name = (
        pl.when(drop_reason(classified, widened).is_not_null()).then(pl.lit(None, dtype=pl.String))
        .when(options.track_404 and (pl.col("status") == 404)).then(pl.lit("404"))
        .when(pl.lit(bool(downloads)) & pl.col("path").str.contains(rf"(?i)\.(?:{downloads or 'x^'})$")
              & (pl.col("drop_reason") == "asset")).then(pl.lit("File Download"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    return classified.select(pl.when(pl.col("drop_reason").is_in(["status", "asset"])).then(name)).to_series()


def events_of_batch(
    batch: ParsedBatch, options: EventOptions, agents: AgentClassifier
) -> tuple[pl.DataFrame, BatchCounts]:
    """Classify one parsed batch and build its events; count where every line went."""
    return events_of_rows(batch.rows, batch.rejects.height, event_key_prefix(batch.fingerprint), options, agents)


def event_key_prefix(fingerprint: str) -> str:
    """What an event key starts with: its file's fingerprint (shortened); the line's offset follows."""
    return fingerprint[:16] + ":"


def events_of_rows(
    parsed: pl.DataFrame, rejected: int, key_prefix: str | pl.Expr, options: EventOptions, agents: AgentClassifier
) -> tuple[pl.DataFrame, BatchCounts]:
    """Events of parsed rows (of one file, or of several with a per-row `key_prefix` and a `file_id` column kept)."""
    rows = with_client_ip(parsed, options.client_ip)
    classified = classify(rows, options.classify, agents)
    classified = classified.with_columns(_custom_event_names(classified, options).alias("custom"))
    classified = options.sites.apply(classified)
    too_long = url_bytes() > MAX_URL_BYTES  # the real URL, now that host and scheme are known
    outcome = (
        pl.when(pl.col("is_pageview") | pl.col("custom").is_not_null())
        .then(
            pl.when(pl.col("domain").is_null()).then(pl.lit("excluded_host"))
            .when(too_long).then(pl.lit("url_too_long"))
            .otherwise(pl.lit(None))
        )
        .otherwise(pl.col("drop_reason"))
    )
    classified = classified.with_columns(outcome.alias("outcome"))
    kept = classified.filter(pl.col("outcome").is_null())
    names = pl.col("custom").fill_null(pl.lit("pageview"))
    props = pl.when(pl.col("custom") == "404").then(path_props()).when(pl.col("custom") == "File Download").then(
        url_props()
    )
    events = build_events(kept, names, props, key_prefix)
    counts = BatchCounts(lines=parsed.height + rejected)
    counts.drops["invalid"] = rejected
    for reason, n in classified.group_by("outcome").len().iter_rows():
        if reason is not None:
            counts.drops[reason] += n
    for name, n in kept.group_by("custom").len().iter_rows():
        if name is None:
            counts.pageviews += n
        else:
            counts.custom_events[name] += n
    return events, counts


def run_events(
    sources: list[Source],
    choice: FormatChoice,
    options: EventOptions,
    summary: RunSummary,
    agents: AgentClassifier | None = None,
    start: dict[str, tuple[int, int]] | None = None,
) -> Iterator[EventBatch]:
    """Stream every source's events in file order; `start` resumes named sources at (offset, line).

    The files are parsed back to back (the next file's batches while the last ones are
    classified), and batches are classified two at a time in threads: polars releases the
    GIL, and the results are taken back in order, so the summary sees them in sequence.
    """
    agents = agents or AgentClassifier()
    starts = [(start or {}).get(source.name, (0, 1)) for source in sources]
    window: deque[tuple[ParsedBatch, Future[tuple[pl.DataFrame, BatchCounts]]]] = deque()
    with ThreadPoolExecutor(max_workers=CLASSIFY_WORKERS, thread_name_prefix="classify") as pool:
        for batch in parse_all(sources, choice, summary.parse, starts=starts):
            window.append((batch, pool.submit(events_of_batch, batch, options, agents)))
            if len(window) >= CLASSIFY_WORKERS:
                yield _collect(summary, *window.popleft())
        while window:
            yield _collect(summary, *window.popleft())


CLASSIFY_WORKERS = 2


def _collect(summary: RunSummary, batch: ParsedBatch, done: Future[tuple[pl.DataFrame, BatchCounts]]) -> EventBatch:
    events, counts = done.result()
    summary.add(counts)
    return EventBatch(batch.source, events, batch.end_offset, batch.end_line, batch.fingerprint, counts)
