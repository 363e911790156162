"""Per-day rollups of sessions and page views, kept by `load` so a report over whole days reads a few thousand rows.

Why the sums are exact: visitor ids are hashed with a salt that rotates at 00:00 UTC, so one id never appears on
two UTC days (a session carries its last event's id). Distinct visitors over any set of UTC days are therefore the
sum of each day's distinct visitors, per list key too. Reports count days in the site's timezone, whose midnight
cuts a UTC day in two, so every UTC day is stored whole (local_day NULL) and cut into its local days; a report
takes a UTC day whole when all of it falls in one bucket and its pieces otherwise (importer/reports/rollup_report.py).
Where the zone is at UTC+0 for all the days rebuilt (UTC itself, the default), no midnight cuts a day: the pieces
would never be read, and are not stored (half the grouping work).

`rollup_sites` says in which zone the pieces were cut and whether the data keep the one-day property (everything
`load` writes does; a hand-made file may not): reports use the rollups only when both fit.
Sessions count on the local day of their last event, as Plausible counts them; page views at their own time.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb

from importer.reports.breakdowns import NOT_SET, SESSION_DIMENSIONS
from importer.reports.periods import local_sql, zone
from importer.sinks.schema import TABLES


def _key_sql(column: str, empty_label: str | None) -> str:
    """The list label of a session column; NULL for rows the list leaves out (as breakdowns.py labels them)."""
    return f"nullif({column}, '')" if empty_label is None else f"coalesce(nullif({column}, ''), '{empty_label}')"


def _session_lists() -> dict[str, tuple[str, ...]]:
    """dim -> (key SQL[, subkey SQL]) for every session list of the report."""
    lists: dict[str, tuple[str, ...]] = {"exit_pages": ("exit_page",)}
    for name, dim in SESSION_DIMENSIONS.items():
        key = _key_sql(dim.column, dim.empty_label)
        lists[name] = (key,)
        if dim.version_column:
            lists[f"{name}.versions"] = (key, _key_sql(dim.version_column, NOT_SET))
    return lists


SESSION_LISTS = _session_lists()
_METRICS = (
    "count(DISTINCT visitor_id) AS visitors, count(*) AS visits, count(*) FILTER (WHERE is_bounce) AS bounces, "
    "coalesce(sum(duration), 0) AS duration, coalesce(sum(pageviews), 0) AS pageviews"
)


def _grouped_insert(source: str, lists: dict[str, tuple[str, ...]], total: str | None, metrics: str,
                    cut: bool) -> str:
    """INSERT … SELECT with one GROUPING SET per list and granularity (whole UTC day, and with `cut` by local day).

    grouping() over the key columns tells which list a row belongs to: a bit is set for every column not grouped.
    """
    columns: list[str] = []
    sets: dict[str, tuple[int, ...]] = {total: ()} if total else {}
    for name, exprs in lists.items():
        indexes = []
        for expr in exprs:
            if expr not in columns:
                columns.append(expr)
            indexes.append(columns.index(expr))
        sets[name] = tuple(indexes)
    names = [f"c{i}" for i in range(len(columns))]
    width = len(columns)
    flags = {name: sum(1 << (width - 1 - i) for i in range(width) if i not in idx) for name, idx in sets.items()}
    dim = "CASE grouping(" + ", ".join(names) + ") " + " ".join(f"WHEN {f} THEN '{n}'" for n, f in flags.items())
    key = "CASE " + " ".join(f"WHEN dim = '{n}' THEN c{idx[0]}" for n, idx in sets.items() if idx) + " END"
    subs = [f"WHEN dim = '{n}' THEN c{idx[1]}" for n, idx in sets.items() if len(idx) > 1]
    sub = f"CASE {' '.join(subs)} END" if subs else "NULL"
    grouping = ", ".join(
        "(" + ", ".join(["utc_day", *piece, *(names[i] for i in idx)]) + ")"
        for idx in sets.values()
        for piece in (((), ("local_day",)) if cut else ((),))
    )
    labelled = ", ".join(f"{expr} AS {name}" for expr, name in zip(columns, names, strict=True))
    return f"""
        INSERT INTO rollups
        SELECT $site, utc_day, local_day, dim, {key}, {sub}, visitors, visits, bounces, duration, pageviews
        FROM (
            SELECT utc_day, {_local_day(cut)} AS local_day, {dim} END AS dim,
                   {", ".join(names)}, {metrics}
            FROM (SELECT *, {labelled} FROM ({source}))
            GROUP BY GROUPING SETS ({grouping})
        )
        WHERE {key} IS NOT NULL{f" OR dim = '{total}'" if total else ""}
    """


def _local_day(cut: bool) -> str:
    """A row's local day: set on the pieces of a cut day, NULL on whole days (the only rows when nothing is cut)."""
    return "CASE WHEN grouping(local_day) = 0 THEN local_day END" if cut else "CAST(NULL AS DATE)"


def _sessions_source(local_day: str) -> str:
    return (
        f'SELECT visitor_id, is_bounce, duration, pageviews, CAST("end" AS DATE) AS utc_day, {local_day} AS local_day, '
        '* EXCLUDE (visitor_id, is_bounce, duration, pageviews) '
        'FROM sessions WHERE site = $site AND "end" >= $lo AND "end" < $hi'
    )


