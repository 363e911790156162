"""Shared test helpers: run the real CLI and read its NDJSON output."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from importer.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
GOLDEN = Path(__file__).parent / "golden"


def golden_db() -> duckdb.DuckDBPyConnection:
    """An in-memory DB with the store's schema and the hand-made report fixture (tests/golden)."""
    from importer.sinks.schema import TABLES

    con = duckdb.connect()
    con.execute(TABLES)
    con.execute((GOLDEN / "report_fixture.sql").read_text())
    return con


def run_cli(*args: str, input: bytes | str | None = None) -> Result:
    """Invoke `plausible-logs` in-process, with stderr kept apart from stdout."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def ndjson_rows(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def combined_lines() -> list[str]:
    """Three valid nginx combined lines (one IPv6) used by the framing tests."""
    return [
        '203.0.113.42 - - [05/Mar/2024:14:22:07 +0100] "GET /a?x=1 HTTP/2.0" 200 5123 "-" "Mozilla/5.0 (X11)"',
        '2001:db8::7 - - [05/Mar/2024:14:22:09 +0100] "GET /b HTTP/1.1" 304 0 "https://example.org/" "Mozilla/5.0"',
        '198.51.100.7 - - [05/Mar/2024:14:22:11 +0100] "POST /c HTTP/1.1" 404 12 "-" "curl/8.5.0"',
    ]
