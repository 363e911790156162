"""The report as one self-contained HTML page: inline CSS, a server-drawn SVG chart, no script, no network.

Every number sits in an element carrying data attributes with the raw JSON value (data-metric / data-breakdown,
data-key, data-field, data-value), so a browser test can compare the page with the JSON report cell by cell.
All text from the data is escaped with html.escape, attributes included: paths can contain "<script>".
The JSON report itself is embedded in a <script type="application/json"> block with "<" escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from importer.reports.layout import (
    BREAKDOWN_LAYOUT,
    HEADERS,
    KEY_HEADERS,
    METRIC_FIELDS,
    METRIC_LABELS,
    SERIES_FIELDS,
    VERSION_TABLES,
    value_text,
)

CSS = """
:root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--accent:#6366f1;--bar:#eef2ff;--bg:#f9fafb}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1rem;margin:0 0 .5rem}.period{color:var(--muted);margin:0 0 1rem}
.metrics{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;background:#fff;border:1px solid var(--line);
border-radius:.5rem;padding:1rem}.metric{min-width:8rem}.metric .label{display:block;color:var(--muted);
font-size:.75rem;text-transform:uppercase;letter-spacing:.04em}.metric .value{font-size:1.5rem;font-weight:700}
.chart{background:#fff;border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:1rem 0}
.chart svg{width:100%;height:auto;display:block}.chart .area{fill:var(--bar)}.chart .line{fill:none;
stroke:var(--accent);stroke-width:2}.chart .axis{fill:var(--muted);font-size:12px}.chart circle{fill:var(--accent)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,24rem),1fr));gap:1rem}
.card{background:#fff;border:1px solid var(--line);border-radius:.5rem;padding:1rem;overflow-x:auto}
table{width:100%;border-collapse:collapse;font-size:.9rem}th,td{padding:.3rem .4rem;text-align:right;
border-bottom:1px solid var(--line);white-space:nowrap}th:first-child,td:first-child{text-align:left;
white-space:normal;overflow-wrap:anywhere;min-width:8rem}thead th{color:var(--muted);font-weight:600;font-size:.75rem;
text-transform:uppercase}tr.version td:first-child,tr.version th:first-child{padding-left:1.4rem;color:var(--muted)}
.empty{color:var(--muted)}details{margin:1rem 0}summary{cursor:pointer;color:var(--muted)}
@media (max-width:40rem){main{padding:.5rem}.metric{min-width:45%}.metric .value{font-size:1.2rem}
.card{padding:.6rem}table{font-size:.85rem}th,td{padding:.3rem .25rem}.chart .axis{font-size:30px}}
"""


def _value_cell(attrs: dict[str, str], field: str, value: Any, tag: str = "td") -> str:
    """One number: human text inside, the raw JSON value in data-value ("" for null)."""
    raw = "" if value is None else json.dumps(value)
    attributes = "".join(f' {name}="{escape(text)}"' for name, text in {**attrs, "data-field": field}.items())
    return f'<{tag}{attributes} data-value="{escape(raw)}">{escape(value_text(field, value))}</{tag}>'


def metrics_html(metrics: dict[str, Any]) -> str:
    """The top row of six numbers, each with data-metric and data-value."""
    cells = []
    for field in METRIC_FIELDS:
        value = metrics[field]
        raw = escape(json.dumps(value))
        text = escape(value_text(field, value))
        cells.append(
            f'<div class="metric"><span class="label">{escape(METRIC_LABELS[field])}</span>'
            f'<span class="value" data-metric="{field}" data-value="{raw}">{text}</span></div>'
        )
    return f'<section class="metrics" aria-label="Totals">{"".join(cells)}</section>'


def chart_svg(series: list[dict[str, Any]], width: int = 800, height: int = 220) -> str:
    """Visitors over time as an area + line, drawn here so the page needs no script."""
    pad_left, pad_bottom, pad_top = 44, 24, 10
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    values = [row["visitors"] for row in series]
    top = max(values, default=0) or 1
    step = plot_w / max(len(values) - 1, 1)
    points = [
        (pad_left + i * step, pad_top + plot_h - value * plot_h / top) for i, value in enumerate(values)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    base = pad_top + plot_h
    area = f"{pad_left:.1f},{base:.1f} {line} {points[-1][0]:.1f},{base:.1f}" if points else ""
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(row["date"])}: '
        f"{escape(value_text('visitors', row['visitors']))} visitors</title></circle>"
        for (x, y), row in zip(points, series, strict=True)
    )
    labels = ""
    if series:
        labels = (
            f'<text class="axis" x="{pad_left}" y="{height - 6}">{escape(series[0]["date"])}</text>'
            f'<text class="axis" x="{width - 8}" y="{height - 6}" text-anchor="end">{escape(series[-1]["date"])}</text>'
        )
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Visitors over time">'
        f'<text class="axis" x="{pad_left - 6}" y="{pad_top + 10}" text-anchor="end">{top:,}</text>'
        f'<text class="axis" x="{pad_left - 6}" y="{base}" text-anchor="end">0</text>'
        f'<polygon class="area" points="{area}"/><polyline class="line" points="{line}"/>{dots}{labels}</svg>'
    )


def series_table(series: list[dict[str, Any]]) -> str:
    """Every bucket as table rows (collapsed), so the chart's numbers are in the DOM for tests and screen readers."""
    head = "".join(f"<th>{escape(HEADERS[field])}</th>" for field in ("date", *SERIES_FIELDS))
    body = "".join(
        f'<tr><th scope="row">{escape(row["date"])}</th>'
        + "".join(_value_cell({"data-series": "timeseries", "data-key": row["date"]}, f, row[f]) for f in SERIES_FIELDS)
        + "</tr>"
        for row in series
    )
    return f"<details><summary>Every bucket as a table</summary><table><thead><tr>{head}</tr></thead>" \
        f"<tbody>{body}</tbody></table></details>"


def breakdown_card(name: str, rows: list[dict[str, Any]]) -> str:
    """One dashboard card; version rows carry data-parent so they stay distinguishable from their browser."""
    title, key, fields = BREAKDOWN_LAYOUT[name]
    head = f"<th>{escape(KEY_HEADERS[key])}</th>" + "".join(f"<th>{escape(HEADERS[f])}</th>" for f in fields)
    body = []
    for row in rows:
        attrs = {"data-breakdown": name, "data-key": str(row[key])}
        cells = "".join(_value_cell(attrs, field, row[field]) for field in fields)
        body.append(f'<tr><th scope="row">{escape(str(row[key]))}</th>{cells}</tr>')
        if name in VERSION_TABLES:
            for version in row.get("versions", []):
                vattrs = {
                    "data-breakdown": f"{name}.versions",
                    "data-parent": str(row[key]),
                    "data-key": str(version["version"]),
                }
                vcells = "".join(_value_cell(vattrs, field, version[field]) for field in fields)
                body.append(f'<tr class="version"><th scope="row">{escape(str(version["version"]))}</th>{vcells}</tr>')
    if not body:
        body.append(f'<tr><td class="empty" colspan="{len(fields) + 1}">No data</td></tr>')
    return (
        f'<section class="card" id="{name}"><h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></section>'
    )


def render_html(report: dict[str, Any]) -> str:
    """The whole page; readable on a phone (fluid grid, wrapping metrics, scrollable tables)."""
    period = report["period"]
    site = escape(report["site"])
    embedded = json.dumps(report, ensure_ascii=False).replace("<", "\\u003c")
    cards = "".join(breakdown_card(name, rows) for name, rows in report["breakdowns"].items())
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{site} · {escape(period['from'])} to {escape(period['to'])}</title><style>{CSS}</style></head>"
        f'<body><main><header><h1 data-site="{site}">{site}</h1><p class="period">'
        f'<span data-period="from">{escape(period["from"])}</span> to <span data-period="to">'
        f'{escape(period["to"])}</span> · <span data-period="timezone">{escape(period["timezone"])}</span></p></header>'
        f"{metrics_html(report['metrics'])}"
        f'<section class="chart" aria-label="Visitors over time">{chart_svg(report["timeseries"])}'
        f"{series_table(report['timeseries'])}</section>"
        f'<div class="cards">{cards}</div></main>'
        f'<script type="application/json" id="report-data">{embedded}</script></body></html>\n'
    )
