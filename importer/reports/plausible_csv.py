"""Plausible's CSV-import bundle: the ten imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv files, in a folder or a .zip.

This is the only way to get history into Plausible with correct dates (its event API stamps everything "now").
Files are written in ClickHouse's CSVWithNames style, as Plausible's own export writes them: quoted header and
text, bare numbers. Everything is written under temporary names and renamed at the end, so an interrupted or
failed export never leaves a half bundle that Plausible would accept. Plausible rejects files over 1 GB: the
export stops before that and says how to split the range.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from importer.reports.db import open_db
from importer.reports.errors import ReportError
from importer.reports.export_sql import HEADERS, table_query
from importer.reports.files import default_mode
from importer.reports.periods import DateRange
from importer.reports.query import resolve_range, resolve_site
from importer.reports.scope import Scope, make_scope

MAX_FILE_BYTES = 1_000_000_000  # Plausible's upload limit per file (csv_import.ex max_file_size)
MIN_DAYS = 3  # Plausible's clamp_dates requires Date.diff(end, start) >= 2
FETCH_ROWS = 50_000


class ExportTooLarge(ReportError):
    """A file would pass Plausible's 1 GB limit; the message names the ranges to export instead."""


def file_name(table: str, rng: DateRange) -> str:
    """imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv: the dates tell Plausible the import range (inclusive)."""
    return f"{table}_{rng.start:%Y%m%d}_{rng.end:%Y%m%d}.csv"


def _split_message(table: str, rng: DateRange, day: date, max_bytes: int) -> str:
    limit = f"{max_bytes / 1e9:g} GB"
    if day <= rng.start:
        return (
            f"{table} for {rng.start} alone exceeds {limit}, Plausible's upload limit; "
            "a single day cannot be split further."
        )
    before = day - timedelta(days=1)
    return (
        f"{table} would exceed {limit}, Plausible's upload limit, at {day}. Export the range in parts: "
        f"--from {rng.start} --to {before}, then --from {day} --to {rng.end} "
        "(split further if a part is still too big)."
    )


def _encode(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> bytes:
    """CSV bytes for rows: dates as ISO text (quoted like any text), numbers bare."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    if header:
        writer.writerow(header)
    writer.writerows([value.isoformat() if isinstance(value, date) else value for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def _crossing_day(rows: list[tuple[Any, ...]], budget: int) -> date:
    """The date of the first row that no longer fits in `budget` bytes (rows are ordered by date)."""
    for row in rows:
        budget -= len(_encode([row]))
        if budget < 0:
            return row[0]
    return rows[-1][0]


def write_table(
    conn: duckdb.DuckDBPyConnection, table: str, scope: Scope, path: Path, max_bytes: int = MAX_FILE_BYTES
) -> int:
    """Stream one table's rows to `path`; returns the row count. Raises ExportTooLarge before passing max_bytes."""
    cursor = conn.execute(table_query(table, scope), scope.params)
    rows_written = 0
    with path.open("wb") as handle:
        size = handle.write(_encode([], HEADERS[table]))
        while chunk := cursor.fetchmany(FETCH_ROWS):
            data = _encode(chunk)
            if size + len(data) > max_bytes:
                day = _crossing_day(chunk, max_bytes - size)
                raise ExportTooLarge(_split_message(table, scope.rng, day, max_bytes))
            size += handle.write(data)
            rows_written += len(chunk)
    return rows_written


def _warnings(rng: DateRange, row_counts: dict[str, int], out_dir: Path | None, names: set[str]) -> list[str]:
    """What the user should know before uploading: too short a range, no data, leftovers of other exports."""
    warnings = []
    if rng.days < MIN_DAYS:
        warnings.append(
            f"the range {rng.start} to {rng.end} has {rng.days} day(s): Plausible refuses imports shorter than "
            f"{MIN_DAYS} days; widen it with --from/--to."
        )
    if row_counts.get("imported_visitors", 0) == 0:
        warnings.append(f"no data between {rng.start} and {rng.end}: the files hold only their headers.")
    if out_dir is not None and out_dir.is_dir():
        stale = sorted(p.name for p in out_dir.glob("imported_*.csv") if p.name not in names)
        if stale:
            shown = ", ".join(stale[:3]) + ("…" if len(stale) > 3 else "")
            warnings.append(
                f"{out_dir} also holds files from another export ({shown}); "
                "Plausible keeps one file per table, so upload only this export's files."
            )
    return warnings


def _publish_dir(staging: Path, out: Path) -> None:
    """Move each finished file into place with an atomic rename (same filesystem: staging lives inside `out`)."""
    for path in sorted(staging.iterdir()):
        os.replace(path, out / path.name)


def _publish_zip(staging: Path, out: Path) -> None:
    """Zip the finished files to a temp file beside `out`, then rename it over `out`."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(staging.iterdir()):
                archive.write(path, arcname=path.name)
        os.chmod(tmp, default_mode())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_bundle(
    conn: duckdb.DuckDBPyConnection,
    out: str | Path,
    *,
    site: str | None = None,
    period: str = "all",
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    timezone_name: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> list[str]:
    """Write the bundle to `out` (a folder, or a file ending in .zip); returns warnings for the user."""
    target = Path(out)
    as_zip = target.suffix.lower() == ".zip"
    site, tz_name = resolve_site(conn, site, timezone_name)
    rng = resolve_range(conn, site, tz_name, period, date_from, date_to)
    scope = make_scope(site, tz_name, rng)
    folder = target.parent if as_zip else target
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".plausible-export-", dir=folder))
    try:
        counts = {
            table: write_table(conn, table, scope, staging / file_name(table, rng), max_bytes) for table in HEADERS
        }
        names = {file_name(table, rng) for table in HEADERS}
        warnings = _warnings(rng, counts, None if as_zip else target, names)
        if as_zip:
            _publish_zip(staging, target)
        else:
            _publish_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return warnings


def export(
    db: str | Path,
    out: str | Path,
    *,
    site: str | None = None,
    period: str = "all",
    date_from: str | date | None = None,
    date_to: str | date | None = None,
    timezone_name: str | None = None,
) -> list[str]:
    """The `export` command with plain arguments: open the file read-only, write the bundle, return warnings."""
    conn = open_db(db)
    try:
        return export_bundle(
            conn, out, site=site, period=period, date_from=date_from, date_to=date_to, timezone_name=timezone_name
        )
    finally:
        conn.close()
