"""Sessions and metrics in the DuckDB store: hand-computed cases and split invariance."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from test_store_support import (
    IP_A,
    IP_B,
    IP_C,
    UA_A,
    UA_B,
    at,
    event,
    frame,
    load,
    open_store,
    sessions,
    table_rows,
)

from importer.sinks import metrics
from importer.sinks import sessions as sessions_module
from importer.sinks.duckdb_store import DuckDBStore


def pages(store: DuckDBStore) -> list[tuple]:
    return [(s["entry_page"], s["exit_page"], s["pageviews"], s["events"], s["is_bounce"], s["duration"])
            for s in sessions(store)]


@pytest.mark.parametrize(
    ("gap_s", "expected_sessions"),
    [(29 * 60 + 59, 1), (30 * 60, 1), (30 * 60 + 1, 2), (45 * 60, 2)],
)
def test_inactivity_gap(tmp_path: Path, gap_s: int, expected_sessions: int) -> None:
    """29:59 and 30:00 continue the session; 30:01 starts a new one (cache TTL of 30 minutes)."""
    start = at("2024-03-05 10:00:00")
    rows = [event(start, "/a"), event(start + timedelta(seconds=gap_s), "/b")]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert len(sessions(store)) == expected_sessions


def test_chain_of_short_gaps_is_one_session(tmp_path: Path) -> None:
    """The gap counts from the previous event, not from the session start."""
    start = at("2024-03-05 10:00:00")
    rows = [event(start + timedelta(minutes=25 * i), f"/p{i}") for i in range(6)]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert pages(store) == [("/p0", "/p5", 6, 6, False, 125 * 60)]


def test_session_across_midnight_utc(tmp_path: Path) -> None:
    """The salt changes at 00:00 UTC, the visit does not: one session, two visitor ids."""
    rows = [
        event("2024-03-05 23:50:00", "/late"),
        event("2024-03-06 00:10:00", "/early"),
        event("2024-03-06 00:35:00", "/later"),  # 25 minutes after /early: same session
    ]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert pages(store) == [("/late", "/later", 3, 3, False, 45 * 60)]
        ids = store.con.execute("SELECT DISTINCT visitor_id FROM events").fetchall()
        assert len(ids) == 2
        (sid_count,) = store.con.execute("SELECT count(DISTINCT session_id) FROM events").fetchall()[0]
        assert sid_count == 1
        day = metrics.aggregate(store.con, "example.com", date(2024, 3, 5), date(2024, 3, 6), "UTC")
        assert (day["visitors"], day["visits"]) == (2, 1)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [("23:59:59", "00:29:59", 1), ("23:59:59", "00:30:00", 2), ("23:30:00", "00:00:00", 1)],
)
def test_gap_rule_at_midnight(tmp_path: Path, before: str, after: str, expected: int) -> None:
    rows = [event(f"2024-03-05 {before}", "/a"), event(f"2024-03-06 {after}", "/b")]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert len(sessions(store)) == expected


def test_midnight_gap_over_30_minutes_splits(tmp_path: Path) -> None:
    rows = [event("2024-03-05 23:50:00", "/late"), event("2024-03-06 00:20:01", "/early")]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert [s["entry_page"] for s in sessions(store)] == ["/late", "/early"]


def test_visit_spanning_two_midnights(tmp_path: Path) -> None:
    """Links chain transitively: a 49-hour visit with 20-minute gaps is one session."""
    start = at("2024-03-04 23:00:00")
    rows = [event(start + timedelta(minutes=20 * i), f"/p{i % 7}") for i in range(147)]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert len(sessions(store)) == 1
        assert store.con.execute("SELECT count(DISTINCT visitor_id) FROM events").fetchall()[0][0] == 3


def test_ip_and_agent_make_the_visitor(tmp_path: Path) -> None:
    """Same IP with two agents, or same agent on two IPs: different visitors, different sessions."""
    t = at("2024-03-05 10:00:00")
    rows = [
        event(t, "/a", ip=IP_A, ua=UA_A),
        event(t + timedelta(minutes=1), "/b", ip=IP_A, ua=UA_B),
        event(t + timedelta(minutes=2), "/c", ip=IP_B, ua=UA_A),
        event(t + timedelta(minutes=3), "/d", ip=IP_C, ua=None),
        event(t + timedelta(minutes=4), "/e", ip=IP_A, ua=UA_A),
    ]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        got = metrics.aggregate(store.con, "example.com", date(2024, 3, 5), date(2024, 3, 5), "UTC")
        assert (got["visitors"], got["visits"], got["pageviews"]) == (4, 4, 5)
        assert sorted(pages(store)) == sorted([
            ("/a", "/e", 2, 2, False, 240), ("/b", "/b", 1, 1, True, 0),
            ("/c", "/c", 1, 1, True, 0), ("/d", "/d", 1, 1, True, 0),
        ])


def test_two_domains_are_two_sites(tmp_path: Path) -> None:
    t = at("2024-03-05 10:00:00")
    rows = [
        event(t, "/", domain="example.com"),
        event(t + timedelta(minutes=1), "/", domain="example.org"),
        event(t + timedelta(minutes=2), "/x", domain="example.com", host="www.example.com"),
    ]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert [s["pageviews"] for s in sessions(store, "example.com")] == [2]
        assert [s["pageviews"] for s in sessions(store, "example.org")] == [1]
        assert sorted(r[0] for r in store.con.execute("SELECT site FROM sites").fetchall()) == [
            "example.com", "example.org",
        ]
        ids = store.con.execute("SELECT site, count(DISTINCT visitor_id) FROM events GROUP BY site").fetchall()
        assert dict(ids) == {"example.com": 1, "example.org": 1}
        (shared,) = store.con.execute(
            "SELECT count(*) FROM (SELECT visitor_id FROM events GROUP BY visitor_id HAVING count(DISTINCT site) > 1)"
        ).fetchall()[0]
        assert shared == 0


def test_bounce_duration_and_frozen_attributes(tmp_path: Path) -> None:
    t = at("2024-03-05 10:00:00")
    rows = [
        # a single-page visit: a bounce of 0 s
        event(t, "/landing", ip=IP_B, referrer="https://www.google.com/search?q=x"),
        # a two-page visit from Hacker News, 95 s long; the second hit's referrer does not matter
        event(t, "/post", referrer="https://news.ycombinator.com/item?id=1", query="utm_campaign=launch"),
        event(t + timedelta(seconds=95), "/about", referrer="https://example.com/post"),
        # a page view plus a custom event: not a bounce (custom events are interactive)
        event(t, "/missing", ip=IP_C, ua=UA_B),
        event(t + timedelta(seconds=1), "/missing", ip=IP_C, ua=UA_B, name="404", props='{"path": "/missing"}'),
    ]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        by_entry = {s["entry_page"]: s for s in sessions(store)}
        single, double, custom = by_entry["/landing"], by_entry["/post"], by_entry["/missing"]
        assert (single["is_bounce"], single["duration"], single["referrer_source"]) == (True, 0, "Google")
        assert (double["is_bounce"], double["duration"], double["pageviews"]) == (False, 95, 2)
        assert (double["exit_page"], double["referrer_source"], double["referrer"]) == (
            "/about", "Hacker News", "news.ycombinator.com/item",
        )
        assert double["utm_campaign"] == "launch"
        assert (custom["is_bounce"], custom["pageviews"], custom["events"]) == (False, 1, 2)
        got = metrics.aggregate(store.con, "example.com", date(2024, 3, 5), date(2024, 3, 5), "UTC")
        assert got == {
            "visitors": 3, "visits": 3, "pageviews": 4, "events": 5, "views_per_visit": 1.33,
            "bounce_rate": 33, "visit_duration": 32,
        }


def test_sessions_with_custom_events(tmp_path: Path) -> None:
    rows = [
        event("2024-03-05 10:00:00", "/file.pdf", name="File Download", props='{"url": "/file.pdf"}'),
        event("2024-03-05 10:00:00", "/gone", ip=IP_B, name="404", props='{"path": "/gone"}'),
        event("2024-03-05 10:00:05", "/", ip=IP_B),
    ]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        assert sorted(pages(store), key=repr) == sorted(
            [(None, None, 0, 1, True, 0), ("/", "/", 1, 2, False, 5)], key=repr
        )


def test_rounding_is_half_to_even(tmp_path: Path) -> None:
    """1 bounce in 8 visits is 12.5 %: ClickHouse's round on floats gives 12, not 13."""
    t = at("2024-03-05 10:00:00")
    rows = [event(t, "/solo", ip="192.0.2.200")]
    for i in range(7):
        ip = f"192.0.2.{i + 1}"
        rows += [event(t, "/a", ip=ip), event(t + timedelta(seconds=2 + i), "/b", ip=ip)]
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        got = metrics.aggregate(store.con, "example.com", date(2024, 3, 5), date(2024, 3, 5), "UTC")
        assert (got["visits"], got["bounce_rate"]) == (8, 12)
        assert got["visit_duration"] == round((2 + 3 + 4 + 5 + 6 + 7 + 8) / 8)  # 4.375 -> 4
        assert got["views_per_visit"] == 1.88  # 15 / 8 = 1.875 -> 1.88 (1.875 is exact in binary)


