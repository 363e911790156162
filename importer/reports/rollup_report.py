"""Metrics, timeseries and every list of a report from the per-day rollups `load` keeps (importer/sinks/rollups.py).

A report over whole local days adds up cells instead of scanning events: a UTC day is taken whole when all its
local days fall in one bucket (the range, or one day/week/month of the timeseries), and as its local-day pieces
otherwise. Visitor ids never span two UTC days, so sums of distinct counts stay exact. Hour buckets, a --timezone
other than the one the rollups were cut in, and files without usable rollups return None: the caller then
computes from the sessions and events tables, with the same definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import duckdb

from importer.reports.breakdowns import SESSION_DIMENSIONS, ranked, session_row
from importer.reports.periods import bucket_labels
from importer.reports.scope import Scope, ratio_metrics

Sums = tuple[int, int, int, int, int]  # visitors, visits, bounces, Σduration, Σpageviews
Cells = dict[str, dict[tuple[Any, ...], Sums]]  # dim -> (key, subkey, bucket) -> sums

_CELLS = """
WITH u AS (SELECT unnest($u_days) AS utc_day, unnest($u_whole) AS whole),
     l AS (SELECT unnest($l_days) AS local_day, unnest($l_bucket) AS bucket)
SELECT r.dim, r.key, r.subkey, CASE WHEN r.local_day IS NULL THEN u.whole ELSE l.bucket END AS b,
       sum(r.visitors), sum(r.visits), sum(r.bounces), sum(r.duration), sum(r.pageviews)
FROM rollups r JOIN u ON u.utc_day = r.utc_day LEFT JOIN l ON l.local_day = r.local_day
WHERE r.site = $site AND r.utc_day >= $first AND r.utc_day <= $last AND r.dim IN (SELECT unnest($dims))
  AND CASE WHEN r.local_day IS NULL THEN u.whole IS NOT NULL ELSE u.whole IS NULL AND l.bucket IS NOT NULL END
GROUP BY ALL
"""


def rollups_fit(conn: duckdb.DuckDBPyConnection, scope: Scope, interval: str) -> bool:
    """True when the file has rollups for the site, cut in the report's timezone, with one-day visitor ids."""
    if interval == "hour":
        return False
    try:
        rows = conn.execute("SELECT timezone, exact FROM rollup_sites WHERE site = ?", [scope.site]).fetchall()
    except duckdb.CatalogException:  # a file written before rollups existed, opened read-only
        return False
    return bool(rows) and rows[0][0] == scope.timezone and bool(rows[0][1])


def _bucketer(scope: Scope, interval: str) -> Callable[[date], str]:
    """Local day -> its timeseries label (a partial first week or month is labelled with the range's first day)."""
    start = scope.rng.start
    if interval == "week":
        return lambda day: max(day - timedelta(days=day.weekday()), start).isoformat()
    if interval == "month":
        return lambda day: max(day.replace(day=1), start).isoformat()
    return lambda day: day.isoformat()


def _plan(scope: Scope, bucket_of: Callable[[date], str]) -> dict[str, Any] | None:
    """Query parameters choosing, per UTC day, the whole cell or its local pieces; None if a piece would double."""
    tz = scope.tz
    labels = {day: bucket_of(day) for day in scope.rng.dates()}
    first, last = scope.lo.date(), (scope.hi - timedelta(seconds=1)).date()
    u_days, u_whole = [], []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        lo, hi = (datetime.combine(day, t, timezone.utc).astimezone(tz).date() for t in (time(0), time(23, 59, 59)))
        buckets = [labels.get(lo + timedelta(days=k)) for k in range((hi - lo).days + 1)]
        inside = [b for b in buckets if b is not None]
        whole = buckets[0] if len(inside) == len(buckets) and len(set(buckets)) == 1 else None
        if whole is None and len(set(inside)) != len(inside):
            return None  # two pieces of one UTC day in one bucket (no real zone does this); count from the tables
        u_days.append(day)
        u_whole.append(whole)
    return {
        "site": scope.site, "first": first, "last": last, "u_days": u_days, "u_whole": u_whole,
        "l_days": list(labels), "l_bucket": list(labels.values()),
    }


def _cells(conn: duckdb.DuckDBPyConnection, plan: dict[str, Any], dims: set[str]) -> Cells:
    out: Cells = {dim: {} for dim in dims}
    for dim, key, subkey, bucket, *sums in conn.execute(_CELLS, {**plan, "dims": sorted(dims)}).fetchall():
        out[dim][(key, subkey, bucket)] = tuple(int(v) for v in sums)  # type: ignore[assignment]
    return out


