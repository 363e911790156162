"""kill -9 at random moments during `load`, then a re-run: the file ends identical to an uninterrupted load.

Both ways `load` reads: one file, and eight files that share one pipeline (importer/load_many.py).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 20


def _load_command(logs: list[Path], db: Path, key: Path) -> list[str]:
    return [sys.executable, "-m", "importer", "load", *map(str, logs), "--db", str(db), "--domain", "example.com",
            "--format", "combined", "--key-file", str(key), "--batch-bytes", "131072",
            "--commit-events", "300"]


def _state(db: Path) -> tuple:
    with duckdb.connect(str(db), read_only=True) as con:
        events = con.execute("SELECT count(*), count(DISTINCT visitor_id), max(line) FROM events").fetchall()
        sessions = con.execute(
            'SELECT visitor_id, start, "end", entry_page, exit_page, pageviews, is_bounce, duration FROM sessions '
            "ORDER BY ALL"
        ).fetchall()
        files = con.execute("SELECT path, committed_offset, committed_line FROM files ORDER BY path").fetchall()
        pending = con.execute("SELECT count(*) FROM events WHERE session_id = 0").fetchall()
    return events, sessions, files, pending


@pytest.fixture(scope="module")
def generated_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kill")
    log = folder / "access.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", "30000", "--days", "3",
                    "-o", str(log)], check=True)
    return log


@pytest.fixture(scope="module")
def split_logs(generated_log: Path) -> list[Path]:
    """The same lines in eight files, as a day of hourly deliveries would come."""
    lines = generated_log.read_text().splitlines(keepends=True)
    step = -(-len(lines) // 8)
    parts = []
    for index in range(8):
        part = generated_log.parent / f"part-{index}.log"
        part.write_text("".join(lines[index * step : (index + 1) * step]))
        parts.append(part)
    return parts


@pytest.mark.parametrize("many", [False, True], ids=["one-file", "eight-files"])
def test_kill_nine_at_random_points_then_rerun_matches_an_uninterrupted_load(
    generated_log: Path, split_logs: list[Path], tmp_path: Path, many: bool
) -> None:
    logs = split_logs if many else [generated_log]
    key = tmp_path / "visitor.key"
    reference = tmp_path / "reference.duckdb"
    started = time.monotonic()
    subprocess.run(_load_command(logs, reference, key), check=True, capture_output=True, cwd=ROOT)
    duration = time.monotonic() - started
    expected = _state(reference)
    assert expected[0][0][0] > 1000 and expected[3] == [(0,)]

    rng = random.Random(20241126)
    killed_mid_run = 0
    for trial in range(TRIALS):
        db = tmp_path / f"trial{trial}.duckdb"
        process = subprocess.Popen(_load_command(logs, db, key), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, duration))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_mid_run += 1
        process.wait()
        rerun = subprocess.run(_load_command(logs, db, key), capture_output=True, text=True, cwd=ROOT)
        assert rerun.returncode == 0, rerun.stderr
        assert _state(db) == expected, f"trial {trial} differs after kill -9"
    assert killed_mid_run >= TRIALS // 2  # most kills really landed while the load was running
