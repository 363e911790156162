"""Reports from the per-day rollups `load` keeps: hand-computed answers, equal to the tables path, kept current.

The rollups are exact only because a visitor id never spans two UTC days; the crafted log below puts one visitor's
two visits on two Berlin days of one UTC day, and one visit across Berlin midnight, so both halves of that rule run.
"""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import duckdb
import pytest

from importer.reports.periods import DateRange
from importer.reports.query import build_report
from importer.reports.rollup_report import rollup_parts
from importer.reports.scope import make_scope
from importer.sinks import rollups
from tests.conftest import golden_db, run_cli
from tests.test_load_cli import CHROME, FIREFOX, SAFARI, entry

# Berlin is UTC+1 in early March. Visits: S1 v1 23:50-00:10 Berlin (5th->6th, from Google, 1200 s), S2 v2 13:00 on
# the 5th (bounce), S3 v2 00:30 on the 6th (bounce; same UTC day as S2, so the same visitor id), S4 v3 11:00-11:05 on
# the 6th (300 s).
CRAFTED = [
    entry("198.51.100.1", "05/Mar/2024:22:50:00", "/", CHROME, "https://www.google.com/"),
    entry("198.51.100.1", "05/Mar/2024:23:10:00", "/a", CHROME),
    entry("198.51.100.2", "05/Mar/2024:12:00:00", "/", FIREFOX),
    entry("198.51.100.2", "05/Mar/2024:23:30:00", "/b", FIREFOX),
    entry("198.51.100.3", "06/Mar/2024:10:00:00", "/", SAFARI),
    entry("198.51.100.3", "06/Mar/2024:10:05:00", "/a", SAFARI),
]


def load(tmp_path: Path, db: Path, log: Path, *extra: str) -> None:
    result = run_cli("load", str(log), "--db", str(db), "--domain", "example.com", "--format", "combined",
                     "--key-file", str(tmp_path / "visitor.key"), *extra)
    assert result.exit_code == 0, result.stderr