def _dims_for(wanted: tuple[str, ...]) -> set[str]:
    dims = {"visits", "pageviews"}
    for name in wanted:
        dims.add(name)
        if name == "pages":
            dims.add("entry_pages")  # a page's bounce rate is that of visits entering on it
        elif name == "exit_pages":
            dims.add("pages")  # exit rate = exits / page views of the page
        elif SESSION_DIMENSIONS.get(name) and SESSION_DIMENSIONS[name].version_column:
            dims.add(f"{name}.versions")
    return dims


def _session_list(name: str, cells: Cells, limit: int | None) -> list[dict[str, Any]]:
    dim = SESSION_DIMENSIONS[name]
    rows = [session_row(dim.key, key, s[0], s[1:], dim.fields) for (key, _, _), s in cells[name].items()]
    result = ranked(rows, dim.key, limit)
    if dim.version_column:
        children: dict[str, list[dict[str, Any]]] = {}
        for (key, version, _), s in cells[f"{name}.versions"].items():
            children.setdefault(key, []).append(session_row("version", version, s[0], s[1:], dim.fields))
        for row in result:
            row["versions"] = ranked(children.get(row[dim.key], []), "version", limit)
    return result


def _pages(cells: Cells, limit: int | None) -> list[dict[str, Any]]:
    rows = [{"page": key, "visitors": s[0], "pageviews": s[4]} for (key, _, _), s in cells["pages"].items()]
    result = ranked(rows, "page", limit)
    entries = {key: s for (key, _, _), s in cells["entry_pages"].items()}
    for row in result:
        visits, bounces = entries[row["page"]][1:3] if row["page"] in entries else (0, 0)
        row["bounce_rate"] = ratio_metrics(visits, bounces, 0, 0)["bounce_rate"]
    return result


def _exit_pages(cells: Cells, limit: int | None) -> list[dict[str, Any]]:
    rows = [{"exit_page": key, "visitors": s[0], "visits": s[1]} for (key, _, _), s in cells["exit_pages"].items()]
    result = ranked(rows, "exit_page", limit)
    views = {key: s[4] for (key, _, _), s in cells["pages"].items()}
    for row in result:
        seen = views.get(row["exit_page"], 0)
        row["exit_rate"] = round(row["visits"] / seen * 100, 1) if seen else None
    return result


def _totals(cells: Cells, bucket: str) -> tuple[Sums, int]:
    visits = cells["visits"].get((None, None, bucket), (0, 0, 0, 0, 0))
    pageviews = cells["pageviews"].get((None, None, bucket), (0, 0, 0, 0, 0))[4]
    return visits, pageviews


def _series(cells: Cells, scope: Scope, interval: str) -> list[dict[str, Any]]:
    series = []
    for label in bucket_labels(scope.rng, scope.tz, interval):
        (visitors, visits, bounces, duration, session_pv), pageviews = _totals(cells, label)
        ratios = ratio_metrics(visits, bounces, duration, session_pv)
        series.append(
            {
                "date": label,
                "visitors": visitors,
                "visits": visits,
                "pageviews": pageviews,
                "bounce_rate": ratios["bounce_rate"],
                "visit_duration": ratios["visit_duration"],
                "views_per_visit": ratios["views_per_visit"],
            }
        )
    return series


def rollup_parts(
    conn: duckdb.DuckDBPyConnection, scope: Scope, interval: str, limit: int | None, wanted: tuple[str, ...]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, list[dict[str, Any]]]] | None:
    """(metrics, timeseries, lists) as build_report shapes them, or None when the rollups cannot answer."""
    if not rollups_fit(conn, scope, interval):
        return None
    whole = _plan(scope, lambda day: "")
    buckets = _plan(scope, _bucketer(scope, interval))
    if whole is None or buckets is None:
        return None
    cells = _cells(conn, whole, _dims_for(wanted))
    (visitors, visits, bounces, duration, session_pv), pageviews = _totals(cells, "")
    totals = {
        "visitors": visitors,
        "visits": visits,
        "pageviews": pageviews,
        **ratio_metrics(visits, bounces, duration, session_pv),
    }
    series = _series(_cells(conn, buckets, {"visits", "pageviews"}), scope, interval)
    lists: dict[str, list[dict[str, Any]]] = {}
    for name in wanted:
        if name == "pages":
            lists[name] = _pages(cells, limit)
        elif name == "exit_pages":
            lists[name] = _exit_pages(cells, limit)
        else:
            lists[name] = _session_list(name, cells, limit)
    return totals, series, lists