def test_days_are_bucketed_in_the_site_timezone(tmp_path: Path) -> None:
    rows = [event("2024-03-05 22:30:00", "/a"), event("2024-03-05 23:30:00", "/b", ip=IP_B)]
    with open_store(tmp_path) as store:
        store.ensure_site("example.com", "Europe/Berlin")
        load(store, frame(rows))
        series = metrics.timeseries(store.con, "example.com", date(2024, 3, 5), date(2024, 3, 6))
        assert [(r["date"], r["pageviews"], r["visits"]) for r in series] == [
            (date(2024, 3, 5), 1, 1), (date(2024, 3, 6), 1, 1),
        ]
        utc = metrics.timeseries(store.con, "example.com", date(2024, 3, 5), date(2024, 3, 6), "UTC")
        assert [r["pageviews"] for r in utc] == [2, 0]
        view = store.con.execute("SELECT date, pageviews FROM daily_metrics ORDER BY date").fetchall()
        assert view == [(date(2024, 3, 5), 1), (date(2024, 3, 6), 1)]
        with pytest.raises(ValueError, match="unknown timezone 'Mars/Olympus'"):
            store.ensure_site("example.com", "Mars/Olympus")


def test_rebuild_is_idempotent(tmp_path: Path) -> None:
    rows = synthetic_log(seed=3, visitors=6, events=80)
    with open_store(tmp_path) as store:
        load(store, rows)
        first = table_rows(store, "SELECT * FROM sessions")
        store.rebuild_sessions("example.com", at("2024-03-04 00:00:00"), at("2024-03-08 00:00:00"))
        store.rebuild_sessions("example.com")
        assert table_rows(store, "SELECT * FROM sessions") == first


