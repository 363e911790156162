"""Exact distinct visitors for the totals, the timeseries and most lists from one pass over the sessions.

Distinct counting is what makes a report slow: every COUNT(DISTINCT visitor_id) builds a hash table as large as
the sessions. Instead, one GROUP BY visitor_id records, per visitor, the first and last time bucket of its
sessions and, for each group of columns (client: browser/OS/device/country; acquisition: source, referrer,
UTM), the smallest and largest hash of the group's values over its sessions. A visitor whose sessions all share
one bucket (or one combination of a group) is "constant" there and is counted once, by that bucket or
combination; sums per combination come from a cheap GROUP BY over the raw columns. Only the "mixed" visitors
(a visit around local midnight, a second visit from another source) get an exact COUNT(DISTINCT) over their own
sessions. The two sets of visitors are disjoint, so the sums are exact; tests compare them with plain
COUNT(DISTINCT) queries. Client columns come from the user agent and IP that visitor_id hashes, so there are
almost never mixed visitors there; acquisition columns may differ between a visitor's sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb

from importer.reports.periods import bucket_label
from importer.reports.scope import SESSION_TOTALS, Scope, ratio_metrics

DIRECT = "Direct / None"
NOT_SET = "(not set)"
FIELDS = ("visitors", "visits", "pageviews", "bounce_rate", "visit_duration")


@dataclass(frozen=True)
class TopList:
    """One list drawn from a group: the JSON key, the group columns it shows, and how empty values show."""

    name: str
    key: str
    columns: tuple[int, ...]  # one column, or (parent, version)
    empty: str | None  # label for empty values of the (first) column; None leaves such rows out


GROUPS: dict[str, tuple[tuple[str, ...], tuple[TopList, ...]]] = {
    "client": (
        ("browser", "browser_version", "os", "os_version", "device", "country"),
        (
            TopList("browsers", "browser", (0,), NOT_SET),
            TopList("browsers.versions", "version", (0, 1), NOT_SET),
            TopList("operating_systems", "os", (2,), NOT_SET),
            TopList("operating_systems.versions", "version", (2, 3), NOT_SET),
            TopList("devices", "device", (4,), NOT_SET),
            TopList("countries", "country", (5,), None),
        ),
    ),
    "acquisition": (
        ("referrer_source", "referrer", "utm_medium", "utm_source", "utm_campaign"),
        (
            TopList("sources", "source", (0,), DIRECT),
            TopList("referrers", "referrer", (1,), DIRECT),
            TopList("utm_mediums", "utm_medium", (2,), None),
            TopList("utm_sources", "utm_source", (3,), None),
            TopList("utm_campaigns", "utm_campaign", (4,), None),
        ),
    ),
}
LISTS = {top.name for _, tops in GROUPS.values() for top in tops if "." not in top.name}


def _hash(columns: tuple[str, ...], seed: str = "") -> str:
    """SQL hashing a row of columns; a seed gives an independent second hash to detect clashes."""
    extra = f", '{seed}'" if seed else ""
    return f"hash({', '.join(columns)}{extra})"


@contextmanager
def visitor_table(conn: duckdb.DuckDBPyConnection, scope: Scope, interval: str) -> Iterator[str]:
    """A temp table (visitor_id, n, b_lo, b_hi, <group>_lo, <group>_hi…) for the scope, dropped afterwards."""
    name = f"pl_visitors_{uuid.uuid4().hex}"
    bucket = scope.bucket(scope.session_time, interval)
    hashes = "".join(f", {_hash(cols)} AS {group}" for group, (cols, _) in GROUPS.items())
    bounds = "".join(f", min({group}) AS {group}_lo, max({group}) AS {group}_hi" for group in GROUPS)
    conn.execute(
        f"CREATE TEMP TABLE {name} AS SELECT visitor_id, count(*) AS n, min(b) AS b_lo, max(b) AS b_hi{bounds} "
        f"FROM (SELECT visitor_id, {bucket} AS b{hashes} FROM sessions WHERE {scope.sessions_where}) "
        "GROUP BY visitor_id",
        scope.params,
    )
    try:
        yield name
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def total_visitors(conn: duckdb.DuckDBPyConnection, table: str) -> int:
    """Distinct visitors of the whole range: one row per visitor."""
    (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(count)


def series_visitors(conn: duckdb.DuckDBPyConnection, scope: Scope, table: str, interval: str) -> dict[str, int]:
    """Bucket label -> exact distinct visitors.

    A visitor counts in its first bucket; one with two sessions in two buckets also in the second; only visitors
    with three or more sessions spanning buckets need a COUNT(DISTINCT) over their sessions.
    """
    bucket = scope.bucket(scope.session_time, interval)
    rows = conn.execute(
        f"""
        SELECT b_lo, count(*) FROM {table} WHERE n <= 2 OR b_lo = b_hi GROUP BY b_lo
        UNION ALL
        SELECT b_hi, count(*) FROM {table} WHERE n = 2 AND b_lo <> b_hi GROUP BY b_hi
        UNION ALL
        SELECT b, count(DISTINCT visitor_id) FROM (
            SELECT {bucket} AS b, visitor_id FROM sessions WHERE {scope.sessions_where}
            AND visitor_id IN (SELECT visitor_id FROM {table} WHERE n > 2 AND b_lo <> b_hi)
        ) GROUP BY b
        """,
        scope.params,
    ).fetchall()
    out: dict[str, int] = {}
    for value, count in rows:
        label = bucket_label(value, interval)
        out[label] = out.get(label, 0) + int(count)
    return out


def _label(value: Any, empty: str | None) -> Any:
    return empty if value is None or value == "" else value


def _keys(top: TopList, values: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The list key of a combination: (label,) or (parent label, version label); None when left out."""
    first = _label(values[top.columns[0]], top.empty)
    if first is None:
        return None
    if len(top.columns) == 1:
        return (first,)
    return (first, _label(values[top.columns[1]], NOT_SET))


