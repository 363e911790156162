"""Renderers: JSON round trip, CSV text and files, the 80-column terminal view, and the HTML page vs the JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import duckdb
import pytest

from importer.reports.commands import run_report
from importer.reports.errors import ReportError
from importer.reports.layout import BREAKDOWN_LAYOUT
from importer.reports.query import build_report
from importer.reports.render_csv import render_csv, table_names, write_csv_dir
from importer.reports.render_html import render_html
from importer.reports.render_json import render_json
from importer.reports.render_terminal import render_terminal, sparkline
from importer.sinks.schema import TABLES

GOLDEN = Path(__file__).parent / "golden"
SCRIPT_PAGE = "/<script>alert(1)</script>"


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    con = duckdb.connect()
    con.execute(TABLES)
    con.execute((GOLDEN / "report_fixture.sql").read_text())
    data = build_report(con, "example.com", date_from="2024-03-08", date_to="2024-03-10")
    con.close()
    return data


@pytest.fixture
def db_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "site.duckdb"
    con = duckdb.connect(str(path))
    con.execute(TABLES)
    con.execute((GOLDEN / "report_fixture.sql").read_text())
    con.close()
    yield path


def test_json_round_trips(report: dict[str, Any]) -> None:
    text = render_json(report)
    assert json.loads(text) == report
    assert SCRIPT_PAGE in text  # not \u-escaped: paths stay readable


def test_csv_one_table(report: dict[str, Any]) -> None:
    assert render_csv(report, "pages") == (
        "page,visitors,pageviews,bounce_rate\n"
        "/,4,4,25\n"
        "/blog,4,5,0\n"
        "/pricing,2,2,100\n"
        f"{SCRIPT_PAGE},1,1,100\n"
    )
    assert render_csv(report, "browser_versions").splitlines()[:3] == [
        "browser,version,visitors,visits,pageviews,bounce_rate,visit_duration",
        "Chrome,122.0,2,2,3,50,60",
        "Chrome,121.0,1,2,3,50,150",
    ]
    assert render_csv(report, "timeseries").splitlines()[1] == "2024-03-08,2,2,4,50,60,2.0"
    assert render_csv(report, "metrics") == (
        "visitors,visits,pageviews,views_per_visit,bounce_rate,visit_duration\n7,8,12,1.5,50,240\n"
    )
    with pytest.raises(ReportError, match=r"unknown table 'cities'\. Try one of: metrics, timeseries, pages"):
        render_csv(report, "cities")


def test_csv_directory_has_one_file_per_table(report: dict[str, Any], tmp_path: Path) -> None:
    written = write_csv_dir(report, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(f"{name}.csv" for name in table_names(report))
    assert len(written) == 16  # metrics, timeseries, 12 breakdowns, 2 version tables
    assert (tmp_path / "out" / "exit_pages.csv").read_text().splitlines()[1] == "/blog,3,3,60.0"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_terminal_fits_80_columns_and_shows_every_list(report: dict[str, Any]) -> None:
    text = render_terminal(report)
    lines = text.splitlines()
    assert lines[0] == "example.com · 2024-03-08 to 2024-03-10 (Europe/Berlin)"
    assert all(len(line) <= 80 for line in lines)
    assert any(line.split() == ["7", "8", "12", "1.50", "50%", "4m", "00s"] for line in lines)
    assert "▅▅█" in text  # visitors per day 2, 2, 3: s9 (23:50 to 00:05) counts on the 10th
    for title, *_ in BREAKDOWN_LAYOUT.values():
        assert any(line.strip() == title for line in lines), title
    expected_rows = [
        ["/blog", "4", "5", "0%"],
        [SCRIPT_PAGE, "1", "1", "100%"],
        ["Direct", "/", "None", "4", "4", "4", "75%", "3m", "45s"],
        ["/blog", "3", "3", "60.0%"],
        ["122.0", "2", "2", "3", "50%", "1m", "00s"],
        ["(not", "set)", "2", "2", "3", "50%", "7m", "30s"],
    ]
    for row in expected_rows:
        assert any(line.split() == row for line in lines), row
    assert "\x1b[" not in text
    assert "\x1b[" in render_terminal(report, color=True)


def test_sparkline_downsamples() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"
    assert sparkline([0, 7, 0, 7], 2) == "██"
    assert sparkline([0, 0], 10) == "▁▁"


class DataCells(HTMLParser):
    """Collects every element with data-field or data-metric, and the text of the page outside tags."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        self.tags.append(tag)
        self.urls += [found[name] for name in ("src", "href") if name in found]
        if "data-field" in found or "data-metric" in found:
            self.cells.append(found)