# -- split invariance --------------------------------------------------------------------------


def synthetic_log(seed: int, visitors: int = 25, events: int = 600) -> pl.DataFrame:
    """Events over three days with gaps near 30 minutes, midnight crossings, custom events, two sites."""
    rng = random.Random(seed)
    agents = [UA_A, UA_B, None]
    people = [(f"192.0.2.{i + 1}", agents[i % 3], "example.com" if i % 5 else "example.org") for i in range(visitors)]
    rows = []
    clock = {p: at("2024-03-05 00:00:00") + timedelta(seconds=rng.randrange(0, 2 * 86400)) for p in people}
    refs = [None, "https://www.google.com/", "https://t.co/x", "https://blog.example.net/a/", "https://example.com/"]
    for _ in range(events):
        person = rng.choice(people)
        step = rng.choice([5, 60, 600, 1799, 1800, 1801, 2400, 3 * 3600])
        clock[person] += timedelta(seconds=step)
        ip, ua, domain = person
        name = rng.choices(["pageview", "404", "File Download"], weights=[90, 5, 5])[0]
        query = rng.choice([None, None, "utm_source=news&utm_medium=email", "ref=producthunt"])
        rows.append(event(clock[person], f"/p{rng.randrange(12)}", ip=ip, ua=ua, domain=domain,
                          referrer=rng.choice(refs), name=name, query=query))
    rows.sort(key=lambda r: r["ts"])
    return frame(rows)