def _events_source(local_day: str) -> str:
    return (
        f"SELECT visitor_id, CAST(ts AS DATE) AS utc_day, {local_day} AS local_day, pathname "
        "FROM events WHERE site = $site AND ts >= $lo AND ts < $hi AND name = 'pageview'"
    )


_EVENT_METRICS = (
    "count(DISTINCT visitor_id) AS visitors, 0 AS visits, 0 AS bounces, 0 AS duration, count(*) AS pageviews"
)
# Page view totals need no distinct count, which is what makes grouping 10 M events expensive.
_PAGEVIEW_TOTALS = """
INSERT INTO rollups
SELECT $site, utc_day, {local_day}, 'pageviews', NULL, NULL, 0, 0, 0, 0, count(*)
FROM ({source}) GROUP BY GROUPING SETS ({sets})
"""
_SPANNING_IDS = """
SELECT count(*) FROM (
    SELECT visitor_id FROM {table} WHERE site = $site{extra}
      AND visitor_id IN (SELECT visitor_id FROM {table} WHERE site = $site{extra} AND {at} >= $lo AND {at} < $hi)
    GROUP BY visitor_id HAVING min(CAST({at} AS DATE)) <> max(CAST({at} AS DATE))
)
"""


def _spanning_ids(con: duckdb.DuckDBPyConnection, params: dict[str, object]) -> int:
    """Visitor ids of the window's rows that also appear on another UTC day (0 for data `load` wrote)."""
    total = 0
    for table, at, extra in (("sessions", '"end"', ""), ("events", "ts", " AND name = 'pageview'")):
        (count,) = con.execute(_SPANNING_IDS.format(table=table, at=at, extra=extra), params).fetchall()[0]
        total += int(count)
    return total


def rebuild_days(con: duckdb.DuckDBPyConnection, site: str, first: date, last: date, tz: str) -> None:
    """Replace the rollups of UTC days first..last (inclusive); run inside the caller's transaction.

    Every cell belongs to one UTC day, so rebuilding whole UTC days never leaves half-counted cells behind.
    Rollups cut in another zone are all rebuilt instead, so one site's cells never mix two zones.
    """
    cut_in = con.execute("SELECT timezone FROM rollup_sites WHERE site = ?", [site]).fetchall()
    if cut_in and cut_in[0][0] != tz:
        rebuild_site(con, site, tz)
        return
    lo = datetime.combine(first, time(0))
    hi = datetime.combine(last + timedelta(days=1), time(0))
    params = {"site": site, "lo": lo, "hi": hi}
    con.execute("DELETE FROM rollups WHERE site = $site AND utc_day >= $lo AND utc_day < $hi", params)
    local = local_sql("{at}", zone(tz), lo, hi)  # a CASE over the zone's offsets: no ICU
    cut = local != "{at}"  # some midnight of the zone cuts a UTC day of [lo, hi)
    local_day = f"CAST({local} AS DATE)"
    sessions = _sessions_source(local_day.replace("{at}", '"end"'))
    events = _events_source(local_day.replace("{at}", "ts"))
    con.execute(_grouped_insert(sessions, SESSION_LISTS, "visits", _METRICS, cut), params)
    con.execute(_grouped_insert(events, {"pages": ("pathname",)}, None, _EVENT_METRICS, cut), params)
    sets = "(utc_day), (utc_day, local_day)" if cut else "(utc_day)"
    con.execute(_PAGEVIEW_TOTALS.format(source=events, local_day=_local_day(cut), sets=sets), params)
    exact = _spanning_ids(con, params) == 0
    con.execute(
        "INSERT INTO rollup_sites VALUES ($site, $tz, $exact) ON CONFLICT (site) DO UPDATE "
        "SET exact = rollup_sites.exact AND excluded.exact",
        {"site": site, "tz": tz, "exact": exact},
    )


def rebuild_site(con: duckdb.DuckDBPyConnection, site: str, tz: str) -> None:
    """All rollups of a site from scratch (a new timezone, or a file written before rollups existed)."""
    con.execute("DELETE FROM rollups WHERE site = ?", [site])
    con.execute("DELETE FROM rollup_sites WHERE site = ?", [site])
    bounds = con.execute(
        "SELECT least(e.lo, s.lo), greatest(e.hi, s.hi) FROM "
        "(SELECT min(ts) AS lo, max(ts) AS hi FROM events WHERE site = $site AND name = 'pageview') e, "
        '(SELECT min("end") AS lo, max("end") AS hi FROM sessions WHERE site = $site) s',
        {"site": site},
    ).fetchall()[0]
    if bounds[0] is None:
        con.execute("INSERT INTO rollup_sites VALUES (?, ?, true)", [site, tz])
        return
    rebuild_days(con, site, bounds[0].date(), bounds[1].date(), tz)


def rebuild_all(con: duckdb.DuckDBPyConnection) -> None:
    """Rollups for every site in its stored timezone (the migration from schema version 1)."""
    con.execute(TABLES)
    for site, tz in con.execute("SELECT site, timezone FROM sites ORDER BY site").fetchall():
        rebuild_site(con, site, tz)