def _mixed_counts(
    conn: duckdb.DuckDBPyConnection, scope: Scope, table: str, group: str
) -> dict[tuple[str, tuple[Any, ...]], int]:
    """(list name, key) -> exact distinct visitors among visitors with 3+ sessions that differ within the group."""
    columns, tops = GROUPS[group]
    mixed = f"SELECT visitor_id FROM {table} WHERE n > 2 AND {group}_lo <> {group}_hi"
    (mixed_visitors,) = conn.execute(f"SELECT count(*) FROM ({mixed})").fetchone()
    if not mixed_visitors:
        return {}
    labelled = [f"nullif({col}, '') AS c{i}" for i, col in enumerate(columns)]
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    sets_sql = ", ".join("(" + ", ".join(f"c{i}" for i in top.columns) + ")" for top in tops)
    rows = conn.execute(
        f"SELECT grouping({names}), {names}, count(DISTINCT visitor_id) FROM (SELECT {', '.join(labelled)}, "
        f"visitor_id FROM sessions WHERE {scope.sessions_where} AND visitor_id IN ({mixed})) "
        f"GROUP BY GROUPING SETS ({sets_sql})",
        scope.params,
    ).fetchall()
    width = len(columns)
    # grouping(...) sets one bit per column left out of the set, the first column highest.
    ids = {sum(1 << (width - 1 - i) for i in range(width) if i not in top.columns): top for top in tops}
    out: dict[tuple[str, tuple[Any, ...]], int] = {}
    for flag, *values, count in rows:
        top = ids[flag]
        keys = _keys(top, tuple(values))
        if keys is not None:
            out[(top.name, keys)] = out.get((top.name, keys), 0) + int(count)
    return out


def _combinations(
    conn: duckdb.DuckDBPyConnection, scope: Scope, group: str
) -> dict[int, tuple[tuple[Any, ...], tuple[int, ...]]] | None:
    """hash -> (raw values, session totals) of every combination of the group's columns; None on a hash clash.

    Grouped by two differently seeded hashes (integers are far cheaper to group than strings); one
    representative row per combination supplies the values. Two combinations with one hash would make
    visitors indistinguishable, so that case returns None and the caller takes the per-list path.
    """
    columns, _ = GROUPS[group]
    cols = ", ".join(columns)
    combos = conn.execute(
        f"SELECT {_hash(columns)} AS h, {_hash(columns, 'x')} AS h2, {SESSION_TOTALS}, min(rowid) FROM sessions "
        f"WHERE {scope.sessions_where} GROUP BY h, h2",
        scope.params,
    ).fetchall()
    if len({row[0] for row in combos}) != len(combos):
        return None
    values = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT rowid, {cols} FROM sessions WHERE rowid IN (SELECT unnest($rows))",
            {"rows": [row[-1] for row in combos]},
        ).fetchall()
    }
    return {row[0]: (values[row[-1]], tuple(int(v) for v in row[2:-1])) for row in combos}


