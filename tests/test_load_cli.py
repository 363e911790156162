"""`plausible-logs load` end to end on real files: hand-computed metrics, idempotence, split invariance."""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from parsers.inputs import Source
from parsers.reader import Batch
from tests.conftest import run_cli

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15"


def entry(ip: str, when: str, path: str, agent: str, referrer: str = "-") -> str:
    return f'{ip} - - [{when} +0000] "GET {path} HTTP/1.1" 200 100 "{referrer}" "{agent}"'


# Hand-built day (2024-03-05 UTC) and its answers, worked out by hand below.
CRAFTED = [
    entry("203.0.113.10", "05/Mar/2024:10:00:00", "/", CHROME, "https://news.ycombinator.com/item?id=1"),
    entry("203.0.113.10", "05/Mar/2024:10:29:59", "/a", CHROME),        # 29:59 later: same visit
    entry("203.0.113.10", "05/Mar/2024:11:00:00", "/b", CHROME),        # 30:01 later: a new visit
    entry("203.0.113.20", "05/Mar/2024:12:00:00", "/only", FIREFOX),    # single page: a bounce
    entry("203.0.113.40", "05/Mar/2024:13:00:00", "/x", CHROME),        # same IP, two agents: two visitors
    entry("203.0.113.40", "05/Mar/2024:13:00:05", "/x", FIREFOX),
    entry("203.0.113.50", "05/Mar/2024:14:00:00", "/y", CHROME),        # same agent, two IPs: two visitors
    entry("203.0.113.51", "05/Mar/2024:14:00:05", "/y", CHROME),
    entry("203.0.113.30", "05/Mar/2024:23:50:00", "/night", SAFARI),    # a visit across midnight UTC
    entry("203.0.113.30", "06/Mar/2024:00:10:00", "/morning", SAFARI),
]
# Visits: A1 (/, /a: 2 pages, 1799 s), A2 (/b), B (/only), C (/night, /morning: 2 pages, 1200 s), D1, D2, E1, E2.
CRAFTED_SESSIONS = {
    ("/", "/a", 2, False, 1799), ("/b", "/b", 1, True, 0), ("/only", "/only", 1, True, 0),
    ("/night", "/morning", 2, False, 1200), ("/x", "/x", 1, True, 0), ("/y", "/y", 1, True, 0),
}


