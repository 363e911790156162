"""The report's numbers on a hand-made database (tests/golden/report_fixture.sql), checked against hand counts.

tests/golden/report_example.json is the full report for 2024-03-08..10 in Europe/Berlin; every figure in it was
worked out by hand from the fixture (whose header comment lists the edge cases) before it was saved.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from importer.reports import breakdowns as bd
from importer.reports.errors import ReportError
from importer.reports.periods import (
    DateRange,
    bucket_labels,
    local_sql,
    offset_segments,
    period_range,
    utc_bounds,
)
from importer.reports.query import build_report, metrics, resolve_range, timeseries
from importer.reports.scope import make_scope
from importer.reports.visitors import LISTS, series_visitors, top_lists, total_visitors, visitor_table
from importer.sinks.schema import TABLES
from tests.conftest import golden_db

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    con = golden_db()
    yield con
    con.close()


def report(conn: duckdb.DuckDBPyConnection, **kwargs: object) -> dict:
    args = {"date_from": "2024-03-08", "date_to": "2024-03-10", **kwargs}
    return build_report(conn, "example.com", **args)  # type: ignore[arg-type]


def test_report_matches_the_golden_json(conn: duckdb.DuckDBPyConnection) -> None:
    expected = json.loads((GOLDEN / "report_example.json").read_text())
    assert report(conn) == expected


def test_metrics_by_plausible_definitions(conn: duckdb.DuckDBPyConnection) -> None:
    # 8 sessions by 7 visitors (visitor 104 twice); bounces s2 s4 s6 s8; durations 120+600+300+900 = 1920;
    # session pageviews 12; pageview events in range 12 (s7 at 00:00 on the 11th is outside).
    assert report(conn)["metrics"] == {
        "visitors": 7,
        "visits": 8,
        "pageviews": 12,
        "views_per_visit": 1.5,
        "bounce_rate": 50,
        "visit_duration": 240,
    }


def test_session_at_2330_utc_counts_on_the_next_berlin_day(conn: duckdb.DuckDBPyConnection) -> None:
    series = {row["date"]: row for row in report(conn)["timeseries"]}
    # s3 (00:30-00:40 Berlin) is on the 9th; s9 (23:50 on the 9th to 00:05) counts on the 10th, its last event's day.
    assert [series[d]["visits"] for d in ("2024-03-08", "2024-03-09", "2024-03-10")] == [2, 3, 3]
    utc = report(conn, timezone_name="UTC")["timeseries"]
    # In UTC, s3 (23:30-23:40) stays on the 8th, s9 ends 23:05 on the 9th, s6 (22:59:59) and s7 (23:00) fall on the
    # 10th.
    assert [row["visits"] for row in utc] == [3, 3, 3]


def test_every_bucket_is_present_even_without_data(conn: duckdb.DuckDBPyConnection) -> None:
    series = report(conn, date_from="2024-03-06", date_to="2024-03-10")["timeseries"]
    assert [row["date"] for row in series][:2] == ["2024-03-06", "2024-03-07"]
    assert series[0] == {
        "date": "2024-03-06",
        "visitors": 0,
        "visits": 0,
        "pageviews": 0,
        "bounce_rate": 0,
        "visit_duration": 0,
        "views_per_visit": 0.0,
    }


def test_hour_week_and_month_intervals(conn: duckdb.DuckDBPyConnection) -> None:
    hours = report(conn, interval="hour")["timeseries"]
    assert len(hours) == 72
    assert hours[0]["date"] == "2024-03-08 00:00:00"
    busy = {row["date"]: row["visits"] for row in hours if row["visits"]}
    assert busy["2024-03-09 00:00:00"] == 1  # s3 at 00:30 Berlin
    assert busy["2024-03-10 23:00:00"] == 1  # s6 at 23:59:59 Berlin
    assert sum(row["pageviews"] for row in hours) == 12
    weeks = report(conn, interval="week", date_from="2024-03-01", date_to="2024-03-12")["timeseries"]
    assert [row["date"] for row in weeks] == ["2024-03-01", "2024-03-04", "2024-03-11"]
    assert [row["visits"] for row in weeks] == [0, 8, 1]  # 8th-10th are in the week of Monday the 4th; s7 is the 11th
    months = report(conn, interval="month", date_from="2024-02-20", date_to="2024-03-10")["timeseries"]
    assert [(row["date"], row["visits"]) for row in months] == [("2024-02-20", 0), ("2024-03-01", 8)]


def test_periods_are_anchored_on_the_latest_data_day(conn: duckdb.DuckDBPyConnection) -> None:
    tz = "Europe/Berlin"
    assert resolve_range(conn, "example.com", tz, "all") == DateRange(date(2024, 3, 8), date(2024, 3, 11))
    assert resolve_range(conn, "example.com", tz, "day") == DateRange(date(2024, 3, 11), date(2024, 3, 11))
    assert resolve_range(conn, "example.com", tz, "7d") == DateRange(date(2024, 3, 5), date(2024, 3, 11))
    assert resolve_range(conn, "example.com", tz, date_from="2024-03-09") == DateRange(
        date(2024, 3, 9), date(2024, 3, 11)
    )


@pytest.mark.parametrize(
    ("period", "start"),
    [
        ("day", date(2024, 5, 15)),
        ("7d", date(2024, 5, 9)),
        ("30d", date(2024, 4, 16)),
        ("month", date(2024, 5, 1)),
        ("6mo", date(2023, 12, 1)),
        ("12mo", date(2023, 6, 1)),
        ("year", date(2024, 1, 1)),
        ("all", date(2022, 2, 2)),
    ],
)
def test_period_range(period: str, start: date) -> None:
    assert period_range(period, date(2024, 5, 15), date(2022, 2, 2)) == DateRange(start, date(2024, 5, 15))


def test_dst_day_bounds_and_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring = DateRange(date(2024, 3, 31), date(2024, 3, 31))
    assert utc_bounds(spring, berlin) == (datetime(2024, 3, 30, 23), datetime(2024, 3, 31, 22))
    hours = bucket_labels(spring, berlin, "hour")
    assert len(hours) == 23 and "2024-03-31 02:00:00" not in hours
    autumn = DateRange(date(2024, 10, 27), date(2024, 10, 27))
    assert len(bucket_labels(autumn, berlin, "hour")) == 24  # 02:00 happens twice, shown once


def test_local_sql_agrees_with_zoneinfo_across_dst() -> None:
    tz = ZoneInfo("America/New_York")
    lo, hi = datetime(2024, 3, 1), datetime(2024, 11, 30)
    assert len(offset_segments(tz, lo, hi)) == 3
    instants = [datetime(2024, 3, 10, 6, 59, 59), datetime(2024, 3, 10, 7), datetime(2024, 7, 1, 12),
                datetime(2024, 11, 3, 5, 59, 59), datetime(2024, 11, 3, 6)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (ts TIMESTAMP)")
    con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in instants])
    got = [row[0] for row in con.execute(f"SELECT {local_sql('ts', tz, lo, hi)} FROM t ORDER BY ts").fetchall()]
    want = [i.replace(tzinfo=timezone.utc).astimezone(tz).replace(tzinfo=None) for i in instants]
    assert got == want


def test_local_sql_with_one_negative_offset() -> None:
    # New York in January is UTC-5 throughout: one fixed offset, which must still be valid SQL.
    tz = ZoneInfo("America/New_York")
    sql = local_sql("ts", tz, datetime(2024, 1, 1), datetime(2024, 2, 1))
    (got,) = duckdb.connect().execute(f"SELECT {sql} FROM (SELECT TIMESTAMP '2024-01-10 03:00:00' AS ts)").fetchone()
    assert got == datetime(2024, 1, 9, 22)


def test_hour_buckets_across_the_spring_dst_change() -> None:
    con = duckdb.connect()
    con.execute(TABLES)
    con.execute("INSERT INTO sites VALUES ('dst.example', 'Europe/Berlin')")
    for sid, start in enumerate(["2024-03-31 00:30:00", "2024-03-31 01:30:00", "2024-03-31 21:59:59"], start=1):
        con.execute(
            "INSERT INTO sessions (site, session_id, visitor_id, start, \"end\", entry_page, exit_page, pageviews, "
            "events, is_bounce, duration) VALUES ('dst.example', ?, ?, ?, ?, '/', '/', 1, 1, true, 0)",
            [sid, sid, start, start],
        )
        con.execute(
            "INSERT INTO events (site, ts, name, hostname, pathname, visitor_id, session_id, file_id, line) "
            "VALUES ('dst.example', ?, 'pageview', 'dst.example', '/', ?, ?, 1, ?)",
            [start, sid, sid, sid],
        )
    series = build_report(con, interval="hour", date_from="2024-03-31", date_to="2024-03-31")["timeseries"]
    assert len(series) == 23
    busy = [(row["date"], row["visitors"], row["pageviews"]) for row in series if row["visits"]]
    # 00:30 UTC is 01:30 CET; 01:30 UTC is 03:30 CEST (02:00-03:00 does not exist); 21:59:59 UTC is 23:59:59.
    assert busy == [("2024-03-31 01:00:00", 1, 1), ("2024-03-31 03:00:00", 1, 1), ("2024-03-31 23:00:00", 1, 1)]


def test_limit_keeps_the_top_rows_and_versions(conn: duckdb.DuckDBPyConnection) -> None:
    data = report(conn, limit=1)["breakdowns"]
    assert all(len(rows) == 1 for rows in data.values())
    assert data["pages"][0]["page"] == "/"  # tie on 4 visitors with /blog, broken by name
    assert data["browsers"][0]["versions"] == [
        {"version": "122.0", "visitors": 2, "visits": 2, "pageviews": 3, "bounce_rate": 50, "visit_duration": 60}
    ]


def _naive(conn: duckdb.DuckDBPyConnection, column: str, label: str | None) -> list[tuple[str, int]]:
    """Reference: the plain COUNT(DISTINCT) ranking the pruned path must reproduce."""
    value = column if label is None else f"coalesce({column}, '{label}')"
    where = "" if label is not None else f" AND {column} IS NOT NULL"
    return conn.execute(
        f"SELECT {value} k, count(DISTINCT visitor_id) v FROM sessions WHERE site = 'example.com' "
        f"AND \"end\" >= '2024-03-07 23:00:00' AND \"end\" < '2024-03-10 23:00:00'{where} GROUP BY k ORDER BY v DESC, k"
    ).fetchall()


@pytest.mark.parametrize("limit", [1, 2, 3, None])
def test_pruned_ranking_equals_plain_distinct_counts(conn: duckdb.DuckDBPyConnection, limit: int | None) -> None:
    data = report(conn, limit=limit)["breakdowns"]
    for name, column, label in [
        ("sources", "referrer_source", "Direct / None"),
        ("entry_pages", "entry_page", None),
        ("countries", "country", None),
        ("browsers", "browser", "(not set)"),
    ]:
        key = bd.KEYS[name]
        assert [(row[key], row["visitors"]) for row in data[name]] == _naive(conn, column, label)[:limit]


def _fixture(*updates: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(TABLES)
    con.execute((GOLDEN / "report_fixture.sql").read_text())
    for sql in updates:
        con.execute(sql)
    return con


def _assert_fast_equals_plain(con: duckdb.DuckDBPyConnection, interval: str, limit: int | None) -> None:
    scope = make_scope("example.com", "Europe/Berlin", DateRange(date(2024, 3, 4), date(2024, 3, 11)))
    with visitor_table(con, scope, interval) as table:
        assert total_visitors(con, table) == metrics(con, scope)["visitors"]
        fast = timeseries(con, scope, interval, series_visitors(con, scope, table, interval))
        lists = top_lists(con, scope, table, tuple(LISTS), limit)
    assert fast == timeseries(con, scope, interval)
    for name in LISTS:
        if name in lists:
            assert lists[name] == bd.breakdown(con, scope, name, limit), name


@pytest.mark.parametrize("interval", ["hour", "day", "week"])
@pytest.mark.parametrize("limit", [2, None])
def test_visitor_table_counts_equal_plain_distinct_counts(
    conn: duckdb.DuckDBPyConnection, interval: str, limit: int | None
) -> None:
    # Visitor 104 comes once direct, once from Google (a "mixed" acquisition visitor); by hour it spans buckets.
    scope = make_scope("example.com", "Europe/Berlin", DateRange(date(2024, 3, 4), date(2024, 3, 11)))
    with visitor_table(conn, scope, interval) as table:
        assert set(top_lists(conn, scope, table, tuple(LISTS), limit)) == LISTS
    _assert_fast_equals_plain(conn, interval, limit)


def test_visitor_with_two_browsers_and_a_midnight_visit() -> None:
    con = _fixture(
        "UPDATE sessions SET browser = 'Firefox', browser_version = '' WHERE session_id = 5",
        # visitor 109: 00:30 on the 9th (s3), then 23:50 on the 9th to 00:05 on the 10th (s9, counted on the 10th)
        "UPDATE sessions SET visitor_id = 109 WHERE session_id = 3",
        "UPDATE events SET visitor_id = 109 WHERE session_id = 3",
    )
    _assert_fast_equals_plain(con, "day", None)
    scope = make_scope("example.com", "Europe/Berlin", DateRange(date(2024, 3, 8), date(2024, 3, 10)))
    with visitor_table(con, scope, "day") as table:
        assert series_visitors(con, scope, table, "day") == {"2024-03-08": 2, "2024-03-09": 2, "2024-03-10": 3}
        assert con.execute(f"SELECT count(*) FROM {table} WHERE b_lo <> b_hi").fetchone() == (1,)
    browsers = build_report(con, "example.com", date_from="2024-03-08", date_to="2024-03-10")["breakdowns"]["browsers"]
    assert [(row["browser"], row["visitors"], row["visits"]) for row in browsers][:2] == [
        ("Chrome", 3, 3),
        ("Firefox", 3, 3),
    ]


@pytest.mark.parametrize("interval", ["hour", "day"])
def test_visitor_with_three_mixed_sessions(interval: str) -> None:
    # Visitor 104 gets s9 too: three sessions (direct, Google, direct), at 11:00, 16:00 and 23:50 on the 9th,
    # and s6 so that it also spans two days: the exact COUNT(DISTINCT) fallbacks run.
    con = _fixture(
        "UPDATE sessions SET visitor_id = 104 WHERE session_id IN (9, 6)",
        "UPDATE events SET visitor_id = 104 WHERE session_id IN (9, 6)",
    )
    _assert_fast_equals_plain(con, interval, None)
    _assert_fast_equals_plain(con, interval, 1)


def test_hash_clash_falls_back_to_the_per_list_path(monkeypatch: pytest.MonkeyPatch) -> None:
    con = _fixture()
    def clashing(columns: tuple[str, ...], seed: str = "") -> str:  # two buckets for every combination
        return f"hash({', '.join(columns)}, '{seed}') % 2" if not seed else f"hash({', '.join(columns)}, '{seed}')"

    monkeypatch.setattr("importer.reports.visitors._hash", clashing)
    scope = make_scope("example.com", "Europe/Berlin", DateRange(date(2024, 3, 8), date(2024, 3, 10)))
    with visitor_table(con, scope, "day") as table:
        assert top_lists(con, scope, table, tuple(LISTS), 10) == {}
    expected = json.loads((GOLDEN / "report_example.json").read_text())
    assert build_report(con, "example.com", date_from="2024-03-08", date_to="2024-03-10") == expected


def test_breakdowns_subset(conn: duckdb.DuckDBPyConnection) -> None:
    assert list(report(conn, breakdowns=["pages", "countries"])["breakdowns"]) == ["pages", "countries"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"site": None}, "several sites (example.com, other.org); choose one with --site"),
        ({"site": "nope.org"}, "unknown site 'nope.org'. Sites in this database: example.com, other.org."),
        ({"period": "week", "date_from": None, "date_to": None}, "unknown period 'week'. Try one of: day, 7d,"),
        ({"date_from": "2024-03-10", "date_to": "2024-03-08"}, "--from 2024-03-10 is after --to 2024-03-08"),
        ({"date_from": "03/08/2024"}, "--from '03/08/2024' is not a date; use YYYY-MM-DD."),
        ({"interval": "minute"}, "unknown interval 'minute'"),
        ({"breakdowns": ["cities"]}, "unknown breakdown 'cities'"),
        ({"limit": 0}, "--limit must be at least 1"),
        ({"timezone_name": "Mars/Base"}, "unknown timezone 'Mars/Base'"),
    ],
)
def test_errors_say_what_to_do(conn: duckdb.DuckDBPyConnection, kwargs: dict, message: str) -> None:
    args = {"site": "example.com", "date_from": "2024-03-08", "date_to": "2024-03-10", **kwargs}
    site = args.pop("site")
    with pytest.raises(ReportError, match=None) as info:
        build_report(conn, site, **args)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_empty_database_errors() -> None:
    con = duckdb.connect()
    with pytest.raises(ReportError, match="no 'sites' table"):
        build_report(con)
    con.execute(TABLES)
    with pytest.raises(ReportError, match="no sites yet"):
        build_report(con)
    con.execute("INSERT INTO sites VALUES ('a.org', 'UTC')")
    with pytest.raises(ReportError, match=r"site 'a\.org' has no data yet"):
        build_report(con)
    empty = build_report(con, date_from="2024-01-01", date_to="2024-01-03")
    assert empty["metrics"]["visitors"] == 0 and len(empty["timeseries"]) == 3
    assert all(rows == [] for rows in empty["breakdowns"].values())
