"""report and export through the CLI on a DuckDB file that `load` filled, and the HTML page in real Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zipfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, run_cli
from tests.test_load_cli import CRAFTED, write_log


@pytest.fixture(scope="module")
def loaded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    db = folder / "site.duckdb"
    log = write_log(folder / "crafted.log", CRAFTED)
    result = run_cli("load", str(log), str(SAMPLES / "nginx_combined.log"), "--db", str(db), "--domain",
                     "example.com", "--format", "combined", "--key-file", str(folder / "k"), "--timezone", "UTC")
    assert result.exit_code == 0, result.stderr
    return db


def json_report(db: Path, *args: str) -> dict:
    result = run_cli("report", "--db", str(db), "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_json_report_has_plausibles_shape_and_the_crafted_numbers(loaded_db: Path) -> None:
    report = json_report(loaded_db, "--from", "2024-03-05", "--to", "2024-03-05", "--limit", "50")
    assert set(report) == {"site", "period", "metrics", "timeseries", "breakdowns"}
    assert report["site"] == "example.com"
    assert report["period"] == {"from": "2024-03-05", "to": "2024-03-05", "timezone": "UTC"}
    assert set(report["metrics"]) >= {"visitors", "visits", "pageviews", "views_per_visit", "bounce_rate",
                                      "visit_duration"}
    crafted_and_sample = json_report(loaded_db, "--period", "all")
    assert crafted_and_sample["metrics"]["visits"] >= 8
    pages = {row["page"] for row in report["breakdowns"]["pages"]}
    assert {"/", "/a", "/b", "/only"} <= pages


def test_timeseries_sums_match_the_metrics(loaded_db: Path) -> None:
    report = json_report(loaded_db, "--period", "all")
    assert sum(day["pageviews"] for day in report["timeseries"]) == report["metrics"]["pageviews"]


def test_csv_single_breakdown_goes_to_stdout(loaded_db: Path) -> None:
    result = run_cli("report", "--db", str(loaded_db), "--format", "csv", "--breakdown", "sources", "--period", "all")
    assert result.exit_code == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert header.startswith("source,") and "visitors" in header
    assert "Hacker News" in result.stdout


def test_terminal_report_reads_at_80_columns(loaded_db: Path) -> None:
    result = run_cli("report", "--db", str(loaded_db), "--period", "all")
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "Visitors" in result.stdout and "Top Pages" in result.stdout


def test_report_errors_are_one_line(tmp_path: Path, loaded_db: Path) -> None:
    missing = run_cli("report", "--db", str(tmp_path / "none.duckdb"))
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1
    bad = run_cli("report", "--db", str(loaded_db), "--breakdown", "colours", "--format", "json")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("Error: unknown breakdown 'colours'. Try one of: pages,")


def test_export_writes_plausibles_ten_files_with_their_headers(loaded_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle.zip"
    result = run_cli("export", "--db", str(loaded_db), "--from", "2024-03-04", "--to", "2024-03-07", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    names = sorted(zipfile.ZipFile(out).namelist())
    assert len(names) == 10
    assert all(re.fullmatch(r"imported_[a-z_]+_20240304_20240307\.csv", name) for name in names)
    visitors = zipfile.ZipFile(out).read("imported_visitors_20240304_20240307.csv").decode().splitlines()
    assert visitors[0] == '"date","visitors","pageviews","bounces","visits","visit_duration"'  # CSVWithNames
    daily = {line.split(",")[0].strip('"'): line.split(",") for line in visitors[1:]}
    report = json_report(loaded_db, "--from", "2024-03-04", "--to", "2024-03-07")
    for day in report["timeseries"]:
        if day["visits"]:
            assert int(daily[day["date"]][4]) == day["visits"]
            assert int(daily[day["date"]][2]) == day["pageviews"]


def test_export_of_a_short_range_warns(loaded_db: Path, tmp_path: Path) -> None:
    result = run_cli("export", "--db", str(loaded_db), "--from", "2024-03-05", "--to", "2024-03-05",
                     "--out", str(tmp_path / "dir"))
    assert result.exit_code == 0
    assert "Plausible refuses imports shorter than" in result.stderr


# ----- the HTML page in a real browser -------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _needs_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs the Debian package")
        pytest.skip("chromium is not installed here")


class _Numbers(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, ...], str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-metric" in found and found.get("data-value") is not None:
            self.values[("metric", found["data-metric"] or "")] = found["data-value"] or ""
        if "data-breakdown" in found and found.get("data-field") and found.get("data-value") is not None:
            key = (found["data-breakdown"] or "", found.get("data-key") or "", found["data-field"] or "")
            self.values[key] = found["data-value"] or ""


def _png_is_not_blank(path: Path) -> bool:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"IDAT":
            idat += data[position + 8:position + 8 + length]
        position += 12 + length
    pixels = zlib.decompress(idat)
    return len(set(pixels[: 4_000_000])) > 20


def test_html_report_loads_in_chromium_with_the_json_numbers(loaded_db: Path, tmp_path: Path) -> None:
    _needs_chromium()
    page = tmp_path / "report.html"
    result = run_cli("report", "--db", str(loaded_db), "--period", "all", "--format", "html", "-o", str(page))
    assert result.exit_code == 0, result.stderr
    report = json_report(loaded_db, "--period", "all")
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and "error" in line.lower()]
    assert console_errors == []
    numbers = _Numbers()
    numbers.feed(dom.stdout)
    for name, value in report["metrics"].items():
        if ("metric", name) in numbers.values:
            assert json.loads(numbers.values[("metric", name)]) == value
    assert ("metric", "visitors") in numbers.values
    for row in report["breakdowns"]["pages"]:
        assert json.loads(numbers.values[("pages", row["page"], "visitors")]) == row["visitors"]
    shot = tmp_path / "phone.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=390,1200",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert _png_is_not_blank(shot)