def test_html_numbers_equal_the_json(report: dict[str, Any]) -> None:
    parser = DataCells()
    parser.feed(render_html(report))
    metrics = {c["data-metric"]: json.loads(c["data-value"]) for c in parser.cells if "data-metric" in c}
    assert metrics == report["metrics"]
    series = {(c["data-key"], c["data-field"]): json.loads(c["data-value"])
              for c in parser.cells if c.get("data-series") == "timeseries"}
    assert series == {(row["date"], f): v for row in report["timeseries"] for f, v in row.items() if f != "date"}
    cells = {(c["data-breakdown"], c.get("data-parent", ""), c["data-key"], c["data-field"]): c["data-value"]
             for c in parser.cells if "data-breakdown" in c}
    expected = {}
    for name, rows in report["breakdowns"].items():
        _, key, fields = BREAKDOWN_LAYOUT[name]
        for row in rows:
            for field in fields:
                value = row[field]
                expected[(name, "", row[key], field)] = "" if value is None else json.dumps(value)
            for version in row.get("versions", []):
                for field in fields:
                    expected[(f"{name}.versions", row[key], version["version"], field)] = json.dumps(version[field])
    assert cells == expected


def test_html_is_escaped_self_contained_and_responsive(report: dict[str, Any]) -> None:
    page = render_html(report)
    parser = DataCells()
    parser.feed(page)
    assert parser.tags.count("script") == 1  # only the inert application/json block
    assert '<script type="application/json" id="report-data">' in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert parser.urls == []
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (max-width:40rem)" in page and "<svg" in page
    embedded = page.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded) == report


def test_run_report_outputs(db_file: Path, tmp_path: Path) -> None:
    common = {"site": "example.com", "date_from": "2024-03-08", "date_to": "2024-03-10"}
    assert json.loads(run_report(db_file, output="json", **common))["metrics"]["visits"] == 8
    assert run_report(db_file, output="csv", table="devices", **common).splitlines()[1] == "Desktop,5,6,10,50,220"
    assert run_report(db_file, output="html", out=tmp_path / "r.html", **common) == ""
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    assert run_report(db_file, output="csv", out=tmp_path / "csv", **common) == ""
    assert (tmp_path / "csv" / "countries.csv").exists()
    assert run_report(db_file, **common).startswith("example.com · 2024-03-08")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"output": "xml"}, "unknown output 'xml'. Try one of: table, json, csv, html."),
        ({"output": "csv"}, "csv output needs --table NAME for stdout, or --out DIR for one file per table."),
    ],
)
def test_run_report_errors(db_file: Path, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ReportError) as info:
        run_report(db_file, site="example.com", **kwargs)
    assert str(info.value) == message


def test_missing_and_busy_database(tmp_path: Path, db_file: Path) -> None:
    with pytest.raises(ReportError, match="does not exist; create it with `plausible-logs load"):
        run_report(tmp_path / "none.duckdb")
    writer = duckdb.connect(str(db_file))
    try:
        with pytest.raises(ReportError, match="already open for writing in this process"):
            run_report(db_file, site="example.com")
    finally:
        writer.close()


def test_database_locked_by_a_running_load(db_file: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(db_file)!r}); print('open', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(ReportError, match="in use by another process \\(a load still running\\?\\); retry"):
            run_report(db_file, site="example.com")
    finally:
        holder.kill()
        holder.wait()