def snapshot(store: DuckDBStore) -> dict[str, object]:
    """Everything a report could see: sessions, each line's session, metrics per site and day."""
    snap: dict[str, object] = {
        "sessions": table_rows(store, "SELECT * FROM sessions"),
        "event_sessions": table_rows(
            store, "SELECT line, name, visitor_id, session_id, link_id FROM events WHERE session_id <> 0"
        ),
        "unsessioned": store.con.execute("SELECT count(*) FROM events WHERE session_id = 0").fetchall(),
    }
    for site in ("example.com", "example.org"):
        snap[site] = (
            metrics.aggregate(store.con, site, date(2024, 3, 4), date(2024, 3, 10), "UTC"),
            metrics.timeseries(store.con, site, date(2024, 3, 4), date(2024, 3, 10), "UTC"),
        )
    return snap


def chunks(data: pl.DataFrame, parts: int, rng: random.Random) -> list[pl.DataFrame]:
    cuts = sorted(rng.sample(range(1, data.height), parts - 1))
    bounds = [0, *cuts, data.height]
    return [data.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def test_split_invariance(tmp_path: Path) -> None:
    data = synthetic_log(seed=11)
    rng = random.Random(5)

    with open_store(tmp_path, "one.duckdb") as store:  # one call
        load(store, data)
        expected = snapshot(store)
    assert expected["unsessioned"] == [(0,)]
    assert len(expected["sessions"]) > 50

    with open_store(tmp_path, "batches.duckdb") as store:  # ten random batches, one rebuild
        file_id = store.register_file("fp-1", "/logs/fp-1.log", "none")
        for part in chunks(data, 10, rng):
            end = int(part["line"].max())
            store.write_batch(part, file_id, end * 100, end)
        store.rebuild_pending()
        assert snapshot(store) == expected

    for i, part in enumerate(chunks(data, 10, rng)):  # ten runs, each rebuilding its own days
        with open_store(tmp_path, "runs.duckdb") as store:
            load(store, part, rebuild=False)
            for site in part["domain"].unique().to_list():
                mine = part.filter(pl.col("domain") == site)
                store.rebuild_sessions(site, mine["ts"].min(), mine["ts"].max())
            store.record_run("load", {"run": i, "rows": part.height})
    with open_store(tmp_path, "runs.duckdb") as store:
        assert snapshot(store) == expected

    parts = chunks(data, 8, rng)  # rotated files loaded newest first, one run each
    order = list(range(len(parts)))
    rng.shuffle(order)
    for k in order:
        with open_store(tmp_path, "shuffled.duckdb") as store:
            load(store, parts[k], fingerprint=f"fp-{k:02d}")
    with open_store(tmp_path, "shuffled.duckdb") as store:
        assert snapshot(store) == expected


@pytest.mark.parametrize("newest_first", [False, True])
def test_runs_split_at_midnight(tmp_path: Path, newest_first: bool) -> None:
    """A visit crossing midnight, its halves loaded by two runs (either order), equals one run."""
    rows = [
        event("2024-03-05 23:40:00", "/a"), event("2024-03-05 23:55:00", "/b", ip=IP_B),
        event("2024-03-06 00:05:00", "/c"), event("2024-03-06 00:20:00", "/d", ip=IP_B),
        event("2024-03-06 00:21:00", "/e", ip=IP_C),
    ]
    data = frame(rows)
    with open_store(tmp_path, "one.duckdb") as store:
        load(store, data)
        expected = snapshot(store)
    assert len(expected["sessions"]) == 3
    halves = [data.slice(0, 2), data.slice(2)]
    for k in ([1, 0] if newest_first else [0, 1]):
        with open_store(tmp_path, "two.duckdb") as store:
            load(store, halves[k], fingerprint=f"fp-{k}")
    with open_store(tmp_path, "two.duckdb") as store:
        assert snapshot(store) == expected


def test_visitor_ids_stable_across_reopen(tmp_path: Path) -> None:
    """The key file, not the process, defines the ids: reopening gives the same hashes."""
    row = frame([event("2024-03-05 10:00:00")])
    with open_store(tmp_path, "a.duckdb") as store:
        load(store, row)
        first = store.con.execute("SELECT visitor_id FROM events").fetchall()
    with open_store(tmp_path, "b.duckdb") as store:
        load(store, row)
        assert store.con.execute("SELECT visitor_id FROM events").fetchall() == first


def test_empty_batch_moves_the_offset(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        file_id = store.register_file("fp-x", "/logs/x.log", "gzip")
        assert store.write_batch(frame([]), file_id, 5000, 50) == 0
        assert tuple(store.file_state("fp-x")) == (file_id, 5000, 50)
        assert store.file_state("unknown") is None
        assert store.register_file("fp-x", "/logs/renamed.log", "gzip") == file_id
        with pytest.raises(ValueError, match="before the committed offset"):
            store.write_batch(frame([]), file_id, 10, 1)


def test_since_accepts_naive_and_aware(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        load(store, frame([event("2024-03-05 10:00:00")]))
        assert store.rebuild_sessions("example.com", datetime(2024, 3, 5), at("2024-03-05 12:00:00")) == 1
        assert store.rebuild_sessions("nobody.example") == 0


def test_rebuild_in_steps_equals_one_window(tmp_path: Path) -> None:
    """A span rebuilt in many small steps (a day or less each) gives the sessions one window gives."""
    data = synthetic_log(seed=17, visitors=30, events=900)
    with open_store(tmp_path, "one.duckdb") as store:
        load(store, data)
        expected = snapshot(store)
    with open_store(tmp_path, "steps.duckdb", window_events=40) as store:
        load(store, data, rebuild=False)
        lo, hi = data["ts"].min(), data["ts"].max()
        assert len(sessions_module.windows(store.con, "example.com", lo, hi, 40)) >= 3
        written = sum(store.rebuild_sessions(site, lo, hi) for site in ("example.com", "example.org"))
        assert snapshot(store) == expected
        assert written == len(expected["sessions"])


def test_rebuild_cut_short_between_steps_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after some steps committed leaves the rest unsessioned; the next rebuild_pending completes them."""
    data = synthetic_log(seed=19, visitors=30, events=900)
    with open_store(tmp_path, "one.duckdb") as store:
        load(store, data)
        expected = snapshot(store)
    real_step = sessions_module.rebuild_window
    calls = 0

    def failing_step(*args: Any) -> sessions_module.Rebuilt:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("killed between steps")
        return real_step(*args)

    with open_store(tmp_path, "steps.duckdb", window_events=40) as store:
        load(store, data, rebuild=False)
        monkeypatch.setattr(sessions_module, "rebuild_window", failing_step)
        with pytest.raises(RuntimeError, match="killed between steps"):
            store.rebuild_pending()
        monkeypatch.setattr(sessions_module, "rebuild_window", real_step)
        assert 0 < store.con.execute("SELECT count(*) FROM events WHERE session_id = 0").fetchall()[0][0] < data.height
    with open_store(tmp_path, "steps.duckdb", window_events=40) as store:
        store.rebuild_pending()
        assert snapshot(store) == expected
