"""The dashboard's top lists one at a time, each row sorted by visitors then name.

build_report takes this path for pages, entry and exit pages; the other lists come from visitors.py in one
pass and fall back to this path only when its shortcut would not be exact. Session-scoped lists (sources, UTM,
devices, entry/exit pages…) read the sessions table, so visitors are distinct visitor_id over sessions; pages
read pageview events. Empty values are labelled as Plausible's dashboard labels them ("Direct / None" for
sources and referrers, "(not set)" for browsers, OS and devices) or left out where Plausible leaves them out
(empty UTM values, unknown countries, sessions without a page view).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb

from importer.reports.scope import SESSION_TOTALS, Scope, ratio_metrics

DIRECT = "Direct / None"
NOT_SET = "(not set)"
SESSION_FIELDS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")
SEP = "\x1f"  # joins a parent and a version into one key; never in a browser or OS name


@dataclass(frozen=True)
class Dimension:
    """A session column shown as a top list: the JSON key, how empties show, and an optional version column."""

    key: str
    column: str
    empty_label: str | None  # None: rows with an empty value are left out
    fields: tuple[str, ...] = SESSION_FIELDS
    version_column: str | None = None


SESSION_DIMENSIONS = {
    "entry_pages": Dimension("entry_page", "entry_page", None, ("visitors", "visits", "bounce_rate", "visit_duration")),
    "sources": Dimension("source", "referrer_source", DIRECT),
    "referrers": Dimension("referrer", "referrer", DIRECT),
    "utm_mediums": Dimension("utm_medium", "utm_medium", None),
    "utm_sources": Dimension("utm_source", "utm_source", None),
    "utm_campaigns": Dimension("utm_campaign", "utm_campaign", None),
    "browsers": Dimension("browser", "browser", NOT_SET, version_column="browser_version"),
    "operating_systems": Dimension("os", "os", NOT_SET, version_column="os_version"),
    "devices": Dimension("device", "device", NOT_SET),
    "countries": Dimension("country", "country", None),
}
BREAKDOWNS = (
    "pages",
    "entry_pages",
    "exit_pages",
    "sources",
    "referrers",
    "utm_mediums",
    "utm_sources",
    "utm_campaigns",
    "browsers",
    "operating_systems",
    "devices",
    "countries",
)
KEYS = {"pages": "page", "exit_pages": "exit_page", **{name: dim.key for name, dim in SESSION_DIMENSIONS.items()}}


def _label_sql(column: str, empty_label: str | None) -> tuple[str, str]:
    """(value expression, extra WHERE) so empties are either labelled or filtered before grouping."""
    if empty_label is None:
        return column, f" AND {column} IS NOT NULL AND {column} <> ''"
    return f"coalesce(nullif({column}, ''), '{empty_label}')", ""


Counter = Callable[[list[str] | None], dict[str, tuple[Any, ...]]]


def top_candidates(
    count: Counter, bound: dict[str, int], limit: int | None, part: Callable[[str], str] | None = None
) -> dict[str, tuple[Any, ...]]:
    """Distinct counts for every key that can still rank in the top `limit` (per `part`), and for no other.

    Distinct counting is the one expensive step (a hash table as big as the rows); a cheap GROUP BY gives each
    key an upper bound (visits or pageviews ≥ visitors). Keys are counted best bound first until the limit-th
    best exact count reaches the bound of every key left out, so the ranking stays exact. `count(None)` = all keys.
    """
    if limit is None or len(bound) <= limit:
        return count(None)
    parts: dict[str, list[str]] = {}
    for key in sorted(bound, key=lambda k: (-bound[k], k)):
        parts.setdefault(part(key) if part else "", []).append(key)
    known = count([key for keys in parts.values() for key in keys[:limit]])
    while True:
        more = []
        for keys in parts.values():
            counted = sorted((known[k][0] for k in keys if k in known), reverse=True)
            if len(counted) >= limit:
                more += [k for k in keys if k not in known and bound[k] >= counted[limit - 1]]
        if not more:
            return known
        known.update(count(more))


def ranked(rows: list[dict[str, Any]], key: str, limit: int | None) -> list[dict[str, Any]]:
    """Most visitors first, ties by name (as the dashboard), cut to `limit`."""
    rows.sort(key=lambda row: (-row["visitors"], row[key]))
    return rows if limit is None else rows[:limit]


def _in_keys(expression: str, keys: list[str] | None) -> str:
    return "" if keys is None else f" AND {expression} IN (SELECT unnest($keys))"


def session_row(key: str, value: str, visitors: int, sums: tuple[Any, ...], fields: tuple[str, ...]) -> dict[str, Any]:
    """One list row: the label, then the wanted fields from visitors and (visits, bounces, Σduration, Σpageviews)."""
    visits, bounces, duration, session_pv = sums
    values = {"visitors": visitors, "visits": visits, "pageviews": int(session_pv)}
    values.update(ratio_metrics(visits, bounces, int(duration), int(session_pv)))
    return {key: value, **{field: values[field] for field in fields}}


def _grouped(
    conn: duckdb.DuckDBPyConnection, scope: Scope, keys_sql: str, where: str, limit: int | None, part: bool = False
) -> dict[str, tuple[int, tuple[Any, ...]]]:
    """key -> (visitors, session totals) for the top keys of `keys_sql` over the sessions matching `where`."""
    totals = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT {keys_sql} AS k, {SESSION_TOTALS} FROM sessions WHERE {where} GROUP BY k", scope.params
        ).fetchall()
    }

    def count(keys: list[str] | None) -> dict[str, tuple[Any, ...]]:
        """Distinct visitors of the given keys only (all keys for None)."""
        sql = (
            f"SELECT {keys_sql} AS k, {scope.uniq('visitor_id')} FROM sessions "
            f"WHERE {where}{_in_keys(keys_sql, keys)} GROUP BY k"
        )
        params = {**scope.params, **({} if keys is None else {"keys": keys})}
        return {k: (v,) for k, v in conn.execute(sql, params).fetchall()}

    splitter = (lambda key: key.split(SEP, 1)[0]) if part else None
    visitors = top_candidates(count, {k: t[0] for k, t in totals.items()}, limit, splitter)
    return {k: (v[0], totals[k]) for k, v in visitors.items()}


def session_breakdown(
    conn: duckdb.DuckDBPyConnection, scope: Scope, dim: Dimension, limit: int | None
) -> list[dict[str, Any]]:
    """Top values of one session column, with version sub-lists for browsers and operating systems."""
    value, extra = _label_sql(dim.column, dim.empty_label)
    grouped = _grouped(conn, scope, value, scope.sessions_where + extra, limit)
    rows = [session_row(dim.key, k, v, sums, dim.fields) for k, (v, sums) in grouped.items()]
    result = ranked(rows, dim.key, limit)
    if dim.version_column and result:
        versions = _versions(conn, scope, dim, limit)
        for row in result:
            row["versions"] = versions.get(row[dim.key], [])
    return result


def _versions(
    conn: duckdb.DuckDBPyConnection, scope: Scope, dim: Dimension, limit: int | None
) -> dict[str, list[dict[str, Any]]]:
    """Top versions within each parent value (Plausible's browser → version drill-down)."""
    parent, extra = _label_sql(dim.column, dim.empty_label)
    version, _ = _label_sql(str(dim.version_column), NOT_SET)
    grouped = _grouped(conn, scope, f"{parent} || '{SEP}' || {version}", scope.sessions_where + extra, limit, True)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, (visitors, sums) in grouped.items():
        name, ver = key.split(SEP, 1)
        out.setdefault(name, []).append(session_row("version", ver, visitors, sums, dim.fields))
    return {name: ranked(rows, "version", limit) for name, rows in out.items()}


def page_views(conn: duckdb.DuckDBPyConnection, scope: Scope, cache: dict[str, Any]) -> dict[str, int]:
    """Pageviews of every page in the range, computed once per report (pages and exit pages both need them)."""
    if "page_views" not in cache:
        cache["page_views"] = dict(
            conn.execute(
                f"SELECT pathname, count(*) FROM events WHERE {scope.pageviews_where} GROUP BY pathname", scope.params
            ).fetchall()
        )
    return cache["page_views"]


def pages(
    conn: duckdb.DuckDBPyConnection, scope: Scope, limit: int | None, cache: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Top pages by pageview events, with the columns of Plausible's Top Pages card.

bounce_rate is that of sessions entering on the page, as in Plausible; time on page and scroll depth need the
tracker's engagement events, which logs do not have.
"""
    bound = page_views(conn, scope, {} if cache is None else cache)

    def count(keys: list[str] | None) -> dict[str, tuple[Any, ...]]:
        """Distinct visitors of the given pages only (all pages for None)."""
        # Two-phase distinct: DuckDB runs GROUP BY (page, visitor) in parallel, COUNT(DISTINCT) per group is not.
        inner = f"SELECT pathname, visitor_id FROM events WHERE {scope.pageviews_where}{_in_keys('pathname', keys)}"
        sql = f"SELECT pathname, count(*) FROM ({inner} GROUP BY ALL) GROUP BY pathname"
        params = {**scope.params, **({} if keys is None else {"keys": keys})}
        return {row[0]: row[1:] for row in conn.execute(sql, params).fetchall()}

    counted = top_candidates(count, bound, limit)
    rows = [{"page": k, "visitors": v, "pageviews": bound[k]} for k, (v,) in counted.items()]
    result = ranked(rows, "page", limit)
    entries = _entry_bounces(conn, scope, [row["page"] for row in result])
    for row in result:
        visits, bounces = entries.get(row["page"], (0, 0))
        row["bounce_rate"] = ratio_metrics(visits, bounces, 0, 0)["bounce_rate"]
    return result


def _entry_bounces(conn: duckdb.DuckDBPyConnection, scope: Scope, keys: list[str]) -> dict[str, tuple[int, int]]:
    """page -> (sessions entering on it, of which bounces): Plausible's bounce rate for a page."""
    rows = conn.execute(
        f"SELECT entry_page, count(*), count(*) FILTER (WHERE is_bounce) FROM sessions "
        f"WHERE {scope.sessions_where}{_in_keys('entry_page', keys)} GROUP BY entry_page",
        {**scope.params, "keys": keys},
    ).fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


def exit_pages(
    conn: duckdb.DuckDBPyConnection, scope: Scope, limit: int | None, cache: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Top exit pages; exit_rate = exits / pageviews of that page in %, one decimal (null without pageviews)."""
    grouped = _grouped(conn, scope, "exit_page", scope.sessions_where + " AND exit_page IS NOT NULL", limit)
    rows = [{"exit_page": k, "visitors": v, "visits": sums[0]} for k, (v, sums) in grouped.items()]
    result = ranked(rows, "exit_page", limit)
    views_of = page_views(conn, scope, {} if cache is None else cache)
    for row in result:
        views = views_of.get(row["exit_page"], 0)
        row["exit_rate"] = round(row["visits"] / views * 100, 1) if views else None
    return result


def breakdown(
    conn: duckdb.DuckDBPyConnection,
    scope: Scope,
    name: str,
    limit: int | None,
    cache: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One named breakdown of the report (see BREAKDOWNS); `cache` shares work between breakdowns of one report."""
    if name == "pages":
        return pages(conn, scope, limit, cache)
    if name == "exit_pages":
        return exit_pages(conn, scope, limit, cache)
    return session_breakdown(conn, scope, SESSION_DIMENSIONS[name], limit)
