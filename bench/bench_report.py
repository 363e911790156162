"""Time a 30-day report with every breakdown over a synthetic DuckDB file of 10,000,000 page views.

Usage: python bench/bench_report.py [--db PATH] [--events N] [--days D] [--repeat R] [--no-export] [--rebuild-rollups]

The data is generated in SQL with range(), in the real schema (importer/sinks/schema.py), in time order as a
loader would write it: 2.5 M sessions of 1/3/5/7 page views (a quarter bounce) by 2 M visitors (a fifth of them
have two sessions, on one UTC day as daily-salted ids do, with one browser/OS/device/country per visitor),
~2,000 pages with a skewed popularity, 30 sources, 12 browsers with versions, 50 countries, some UTM tags.
Prints the build time and the time to build the per-day rollups `load` keeps (also done for a file built
before rollups existed), then, after a warm-up, `--repeat` rounds each timing build_report(...) once from the
rollups and once from the sessions and events tables (the path before rollups, same definitions), with wall and
CPU seconds (on a shared machine the CPU figure is the stable one) and their medians; the two reports must be
equal. Then the export of the whole range.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from importer.reports.query import build_report
from importer.sinks import rollups
from importer.sinks.schema import TABLES

SOURCES = ["Google", "Bing", "DuckDuckGo", "Twitter", "Facebook", "Reddit", "Hacker News", "GitHub", "LinkedIn"] + [
    f"site{n}.example" for n in range(21)
]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Opera", "Samsung Internet", "Chrome Mobile", "Mobile Safari",
            "Brave", "Vivaldi", "Yandex Browser", "UC Browser"]
OSES = ["Windows", "Mac", "Linux", "iOS", "Android", "Chrome OS"]
COUNTRIES = ["US", "DE", "GB", "FR", "IN", "BR", "CA", "NL", "SE", "PL", "ES", "IT", "JP", "AU", "CH", "AT", "BE",
             "DK", "FI", "NO", "IE", "PT", "CZ", "RO", "HU", "GR", "TR", "RU", "UA", "CN", "KR", "SG", "MX", "AR",
             "CL", "CO", "ZA", "NG", "EG", "IL", "AE", "SA", "ID", "PH", "VN", "TH", "MY", "NZ", "PK", "BD"]


def _pick(values: list[str], salt: str, key: str = "i") -> str:
    """SQL choosing one of `values` from a hash of `key` (deterministic, no random state)."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"([{quoted}])[CAST(hash({key}, '{salt}') % {len(values)} AS BIGINT) + 1]"


