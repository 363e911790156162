"""`send --follow`: lines are sent within 2 s, across rename rotation and copytruncate, and a restart resumes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.receiver import Receiver, log_line, send_command

LATENCY = 2.0


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def _follow(receiver: Receiver, state: Path, *inputs: str) -> subprocess.Popen[bytes]:
    args = [*inputs, "--follow", "--domain", "example.com", "--state", str(state), "--endpoint", receiver.url,
            "--format", "combined", "--concurrency", "4"]
    return subprocess.Popen(send_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _append(path: Path, pages: range) -> float:
    with open(path, "a") as handle:
        handle.writelines(log_line(i) for i in pages)
    return time.monotonic()


def _wait_for(receiver: Receiver, count: int, since: float, timeout: float = 15.0) -> float:
    """Seconds from `since` until the receiver holds `count` requests."""
    deadline = time.monotonic() + timeout
    while receiver.count() < count:
        assert time.monotonic() < deadline, f"only {receiver.count()} of {count} requests arrived"
        time.sleep(0.02)
    return time.monotonic() - since


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()
    return stderr.decode()


def _pages(receiver: Receiver) -> Counter[int]:
    return Counter(int(r.json["url"].rsplit("/", 1)[1]) for r in receiver.requests)


def test_rename_rotation(receiver, tmp_path):
    log = tmp_path / "access.log"
    _append(log, range(0, 5))
    process = _follow(receiver, tmp_path / "l.sqlite", str(log))
    try:
        _wait_for(receiver, 5, time.monotonic(), timeout=30)  # start-up included
        assert _wait_for(receiver, 8, _append(log, range(5, 8))) < LATENCY
        log.rename(tmp_path / "access.log.1")
        written = _append(tmp_path / "access.log.1", range(8, 10))  # the server still writes to the old file
        assert _wait_for(receiver, 10, written) < LATENCY
        written = _append(log, range(10, 14))  # then reopens a new one under the old name
        assert _wait_for(receiver, 14, written) < LATENCY
        assert _wait_for(receiver, 16, _append(log, range(14, 16))) < LATENCY
    finally:
        stderr = _stop(process)
    assert _pages(receiver) == Counter(range(16)), stderr


def test_copytruncate(receiver, tmp_path):
    log = tmp_path / "access.log"
    _append(log, range(0, 6))
    process = _follow(receiver, tmp_path / "l.sqlite", str(tmp_path / "access.log*"))
    try:
        _wait_for(receiver, 6, time.monotonic(), timeout=30)
        shutil.copyfile(log, tmp_path / "access.log.1")  # logrotate copytruncate: copy, then truncate in place
        with open(log, "r+") as handle:
            handle.truncate(0)
        time.sleep(0.6)
        written = _append(log, range(6, 9))
        assert _wait_for(receiver, 9, written) < LATENCY
        assert _wait_for(receiver, 11, _append(log, range(9, 11))) < LATENCY
        time.sleep(0.5)  # nothing more may come: the copy holds only lines already sent
    finally:
        stderr = _stop(process)
    assert _pages(receiver) == Counter(range(11)), stderr


def test_restart_resumes_and_new_files_are_picked_up(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    folder = tmp_path / "logs"
    folder.mkdir()
    first = folder / "a.log"
    _append(first, range(0, 4))
    process = _follow(receiver, state, str(folder / "*.log"))
    try:
        _wait_for(receiver, 4, time.monotonic(), timeout=30)
    finally:
        _stop(process)
    _append(first, range(4, 7))  # written while nobody follows
    process = _follow(receiver, state, str(folder / "*.log"))
    try:
        _wait_for(receiver, 7, time.monotonic(), timeout=30)
        written = _append(folder / "b.log", range(7, 9))
        assert _wait_for(receiver, 9, written) < LATENCY
        _append(folder / "ignored.txt", range(100, 102))
        time.sleep(0.6)
    finally:
        stderr = _stop(process)
    assert _pages(receiver) == Counter(range(9)), stderr


def test_a_partial_last_line_waits_for_its_newline(receiver, tmp_path):
    log = tmp_path / "access.log"
    _append(log, range(0, 2))
    process = _follow(receiver, tmp_path / "l.sqlite", str(log))
    try:
        _wait_for(receiver, 2, time.monotonic(), timeout=30)
        line = log_line(2)
        with open(log, "a") as handle:
            handle.write(line[:40])
        time.sleep(0.8)
        assert receiver.count() == 2
        with open(log, "a") as handle:
            handle.write(line[40:])
        _wait_for(receiver, 3, time.monotonic())
    finally:
        _stop(process)
    assert _pages(receiver) == Counter(range(3))
