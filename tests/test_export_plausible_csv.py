"""Plausible's CSV-import bundle: exact file names, headers and daily rows, sums that agree, zip, warnings, limits."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from importer.reports.export_sql import HEADERS
from importer.reports.plausible_csv import ExportTooLarge, export, export_bundle
from importer.reports.query import build_report
from importer.sinks.schema import TABLES
from tests.conftest import golden_db

GOLDEN = Path(__file__).parent / "golden"
RANGE = {"site": "example.com", "date_from": "2024-03-08", "date_to": "2024-03-10"}
SUFFIX = "_20240308_20240310.csv"

# reference/plausible.md §4.2, character for character (imported_pages: the documented six columns).
EXPECTED_HEADERS = {
    "imported_visitors": '"date","visitors","pageviews","bounces","visits","visit_duration"',
    "imported_sources": '"date","source","referrer","utm_source","utm_medium","utm_campaign","utm_content",'
    '"utm_term","pageviews","visitors","visits","visit_duration","bounces"',
    "imported_pages": '"date","hostname","page","visits","visitors","pageviews"',
    "imported_entry_pages": '"date","entry_page","visitors","entrances","visit_duration","bounces","pageviews"',
    "imported_exit_pages": '"date","exit_page","visitors","visit_duration","exits","bounces","pageviews"',
    "imported_custom_events": '"date","name","link_url","path","visitors","events"',
    "imported_locations": '"date","country","region","city","visitors","visits","visit_duration","bounces",'
    '"pageviews"',
    "imported_devices": '"date","device","visitors","visits","visit_duration","bounces","pageviews"',
    "imported_browsers": '"date","browser","browser_version","visitors","visits","visit_duration","bounces",'
    '"pageviews"',
    "imported_operating_systems": '"date","operating_system","operating_system_version","visitors","visits",'
    '"visit_duration","bounces","pageviews"',
}


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    con = golden_db()
    yield con
    con.close()


@pytest.fixture(scope="module")
def bundle(conn: duckdb.DuckDBPyConnection, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    assert export_bundle(conn, out, **RANGE) == []
    return out


def text(bundle: Path, table: str) -> str:
    return (bundle / f"{table}{SUFFIX}").read_text()


def rows(bundle: Path, table: str) -> list[dict[str, Any]]:
    """Parsed rows with numbers as ints (every non-text column of these tables is an integer)."""
    reader = csv.DictReader(io.StringIO(text(bundle, table)))
    return [{k: int(v) if v.isdigit() and k not in ("date", "page") else v for k, v in row.items()} for row in reader]


def test_ten_files_with_exact_names_and_headers(bundle: Path) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == sorted(f"{table}{SUFFIX}" for table in EXPECTED_HEADERS)
    for table, header in EXPECTED_HEADERS.items():
        assert text(bundle, table).splitlines()[0] == header
        assert ",".join(f'"{c}"' for c in HEADERS[table]) == header


def test_exact_daily_rows(bundle: Path) -> None:
    # Berlin days; s9 (23:50 on the 9th to 00:05) counts as a visit on the 10th, the day of its last event, as
    # Plausible's exporter counts it, while its first page view counts on the 9th.
    assert text(bundle, "imported_visitors") == (
        EXPECTED_HEADERS["imported_visitors"] + "\n"
        '"2024-03-08",2,4,1,2,120\n'
        '"2024-03-09",2,6,1,3,900\n'
        '"2024-03-10",3,2,2,3,900\n'
    )
    assert text(bundle, "imported_pages").splitlines()[1:] == [
        '"2024-03-08","example.com","/",2,2,2',
        '"2024-03-08","example.com","/blog",1,1,2',
        '"2024-03-09","example.com","/",2,2,2',
        '"2024-03-09","example.com","/<script>alert(1)</script>",1,1,1',
        '"2024-03-09","example.com","/blog",2,2,2',
        '"2024-03-09","example.com","/pricing",1,1,1',
        '"2024-03-10","example.com","/blog",1,1,1',
        '"2024-03-10","example.com","/pricing",1,1,1',
    ]
    assert text(bundle, "imported_custom_events").splitlines()[1:] == [
        '"2024-03-08","File Download","https://example.com/file.pdf","",1,1',
        '"2024-03-10","404","","/missing",1,1',
    ]
    assert text(bundle, "imported_sources").splitlines()[5] == (
        '"2024-03-09","Twitter","t.co/abc","twitter","social","launch","","",2,1,1,600,0'
    )
    assert text(bundle, "imported_locations").splitlines()[1] == '"2024-03-08","DE","",0,1,1,120,0,3'
    assert text(bundle, "imported_operating_systems").splitlines()[1] == '"2024-03-08","Linux","",1,1,0,1,1'


def test_imported_visitors_equals_the_report_daily_series(conn: duckdb.DuckDBPyConnection, bundle: Path) -> None:
    series = build_report(conn, **RANGE)["timeseries"]
    exported = {row["date"]: row for row in rows(bundle, "imported_visitors")}
    for day in series:
        row = exported[day["date"]]
        assert (row["visitors"], row["visits"], row["pageviews"]) == (day["visitors"], day["visits"], day["pageviews"])
        assert round(row["bounces"] / row["visits"] * 100) == day["bounce_rate"]
        assert round(row["visit_duration"] / row["visits"]) == day["visit_duration"]


def _daily_sums(table_rows: list[dict[str, Any]], fields: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * len(fields))
    for row in table_rows:
        for i, field in enumerate(fields):
            sums[row["date"]][i] += row[field]
    return {day: tuple(values) for day, values in sums.items()}


@pytest.mark.parametrize(
    ("table", "visits"),
    [
        ("imported_sources", "visits"),
        ("imported_entry_pages", "entrances"),
        ("imported_exit_pages", "exits"),
        ("imported_devices", "visits"),
        ("imported_browsers", "visits"),
        ("imported_operating_systems", "visits"),
    ],
)
def test_session_files_sum_to_imported_visitors(bundle: Path, table: str, visits: str) -> None:
    totals = _daily_sums(rows(bundle, "imported_visitors"), ("visits", "bounces", "visit_duration"))
    assert _daily_sums(rows(bundle, table), (visits, "bounces", "visit_duration")) == totals
    # Pageviews of session files are the sessions' own (Plausible's exporter: sum(pageviews)), so they agree with
    # imported_visitors (pageview events per day) over the range, but s9's 23:50 view moves from the 9th to the 10th.
    session_pv = _daily_sums(rows(bundle, table), ("pageviews",))
    assert session_pv == {"2024-03-08": (4,), "2024-03-09": (5,), "2024-03-10": (3,)}
    assert sum(v for (v,) in session_pv.values()) == sum(r["pageviews"] for r in rows(bundle, "imported_visitors"))


def test_pages_and_locations_sums(bundle: Path) -> None:
    visitors = _daily_sums(rows(bundle, "imported_visitors"), ("pageviews",))
    assert _daily_sums(rows(bundle, "imported_pages"), ("pageviews",)) == visitors
    # imported_locations leaves out the session without a country (s2), as Plausible's exporter does.
    located = _daily_sums(rows(bundle, "imported_locations"), ("visits",))
    assert located == {"2024-03-08": (1,), "2024-03-09": (3,), "2024-03-10": (3,)}


def test_zip_holds_the_same_files(conn: duckdb.DuckDBPyConnection, bundle: Path, tmp_path: Path) -> None:
    target = tmp_path / "nested" / "example_com.zip"
    assert export_bundle(conn, target, **RANGE) == []
    with zipfile.ZipFile(target) as archive:
        assert sorted(archive.namelist()) == sorted(p.name for p in bundle.iterdir())
        for name in archive.namelist():
            assert archive.read(name).decode() == (bundle / name).read_text()
    assert [p.name for p in target.parent.iterdir()] == ["example_com.zip"]  # no temp files left
    assert target.stat().st_mode & 0o044  # readable by others, not mkstemp's 0600


def test_short_range_warns(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    warnings = export_bundle(conn, tmp_path, site="example.com", date_from="2024-03-08", date_to="2024-03-09")
    assert warnings == [
        "the range 2024-03-08 to 2024-03-09 has 2 day(s): Plausible refuses imports shorter than 3 days; "
        "widen it with --from/--to."
    ]
    assert (tmp_path / "imported_visitors_20240308_20240309.csv").exists()


def test_leftovers_and_empty_range_warn(conn: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    export_bundle(conn, tmp_path, site="example.com", date_from="2024-03-08", date_to="2024-03-10")
    warnings = export_bundle(conn, tmp_path, site="example.com", date_from="2024-01-01", date_to="2024-01-05")
    assert warnings[0] == "no data between 2024-01-01 and 2024-01-05: the files hold only their headers."
    assert warnings[1].startswith(f"{tmp_path} also holds files from another export (imported_browsers_2024030")
    assert "Plausible keeps one file per table" in warnings[1]


def test_file_over_the_limit_fails_cleanly_and_says_how_to_split(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    header_and_two_days = len(EXPECTED_HEADERS["imported_visitors"]) + 1 + 2 * len('"2024-03-08",2,4,1,2,120\n')
    with pytest.raises(ExportTooLarge) as info:
        export_bundle(conn, tmp_path / "out", **RANGE, max_bytes=header_and_two_days + 2)
    assert str(info.value) == (
        "imported_visitors would exceed 1.18e-07 GB, Plausible's upload limit, at 2024-03-10. Export the range "
        "in parts: --from 2024-03-08 --to 2024-03-09, then --from 2024-03-10 --to 2024-03-10 "
        "(split further if a part is still too big)."
    )
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-written, no staging folder left
    with pytest.raises(ExportTooLarge, match="imported_visitors for 2024-03-08 alone exceeds"):
        export_bundle(conn, tmp_path / "out", **RANGE, max_bytes=80)


def test_export_command_reads_a_file(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    con = duckdb.connect(str(db))
    con.execute(TABLES)
    con.execute((GOLDEN / "report_fixture.sql").read_text())
    con.close()
    assert export(db, tmp_path / "all.zip", site="example.com") == []  # period "all": 2024-03-08..11
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert "imported_visitors_20240308_20240311.csv" in archive.namelist()
        assert archive.read("imported_visitors_20240308_20240311.csv").decode().endswith('"2024-03-11",1,1,1,1,0\n')