def group_lists(
    conn: duckdb.DuckDBPyConnection, scope: Scope, table: str, group: str
) -> dict[str, dict[tuple[Any, ...], list[int]]] | None:
    """list name -> key -> [visitors, visits, bounces, duration, pageviews] for every value; None on a hash clash.

    Visitors come from (first, last) combination pairs of the visitor table: a visitor counts for the values of
    its first combination and, with exactly two sessions, for those of the second where they differ. Visitors
    with 3+ sessions of different combinations are counted exactly over their own sessions.
    """
    _, tops = GROUPS[group]
    combos = _combinations(conn, scope, group)
    if combos is None:
        return None
    pairs = conn.execute(
        f"SELECT {group}_lo, {group}_hi, count(*) FROM {table} WHERE n <= 2 OR {group}_lo = {group}_hi GROUP BY 1, 2"
    ).fetchall()
    constant = {lo: count for lo, hi, count in pairs if lo == hi}
    keys_of = {h: [_keys(top, values) for top in tops] for h, (values, _) in combos.items()}
    lists: dict[str, dict[tuple[Any, ...], list[int]]] = {top.name: {} for top in tops}
    for h, (_, totals) in combos.items():
        row = [constant.get(h, 0), *totals]
        for top, keys in zip(tops, keys_of[h], strict=True):
            if keys is not None:
                acc = lists[top.name].setdefault(keys, [0, 0, 0, 0, 0])
                for i, value in enumerate(row):
                    acc[i] += value
    for lo, hi, count in pairs:
        if lo == hi:
            continue
        for top, first, second in zip(tops, keys_of[lo], keys_of[hi], strict=True):
            for keys in (first, second) if second != first else (first,):
                if keys is not None:
                    lists[top.name][keys][0] += count
    for (name, keys), count in _mixed_counts(conn, scope, table, group).items():
        lists[name][keys][0] += count
    return lists


def _row(key: str, value: Any, sums: list[int]) -> dict[str, Any]:
    visitors, visits, bounces, duration, pageviews = sums
    values = {"visitors": visitors, "visits": visits, "pageviews": pageviews}
    values.update(ratio_metrics(visits, bounces, duration, pageviews))
    return {key: value, **{field: values[field] for field in FIELDS}}


def _ranked(rows: list[dict[str, Any]], key: str, limit: int | None) -> list[dict[str, Any]]:
    rows.sort(key=lambda row: (-row["visitors"], row[key]))
    return rows if limit is None else rows[:limit]


def top_lists(
    conn: duckdb.DuckDBPyConnection, scope: Scope, table: str, wanted: tuple[str, ...], limit: int | None
) -> dict[str, list[dict[str, Any]]]:
    """Every wanted list the groups can serve, ranked and limited; versions nested under their parent."""
    result: dict[str, list[dict[str, Any]]] = {}
    for group, (_, tops) in GROUPS.items():
        if not any(top.name in wanted for top in tops):
            continue
        lists = group_lists(conn, scope, table, group)
        if lists is None:
            continue  # the caller computes these lists the per-list way
        for top in tops:
            if top.name not in wanted:
                continue
            rows = [_row(top.key, keys[0], sums) for keys, sums in lists[top.name].items()]
            result[top.name] = _ranked(rows, top.key, limit)
            versions = lists.get(f"{top.name}.versions")
            if versions is None:
                continue
            for entry in result[top.name]:
                children = [_row("version", k[1], s) for k, s in versions.items() if k[0] == entry[top.key]]
                entry["versions"] = _ranked(children, "version", limit)
    return result
