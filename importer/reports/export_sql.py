"""The ten imported_* tables of Plausible's CSV import (reference/plausible.md §4.2) as SQL over events and sessions.

Each query mirrors Plausible's own exporter (lib/plausible/exports.ex): daily totals per dimension, session tables
from the sessions table (each session on the local date of its last event, as Plausible's exporter and the report
count it), pages and custom events from events, pageviews in imported_visitors counted from pageview events. Empty
strings stand for missing values, as Plausible writes them; unknown countries are left out of imported_locations, as
Plausible does. Headers are exactly the documented ones; imported_pages uses the six-column header every importer
version reads (the scroll-depth and time-on-page columns are optional and not derivable from logs).
"""

from __future__ import annotations

from importer.reports.scope import Scope

HEADERS: dict[str, tuple[str, ...]] = {
    "imported_visitors": ("date", "visitors", "pageviews", "bounces", "visits", "visit_duration"),
    "imported_sources": (
        "date", "source", "referrer", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
        "pageviews", "visitors", "visits", "visit_duration", "bounces",
    ),
    "imported_pages": ("date", "hostname", "page", "visits", "visitors", "pageviews"),
    "imported_entry_pages": ("date", "entry_page", "visitors", "entrances", "visit_duration", "bounces", "pageviews"),
    "imported_exit_pages": ("date", "exit_page", "visitors", "visit_duration", "exits", "bounces", "pageviews"),
    "imported_custom_events": ("date", "name", "link_url", "path", "visitors", "events"),
    "imported_locations": (
        "date", "country", "region", "city", "visitors", "visits", "visit_duration", "bounces", "pageviews",
    ),
    "imported_devices": ("date", "device", "visitors", "visits", "visit_duration", "bounces", "pageviews"),
    "imported_browsers": (
        "date", "browser", "browser_version", "visitors", "visits", "visit_duration", "bounces", "pageviews",
    ),
    "imported_operating_systems": (
        "date", "operating_system", "operating_system_version", "visitors", "visits", "visit_duration", "bounces",
        "pageviews",
    ),
}
GOALS_WITH_URL = ("Outbound Link: Click", "Cloaked Link: Click", "File Download")
GOALS_WITH_PATH = ("404", "WP Form Completions")

# Session-table files: the dimension columns (SQL expression AS header name) before the metric columns.
_SESSION_DIMENSIONS = {
    "imported_sources": (
        "coalesce(referrer_source, '') AS source", "coalesce(referrer, '') AS referrer",
        "coalesce(utm_source, '') AS utm_source", "coalesce(utm_medium, '') AS utm_medium",
        "coalesce(utm_campaign, '') AS utm_campaign", "coalesce(utm_content, '') AS utm_content",
        "coalesce(utm_term, '') AS utm_term",
    ),
    "imported_entry_pages": ("coalesce(entry_page, '') AS entry_page",),
    "imported_exit_pages": ("coalesce(exit_page, '') AS exit_page",),
    "imported_locations": ("country AS country", "'' AS region", "0 AS city"),
    "imported_devices": ("coalesce(device, '') AS device",),
    "imported_browsers": ("coalesce(browser, '') AS browser", "coalesce(browser_version, '') AS browser_version"),
    "imported_operating_systems": (
        "coalesce(os, '') AS operating_system", "coalesce(os_version, '') AS operating_system_version",
    ),
}
_SESSION_METRICS = {
    "visitors": "count(DISTINCT visitor_id)",
    "visits": "count(*)",
    "entrances": "count(*)",
    "exits": "count(*)",
    "bounces": "count(*) FILTER (WHERE is_bounce)",
    "visit_duration": "coalesce(sum(duration), 0)",
    "pageviews": "coalesce(sum(pageviews), 0)",
}


def _sessions_query(table: str, scope: Scope) -> str:
    dims = _SESSION_DIMENSIONS[table]
    names = [expr.rsplit(" AS ", 1)[1] for expr in dims]
    metrics = [f"{_SESSION_METRICS[col]} AS {col}" for col in HEADERS[table] if col not in ("date", *names)]
    where = scope.sessions_where
    if table == "imported_locations":
        where += " AND country IS NOT NULL AND country NOT IN ('', 'ZZ')"
    day = f"CAST({scope.local(scope.session_time)} AS DATE)"
    group = ", ".join(str(i + 1) for i in range(len(names) + 1))
    return (
        f"SELECT {day} AS date, {', '.join(dims)}, {', '.join(metrics)} FROM sessions WHERE {where} "
        f"GROUP BY {group} ORDER BY {group}"
    )


def _visitors_query(scope: Scope) -> str:
    return f"""
        WITH s AS (
            SELECT CAST({scope.local(scope.session_time)} AS DATE) AS date, count(DISTINCT visitor_id) AS visitors,
                   count(*) FILTER (WHERE is_bounce) AS bounces, count(*) AS visits,
                   coalesce(sum(duration), 0) AS visit_duration
            FROM sessions WHERE {scope.sessions_where} GROUP BY 1
        ), e AS (
            SELECT CAST({scope.local('ts')} AS DATE) AS date, count(*) AS pageviews
            FROM events WHERE {scope.pageviews_where} GROUP BY 1
        )
        SELECT coalesce(s.date, e.date) AS date, coalesce(s.visitors, 0), coalesce(e.pageviews, 0),
               coalesce(s.bounces, 0), coalesce(s.visits, 0), coalesce(s.visit_duration, 0)
        FROM s FULL JOIN e ON s.date = e.date ORDER BY 1
    """


def _pages_query(scope: Scope) -> str:
    return f"""
        SELECT CAST({scope.local('ts')} AS DATE) AS date, min(hostname) AS hostname, pathname AS page,
               count(DISTINCT session_id) AS visits, count(DISTINCT visitor_id) AS visitors, count(*) AS pageviews
        FROM events WHERE {scope.pageviews_where} GROUP BY 1, pathname ORDER BY 1, pathname
    """


def _custom_events_query(scope: Scope) -> str:
    url_goals = ", ".join(f"'{goal}'" for goal in GOALS_WITH_URL)
    path_goals = ", ".join(f"'{goal}'" for goal in GOALS_WITH_PATH)
    return f"""
        SELECT CAST({scope.local('ts')} AS DATE) AS date, name,
               CASE WHEN name IN ({url_goals}) THEN coalesce(json_extract_string(props, '$.url'), '') ELSE '' END
                   AS link_url,
               CASE WHEN name IN ({path_goals}) THEN coalesce(json_extract_string(props, '$.path'), '') ELSE '' END
                   AS path,
               count(DISTINCT visitor_id) AS visitors, count(*) AS events
        FROM events
        WHERE {scope.events_where} AND name NOT IN ('pageview', 'engagement', 'pageleave')
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
    """


def table_query(table: str, scope: Scope) -> str:
    """SQL whose columns are exactly HEADERS[table], rows ordered by date then dimensions."""
    if table == "imported_visitors":
        return _visitors_query(scope)
    if table == "imported_pages":
        return _pages_query(scope)
    if table == "imported_custom_events":
        return _custom_events_query(scope)
    return _sessions_query(table, scope)
