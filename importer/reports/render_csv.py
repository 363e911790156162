"""The report as CSV: one table per file (a directory of them), or one table to stdout.

Values are the raw JSON numbers (bounce_rate 45, visit_duration in seconds) so spreadsheets can compute with them.
Browser and OS versions get their own tables (browser_versions, os_versions) with the parent as first column.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from importer.reports.errors import ReportError
from importer.reports.files import write_atomic
from importer.reports.layout import BREAKDOWN_LAYOUT, VERSION_TABLES, table_columns


def table_names(report: dict[str, Any]) -> list[str]:
    """Tables this report can write: metrics, timeseries, each breakdown present, and version tables."""
    names = ["metrics", "timeseries"]
    for name in report["breakdowns"]:
        names.append(name)
        if name in VERSION_TABLES:
            names.append(VERSION_TABLES[name])
    return names


def table_rows(report: dict[str, Any], name: str) -> list[list[Any]]:
    """The rows of one table, in its columns' order."""
    columns = table_columns(name)
    if name == "metrics":
        return [[report["metrics"][field] for field in columns]]
    if name == "timeseries":
        return [[row[field] for field in columns] for row in report["timeseries"]]
    for parent, table in VERSION_TABLES.items():
        if name == table:
            key = BREAKDOWN_LAYOUT[parent][1]
            return [
                [row[key], *(version[field] for field in columns[1:])]
                for row in report["breakdowns"].get(parent, [])
                for version in row.get("versions", [])
            ]
    return [[row[field] for field in columns] for row in report["breakdowns"][name]]


def render_csv(report: dict[str, Any], name: str) -> str:
    """One table as CSV text (header first); an unknown name lists the choices."""
    names = table_names(report)
    if name not in names:
        raise ReportError(f"unknown table '{name}'. Try one of: {', '.join(names)}.")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table_columns(name))
    for row in table_rows(report, name):
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def write_csv_dir(report: dict[str, Any], directory: str | Path) -> list[Path]:
    """Every table as <name>.csv in `directory` (created if needed); each file written to a temp name, then renamed."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in table_names(report):
        path = target / f"{name}.csv"
        write_atomic(path, render_csv(report, name))
        written.append(path)
    return written
