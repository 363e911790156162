"""The `plausible-logs` command: flags in, one library call, errors out as one-line messages."""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

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
from importer.config import ConfigError, load_config
from importer.errors import UsageProblem
from importer.lazygroup import LazyGroup
from importer.summary import FormatAnnouncer, LiveLine, print_event_summary, print_parse_summary
from importer.visitors import KeyFileError
from importer.writers import CsvWriter, LineWriter, NdjsonWriter, open_writer, write_json_atomically
from parsers.detect import DetectionError
from parsers.inputs import InputError, Source, expand_inputs
from parsers.reader import DEFAULT_BATCH_BYTES
from parsers.registry import FORMATS
from parsers.schema import CANONICAL, CANONICAL_COLUMNS
from parsers.stream import ParseReport, parse_all

OUTPUTS = ("table", "ndjson", "csv", "parquet")


# Imported when they run: parse starts ~0.35 s sooner without DuckDB, the sender and the report renderer.
_LAZY_COMMANDS = {
    "report": "importer.cli_report:report",
    "export": "importer.cli_report:export_command",
    "send": "importer.cli_send:send",
}


@click.group(cls=LazyGroup, lazy=_LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="plausible-logs")
@click.option("--config", "config_path", default=None, envvar="PLAUSIBLE_LOGS_CONFIG", metavar="PATH",
              help="TOML file of option values (long option names as keys); flags override it.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Turn web-server and CDN access logs into Plausible Analytics data."""
    # The imported modules are permanent: keep the collector off them, and collect less often
    # (loading the kernels makes many short-lived objects; the data lives in polars, not here).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    if config_path:
        try:
            commands = {name: main.get_command(ctx, name) for name in main.list_commands(ctx)}
            ctx.default_map = load_config(config_path, {n: c for n, c in commands.items() if c is not None})
        except ConfigError as exc:
            raise UsageProblem(f"{exc}.") from exc


@main.command()
def formats() -> None:
    """List every log format this tool reads, with an example."""
    for info in FORMATS:
        click.echo(f"{info.name:<20} {info.description}")
        click.echo(f"{'':<20} e.g. {info.example}")


@main.command()
@click.argument("files", nargs=-1, required=True)
@format_options
@click.option("--output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@click.option("-o", "out_path", default=None, metavar="PATH", help="Write here instead of standard output.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Stop after N parsed rows.")
@click.option("--rejects", "rejects_path", default=None, metavar="PATH",
              help="Write every rejected line (file, line, reason, text) here; .csv for CSV, else NDJSON.")
@click.option("--strict", is_flag=True, help="Exit non-zero when a compressed file is cut short.")
def parse(files: tuple[str, ...], format_name: str, log_format: str | None, apache_format: str | None,
          output: str, out_path: str | None, limit: int | None, rejects_path: str | None, strict: bool) -> None:
    """Parse FILES into the canonical table (paths, globs, directories or - for stdin)."""
    choice = format_choice(format_name, log_format, apache_format)
    sources = _sources(files)
    report = ParseReport()
    started = time.perf_counter()
    preview = limit if limit is not None else 50
    try:
        writer = open_writer(output, out_path, CANONICAL, preview)
    except ValueError as exc:
        raise UsageProblem(f"{exc}.") from exc
    reject_writer = _rejects_writer(rejects_path)
    examples: list[str] = []
    written = 0
    announcer = FormatAnnouncer(sys.stderr)
    try:
        for batch in parse_all(sources, choice, report):
            announcer.update(report)
            rows = batch.rows if batch.rows.columns == CANONICAL_COLUMNS else batch.rows.select(CANONICAL_COLUMNS)
            if limit is not None:
                rows = rows.head(max(limit - written, 0))
            writer.write(rows)
            written += rows.height
            if reject_writer is not None:
                reject_writer.write(batch.rejects)
            examples.extend(_examples(batch.rejects, len(examples)))
            if limit is not None and written >= limit:
                break
    except DetectionError as exc:
        raise UsageProblem(str(exc)) from exc
    except InputError as exc:
        raise UsageProblem(str(exc)) from exc
    finally:
        writer.close()
        if reject_writer is not None:
            reject_writer.close()
    announcer.update(report)
    announcer.close()
    print_parse_summary(report, time.perf_counter() - started, sys.stderr, examples)
    if strict and report.truncated:
        sys.exit(1)


def _examples(rejects: pl.DataFrame, have: int) -> list[str]:
    """A few rejected lines to show; W3C `#` directives are counted (as `header`) but not shown, being expected."""
    room = 5 - have
    if room <= 0 or rejects.height == 0:
        return []
    shown = rejects.filter(rejects.get_column("reason") != "header")  # eager: this runs for every batch
    if shown.height == 0:
        return []
    shown = shown.select("file", "line", "reason").head(room)
    return [f"{file}:{line}: {reason}" for file, line, reason in shown.iter_rows()]


def _rejects_writer(path: str | None) -> NdjsonWriter | CsvWriter | None:
    if path is None:
        return None
    return CsvWriter(path) if path.endswith(".csv") else NdjsonWriter(path)


@main.command()
@click.argument("files", nargs=-1, required=True)
@format_options
@event_options
@click.option("--limit", type=click.IntRange(min=0), default=None, help="Stop after N events.")
@click.option("-o", "out_path", default=None, metavar="PATH", help="Write the NDJSON here instead of stdout.")
@click.option("--summary-json", default=None, metavar="PATH", help="Also write the run summary as JSON.")
def events(files: tuple[str, ...], format_name: str, log_format: str | None, apache_format: str | None,
           limit: int | None, out_path: str | None, summary_json: str | None, **kwargs: Any) -> None:
    """Print the Plausible Events API requests FILES would produce, one NDJSON line each."""
    from importer.events import request_lines
    from importer.pipeline import RunSummary, run_events

    options = build_event_options(pop_event_values(kwargs))
    choice = format_choice(format_name, log_format, apache_format)
    sources = _sources(files)
    summary = RunSummary()
    started = time.perf_counter()
    target = LineWriter(out_path)
    written = 0
    announcer = FormatAnnouncer(sys.stderr)
    try:
        for batch in run_events(sources, choice, options, summary):
            announcer.update(summary.parse)
            lines = request_lines(batch.events)
            if limit is not None:
                lines = lines.head(max(limit - written, 0))
            target.write_lines(lines)
            written += len(lines)
            if limit is not None and written >= limit:
                break
    except (DetectionError, InputError, ClientIpPolicyError) as exc:
        target.abort()
        raise UsageProblem(f"{str(exc).rstrip('.')}.") from exc
    target.close()
    announcer.update(summary.parse)
    announcer.close()
    print_event_summary(summary, time.perf_counter() - started, sys.stderr)
    if summary_json:
        write_json_atomically(summary_json, summary.as_dict())


def _sources(files: tuple[str, ...]) -> list[Source]:
    try:
        return expand_inputs(list(files), s3_endpoint())
    except InputError as exc:
        raise UsageProblem(str(exc)) from exc


@main.command()
@click.argument("files", nargs=-1, required=True)
@format_options
@event_options
@click.option("--db", "db_path", required=True, metavar="PATH", help="The DuckDB file (created when missing).")
@click.option("--timezone", "site_timezone", default="UTC", show_default=True, metavar="TZ",
              help="IANA time zone the site's reports count days in, e.g. Europe/Berlin.")
@click.option("--key-file", default=None, metavar="PATH",
              help="Secret for the visitor hashes (default: ~/.local/state/plausible-logs/visitor.key, made 0600).")
@click.option("--wait", is_flag=True, help="If another load holds the DB, wait for it instead of failing.")
@click.option("--summary-json", default=None, metavar="PATH", help="Also write the run summary as JSON.")
@click.option("--batch-bytes", type=click.IntRange(min=4096), default=DEFAULT_BATCH_BYTES, hidden=True)
@click.option("--commit-events", type=click.IntRange(min=1), default=None, hidden=True)
def load(files: tuple[str, ...], format_name: str, log_format: str | None, apache_format: str | None, db_path: str,
         site_timezone: str, key_file: str | None, wait: bool, summary_json: str | None, batch_bytes: int,
         commit_events: int | None, **kwargs: Any) -> None:
    """Load FILES into a DuckDB file with Plausible's visitors, visits and bounce rate; safe to re-run."""
    from importer.load import COMMIT_EVENTS, default_key_path, load_files
    from importer.sinks.duckdb_store import DuckDBStore, StoreBusyError

    options = build_event_options(pop_event_values(kwargs))
    choice = format_choice(format_name, log_format, apache_format)
    check_timezone(site_timezone)
    sources = _sources(files)
    started = time.perf_counter()
    live = LiveLine(len(sources), sys.stderr.isatty())
    try:
        with DuckDBStore(db_path, key_file or default_key_path(), wait=wait) as store:
            result = load_files(sources, store, choice, options, site_timezone, batch_bytes,
                                commit_events or COMMIT_EVENTS, on_progress=live.update)
    except StoreBusyError as exc:
        raise UsageProblem(f"{exc}.") from exc
    except (DetectionError, InputError, ClientIpPolicyError, KeyFileError) as exc:
        raise UsageProblem(f"{str(exc).rstrip('.')}.") from exc
    finally:
        live.close()
    seconds = time.perf_counter() - started
    print_event_summary(result.summary, seconds, sys.stderr)
    click.echo(
        f"loaded {result.events_written:,} events from {len(result.files_loaded)} file(s)"
        f"{f', skipped {len(result.files_skipped)} already loaded' if result.files_skipped else ''}"
        f" into {db_path}; {result.sessions_rebuilt:,} sessions rebuilt",
        err=True,
    )
    if summary_json:
        write_json_atomically(summary_json, result.as_dict())


def check_timezone(name: str) -> None:
    """Fail early on a time zone name that reports could not use."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageProblem(f"unknown time zone '{name}'; use an IANA name such as Europe/Berlin or UTC.") from exc


