"""The `report` and `export` commands: read-only views of a DuckDB file that `load` filled."""

from __future__ import annotations

import click

from importer.errors import UsageProblem
from importer.reports.commands import OUTPUTS, export, run_report
from importer.reports.errors import ReportError
from importer.reports.periods import INTERVALS, PERIODS


def _report_error(exc: ReportError) -> UsageProblem:
    return UsageProblem(str(exc).rstrip(".") + ".")


@click.command()
@click.option("--db", "db_path", required=True, metavar="PATH", help="The DuckDB file `load` wrote.")
@click.option("--domain", default=None, metavar="DOMAIN", help="The site (needed when the file holds several).")
@click.option("--period", type=click.Choice(PERIODS), default="30d", show_default=True,
              help="Counted back from the latest day with data.")
@click.option("--from", "date_from", default=None, metavar="YYYY-MM-DD", help="First day (site timezone).")
@click.option("--to", "date_to", default=None, metavar="YYYY-MM-DD", help="Last day, included.")
@click.option("--breakdown", "breakdowns", multiple=True, metavar="NAME",
              help="Only these breakdowns (repeatable): pages, entry_pages, exit_pages, sources, referrers, "
                   "utm_mediums, utm_sources, utm_campaigns, browsers, operating_systems, devices, countries.")
@click.option("--interval", type=click.Choice(INTERVALS), default="day", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True, help="Rows per breakdown.")
@click.option("--format", "output", type=click.Choice(OUTPUTS), default="table", show_default=True)
@click.option("-o", "out_path", default=None, metavar="PATH",
              help="Write here (for csv without one --breakdown: a directory, one file per table).")
@click.option("--timezone", "timezone_name", default=None, metavar="TZ", help="Override the site's timezone.")
def report(db_path: str, domain: str | None, period: str, date_from: str | None, date_to: str | None,
           breakdowns: tuple[str, ...], interval: str, limit: int, output: str, out_path: str | None,
           timezone_name: str | None) -> None:
    """Plausible's metrics and breakdowns from a DuckDB file: terminal, JSON, CSV or one HTML page."""
    table = breakdowns[0] if output == "csv" and len(breakdowns) == 1 else None
    try:
        text = run_report(
            db_path, site=domain, period=period, date_from=date_from, date_to=date_to, interval=interval,
            limit=limit, breakdowns=list(breakdowns) or None, timezone_name=timezone_name, output=output,
            out=out_path, table=table,
        )
    except ReportError as exc:
        raise _report_error(exc) from exc
    if text:
        click.echo(text, nl=not text.endswith("\n"))
    elif out_path:
        click.echo(f"wrote {out_path}", err=True)


@click.command(name="export")
@click.option("--db", "db_path", required=True, metavar="PATH", help="The DuckDB file `load` wrote.")
@click.option("--domain", default=None, metavar="DOMAIN", help="The site (needed when the file holds several).")
@click.option("--from", "date_from", default=None, metavar="YYYY-MM-DD", help="First day (site timezone).")
@click.option("--to", "date_to", default=None, metavar="YYYY-MM-DD", help="Last day, included.")
@click.option("--out", "out_path", required=True, metavar="DIR|FILE.zip", help="A folder, or a .zip file.")
def export_command(db_path: str, domain: str | None, date_from: str | None, date_to: str | None,
                   out_path: str) -> None:
    """Plausible's CSV-import files (imported_*.csv), to backfill history with the right dates."""
    try:
        warnings = export(db_path, out_path, site=domain, date_from=date_from, date_to=date_to)
    except ReportError as exc:
        raise _report_error(exc) from exc
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"wrote Plausible's CSV import files to {out_path}", err=True)
