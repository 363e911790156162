"""`plausible-logs send`: flags in, one sending run, a summary and an exit code out.

Kept apart from importer/cli.py so the command can be registered with one
line; it reads importer.cli lazily, so either module may be imported first.
Exit codes: 0 every event delivered (or, with --follow, a clean stop by
SIGINT/SIGTERM), 1 some rejected, refused, uncertain or undelivered, 2 usage.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import click
import polars as pl

from importer.cli_options import (
    build_event_options,
    event_options,
    format_choice,
    format_options,
    pop_event_values,
    s3_endpoint,
)
from importer.clientip import ClientIpPolicyError
from importer.errors import UsageProblem
from importer.follow import Follower, identify, iterate_in_thread, unfinished_tail
from importer.ledger import Ledger, LedgerError, default_ledger_path
from importer.pipeline import EventOptions, RunSummary, run_events
from importer.sinks.http1 import https_proxy_for
from importer.sinks.retry import RetryPolicy
from importer.sinks.send_model import Outgoing, SendOptions, SendStats
from importer.sinks.upstream import Sender
from importer.summary import print_event_summary
from parsers.detect import DetectionError
from parsers.reader import InputError, Source, expand_inputs
from parsers.stream import FormatChoice

DEFAULT_ENDPOINT = "https://plausible.io/api/event"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str) -> timedelta:
    """90s, 30m, 2h, 1d (or combined: 1h30m) -> timedelta; a one-line usage error otherwise."""
    compact = text.strip().lower().replace(" ", "")
    if compact and _DURATION.sub("", compact) == "":
        return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(compact)))
    raise UsageProblem(f"{flag}: '{text}' is not a duration; use e.g. 90s, 30m, 2h or 1d.")


def check_endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageProblem(f"--endpoint: '{url}' is not an http(s) URL; Plausible's is {DEFAULT_ENDPOINT}.")
    if parts.scheme == "https":
        try:
            https_proxy_for(parts.hostname)
        except ValueError as exc:
            raise UsageProblem(f"{exc}; set it to http://host:port or add the endpoint to NO_PROXY.") from exc
    return url


_SEND_OPTIONS = [
    click.option("--endpoint", envvar="PLAUSIBLE_ENDPOINT", default=DEFAULT_ENDPOINT, show_default=True,
                 metavar="URL", help="Plausible's events API (or set PLAUSIBLE_ENDPOINT)."),
    click.option("--concurrency", type=click.IntRange(1, 512), default=16, show_default=True,
                 help="Requests in flight at once (one visitor's events are always sent in order)."),
    click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None, metavar="EVENTS_PER_S",
                 help="At most this many requests per second."),
    click.option("--timeout", type=click.FloatRange(min=0.05), default=10.0, show_default=True, metavar="S",
                 help="Seconds to wait for each answer before retrying."),
    click.option("--retry-attempts", type=click.IntRange(min=1), default=8, show_default=True,
                 help="Tries per event for 408, 429, 5xx, timeouts and connection errors."),
    click.option("--retry-time", default="2m", show_default=True, metavar="DURATION",
                 help="Give up retrying an event after this long."),
    click.option("--retry-base", type=click.FloatRange(min=0), default=0.5, hidden=True,
                 help="First backoff ceiling in seconds (doubles per attempt, up to 30 s)."),
    click.option("--state", default=None, metavar="PATH",
                 help="The ledger of sent events [default: $XDG_STATE_HOME/plausible-logs/ledger.sqlite]."),
    click.option("--dry-run", is_flag=True, help="Send nothing; print the requests that would be sent as NDJSON."),
    click.option("--max-age", default="30m", show_default=True, metavar="DURATION",
                 help="Refuse events older than this (90s, 30m, 2h, 1d): Plausible would count them as now."),
    click.option("--allow-historical", is_flag=True, help="Send events older than --max-age anyway."),
    click.option("--resend-uncertain", is_flag=True,
                 help="Also re-send events whose answer was lost when an earlier run was killed."),
    click.option("--follow", is_flag=True, help="Keep tailing FILES (like tail -F) until SIGINT/SIGTERM."),
    click.option("--summary-json", default=None, metavar="PATH", help="Also write the run summary as JSON."),
]


def _send_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_SEND_OPTIONS):
        command = option(command)
    return command


@click.command()
@click.argument("files", nargs=-1, required=True)
@format_options
@event_options
@_send_options
def send(files: tuple[str, ...], format_name: str, log_format: str | None, apache_format: str | None,
         **kwargs: Any) -> None:
    """POST the events of FILES to Plausible's events API, each exactly once."""
    options = build_event_options(pop_event_values(kwargs))
    choice = format_choice(format_name, log_format, apache_format)
    follow, dry_run = kwargs["follow"], kwargs["dry_run"]
    send_options = SendOptions(
        endpoint=check_endpoint(kwargs["endpoint"]),
        concurrency=kwargs["concurrency"],
        rate=kwargs["rate"],
        timeout=kwargs["timeout"],
        retry=RetryPolicy(max_attempts=kwargs["retry_attempts"], base_delay=kwargs["retry_base"],
                          max_elapsed=parse_duration(kwargs["retry_time"], "--retry-time").total_seconds()),
        max_age=parse_duration(kwargs["max_age"], "--max-age"),
        allow_historical=kwargs["allow_historical"],
        resend_uncertain=kwargs["resend_uncertain"],
    )
    if follow and "-" in files:
        raise UsageProblem("--follow cannot read standard input; name the log files.")
    if follow and any(f.startswith("s3://") for f in files):
        raise UsageProblem("--follow tails local files; send s3:// inputs without it (a re-run sends only new events).")
    sources = [] if follow else _sources(files)
    try:
        ledger = Ledger(kwargs["state"] or default_ledger_path(), readonly=dry_run)
    except LedgerError as exc:
        raise UsageProblem(f"{exc}.") from exc
    stats = SendStats()
    summary = RunSummary()
    try:
        sender, interrupted = _run(files, sources, choice, options, send_options, ledger, stats, summary, follow,
                                   dry_run)
    except (DetectionError, InputError, ClientIpPolicyError) as exc:
        raise UsageProblem(f"{str(exc).rstrip('.')}.") from exc
    finally:
        ledger.close()
    _finish(sender, stats, summary, kwargs["summary_json"], follow and interrupted, dry_run)


