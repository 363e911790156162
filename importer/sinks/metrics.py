"""Plausible's top-line metrics over the DuckDB file, with its definitions and rounding.

Definitions (``lib/plausible/stats/sql/expression.ex``, ``where_builder.ex``):

* visitors = distinct ``visitor_id`` of events in range (daily salts: a person seen on two days
  counts twice); pageviews = events named ``pageview``; events = all events.
* visits = sessions *active* in range (``end >= from`` and ``start < to``), as Plausible counts
  sessions that started before the range but were still going in it.
* views_per_visit = round(Σ session pageviews / visits, 2); bounce_rate = round(bounces / visits
  * 100); visit_duration = round(Σ duration / visits). Session sums are used, as Plausible does; for
  sessions wholly inside the range Σ session pageviews equals the event count.
* Rounding is ClickHouse's ``round`` on floats, which is half-to-even (DuckDB ``round_even``);
  with no visits the ratios are 0 (``ifNotFinite(..., 0)``).
* Days are bucketed in the site's timezone: events by their own time, sessions by their last
  event (``toDate(toTimeZone(timestamp, tz))`` on ``sessions_v2.timestamp``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import duckdb

Metrics = dict[str, int | float]

_RATIOS = """
  CASE WHEN visits > 0 THEN round_even(session_pageviews::DOUBLE / visits, 2) ELSE 0 END AS views_per_visit,
  CASE WHEN visits > 0 THEN CAST(round_even(bounces::DOUBLE / visits * 100, 0) AS INTEGER) ELSE 0 END
    AS bounce_rate,
  CASE WHEN visits > 0 THEN CAST(round_even(duration::DOUBLE / visits, 0) AS INTEGER) ELSE 0 END
    AS visit_duration
"""
_SESSION_SUMS = """count(*) AS visits, count(*) FILTER (WHERE is_bounce) AS bounces,
    coalesce(sum(duration), 0) AS duration, coalesce(sum(pageviews), 0) AS session_pageviews"""
_EVENT_SUMS = """count(DISTINCT visitor_id) AS visitors, count(*) FILTER (WHERE name = 'pageview') AS pageviews,
    count(*) AS events"""
METRIC_NAMES: tuple[str, ...] = (
    "visitors", "visits", "pageviews", "events", "views_per_visit", "bounce_rate", "visit_duration",
)


def local_date_sql(column: str, tz: str) -> str:
    """SQL for the site-local date of a naive-UTC timestamp column (``tz`` is an SQL expression)."""
    return f"CAST(timezone({tz}, timezone('UTC', {column})) AS DATE)"


DAILY_METRICS_VIEW = f"""
CREATE OR REPLACE VIEW daily_metrics AS
WITH ev AS (
  SELECT e.site, {local_date_sql("e.ts", "s.timezone")} AS date, {_EVENT_SUMS}
  FROM events e JOIN sites s USING (site) GROUP BY ALL
), se AS (
  SELECT x.site, {local_date_sql('x."end"', "s.timezone")} AS date, {_SESSION_SUMS}
  FROM sessions x JOIN sites s USING (site) GROUP BY ALL
), j AS (
  SELECT site, date, coalesce(visitors, 0) AS visitors, coalesce(pageviews, 0) AS pageviews,
    coalesce(events, 0) AS events, coalesce(visits, 0) AS visits, coalesce(bounces, 0) AS bounces,
    coalesce(duration, 0) AS duration, coalesce(session_pageviews, 0) AS session_pageviews
  FROM ev FULL OUTER JOIN se USING (site, date)
)
SELECT site, date, visitors, visits, pageviews, events, {_RATIOS}
FROM j
"""


def create_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the report views; cheap, so every open does it and old files gain new views."""
    con.execute(DAILY_METRICS_VIEW)


def site_timezone(con: duckdb.DuckDBPyConnection, site: str) -> str:
    """The site's IANA timezone, UTC when the site is unknown."""
    rows = con.execute("SELECT timezone FROM sites WHERE site = ?", [site]).fetchall()
    return rows[0][0] if rows else "UTC"


def utc_bounds(date_from: date, date_to: date, tz: str) -> tuple[datetime, datetime]:
    """Naive-UTC [lo, hi) covering local days date_from..date_to inclusive."""
    zone = ZoneInfo(tz)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), zone).astimezone(timezone.utc).replace(tzinfo=None)

    return midnight(date_from), midnight(date_to + timedelta(days=1))


def aggregate(
    con: duckdb.DuckDBPyConnection, site: str, date_from: date, date_to: date, tz: str | None = None
) -> Metrics:
    """Top-line metrics for local days date_from..date_to (inclusive) of one site."""
    lo, hi = utc_bounds(date_from, date_to, tz or site_timezone(con, site))
    sql = f"""
    WITH ev AS (SELECT {_EVENT_SUMS} FROM events WHERE site = $site AND ts >= $lo AND ts < $hi),
    se AS (SELECT {_SESSION_SUMS} FROM sessions WHERE site = $site AND "end" >= $lo AND start < $hi)
    SELECT visitors, visits, pageviews, events, {_RATIOS} FROM ev, se
    """
    cur = con.execute(sql, {"site": site, "lo": lo, "hi": hi})
    names = [d[0] for d in cur.description]
    return _clean(dict(zip(names, cur.fetchall()[0], strict=True)))


def timeseries(
    con: duckdb.DuckDBPyConnection, site: str, date_from: date, date_to: date, tz: str | None = None
) -> list[Metrics]:
    """One row per local day (every day in range, zeros when empty), oldest first."""
    tz = tz or site_timezone(con, site)
    lo, hi = utc_bounds(date_from, date_to, tz)
    sql = f"""
    WITH ev AS (
      SELECT {local_date_sql("ts", "$tz")} AS date, {_EVENT_SUMS}
      FROM events WHERE site = $site AND ts >= $lo AND ts < $hi GROUP BY ALL
    ), se AS (
      SELECT {local_date_sql('"end"', "$tz")} AS date, {_SESSION_SUMS}
      FROM sessions WHERE site = $site AND "end" >= $lo AND "end" < $hi GROUP BY ALL
    ), j AS (
      SELECT date, coalesce(visitors, 0) AS visitors, coalesce(pageviews, 0) AS pageviews,
        coalesce(events, 0) AS events, coalesce(visits, 0) AS visits, coalesce(bounces, 0) AS bounces,
        coalesce(duration, 0) AS duration, coalesce(session_pageviews, 0) AS session_pageviews
      FROM ev FULL OUTER JOIN se USING (date)
    )
    SELECT date, visitors, visits, pageviews, events, {_RATIOS} FROM j
    """
    cur = con.execute(sql, {"site": site, "lo": lo, "hi": hi, "tz": tz})
    names = [d[0] for d in cur.description]
    by_day = {row[0]: _clean(dict(zip(names[1:], row[1:], strict=True))) for row in cur.fetchall()}
    empty = dict.fromkeys(METRIC_NAMES, 0)
    days = (date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1))
    return [{"date": day, **by_day.get(day, empty)} for day in days]


def _clean(row: dict) -> Metrics:
    """Plain ints/floats (DuckDB hands back Decimals/ints of several widths)."""
    out: Metrics = {}
    for name in METRIC_NAMES:
        value = row[name]
        out[name] = float(value) if name == "views_per_visit" else int(value)
    return out