def load(tmp_path: Path, db: Path, *files: Path, extra: tuple[str, ...] = ()) -> dict:
    summary = tmp_path / "summary.json"
    result = run_cli("load", *map(str, files), "--db", str(db), "--domain", "example.com", "--format", "combined",
                     "--key-file", str(tmp_path / "visitor.key"), "--summary-json", str(summary), *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(summary.read_text())


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def totals(db: Path) -> tuple:
    return query(db, """
        SELECT count(DISTINCT visitor_id), (SELECT count(*) FROM sessions), count(*),
               (SELECT count(*) FILTER (WHERE is_bounce) FROM sessions), (SELECT sum(duration) FROM sessions)
        FROM events""")[0]


def sessions_of(db: Path) -> list[tuple]:
    return query(db, """SELECT visitor_id, start, "end", entry_page, exit_page, pageviews, events, is_bounce, duration,
                        referrer_source, browser, os, device FROM sessions ORDER BY start, visitor_id""")


def write_log(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_crafted_log_gives_the_hand_computed_answers(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    load(tmp_path, db, write_log(tmp_path / "access.log", CRAFTED))
    rows = query(db, "SELECT entry_page, exit_page, pageviews, is_bounce, duration FROM sessions")
    assert len(rows) == 8
    assert set(rows) == CRAFTED_SESSIONS
    # visitors: A, B, C, D1, D2, E1, E2 on the 5th; C again under the 6th's salt
    assert query(db, "SELECT count(DISTINCT visitor_id) FROM events WHERE ts < '2024-03-06'")[0][0] == 7
    assert query(db, "SELECT referrer_source FROM sessions WHERE entry_page = '/'")[0][0] == "Hacker News"
    visits, bounces, duration, pages = query(
        db, "SELECT count(*), count(*) FILTER (WHERE is_bounce), sum(duration), sum(pageviews) FROM sessions")[0]
    assert (visits, bounces, duration, pages) == (8, 6, 2999, 10)
    assert round(100 * bounces / visits) == 75 and round(duration / visits) == 375 and pages / visits == 1.25


def test_no_raw_ip_anywhere_in_the_file(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    load(tmp_path, db, write_log(tmp_path / "access.log", CRAFTED))
    with duckdb.connect(str(db)) as con:
        con.execute("CHECKPOINT")
    raw = db.read_bytes()
    for ip in ("203.0.113.10", "203.0.113.20", "203.0.113.51"):
        assert ip.encode() not in raw


def test_second_load_of_the_same_files_is_a_no_op(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    log = write_log(tmp_path / "access.log", CRAFTED)
    load(tmp_path, db, log)
    before = (totals(db), sessions_of(db))
    again = load(tmp_path, db, log)
    assert again["files_skipped"] == [str(log)] and again["events_written"] == 0
    assert (totals(db), sessions_of(db)) == before


def test_rotated_file_seen_again_compressed_is_recognised(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    first = write_log(tmp_path / "access.log.1", CRAFTED)
    load(tmp_path, db, first)
    rotated = tmp_path / "access.log.2.gz"
    rotated.write_bytes(gzip.compress(first.read_bytes()))
    first.unlink()
    again = load(tmp_path, db, rotated)
    assert again["events_written"] == 0 and again["files_skipped"] == [str(rotated)]


def test_grown_file_resumes_at_its_offset_and_sessions_span_the_two_loads(tmp_path: Path) -> None:
    whole = tmp_path / "whole.duckdb"
    load(tmp_path, whole, write_log(tmp_path / "all.log", CRAFTED))
    db = tmp_path / "site.duckdb"
    growing = tmp_path / "access.log"
    write_log(growing, CRAFTED[:2])  # the first visit is cut in the middle
    load(tmp_path, db, growing)
    write_log(growing, CRAFTED)
    second = load(tmp_path, db, growing)
    assert second["events_written"] == len(CRAFTED) - 2
    assert sessions_of(db) == sessions_of(whole)


def test_split_invariance_one_run_ten_chunks_and_rotated_files(tmp_path: Path) -> None:
    rng = random.Random(7)
    agents = [CHROME, FIREFOX, SAFARI]
    lines = []
    for minute in range(0, 3 * 24 * 60, 7):  # three days, visitors coming back at random gaps
        day, rest = divmod(minute, 24 * 60)
        hour, mins = divmod(rest, 60)
        ip = f"198.51.100.{rng.randrange(1, 12)}"
        lines.append(entry(ip, f"{5 + day:02d}/Mar/2024:{hour:02d}:{mins:02d}:{rng.randrange(60):02d}",
                           f"/p{rng.randrange(9)}", agents[rng.randrange(3)]))
    one = tmp_path / "one.duckdb"
    load(tmp_path, one, write_log(tmp_path / "all.log", lines))
    expected = (totals(one), sessions_of(one))

    chunked = tmp_path / "chunked.duckdb"
    growing = tmp_path / "growing.log"
    cuts = [*sorted(rng.sample(range(1, len(lines)), 9)), len(lines)]
    for cut in cuts:  # the same file growing, loaded ten times
        write_log(growing, lines[:cut])
        load(tmp_path, chunked, growing)
    assert (totals(chunked), sessions_of(chunked)) == expected

    rotated = tmp_path / "rotated.duckdb"
    folder = tmp_path / "logs"
    folder.mkdir()
    parts = [lines[a:b] for a, b in zip([0, *cuts[2::3]], [*cuts[2::3], len(lines)], strict=False) if lines[a:b]]
    for number, part in enumerate(reversed(parts)):
        name = "access.log" if number == 0 else f"access.log.{number}"
        write_log(folder / name, part)
    load(tmp_path, rotated, folder)
    assert (totals(rotated), sessions_of(rotated)) == expected

    # 20 files of 4-6 KiB in one run: one pipeline, groups spanning files, a commit every 50 events.
    many = tmp_path / "many.duckdb"
    pieces = tmp_path / "pieces"
    pieces.mkdir()
    step = -(-len(lines) // 20)
    files = [write_log(pieces / f"part-{i:02d}.log", lines[i * step : (i + 1) * step]) for i in range(20)]
    assert all(4096 <= f.stat().st_size < 8192 for f in files)
    summary = load(tmp_path, many, *files, extra=("--commit-events", "50", "--batch-bytes", "4096"))
    assert (totals(many), sessions_of(many)) == expected
    assert summary["files_loaded"] == [str(f) for f in files]
    assert query(many, "SELECT count(*) FROM files WHERE committed_line = 0") == [(0,)]
    assert load(tmp_path, many, *files)["files_skipped"] == [str(f) for f in files]


def test_two_domains_in_one_vhost_log(tmp_path: Path) -> None:
    log = tmp_path / "vhosts.log"
    log.write_text(
        f'www.example.com:443 203.0.113.5 - - [05/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "{CHROME}"\n'
        f'blog.example.org:443 203.0.113.5 - - [05/Mar/2024:10:00:10 +0000] "GET /post HTTP/1.1" 200 5 "-" "{CHROME}"\n'
        f'blog.example.org:443 203.0.113.5 - - [05/Mar/2024:10:01:10 +0000] "GET /post2 HTTP/1.1" 200 5 "-" "{CHROME}"\n'
    )
    db = tmp_path / "multi.duckdb"
    result = run_cli("load", str(log), "--db", str(db), "--format", "vhost_combined", "--key-file",
                     str(tmp_path / "k"), "--domain-map", "example.com=example.com",
                     "--domain-map", "blog.example.org=example.org")
    assert result.exit_code == 0, result.stderr
    assert query(db, "SELECT site, count(*), sum(pageviews) FROM sessions GROUP BY site ORDER BY site") == [
        ("example.com", 1, 1), ("example.org", 1, 2)
    ]
    visitors = query(db, "SELECT site, visitor_id FROM events ORDER BY site")
    assert visitors[0][1] != visitors[1][1]  # the domain is part of the visitor hash


def test_second_load_on_a_busy_db_fails_fast(tmp_path: Path) -> None:
    from importer.sinks.duckdb_store import DuckDBStore

    db = tmp_path / "busy.duckdb"
    log = write_log(tmp_path / "access.log", CRAFTED)
    with DuckDBStore(db, tmp_path / "visitor.key"):
        result = run_cli("load", str(log), "--db", str(db), "--domain", "example.com", "--key-file",
                         str(tmp_path / "visitor.key"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: another plausible-logs load is using {db}; wait for it or add --wait.\n"


def test_unknown_timezone_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("load", str(tmp_path), "--db", str(tmp_path / "x.duckdb"), "--domain", "example.com",
                     "--timezone", "Mars/Olympus")
    assert result.exit_code == 2
    assert "unknown time zone 'Mars/Olympus'" in result.stderr


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_timezone_is_recorded_for_the_site(tmp_path: Path, tz: str) -> None:
    db = tmp_path / "tz.duckdb"
    load(tmp_path, db, write_log(tmp_path / "access.log", CRAFTED), extra=("--timezone", tz))
    assert query(db, "SELECT timezone FROM sites WHERE site = 'example.com'") == [(tz,)]


def test_many_small_files_in_one_run_equal_one_file_and_same_content_is_loaded_once(tmp_path: Path) -> None:
    """Small files share transactions; a copy, or a grown copy, of a file still waiting to commit is not loaded twice."""
    whole = tmp_path / "whole"
    whole.mkdir()
    one_db = tmp_path / "one.duckdb"
    load(tmp_path, one_db, write_log(whole / "access.log", CRAFTED))

    parts = tmp_path / "parts"
    parts.mkdir()
    files = [write_log(parts / f"access-{i:02d}.log", [line]) for i, line in enumerate(CRAFTED)]
    copy = parts / "zz-copy-of-00.log.gz"  # the same content as the first file, later in the same run
    copy.write_bytes(gzip.compress(files[0].read_bytes()))
    grown = parts / "zz-grown-01.log"  # the second file plus a line the others do not have
    write_log(grown, [CRAFTED[1], entry("203.0.113.99", "05/Mar/2024:15:00:00", "/grown", CHROME)])
    many_db = tmp_path / "many.duckdb"
    summary = load(tmp_path, many_db, *files, copy, grown, extra=("--commit-events", "3"))

    assert summary["events_written"] == len(CRAFTED) + 1  # every line once, and the grown line
    assert str(copy) in summary["files_skipped"]
    assert query(many_db, "SELECT count(*) FROM events WHERE pathname = '/grown'") == [(1,)]
    without_grown = "SELECT pathname, count(*) FROM events WHERE pathname <> '/grown' GROUP BY 1 ORDER BY 1"
    assert query(many_db, without_grown) == query(one_db, without_grown)
    committed = query(many_db, "SELECT count(*) FROM files WHERE committed_line = 0")
    assert committed == [(0,)]  # every file's position moved with its events


@pytest.mark.parametrize("one_by_one", [False, True], ids=["in-one-pipeline", "file-by-file"])
def test_a_reading_error_keeps_the_batches_before_it_and_a_rerun_adds_the_rest_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_by_one: bool
) -> None:
    """Batches are classified two at a time; when reading fails, those parsed before it still commit, in order.

    A file under 4 KiB may be the start of another file, so its run goes file by file (load.py);
    otherwise the files share one pipeline (load_many.py). Both must keep exactly the same batches.
    """
    import parsers.reader
    import parsers.stream

    lines = [entry(f"203.0.113.{i % 200}", f"05/Mar/2024:{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}",
                   f"/p{i}", CHROME, "https://example.org/" + "r" * 1000) for i in range(4000)]  # fmt: skip
    files = [write_log(tmp_path / "a.log", lines[:2000]), write_log(tmp_path / "b.log", lines[2000:])]
    if one_by_one:
        files.insert(0, write_log(tmp_path / "0-small.log", [entry("203.0.113.1", "05/Mar/2024:09:00:00", "/s", CHROME)]))
    clean_db = tmp_path / "clean.duckdb"
    load(tmp_path, clean_db, *files)

    real = parsers.stream.iter_batches

    def fails_in_b_log(source: Source, *args: object, **kwargs: object) -> Iterator[Batch]:
        for n, batch in enumerate(real(source, *args, **kwargs)):  # type: ignore[arg-type]
            if source.name.endswith("b.log") and n == 2:
                raise OSError("the disk went away")
            yield batch

    monkeypatch.setattr(parsers.stream, "iter_batches", fails_in_b_log)
    monkeypatch.setattr(parsers.reader, "READ_BLOCK", 32 * 1024)  # reads of 256 KiB: b.log (2.4 MB) has 10 batches
    db = tmp_path / "broken.duckdb"
    with pytest.raises(OSError, match="the disk went away"):
        run_cli("load", *map(str, files), "--db", str(db), "--domain", "example.com", "--format", "combined",
                "--key-file", str(tmp_path / "visitor.key"), "--batch-bytes", "65536")  # fmt: skip
    kept = query(db, "SELECT max(pathname), count(*) FROM events WHERE pathname IN "
                     f"({', '.join(repr(f'/p{i}') for i in range(2000, 4000))})")[0]  # fmt: skip
    (offset,) = query(db, "SELECT committed_offset FROM files WHERE path LIKE '%b.log'")[0]
    ends = list(itertools.accumulate(len(line) + 1 for line in lines[2000:]))
    read_before_failure = sum(end <= 2 * 256 * 1024 for end in ends)  # the two batches parsed before the error
    assert kept[1] == read_before_failure and offset == ends[read_before_failure - 1]

    monkeypatch.undo()
    load(tmp_path, db, *files)
    assert totals(db) == totals(clean_db)
    assert query(db, "SELECT count(*), count(DISTINCT pathname) FROM events") == [(4000 + one_by_one,) * 2]


def test_a_small_file_that_grew_resumes_in_a_many_file_run(tmp_path: Path) -> None:
    """A file first loaded under 4 KiB is recognised by its shorter fingerprint when it comes back grown."""
    lines = [entry(f"203.0.113.{i % 50}", f"05/Mar/2024:11:{i // 60:02d}:{i % 60:02d}", f"/g{i}", FIREFOX)
             for i in range(200)]  # fmt: skip
    grown, other = tmp_path / "a.log", tmp_path / "b.log"
    write_log(grown, lines[:10])
    assert grown.stat().st_size < 4096
    db = tmp_path / "store.duckdb"
    assert load(tmp_path, db, grown)["events_written"] == 10
    write_log(grown, lines[:100])
    write_log(other, lines[100:])
    assert min(grown.stat().st_size, other.stat().st_size) >= 4096  # so both go through one pipeline
    assert load(tmp_path, db, grown, other)["events_written"] == 190
    assert query(db, "SELECT count(*), count(DISTINCT pathname) FROM events") == [(200, 200)]
    clean = tmp_path / "clean.duckdb"
    load(tmp_path, clean, grown, other)
    assert totals(db) == totals(clean)


def test_load_shows_a_live_line_on_a_terminal_and_none_elsewhere(tmp_path: Path) -> None:
    """On a terminal, `load` keeps a status line (lines, speed, file N of M, page views) until it is done."""
    import os
    import pty
    import subprocess
    import sys

    from tests.conftest import ROOT

    log = tmp_path / "access.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", "40000", "-o", str(log)],
                   check=True, capture_output=True)  # fmt: skip
    def argv(db: str) -> list[str]:
        return [sys.executable, "-m", "importer", "load", str(log), "--db", str(tmp_path / db), "--domain",
                "example.com", "--key-file", str(tmp_path / "k"), "--batch-bytes", "65536"]  # fmt: skip

    leader, follower = pty.openpty()
    child = subprocess.Popen(argv("t.duckdb"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower, cwd=ROOT)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the child
            break
        if not chunk:
            break
        seen += chunk
    assert child.wait(timeout=120) == 0
    os.close(leader)
    text = seen.decode(errors="replace")
    assert re.search(r"lines [\d,]+ \([\d,]+/s\) · file 1 of 1 · page views [\d,]+", text), text[-500:]
    assert "loaded " in text

    piped = subprocess.run(argv("p.duckdb"), capture_output=True, text=True, cwd=ROOT)
    assert piped.returncode == 0 and "page views" not in piped.stderr and "loaded " in piped.stderr
