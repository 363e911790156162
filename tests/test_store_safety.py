"""DuckDB store safety: no raw IP stored, the key file, one writer at a time, kill -9 at any moment."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from test_store_support import IP_A, IP_B, IP_C, UA_A, UA_B, event, frame, load, open_store

from importer.sinks.duckdb_store import DuckDBStore, StoreBusyError
from importer.visitors import KeyFileError, KeyFilePermissionWarning, load_or_create_key

TEST_IPS = (IP_A, IP_B, IP_C, "192.0.2.77")


def _busy_message(db: Path) -> str:
    return f"another plausible-logs load is using {db}; wait for it or add --wait"


def _child(code: str) -> subprocess.Popen:
    """A Python child running ``code`` (stdout piped, line-buffered)."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
    )


def _wait_for(proc: subprocess.Popen, word: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if line.strip() == word:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited early: {proc.stderr.read()}")  # type: ignore[union-attr]
    raise AssertionError(f"child never said {word!r}")


# -- privacy -----------------------------------------------------------------------------------


def test_no_raw_ip_or_agent_in_the_db_file(tmp_path: Path) -> None:
    rows = [
        event("2024-03-05 10:00:00", "/", ip=IP_A, ua=UA_A, referrer="https://www.google.com/"),
        event("2024-03-05 10:01:00", "/b", ip=IP_B, ua=UA_B, query="utm_source=x"),
        event("2024-03-05 10:02:00", "/c", ip=IP_C, ua=UA_A, name="404", props='{"path": "/c"}'),
        event("2024-03-06 00:10:00", "/d", ip="192.0.2.77", ua=None),
    ]
    db = tmp_path / "stats.duckdb"
    with open_store(tmp_path) as store:
        load(store, frame(rows))
        store.record_run("load", {"files": 1, "lines": 4})
        columns = store.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema = 'main' "
            "AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall()
        assert len(columns) > 20
        needles = [*TEST_IPS, UA_A, UA_B]
        for table, column in columns:
            for needle in needles:
                (hits,) = store.con.execute(
                    f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?', [f"%{needle}%"]
                ).fetchall()[0]
                assert hits == 0, f"{needle} found in {table}.{column}"
        store.checkpoint()
    secret = (tmp_path / "secret.key").read_bytes()
    raw = db.read_bytes()
    assert b"example.com" in raw  # positive control: stored strings are greppable in this file
    for path in (db, db.with_name(db.name + ".wal")):
        if path.exists():
            raw = path.read_bytes()
            for needle in needles:
                assert needle.encode() not in raw, f"{needle} in {path.name}"
            assert secret not in raw


# -- key file ----------------------------------------------------------------------------------


def test_key_file_created_private_and_reused(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "secret.key"
    key = load_or_create_key(key_path)
    assert len(key) == 32
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert load_or_create_key(key_path) == key
    assert not [p for p in key_path.parent.iterdir() if p.name != "secret.key"]  # no temp file left


def test_key_file_readable_by_others_warns(tmp_path: Path) -> None:
    key_path = tmp_path / "secret.key"
    load_or_create_key(key_path)
    key_path.chmod(0o644)
    with pytest.warns(KeyFilePermissionWarning, match="chmod 600"):
        load_or_create_key(key_path)


def test_key_file_of_wrong_size_is_refused(tmp_path: Path) -> None:
    key_path = tmp_path / "secret.key"
    key_path.write_bytes(b"short")
    key_path.chmod(0o600)
    with pytest.raises(KeyFileError, match="holds 5 bytes"):
        load_or_create_key(key_path)


# -- one writer --------------------------------------------------------------------------------


def test_second_process_gets_store_busy(tmp_path: Path) -> None:
    db = tmp_path / "stats.duckdb"
    holder = _child(f"""
        import sys
        from importer.sinks.duckdb_store import DuckDBStore
        with DuckDBStore({str(db)!r}, {str(tmp_path / "secret.key")!r}):
            print("ready", flush=True)
            sys.stdin.read()
    """)
    try:
        _wait_for(holder, "ready")
        started = time.monotonic()
        with pytest.raises(StoreBusyError) as caught:
            open_store(tmp_path)
        assert str(caught.value) == _busy_message(db)
        assert time.monotonic() - started < 5  # fails fast
        threading.Timer(0.5, holder.stdin.close).start()  # type: ignore[union-attr]
        with open_store(tmp_path, wait=True, wait_timeout=30, poll_interval=0.1) as store:
            assert store.file_state("nothing") is None
    finally:
        holder.kill()
        holder.wait()


def test_second_store_in_same_process_is_refused(tmp_path: Path) -> None:
    first = open_store(tmp_path)
    with pytest.raises(StoreBusyError, match="wait for it or add --wait"):
        open_store(tmp_path)
    load(first, frame([event("2024-03-05 10:00:00")]))  # the first store is unaffected
    threading.Timer(0.3, first.close).start()
    with open_store(tmp_path, wait=True, wait_timeout=30, poll_interval=0.05) as second:
        assert second.con.execute("SELECT count(*) FROM events").fetchall() == [(1,)]
    with pytest.raises(StoreBusyError), open_store(tmp_path) as held:
        DuckDBStore(held.db_path, tmp_path / "secret.key", wait=True, wait_timeout=0.3)


# -- kill -9 -----------------------------------------------------------------------------------

WRITER = """
    import random, sys
    from datetime import datetime, timedelta, timezone
    import polars as pl
    sys.path.insert(0, {tests!r})
    from test_store_support import event, frame
    from importer.sinks.duckdb_store import DuckDBStore

    store = DuckDBStore({db!r}, {key!r})
    file_id = store.register_file("fp-kill", "/logs/kill.log", "none")
    line = store.file_state("fp-kill").committed_line
    base = datetime(2024, 3, 5, tzinfo=timezone.utc)
    rng = random.Random()
    batch = 0
    while True:
        n = rng.randrange(50, 400)
        rows = [event(base + timedelta(seconds=7 * i), f"/p{{i % 13}}", ip=f"192.0.2.{{i % 50 + 1}}", line=i)
                for i in range(line + 1, line + n + 1)]
        store.write_batch(frame(rows), file_id, (line + n) * 100, line + n)
        line += n
        batch += 1
        if batch % 3 == 0:
            store.rebuild_pending()
        if batch == 2:
            print("ready", flush=True)
"""


def _check_consistent(store: DuckDBStore) -> int:
    """Committed offset/line match exactly the lines present; sessions agree with events."""
    state = store.file_state("fp-kill")
    assert state is not None
    count, distinct, top = store.con.execute(
        "SELECT count(*), count(DISTINCT line), coalesce(max(line), 0) FROM events WHERE file_id = ?",
        [state.file_id],
    ).fetchall()[0]
    assert count == distinct == top == state.committed_line
    assert state.committed_offset == state.committed_line * 100
    in_sessions, stamped = store.con.execute(
        "SELECT (SELECT coalesce(sum(events), 0) FROM sessions), (SELECT count(*) FROM events WHERE session_id <> 0)"
    ).fetchall()[0]
    assert in_sessions == stamped
    (orphans,) = store.con.execute(
        "SELECT count(*) FROM events e WHERE session_id <> 0 "
        "AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = e.session_id)"
    ).fetchall()[0]
    assert orphans == 0
    return state.committed_line


def test_kill_9_never_leaves_a_partial_batch(tmp_path: Path) -> None:
    db, key = tmp_path / "kill.duckdb", tmp_path / "secret.key"
    code = WRITER.format(tests=str(Path(__file__).parent), db=str(db), key=str(key))
    rng = random.Random(1234)
    progress = []
    for _ in range(6):
        writer = _child(code)
        try:
            _wait_for(writer, "ready")
            time.sleep(rng.uniform(0.0, 0.4))
            os.kill(writer.pid, signal.SIGKILL)
        finally:
            writer.wait()
        assert writer.returncode == -signal.SIGKILL
        with DuckDBStore(db, key) as store:
            progress.append(_check_consistent(store))
    assert progress == sorted(progress) and progress[-1] > progress[0]
    with DuckDBStore(db, key) as store:
        store.rebuild_pending()
        assert store.con.execute("SELECT count(*) FROM events WHERE session_id = 0").fetchall() == [(0,)]
        _check_consistent(store)
