"""The `report` and `export` commands as plain functions, so the click layer is one call each and tests need no CLI."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from importer.reports.db import open_db
from importer.reports.errors import ReportError
from importer.reports.files import write_atomic
from importer.reports.plausible_csv import export
from importer.reports.query import build_report
from importer.reports.render_csv import render_csv, write_csv_dir
from importer.reports.render_html import render_html
from importer.reports.render_json import render_json
from importer.reports.render_terminal import render_terminal

OUTPUTS = ("table", "json", "csv", "html")

__all__ = ["OUTPUTS", "export", "run_report", "write_atomic"]


def run_report(
    db: str | Path,
    *,
    site: str | None = None,
    period: str = "30d",
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    interval: str = "day",
    limit: int | None = 10,
    breakdowns: list[str] | tuple[str, ...] | None = None,
    timezone_name: str | None = None,
    output: str = "table",
    out: str | Path | None = None,
    table: str | None = None,
    width: int = 80,
    color: bool = False,
) -> str:
    """Build the report and render it; returns the text for stdout ("" when it went to `out`).

    csv: with `table` (a breakdown, "timeseries", "metrics", "browser_versions"…) one table, to stdout or to
    the file `out`; without it every table as <name>.csv into the directory `out`.
    """
    if output not in OUTPUTS:
        raise ReportError(f"unknown output '{output}'. Try one of: {', '.join(OUTPUTS)}.")
    if output == "csv" and table is None and out is None:
        raise ReportError("csv output needs --table NAME for stdout, or --out DIR for one file per table.")
    conn = open_db(db)
    try:
        report = build_report(
            conn,
            site,
            period=period,
            date_from=date_from,
            date_to=date_to,
            interval=interval,
            limit=limit,
            breakdowns=breakdowns,
            timezone_name=timezone_name,
        )
    finally:
        conn.close()
    if output == "csv" and table is None:
        write_csv_dir(report, out)  # type: ignore[arg-type]  # checked above
        return ""
    if output == "csv":
        text = render_csv(report, table)  # type: ignore[arg-type]
    elif output == "json":
        text = render_json(report)
    elif output == "html":
        text = render_html(report)
    else:
        text = render_terminal(report, width=width, color=color)
    if out is None:
        return text
    write_atomic(out, text)
    return ""
