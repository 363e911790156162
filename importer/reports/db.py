"""Opening the DuckDB file for reading, with errors that say what to do."""

from __future__ import annotations

from pathlib import Path

import duckdb

from importer.reports.errors import ReportError


def open_db(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Read-only, so a report can never change the data; a lock held by a running load becomes a clear message."""
    db = Path(path)
    if not db.is_file():
        raise ReportError(f"database '{db}' does not exist; create it with `plausible-logs load --db {db}` first.")
    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise ReportError(
                f"database '{db}' is in use by another process (a load still running?); retry when it has finished."
            ) from exc
        raise ReportError(f"cannot open database '{db}': {exc}") from exc
    except duckdb.ConnectionException as exc:
        raise ReportError(
            f"database '{db}' is already open for writing in this process; close that connection first, "
            "or pass it to build_report()."
        ) from exc