def cli_report(db: Path, *extra: str) -> dict:
    result = run_cli("report", "--db", str(db), "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def from_tables(db: Path, **kwargs: object) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return build_report(con, use_rollups=False, **kwargs)  # type: ignore[arg-type]


def rollup_state(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT site, timezone, exact FROM rollup_sites").fetchall()


@pytest.fixture
def crafted(tmp_path: Path) -> Path:
    log = tmp_path / "access.log"
    log.write_text("\n".join(CRAFTED) + "\n")
    return log


def check_hand_counts(report: dict) -> None:
    # visitors v1 v2 v3; 4 visits; 6 page views; bounces S2 S3; durations 1200 + 300.
    assert report["metrics"] == {
        "visitors": 3, "visits": 4, "pageviews": 6, "views_per_visit": 1.5, "bounce_rate": 50, "visit_duration": 375,
    }
    # 5th: S2 only (S1 ends on the 6th); its page views are S1's first and S2's. 6th: S1, S3, S4 by v1, v2, v3.
    assert report["timeseries"] == [
        {"date": "2024-03-05", "visitors": 1, "visits": 1, "pageviews": 2, "bounce_rate": 100, "visit_duration": 0,
         "views_per_visit": 1.0},
        {"date": "2024-03-06", "visitors": 3, "visits": 3, "pageviews": 4, "bounce_rate": 33, "visit_duration": 500,
         "views_per_visit": 1.67},
    ]
    sources = [(row["source"], row["visitors"], row["visits"]) for row in report["breakdowns"]["sources"]]
    assert sources == [("Direct / None", 2, 3), ("Google", 1, 1)]
    pages = [(row["page"], row["visitors"], row["pageviews"]) for row in report["breakdowns"]["pages"]]
    assert pages == [("/", 3, 3), ("/a", 2, 2), ("/b", 1, 1)]


def test_crafted_log_through_the_cli_from_rollups(tmp_path: Path, crafted: Path) -> None:
    db = tmp_path / "site.duckdb"
    load(tmp_path, db, crafted, "--timezone", "Europe/Berlin")
    assert rollup_state(db) == [("example.com", "Europe/Berlin", True)]
    report = cli_report(db, "--from", "2024-03-05", "--to", "2024-03-06")
    check_hand_counts(report)
    assert report == from_tables(db, date_from="2024-03-05", date_to="2024-03-06")
    # The 6th alone: v2 counts once (S3), though its UTC day also holds S2 on the 5th.
    sixth = cli_report(db, "--from", "2024-03-06", "--to", "2024-03-06")
    assert (sixth["metrics"]["visitors"], sixth["metrics"]["visits"], sixth["metrics"]["pageviews"]) == (3, 3, 4)
    assert sixth == from_tables(db, date_from="2024-03-06", date_to="2024-03-06")


def test_a_file_from_schema_version_1_gains_rollups_on_the_next_load(tmp_path: Path, crafted: Path) -> None:
    db = tmp_path / "site.duckdb"
    load(tmp_path, db, crafted, "--timezone", "Europe/Berlin")
    with duckdb.connect(str(db)) as con:  # what version 1 wrote: no rollup tables
        con.execute("DROP TABLE rollups; DROP TABLE rollup_sites; UPDATE meta SET value = '1'")
    old = cli_report(db, "--from", "2024-03-05", "--to", "2024-03-06")  # read-only: computed from the tables
    check_hand_counts(old)
    load(tmp_path, db, crafted, "--timezone", "Europe/Berlin")  # nothing new to load; the open migrates
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("2",)]
    assert rollup_state(db) == [("example.com", "Europe/Berlin", True)]
    assert cli_report(db, "--from", "2024-03-05", "--to", "2024-03-06") == old


def test_a_new_timezone_rebuilds_the_rollups(tmp_path: Path, crafted: Path) -> None:
    db = tmp_path / "site.duckdb"
    load(tmp_path, db, crafted)
    assert rollup_state(db) == [("example.com", "UTC", True)]
    load(tmp_path, db, crafted, "--timezone", "Europe/Berlin")
    assert rollup_state(db) == [("example.com", "Europe/Berlin", True)]
    check_hand_counts(cli_report(db, "--from", "2024-03-05", "--to", "2024-03-06"))


def _random_log(seed: int, visits: int) -> list[str]:
    """Visits over four days, many near Berlin or UTC midnight, from a small pool of people and referrers."""
    rng = random.Random(seed)
    people = [(f"203.0.113.{n}", rng.choice([CHROME, FIREFOX, SAFARI])) for n in range(1, 40)]
    referrers = ["-", "https://www.google.com/", "https://news.ycombinator.com/", "https://example.org/x"]
    events: list[tuple[int, str]] = []
    for _ in range(visits):
        ip, agent = rng.choice(people)
        day = rng.randrange(4)
        hour = rng.choice([22, 23, 23, 0, 12, rng.randrange(24)])
        at = ((4 + day) * 24 + hour) * 3600 + rng.randrange(3600)
        referrer = rng.choice(referrers)
        for _ in range(rng.choice([1, 1, 2, 3])):
            events.append((at, entry(ip, "", rng.choice(["/", "/a", "/b", "/c?x=1"]), agent, referrer)))
            at += rng.randrange(30, 1500)
            referrer = "-"
    lines = []
    for at, line in sorted(events, key=lambda pair: pair[0]):
        day, rest = divmod(at, 86400)
        stamp = f"{day + 1:02d}/Mar/2024:{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
        lines.append(line.replace("[ +0000]", f"[{stamp} +0000]"))
    return lines


@pytest.mark.parametrize(("tz", "pieces"), [("Europe/Berlin", True), ("UTC", False), ("Europe/London", False)])
def test_rollups_equal_the_tables_path_and_a_full_rebuild(tmp_path: Path, tz: str, pieces: bool) -> None:
    """Also where no midnight cuts a UTC day (UTC; London before its summer time): then no pieces are stored."""
    lines = _random_log(7, 400)
    db, log = tmp_path / "site.duckdb", tmp_path / "access.log"
    half = len(lines) // 2
    log.write_text("\n".join(lines[:half]) + "\n")
    load(tmp_path, db, log, "--timezone", tz)
    log.write_text("\n".join(lines) + "\n")  # the file grew: the second load resumes and rebuilds the touched days
    load(tmp_path, db, log, "--timezone", tz)
    assert rollup_state(db) == [("example.com", tz, True)]
    cells = "SELECT * FROM rollups ORDER BY ALL"
    with duckdb.connect(str(db), read_only=True) as con:
        incremental = con.execute(cells).fetchall()
        cut_rows = con.execute("SELECT count(*) FROM rollups WHERE local_day IS NOT NULL").fetchall()[0][0]
        assert (cut_rows > 0) == pieces
        for dates in [("2024-03-05", "2024-03-08"), ("2024-03-06", "2024-03-06"), ("2024-03-04", "2024-03-09")]:
            for interval in ("day", "week", "month"):
                for limit in (2, None):
                    args = {"date_from": dates[0], "date_to": dates[1], "interval": interval, "limit": limit}
                    scope = make_scope("example.com", tz, DateRange(*map(date.fromisoformat, dates)))
                    assert rollup_parts(con, scope, interval, limit, ("pages",)) is not None
                    assert build_report(con, **args) == build_report(con, use_rollups=False, **args), args
    with duckdb.connect(str(db)) as con:
        rollups.rebuild_site(con, "example.com", tz)
        assert con.execute(cells).fetchall() == incremental


def test_hand_made_ids_on_two_utc_days_fall_back_to_the_tables() -> None:
    con = golden_db()
    con.execute("UPDATE sessions SET visitor_id = 109 WHERE session_id = 6")  # s9 ends on the 9th UTC, s6 the 10th
    con.execute("UPDATE events SET visitor_id = 109 WHERE session_id = 6")
    rollups.rebuild_all(con)
    assert ("example.com", "Europe/Berlin", False) in con.execute("SELECT * FROM rollup_sites").fetchall()
    scope = make_scope("example.com", "Europe/Berlin", DateRange(date.fromisoformat("2024-03-08"), date.fromisoformat("2024-03-10")))
    assert rollup_parts(con, scope, "day", 10, ("pages",)) is None
    # visitor 109: s9 on the 10th (its last event), s6 on the 10th: one visitor that day.
    series = build_report(con, "example.com", date_from="2024-03-08", date_to="2024-03-10")["timeseries"]
    assert [row["visitors"] for row in series] == [2, 2, 2]


@pytest.mark.parametrize("interval", ["day", "week"])
def test_golden_fixture_from_rollups_equals_the_tables(interval: str) -> None:
    con = golden_db()
    rollups.rebuild_all(con)
    expected = json.loads((Path(__file__).parent / "golden" / "report_example.json").read_text())
    assert build_report(con, "example.com", date_from="2024-03-08", date_to="2024-03-10") == expected
    for kwargs in [{"period": "all"}, {"date_from": "2024-03-09", "date_to": "2024-03-11", "limit": 1},
                   {"date_from": "2024-03-01", "date_to": "2024-03-12"}, {"timezone_name": "UTC", "period": "all"}]:
        args = {"interval": interval, **kwargs}
        assert build_report(con, "example.com", **args) == build_report(con, "example.com", use_rollups=False, **args)
