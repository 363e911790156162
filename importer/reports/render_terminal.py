"""The report for a terminal: a metrics header, a visitors chart in text, and one table per breakdown.

Built with rich and rendered to a string at a fixed width (80 by default) so output is the same in a pipe, a
test and a narrow terminal. Every value from the data goes through rich.text.Text, never markup, so a path like
"/[bold]" or "/<script>" prints as itself.
"""

from __future__ import annotations

import io
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from importer.reports.layout import (
    BREAKDOWN_LAYOUT,
    HEADERS,
    KEY_HEADERS,
    METRIC_FIELDS,
    VERSION_TABLES,
    value_text,
)

SPARKS = "▁▂▃▄▅▆▇█"
MAX_BAR_ROWS = 31  # up to a month of days gets one bar per row; longer series get only the sparkline
VERSIONS_SHOWN = 3  # per browser/OS in the terminal; CSV/JSON/HTML have them all


def sparkline(values: list[int], width: int) -> str:
    """One character per bucket, or per group of buckets (their maximum) when there are more than `width`."""
    if not values:
        return ""
    size = -(-len(values) // width)
    points = [max(values[i : i + size]) for i in range(0, len(values), size)]
    top = max(points)
    if top == 0:
        return SPARKS[0] * len(points)
    return "".join(SPARKS[min(len(SPARKS) - 1, value * (len(SPARKS) - 1) // top)] for value in points)


def metrics_table(metrics: dict[str, Any]) -> Table:
    """The dashboard's top row: six labelled numbers."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    for field in METRIC_FIELDS:
        table.add_column(Text(HEADERS[field]), justify="right")
    table.add_row(*(Text(value_text(field, metrics[field]), style="bold") for field in METRIC_FIELDS))
    return table


def series_view(series: list[dict[str, Any]], width: int) -> RenderableType:
    """Visitors over time: a sparkline, then one bar per bucket when the series is short."""
    values = [row["visitors"] for row in series]
    parts: list[RenderableType] = []
    if series:
        parts.append(Text(f"Visitors {series[0]['date']} … {series[-1]['date']}", style="bold"))
        parts.append(Text(sparkline(values, width - 2)))
    if 0 < len(series) <= MAX_BAR_ROWS:
        top = max(values) or 1
        label_width = max(len(row["date"]) for row in series)
        bar_width = max(10, width - label_width - 12)
        table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for row in series:
            bar = "█" * round(row["visitors"] * bar_width / top)
            table.add_row(Text(row["date"]), Text(bar, style="cyan"), Text(value_text("visitors", row["visitors"])))
        parts.append(table)
    return Group(*parts)


def breakdown_table(name: str, rows: list[dict[str, Any]]) -> Table:
    """One top list; browsers and OS show their top versions indented under each row."""
    title, key, fields = BREAKDOWN_LAYOUT[name]
    table = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD, expand=True)
    table.add_column(Text(KEY_HEADERS[key]), overflow="ellipsis", no_wrap=True, ratio=1, min_width=12)
    for field in fields:
        table.add_column(Text(HEADERS[field]), justify="right", no_wrap=True)
    if not rows:
        table.add_row(Text("(no data)", style="dim"), *("" for _ in fields))
    for row in rows:
        table.add_row(Text(str(row[key])), *(Text(value_text(field, row[field])) for field in fields))
        if name in VERSION_TABLES:
            for version in row.get("versions", [])[:VERSIONS_SHOWN]:
                cells = (Text(value_text(field, version[field]), style="dim") for field in fields)
                table.add_row(Text("  " + str(version["version"]), style="dim"), *cells)
    return table


def render_terminal(report: dict[str, Any], *, width: int = 80, color: bool = False) -> str:
    """The whole report as text for a terminal of `width` columns; ANSI colours only when `color`."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, force_terminal=color, color_system="standard" if color else None, highlight=False
    )
    period = report["period"]
    console.print(Text(f"{report['site']} · {period['from']} to {period['to']} ({period['timezone']})", style="bold"))
    console.print(metrics_table(report["metrics"]))
    console.print(series_view(report["timeseries"], width))
    for name, rows in report["breakdowns"].items():
        console.print(breakdown_table(name, rows))
    return buffer.getvalue()
