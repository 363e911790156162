"""Helpers shared by the DuckDB store tests: build input frames and read the store back.

No tests live here; the module name only matches ``test_store*`` so it sits with its users.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl

from importer.events import EVENT_COLUMNS
from importer.sinks.duckdb_store import DuckDBStore

UTC = timezone.utc
UA_A = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
UA_B = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15"
IP_A = "203.0.113.42"
IP_B = "198.51.100.7"
IP_C = "2001:db8::7"

# The pipeline's event frame, without the event_key the store does not use.
INPUT_SCHEMA: dict[str, pl.DataType] = {k: v for k, v in EVENT_COLUMNS.items() if k != "event_key"}


def at(text: str) -> datetime:
    """'2024-03-05 10:00:00' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def event(
    ts: datetime | str,
    path: str = "/",
    *,
    ip: str = IP_A,
    ua: str | None = UA_A,
    domain: str = "example.com",
    host: str | None = None,
    query: str | None = None,
    referrer: str | None = None,
    name: str = "pageview",
    props: str | None = None,
    line: int = 0,
) -> dict[str, Any]:
    """One input row as the pipeline hands it over."""
    ts = at(ts) if isinstance(ts, str) else ts
    host = domain if host is None else host
    url = f"https://{host}{path}" + (f"?{query}" if query else "")
    return {
        "ts": ts, "name": name, "domain": domain, "url": url, "host": host, "path": path, "query": query,
        "referrer": referrer, "user_agent": ua, "client_ip": ip, "props": props, "browser": "Chrome",
        "browser_version": "120.0", "os": "GNU/Linux", "os_version": "", "device": "Desktop",
        "file": "access.log", "line": line, "offset": 0,
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows -> input frame; lines/offsets numbered in the given order when not set."""
    numbered = []
    for i, row in enumerate(rows, start=1):
        row = dict(row)
        row["line"] = row["line"] or i
        row["offset"] = (row["line"] - 1) * 100
        numbered.append(row)
    return pl.DataFrame(numbered, schema=INPUT_SCHEMA)


def load(store: DuckDBStore, data: pl.DataFrame, fingerprint: str = "fp-1", rebuild: bool = True) -> int:
    """Write one frame as one batch of a file (offsets = 100 bytes a line), then sessionise."""
    file_id = store.register_file(fingerprint, f"/logs/{fingerprint}.log", "none")
    end_line = int(data["line"].max()) if data.height else 0
    store.write_batch(data, file_id, end_line * 100, end_line)
    return store.rebuild_pending() if rebuild else 0


def open_store(tmp_path: Path, name: str = "stats.duckdb", **kwargs: Any) -> DuckDBStore:
    return DuckDBStore(tmp_path / name, tmp_path / "secret.key", **kwargs)


def sessions(store: DuckDBStore, site: str = "example.com") -> list[dict[str, Any]]:
    """Sessions of a site, oldest first, as dicts."""
    return store.con.sql(
        "SELECT * FROM sessions WHERE site = ? ORDER BY start, session_id", params=[site]
    ).pl().to_dicts()


def table_rows(store: DuckDBStore, sql: str) -> list[tuple]:
    return sorted(store.con.execute(sql).fetchall(), key=repr)


def minutes(base: datetime, *offsets: float) -> list[datetime]:
    return [base + timedelta(minutes=m) for m in offsets]