def _sources(files: tuple[str, ...]) -> list[Source]:
    try:
        found = expand_inputs(list(files), s3_endpoint())
    except InputError as exc:
        raise UsageProblem(str(exc)) from exc
    unique = {s.name if s.is_stdin else os.path.realpath(s.name): s for s in found}
    return list(unique.values())


def _run(files: tuple[str, ...], sources: list[Source], choice: FormatChoice, options: EventOptions,
         send_options: SendOptions, ledger: Ledger, stats: SendStats, summary: RunSummary, follow: bool,
         dry_run: bool) -> tuple[Sender, bool]:
    """Build the producer (files or a follower), then drive the sender in an event loop until done."""
    thread_stop = threading.Event()
    signalled = threading.Event()
    file_ids: set[str] = set()
    from_start = send_options.resend_uncertain or send_options.allow_historical
    if follow:
        producer: Iterator[Outgoing] = Follower(list(files), choice.build(), options, ledger, summary, thread_stop,
                                                from_start).batches()
    else:
        producer = file_batches(sources, choice, options, summary, ledger, from_start, file_ids)
    out = sys.stdout.buffer

    def write_dry(lines: pl.Series) -> None:
        if len(lines):
            out.write(("\n".join(lines.to_list()) + "\n").encode())
            out.flush()

    def notice(line: str) -> None:
        click.echo(line, err=True)

    async def drive() -> tuple[Sender, bool]:
        sender = Sender(ledger, send_options, stats, notice, write_dry if dry_run else None, file_ids)
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            signalled.set()
            sender.stop.set()
            thread_stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        progress = Progress(stats, sys.stderr.isatty() and not dry_run)
        ticker = None if dry_run else asyncio.create_task(progress.run())
        try:
            await sender.run(iterate_in_thread(producer, thread_stop))
        finally:
            if ticker is not None:
                ticker.cancel()
            progress.close()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return sender, signalled.is_set()

    return asyncio.run(drive())


