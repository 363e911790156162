"""The report: Plausible's metrics, timeseries and breakdowns computed from the DuckDB file.

Definitions follow Plausible's stats code (reference/plausible.md §5): session metrics come from the sessions
table, each session attributed to the local date of its last event (as Plausible does); pageviews are pageview
events counted at their own time, as Plausible's dashboard and its own CSV export count them.
"""

from __future__ import annotations

from datetime import date, timezone
from typing import Any

import duckdb

from importer.reports.breakdowns import BREAKDOWNS, breakdown
from importer.reports.errors import ReportError
from importer.reports.periods import (
    INTERVALS,
    DateRange,
    bucket_label,
    bucket_labels,
    parse_date,
    period_range,
    zone,
)
from importer.reports.rollup_report import rollup_parts
from importer.reports.scope import SESSION_TOTALS, Scope, make_scope, ratio_metrics
from importer.reports.visitors import LISTS, series_visitors, top_lists, total_visitors, visitor_table

METRICS = ("visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration")
SERIES_FIELDS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "views_per_visit")


def list_sites(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every site in the file with its timezone; a clear error if this is not a plausible-logs database."""
    try:
        rows = conn.execute("SELECT site, timezone FROM sites ORDER BY site").fetchall()
    except (duckdb.CatalogException, duckdb.InvalidInputException) as exc:
        raise ReportError("this database has no 'sites' table; create it with `plausible-logs load` first.") from exc
    return dict(rows)


def resolve_site(
    conn: duckdb.DuckDBPyConnection, site: str | None, timezone_name: str | None = None
) -> tuple[str, str]:
    """(site, timezone): the one site when none is named; --timezone overrides the stored zone."""
    known = list_sites(conn)
    if site is None:
        if not known:
            raise ReportError("the database has no sites yet; load logs with `plausible-logs load` first.")
        if len(known) > 1:
            raise ReportError(f"the database has several sites ({', '.join(known)}); choose one with --site.")
        site = next(iter(known))
    elif site not in known:
        listed = ", ".join(known) or "none"
        raise ReportError(f"unknown site '{site}'. Sites in this database: {listed}.")
    tz_name = timezone_name or known[site]
    zone(tz_name)
    return site, tz_name


def data_bounds(conn: duckdb.DuckDBPyConnection, site: str, tz_name: str) -> tuple[date, date] | None:
    """First and last local day with events or sessions, or None when the site has none."""
    row = conn.execute(
        "SELECT least(e.lo, s.lo), greatest(e.hi, s.hi) FROM "
        "(SELECT min(ts) lo, max(ts) hi FROM events WHERE site = $site) e, "
        '(SELECT min("end") lo, max("end") hi FROM sessions WHERE site = $site) s',
        {"site": site},
    ).fetchone()
    if row is None or row[0] is None:
        return None
    tz = zone(tz_name)
    first, last = (value.replace(tzinfo=timezone.utc).astimezone(tz).date() for value in row)
    return first, last


def resolve_range(
    conn: duckdb.DuckDBPyConnection,
    site: str,
    tz_name: str,
    period: str = "30d",
    date_from: str | date | None = None,
    date_to: str | date | None = None,
) -> DateRange:
    """Explicit --from/--to win (a missing end is the data's edge); otherwise the period before the latest data day."""
    bounds = data_bounds(conn, site, tz_name)
    if date_from is None and date_to is None:
        if bounds is None:
            raise ReportError(f"site '{site}' has no data yet; load logs with `plausible-logs load` first.")
        return period_range(period, bounds[1], bounds[0])
    start = parse_date(date_from, "--from") if date_from is not None else (bounds[0] if bounds else None)
    end = parse_date(date_to, "--to") if date_to is not None else (bounds[1] if bounds else None)
    if start is None or end is None:
        raise ReportError(f"site '{site}' has no data yet; give both --from and --to, or load logs first.")
    if start > end:
        raise ReportError(f"--from {start} is after --to {end}; swap them.")
    return DateRange(start, end)


def metrics(conn: duckdb.DuckDBPyConnection, scope: Scope, visitors: int | None = None) -> dict[str, Any]:
    """The dashboard's top row for the whole range; `visitors` when already counted (see visitors.py)."""
    sums = f"{SESSION_TOTALS}, {scope.uniq('visitor_id') if visitors is None else 'NULL'}"
    visits, bounces, duration, session_pv, counted = conn.execute(
        f"SELECT {sums} FROM sessions WHERE {scope.sessions_where}", scope.params
    ).fetchone()
    (pageviews,) = conn.execute(f"SELECT count(*) FROM events WHERE {scope.pageviews_where}", scope.params).fetchone()
    return {
        "visitors": counted if visitors is None else visitors,
        "visits": visits,
        "pageviews": pageviews,
        **ratio_metrics(visits, bounces, int(duration), int(session_pv)),
    }


def timeseries(
    conn: duckdb.DuckDBPyConnection, scope: Scope, interval: str = "day", visitors: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    """One row per bucket of the range, zeros included, bucketed in the site's timezone.

    `visitors` (bucket label -> count) when already counted; otherwise a COUNT(DISTINCT) per bucket.
    """
    if interval not in INTERVALS:
        raise ReportError(f"unknown interval '{interval}'. Try one of: {', '.join(INTERVALS)}.")
    session_bucket = scope.bucket(scope.session_time, interval)
    event_bucket = scope.bucket("ts", interval)
    counted = scope.uniq("visitor_id") if visitors is None else "NULL"
    sessions = conn.execute(
        f"SELECT {session_bucket} AS b, {SESSION_TOTALS}, {counted} FROM sessions WHERE {scope.sessions_where} "
        "GROUP BY b",
        scope.params,
    ).fetchall()
    events = conn.execute(
        f"SELECT {event_bucket} AS b, count(*) FROM events WHERE {scope.pageviews_where} GROUP BY b", scope.params
    ).fetchall()
    by_bucket = {bucket_label(row[0], interval): row[1:] for row in sessions}
    pageviews = {bucket_label(row[0], interval): row[1] for row in events}
    series = []
    for label in bucket_labels(scope.rng, scope.tz, interval):
        visits, bounces, duration, session_pv, distinct = by_bucket.get(label, (0, 0, 0, 0, 0))
        ratios = ratio_metrics(visits, bounces, int(duration), int(session_pv))
        series.append(
            {
                "date": label,
                "visitors": distinct if visitors is None else visitors.get(label, 0),
                "visits": visits,
                "pageviews": pageviews.get(label, 0),
                "bounce_rate": ratios["bounce_rate"],
                "visit_duration": ratios["visit_duration"],
                "views_per_visit": ratios["views_per_visit"],
            }
        )
    return series


def _fast_parts(
    conn: duckdb.DuckDBPyConnection, scope: Scope, interval: str, limit: int | None, wanted: tuple[str, ...]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Metrics, timeseries and the client and acquisition lists from one visitor table (see visitors.py)."""
    with visitor_table(conn, scope, interval) as table:
        totals = metrics(conn, scope, total_visitors(conn, table))
        series = timeseries(conn, scope, interval, series_visitors(conn, scope, table, interval))
        shared = top_lists(conn, scope, table, tuple(n for n in wanted if n in LISTS), limit)
    return totals, series, shared


def build_report(
    conn: duckdb.DuckDBPyConnection,
    site: str | None = None,
    *,
    period: str = "30d",
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    interval: str = "day",
    limit: int | None = 10,
    breakdowns: tuple[str, ...] | list[str] | None = None,
    timezone_name: str | None = None,
    use_rollups: bool = True,
) -> dict[str, Any]:
    """The whole report as one JSON-ready dict; every renderer and the HTML page read only this.

    The per-day rollups answer when they can (see rollup_report.py); `use_rollups=False` always computes from
    the sessions and events tables, which tests and the benchmark compare against.
    """
    if limit is not None and limit < 1:
        raise ReportError(f"--limit must be at least 1, not {limit}.")
    wanted = tuple(BREAKDOWNS) if breakdowns is None else tuple(breakdowns)
    unknown = [name for name in wanted if name not in BREAKDOWNS]
    if unknown:
        raise ReportError(f"unknown breakdown '{unknown[0]}'. Try one of: {', '.join(BREAKDOWNS)}.")
    site, tz_name = resolve_site(conn, site, timezone_name)
    rng = resolve_range(conn, site, tz_name, period, date_from, date_to)
    scope = make_scope(site, tz_name, rng)
    from_rollups = rollup_parts(conn, scope, interval, limit, wanted) if use_rollups else None
    if from_rollups is not None:
        totals, series, lists = from_rollups
    else:
        totals, series, shared = _fast_parts(conn, scope, interval, limit, wanted)
        cache: dict[str, Any] = {}
        lists = {
            name: shared[name] if name in shared else breakdown(conn, scope, name, limit, cache) for name in wanted
        }
    return {
        "site": site,
        "period": {"from": rng.start.isoformat(), "to": rng.end.isoformat(), "timezone": tz_name},
        "metrics": totals,
        "timeseries": series,
        "breakdowns": lists,
    }
