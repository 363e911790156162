"""What each renderer shows: titles, columns and number formats, kept in one place so terminal, CSV and HTML agree.

Columns are fixed per breakdown (not read from the first row) so an empty breakdown still has its header.
"""

from __future__ import annotations

from typing import Any

SESSION_FIELDS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")

# breakdown -> (title as on Plausible's dashboard, key field, metric fields)
BREAKDOWN_LAYOUT: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pages": ("Top Pages", "page", ("visitors", "pageviews", "bounce_rate")),
    "entry_pages": ("Entry Pages", "entry_page", ("visitors", "visits", "bounce_rate", "visit_duration")),
    "exit_pages": ("Exit Pages", "exit_page", ("visitors", "visits", "exit_rate")),
    "sources": ("Top Sources", "source", SESSION_FIELDS),
    "referrers": ("Referrers", "referrer", SESSION_FIELDS),
    "utm_mediums": ("UTM Mediums", "utm_medium", SESSION_FIELDS),
    "utm_sources": ("UTM Sources", "utm_source", SESSION_FIELDS),
    "utm_campaigns": ("UTM Campaigns", "utm_campaign", SESSION_FIELDS),
    "browsers": ("Browsers", "browser", SESSION_FIELDS),
    "operating_systems": ("Operating Systems", "os", SESSION_FIELDS),
    "devices": ("Devices", "device", SESSION_FIELDS),
    "countries": ("Countries", "country", SESSION_FIELDS),
}
# Breakdowns whose rows carry a "versions" sub-list, and the CSV table that flattens it.
VERSION_TABLES = {"browsers": "browser_versions", "operating_systems": "os_versions"}

METRIC_FIELDS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
SERIES_FIELDS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "views_per_visit")

HEADERS = {
    "visitors": "Visitors",
    "visits": "Visits",
    "pageviews": "Pageviews",
    "views_per_visit": "Views/visit",
    "bounce_rate": "Bounce",
    "visit_duration": "Duration",
    "exit_rate": "Exit rate",
    "version": "Version",
    "date": "Date",
}
METRIC_LABELS = {
    "visitors": "Unique visitors",
    "visits": "Total visits",
    "pageviews": "Total pageviews",
    "views_per_visit": "Views per visit",
    "bounce_rate": "Bounce rate",
    "visit_duration": "Visit duration",
}
# Header of the first column of each breakdown's table ("Entry page", "Source"…).
KEY_HEADERS = {
    "page": "Page",
    "entry_page": "Entry page",
    "exit_page": "Exit page",
    "source": "Source",
    "referrer": "Referrer",
    "utm_medium": "UTM medium",
    "utm_source": "UTM source",
    "utm_campaign": "UTM campaign",
    "browser": "Browser",
    "os": "Operating system",
    "device": "Device",
    "country": "Country",
}


def duration_text(seconds: int) -> str:
    """Plausible's short form: 0s, 45s, 1m 05s, 1h 02m."""
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def value_text(field: str, value: Any) -> str:
    """A metric as a person reads it; the raw value stays available to CSV, JSON and HTML data attributes."""
    if value is None:
        return "-"
    if field in ("bounce_rate", "exit_rate"):
        return f"{value}%"
    if field == "visit_duration":
        return duration_text(int(value))
    if field == "views_per_visit":
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def table_columns(name: str) -> tuple[str, ...]:
    """CSV/terminal columns of a breakdown, a version table, 'timeseries' or 'metrics'."""
    if name == "metrics":
        return METRIC_FIELDS
    if name == "timeseries":
        return ("date", *SERIES_FIELDS)
    for parent, table in VERSION_TABLES.items():
        if name == table:
            _, key, fields = BREAKDOWN_LAYOUT[parent]
            return (key, "version", *fields)
    _, key, fields = BREAKDOWN_LAYOUT[name]
    return (key, *fields)
