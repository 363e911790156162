"""kill -9 during `send`, again and again, then re-runs: nothing twice, nothing lost beyond what is reported uncertain.

The receiver answers slowly (10 ms) so each SIGKILL lands while requests are in flight. Every page view has its own
URL, so the receiver's record says exactly which events reached "Plausible" and how often.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.receiver import Receiver, send_command, visitor_lines

EVENTS = 400
CONCURRENCY = 4
# Kill once the receiver has seen this many more requests in the run (0: a time-based kill during start-up).
KILL_AFTER = [0, 1, 7, 25, 3, 40, 60, 2, 33, 50, 15, 80, 10]


def _ledger(state: Path) -> dict[str, str]:
    if not state.exists():
        return {}
    with sqlite3.connect(state) as db:
        return dict(db.execute("SELECT event_key, outcome FROM events").fetchall())


def _run(log: Path, state: Path, receiver: Receiver, *extra: str) -> subprocess.Popen[bytes]:
    args = [str(log), "--domain", "example.com", "--state", str(state), "--endpoint", receiver.url,
            "--concurrency", str(CONCURRENCY), "--summary-json", f"{state}.json", *extra]
    return subprocess.Popen(send_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_when(process: subprocess.Popen[bytes], receiver: Receiver, more: int) -> bool:
    """SIGKILL once `more` further requests arrived (or after start-up when 0); False if it finished first."""
    target = receiver.count() + more
    deadline = time.monotonic() + 30
    if more == 0:
        time.sleep(0.6)
    while more and receiver.count() < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return True


@pytest.fixture
def workload(tmp_path: Path) -> tuple[Path, dict[int, int]]:
    lines = visitor_lines(EVENTS, visitors=40)
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    offsets, at = {}, 0
    for index, line in enumerate(lines):
        offsets[at] = index
        at += len(line.encode())
    return log, offsets


def test_kill_and_resume_delivers_every_event_once(workload: tuple[Path, dict[int, int]], tmp_path: Path) -> None:
    log, offsets = workload
    state = tmp_path / "ledger.sqlite"
    kills = 0
    max_uncertain_per_kill = 0
    with Receiver(delay=0.01) as receiver:
        for more in KILL_AFTER:
            before = sum(1 for o in _ledger(state).values() if o == "inflight")
            if _kill_when(_run(log, state, receiver), receiver, more):
                kills += 1
                inflight = sum(1 for o in _ledger(state).values() if o == "inflight")
                max_uncertain_per_kill = max(max_uncertain_per_kill, inflight - before)
        final = _run(log, state, receiver)
        _, stderr = final.communicate(timeout=60)
        outcomes = _ledger(state)
        uncertain = {offsets[int(k.rsplit(":", 1)[1])] for k, o in outcomes.items() if o == "inflight"}
        assert final.returncode == (1 if uncertain else 0), stderr.decode()
        assert json.loads(Path(f"{state}.json").read_text())["send"]["uncertain"] == len(uncertain)
        received = Counter(int(r.json["url"].rsplit("/", 1)[1]) for r in receiver.requests)

        assert kills >= 10
        assert max_uncertain_per_kill <= CONCURRENCY
        assert [page for page, n in received.items() if n > 1] == []  # zero duplicates
        lost = set(range(EVENTS)) - set(received)
        assert lost <= uncertain  # zero losses beyond what is reported uncertain
        assert sum(1 for o in outcomes.values() if o == "accepted") == EVENTS - len(uncertain)

        resend = _run(log, state, receiver, "--resend-uncertain")
        _, stderr = resend.communicate(timeout=60)
        assert resend.returncode == 0, stderr.decode()
        again = Counter(int(r.json["url"].rsplit("/", 1)[1]) for r in receiver.requests)
        assert set(again) == set(range(EVENTS))  # now everything arrived
        assert {page for page, n in again.items() if n > 1} <= uncertain  # only uncertain ones can repeat
        assert set(_ledger(state).values()) == {"accepted"}
    print(f"kills {kills}, uncertain {len(uncertain)}, lost in kills {len(lost)}, "
          f"max uncertain per kill {max_uncertain_per_kill}")