def build_db(path: Path, events: int, days: int) -> float:
    """Create the file; returns seconds spent. Sessions first, then their events exploded with unnest(range())."""
    started = time.perf_counter()
    sessions = events // 4
    page = "'/p/' || CAST(floor(pow((hash({seed}) % 1000000) / 1e6, 3) * 2000) AS INTEGER)"
    con = duckdb.connect(str(path))
    con.execute(TABLES)
    con.execute("INSERT INTO sites VALUES ('example.com', 'Europe/Berlin')")
    con.execute(f"""
        INSERT INTO sessions
        SELECT 'example.com', i, hash(vis) >> 1, start, start + to_seconds((pv - 1) * 45),
               {page.format(seed="i, 'entry'")}, {page.format(seed="i, 'exit'")}, 'example.com',
               pv, pv, pv = 1, (pv - 1) * 45,
               CASE WHEN src IS NULL THEN NULL ELSE lower(src) || '.com/post' END, src,
               CASE WHEN hash(i, 'u') % 10 = 0 THEN 'newsletter' END,
               CASE WHEN hash(i, 'u') % 10 = 0 THEN 'email' END,
               CASE WHEN hash(i, 'u') % 10 = 0 THEN 'launch-' || (hash(i, 'c') % 5) END, NULL, NULL,
               ([ 'Desktop', 'Mobile', 'Tablet', NULL ])[CAST(hash(vis, 'd') % 4 AS BIGINT) + 1],
               {_pick(BROWSERS, 'b', 'vis')}, CAST(hash(vis, 'bv') % 15 + 110 AS VARCHAR) || '.0',
               {_pick(OSES, 'o', 'vis')}, CAST(hash(vis, 'ov') % 8 + 10 AS VARCHAR),
               CASE WHEN hash(vis, 'nc') % 50 = 0 THEN NULL ELSE {_pick(COUNTRIES, 'c', 'vis')} END
        FROM (
            SELECT i, vis, TIMESTAMP '2024-05-01 00:00:00'
                       + to_seconds(CAST((hash(vis, 'day') % {days}) * 86400 + hash(i, 't') % 84600 AS BIGINT))
                       AS start,
                   [1, 3, 5, 7][i % 4 + 1] AS pv,
                   CASE WHEN hash(i, 's') % 10 < 4 THEN NULL ELSE {_pick(SOURCES, 'src')} END AS src
            FROM (SELECT i, CASE WHEN i % 10 < 6 THEN i ELSE i - i % 2 END AS vis FROM range({sessions}) t(i))
        ) ORDER BY start
    """)
    con.execute(f"""
        INSERT INTO events
        SELECT site, start + to_seconds(k * 45), 'pageview', hostname,
               CASE WHEN k = 0 THEN entry_page WHEN k = pageviews - 1 THEN exit_page
                    ELSE {page.format(seed="session_id, k")} END,
               referrer, referrer_source, utm_source, utm_medium, utm_campaign, utm_content, utm_term,
               browser, browser_version, os, os_version, device, country, visitor_id, session_id, NULL, 1,
               row_number() OVER (), NULL
        FROM (SELECT *, unnest(range(CAST(pageviews AS BIGINT))) AS k FROM sessions)
        ORDER BY start + to_seconds(k * 45)
    """)
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def _cpu() -> float:
    """CPU seconds of this process, all threads: unlike wall time, not inflated by other work on the machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def ensure_rollups(path: Path, rebuild: bool = False) -> None:
    """Build the rollups when the file has none yet (a fresh build, or one from before rollups), timed."""
    con = duckdb.connect(str(path))
    con.execute(TABLES)
    (ready,) = con.execute("SELECT count(*) FROM rollup_sites").fetchone()
    if rebuild or not ready:
        wall, cpu = time.perf_counter(), _cpu()
        con.execute("BEGIN TRANSACTION")
        rollups.rebuild_all(con)
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
        (cells,) = con.execute("SELECT count(*) FROM rollups").fetchone()
        print(f"rollups built: {cells:,} cells, wall {time.perf_counter() - wall:.1f} s, cpu {_cpu() - cpu:.1f} s")
    con.close()


def timed_report(con: duckdb.DuckDBPyConnection, use_rollups: bool) -> tuple[dict, float, float]:
    """(report, wall s, CPU s) of a 30-day report with every breakdown."""
    wall, cpu = time.perf_counter(), _cpu()
    report = build_report(con, period="30d", interval="day", limit=10, use_rollups=use_rollups)
    return report, time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="reuse or create this file (default: a temp file)")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-export", action="store_true", help="time only the report")
    parser.add_argument("--rebuild-rollups", action="store_true", help="rebuild and time the rollups")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    path = args.db or Path(tmp.name) / "bench.duckdb"
    if not path.exists():
        seconds = build_db(path, args.events, args.days)
        print(f"built {path}: {args.events:,} events over {args.days} days in {seconds:.1f} s")
    ensure_rollups(path, args.rebuild_rollups)
    con = duckdb.connect(str(path), read_only=True)
    (count,) = con.execute("SELECT count(*) FROM events").fetchone()
    (visits,) = con.execute("SELECT count(*) FROM sessions").fetchone()
    load = os.getloadavg()[0]
    print(f"events {count:,}, sessions {visits:,}; load average before: {load:.2f} on {os.cpu_count()} cores")
    figures: dict[str, list[tuple[float, float]]] = {"rollups": [], "tables": []}
    for n in range(args.repeat + 1):
        reports = {}
        for name in figures:
            reports[name], wall, cpu = timed_report(con, name == "rollups")
            label = "warm-up" if n == 0 else f"run {n}"
            if n:
                figures[name].append((wall, cpu))
            print(f"report from {name} {label}: wall {wall:.2f} s, cpu {cpu:.2f} s "
                  f"(visitors {reports[name]['metrics']['visitors']:,}, pageviews "
                  f"{reports[name]['metrics']['pageviews']:,}, {len(reports[name]['timeseries'])} days)")
        if reports["rollups"] != reports["tables"]:
            raise SystemExit("the report from the rollups differs from the one computed from the tables")
    for name, runs in figures.items():
        if runs:
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            print(f"report from {name}: median wall {statistics.median(walls):.3f} s (best {min(walls):.3f}), "
                  f"median cpu {statistics.median(cpus):.3f} s over {len(runs)} runs; reports equal")
    if not args.no_export:
        from importer.reports.plausible_csv import export_bundle

        with tempfile.TemporaryDirectory() as out:
            wall, cpu = time.perf_counter(), _cpu()
            export_bundle(con, Path(out) / "bundle.zip", period="all")
            print(f"export (10 files, zip): wall {time.perf_counter() - wall:.2f} s, cpu {_cpu() - cpu:.2f} s")
    con.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()