def file_batches(sources: list[Source], choice: FormatChoice, options: EventOptions, summary: RunSummary,
                 ledger: Ledger, from_start: bool, files: set[str]) -> Iterator[Outgoing]:
    """Every source's events, each file resumed at its ledger watermark unless told to start over."""
    positions = {s.name: identify(ledger, s.name) for s in sources if not s.is_stdin}
    files.update(p.file_id for p in positions.values() if p is not None)
    start = {name: (p.offset, p.line) for name, p in positions.items() if p is not None and not from_start}
    for batch in run_events(sources, choice, options, summary, start=start):
        position = positions.get(batch.source.name)
        events, end, next_line = batch.events, batch.end_offset, batch.end_line + 1
        cut = None if batch.source.is_stdin else unfinished_tail(batch.source.name, end)
        if cut is not None:  # a line still being written: leave it (and the watermark) for the next run
            events, end, next_line = events.filter(pl.col("offset") < cut), cut, batch.end_line
        yield Outgoing(events, position.file_id if position else None, end, next_line)


class Progress:
    """A live line on a terminal; otherwise a plain line every `every` seconds (logs stay readable)."""

    def __init__(self, stats: SendStats, tty: bool, every: float = 10.0) -> None:
        self.stats = stats
        self.tty = tty
        self.every = every
        self.live: Any = None
        if tty:
            from rich.console import Console
            from rich.progress import Progress as RichProgress
            from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

            self.live = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                     console=Console(stderr=True), transient=True)
            self.task = self.live.add_task("starting", total=None)
            self.live.start()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.25 if self.tty else self.every)
            if self.live is not None:
                self.live.update(self.task, description=status_line(self.stats))
            else:
                click.echo(status_line(self.stats), err=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def status_line(stats: SendStats) -> str:
    seconds = stats.elapsed()
    rate = stats.sent / seconds if seconds > 0 else 0.0
    return (f"sent {stats.sent:,} ({rate:,.0f}/s) · accepted {stats.accepted:,} · rejected "
            f"{sum(stats.rejected.values()):,} · retried {stats.retried:,} · dropped upstream {stats.dropped:,} · "
            f"already sent {stats.skipped:,}")


def print_send_summary(stats: SendStats, out: Any) -> None:
    """sent, accepted, dropped upstream, rejected by message, retried, uncertain, skipped, speed."""
    seconds = stats.elapsed()
    rate = stats.sent / seconds if seconds > 0 else 0.0
    print(f"sent {stats.sent:,} events in {seconds:,.1f} s ({rate:,.0f} events/s): accepted {stats.accepted:,} · "
          f"dropped upstream {stats.dropped:,} · rejected {sum(stats.rejected.values()):,} · "
          f"retried {stats.retried:,} · uncertain {stats.uncertain:,} · already sent {stats.skipped:,}", file=out)
    for reason, count in stats.rejected.most_common():
        print(f"  rejected {count:,}: {reason}", file=out)
    for reason, count in stats.undelivered.most_common():
        print(f"  not delivered {count:,}: {reason} (re-run to send them)", file=out)
    if stats.refused:
        print(f"  refused {stats.refused:,} older than --max-age (see above; --allow-historical sends them)", file=out)
    if stats.uncertain:
        print(f"  uncertain {stats.uncertain:,}: an earlier run was killed before their answers were saved; "
              "they may or may not have reached Plausible (--resend-uncertain sends them again)", file=out)
    if stats.unsent:
        print(f"  interrupted: {stats.unsent:,} events not sent; re-run the same command to send them", file=out)


def _finish(sender: Sender, stats: SendStats, summary: RunSummary, summary_json: str | None, stopped_follow: bool,
            dry_run: bool) -> None:
    """Print the summaries; exit 1 when anything was not delivered (a follow stopped by a signal exits 0)."""
    print_event_summary(summary, stats.elapsed(), sys.stderr)
    if not dry_run:
        print_send_summary(stats, sys.stderr)
    if summary_json:
        from importer.writers import write_json_atomically

        write_json_atomically(summary_json, {"events": summary.as_dict(), "send": stats.as_dict(),
                                             "error": sender.fatal})
    if sender.fatal:
        raise click.ClickException(sender.fatal)
    if stopped_follow:
        return
    incomplete = stats.rejected or stats.undelivered or stats.refused or stats.uncertain or stats.unsent
    if incomplete and not dry_run:
        sys.exit(1)
