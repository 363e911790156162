"""`send` against a local Plausible stand-in: exact requests, answers, retries, the ledger and the history guard."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from importer.cli_send import send
from tests.conftest import SAMPLES, run_cli
from tests.receiver import Receiver, Scripted, log_line, send_command, visitor_lines

SAMPLE = str(SAMPLES / "nginx_combined.log")


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def run_send(receiver: Receiver, state: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    argv = [*args, "--state", str(state), "--summary-json", str(state) + ".summary.json"]
    if receiver is not None and not any(a.startswith("--endpoint") for a in args):
        argv += ["--endpoint", receiver.url]
    return CliRunner().invoke(send, argv, catch_exceptions=False, env=env)


def summary(state: Path) -> dict:
    return json.loads(Path(str(state) + ".summary.json").read_text())["send"]


def ledger_counts(state: Path) -> dict[str, int]:
    with sqlite3.connect(state) as db:
        return dict(db.execute("SELECT outcome, count(*) FROM events GROUP BY outcome").fetchall())


def write_log(path: Path, lines: list[str]) -> str:
    path.write_text("".join(lines))
    return str(path)


def expected_requests(*args: str) -> list[tuple[dict, bytes]]:
    """(headers, exact body bytes) of every request the `events` command says would be sent."""
    result = run_cli("events", *args)
    assert result.exit_code == 0, result.output
    pairs = []
    for line in result.stdout.splitlines():
        headers = json.loads(line)["headers"]
        pairs.append((headers, line[line.index(',"body":') + len(',"body":'):-1].encode()))
    return pairs


def test_bodies_and_headers_are_exactly_the_events_commands(receiver, tmp_path):
    result = run_send(receiver, tmp_path / "l.sqlite", SAMPLE, "--domain", "example.com", "--allow-historical")
    assert result.exit_code == 0, result.output
    expected = expected_requests(SAMPLE, "--domain", "example.com")
    got = receiver.requests
    assert len(got) == len(expected) == 13
    assert sorted(r.body for r in got) == sorted(body for _, body in expected)
    by_body = {body: headers for headers, body in expected}
    for request in got:
        assert (request.method, request.path, request.status) == ("POST", "/api/event", 202)
        headers = by_body[request.body]
        assert request.headers["user-agent"] == headers["User-Agent"]
        assert request.headers["x-forwarded-for"] == headers["X-Forwarded-For"]
        assert "," not in request.headers["x-forwarded-for"]  # exactly one client IP
        assert request.headers["content-type"] == "application/json"
        assert request.headers["content-length"] == str(len(request.body))
        for absent in ("x-real-ip", "forwarded", "x-plausible-ip", "cf-connecting-ip", "cookie"):
            assert absent not in request.headers
    stats = summary(tmp_path / "l.sqlite")
    assert (stats["sent"], stats["accepted"], stats["rejected"], stats["retried"]) == (13, 13, {}, 0)
    assert "sent 13 events" in result.stderr and "accepted 13" in result.stderr


def test_a_second_run_sends_nothing(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    assert run_send(receiver, state, SAMPLE, "--domain", "example.com", "--allow-historical").exit_code == 0
    again = run_send(receiver, state, SAMPLE, "--domain", "example.com", "--allow-historical")
    assert again.exit_code == 0
    assert receiver.count() == 13
    assert summary(state)["already_sent"] == 13
    third = run_send(receiver, state, SAMPLE, "--domain", "example.com")  # resumes at the watermark: reads nothing
    assert third.exit_code == 0 and receiver.count() == 13
    assert ledger_counts(state) == {"accepted": 13}


def test_no_user_agent_header_when_the_event_has_none(receiver, tmp_path):
    """The client must not add its own User-Agent: Plausible would hash and bot-check it as the visitor's."""
    import asyncio
    from datetime import datetime, timezone

    import polars as pl

    from importer.events import EVENT_COLUMNS
    from importer.ledger import Ledger
    from importer.sinks.send_model import Outgoing, SendOptions, SendStats
    from importer.sinks.upstream import Sender

    row = {c: None for c in EVENT_COLUMNS} | {
        "ts": datetime.now(timezone.utc), "name": "pageview", "domain": "example.com",
        "url": "https://example.com/", "client_ip": "192.0.2.9", "file": "x.log", "line": 1, "offset": 0,
    }
    frame = pl.DataFrame([row], schema=EVENT_COLUMNS)

    async def run() -> SendStats:
        stats = SendStats()
        ledger = Ledger(tmp_path / "l.sqlite")
        sender = Sender(ledger, SendOptions(receiver.url), stats, lambda line: None)

        async def batches():
            yield Outgoing(frame, "0123456789abcdef", 10, 2)

        await sender.run(batches())
        ledger.close()
        return stats

    assert asyncio.run(run()).accepted == 1
    (request,) = receiver.requests
    assert "user-agent" not in request.headers
    assert request.headers["x-forwarded-for"] == "192.0.2.9"
    assert request.body == b'{"name":"pageview","url":"https://example.com/","domain":"example.com"}'


def test_visitor_order_is_kept_under_concurrency(receiver, tmp_path):
    receiver.delay = 0.002
    log = write_log(tmp_path / "v.log", visitor_lines(200, visitors=12))
    result = run_send(receiver, tmp_path / "l.sqlite", log, "--domain", "example.com", "--concurrency", "8")
    assert result.exit_code == 0, result.stderr
    seen: dict[str, list[int]] = defaultdict(list)
    for request in receiver.requests:
        visitor = request.headers["x-forwarded-for"] + request.headers["user-agent"]
        seen[visitor].append(int(request.json["url"].rsplit("/", 1)[1]))
    assert len(seen) == 12 and sum(len(v) for v in seen.values()) == 200
    for pages in seen.values():
        assert pages == sorted(pages)
    assert len({r.headers.get("x-forwarded-for") for r in receiver.requests[:8]}) > 1  # really concurrent


def test_dropped_upstream_and_rejected_are_counted_and_logged(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(5)])
    receiver.script(Scripted(202, headers={"x-plausible-dropped": "1"}),
                    Scripted(400, json.dumps({"errors": {"url": ["must be a valid url"]}})))
    state = tmp_path / "l.sqlite"
    result = run_send(receiver, state, log, "--domain", "example.com", "--concurrency", "1")
    assert result.exit_code == 1
    stats = summary(state)
    assert (stats["accepted"], stats["dropped_upstream"], stats["rejected"]) == (3, 1, {"url: must be a valid url": 1})
    assert f"{log}:2: rejected: url: must be a valid url" in result.stderr
    assert "rejected 1: url: must be a valid url" in result.stderr
    assert ledger_counts(state) == {"accepted": 3, "dropped": 1, "rejected": 1}
    again = run_send(receiver, state, log, "--domain", "example.com")
    assert receiver.count() == 5 and again.exit_code == 0  # a rejection is final


def test_transient_answers_are_retried_then_delivered_once(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(3)])
    receiver.script(Scripted(503), Scripted(502), Scripted(500), Scripted(408), Scripted(drop=True))
    state = tmp_path / "l.sqlite"
    result = run_send(receiver, state, log, "--domain", "example.com", "--concurrency", "1", "--retry-attempts", "8",
                      "--retry-base", "0.05")
    assert result.exit_code == 0, result.stderr
    stats = summary(state)
    assert (stats["accepted"], stats["retried"], stats["sent"]) == (3, 5, 3)
    statuses = [r.status for r in receiver.requests]
    assert statuses == [503, 502, 500, 408, None, 202, 202, 202]
    delivered = [r.json["url"] for r in receiver.requests if r.status == 202]
    assert sorted(delivered) == [f"https://example.com/page/{i}" for i in range(3)]


def test_retry_after_is_honoured(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(1)])
    receiver.script(Scripted(429, "slow down", headers={"Retry-After": "1"}))
    result = run_send(receiver, tmp_path / "l.sqlite", log, "--domain", "example.com")
    assert result.exit_code == 0
    first, second = receiver.requests
    assert (first.status, second.status) == (429, 202)
    assert second.at - first.at >= 0.95


def test_a_slow_answer_times_out_and_is_retried(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(1)])
    receiver.script(Scripted(202, delay=1.0))
    result = run_send(receiver, tmp_path / "l.sqlite", log, "--domain", "example.com", "--timeout", "0.3")
    assert result.exit_code == 0
    assert summary(tmp_path / "l.sqlite")["retried"] == 1
    # the server did get the first copy: a timeout cannot tell, which is why retries are bounded
    time.sleep(1.0)
    assert receiver.count() == 2


def test_retry_budget_exhausted_leaves_events_for_the_next_run(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(2)])
    receiver.script(*[Scripted(503)] * 4)
    state = tmp_path / "l.sqlite"
    result = run_send(receiver, state, log, "--domain", "example.com", "--concurrency", "1", "--retry-attempts", "2")
    assert result.exit_code == 1
    assert summary(state)["undelivered"] == {"HTTP 503 after 2 attempts": 2}
    assert "not delivered 2: HTTP 503 after 2 attempts (re-run to send them)" in result.stderr
    again = run_send(receiver, state, log, "--domain", "example.com")
    assert again.exit_code == 0 and summary(state)["accepted"] == 2
    assert [r.status for r in receiver.requests] == [503] * 4 + [202, 202]


def test_a_wrong_endpoint_stops_the_run(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(300)])
    receiver.endpoint_status = 404
    state = tmp_path / "l.sqlite"
    result = run_send(receiver, state, log, "--domain", "example.com", "--concurrency", "4")
    assert result.exit_code == 1
    assert "check --endpoint" in result.stderr.lower()
    assert receiver.count() <= 5 + 4  # the threshold, plus what was already in flight
    assert not ledger_counts(state).get("rejected")
    receiver.endpoint_status = None
    fixed = run_send(receiver, state, log, "--domain", "example.com", "--concurrency", "4")
    assert fixed.exit_code == 0 and summary(state)["accepted"] == 300


def test_a_wrong_path_is_a_404_too(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(20)])
    url = receiver.url.replace("/api/event", "/api/events")
    result = run_send(receiver, tmp_path / "l.sqlite", log, "--domain", "example.com", "--endpoint", url)
    assert result.exit_code == 1 and "--endpoint" in result.stderr


def test_endpoint_from_the_environment(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(1)])
    argv = [log, "--domain", "example.com", "--state", str(tmp_path / "l.sqlite")]
    result = CliRunner().invoke(send, argv, env={"PLAUSIBLE_ENDPOINT": receiver.url}, catch_exceptions=False)
    assert result.exit_code == 0 and receiver.count() == 1


def test_rate_limit(receiver, tmp_path):
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(12)])
    started = time.monotonic()
    result = run_send(receiver, tmp_path / "l.sqlite", log, "--domain", "example.com", "--rate", "20")
    assert result.exit_code == 0
    requests = receiver.requests
    assert requests[-1].at - requests[0].at >= (12 - 2 - 1) / 20 * 0.9
    assert time.monotonic() - started < 10


def test_old_events_are_refused_before_any_request(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    result = run_send(receiver, state, SAMPLE, "--domain", "example.com")
    assert result.exit_code == 1
    assert receiver.count() == 0
    assert "refusing events older than 30m" in result.stderr
    assert "plausible-logs export" in result.stderr and "--allow-historical" in result.stderr
    assert summary(state)["refused_too_old"] == 13
    fresh = write_log(tmp_path / "a.log", [log_line(1, when=time.time() - 3 * 3600), log_line(2)])
    mixed = run_send(receiver, state, fresh, "--domain", "example.com", "--max-age", "2h")
    assert mixed.exit_code == 1 and receiver.count() == 1 and summary(state)["refused_too_old"] == 1
    allowed = run_send(receiver, state, fresh, "--domain", "example.com", "--allow-historical")
    assert allowed.exit_code == 0 and receiver.count() == 2
    assert allowed.stderr.count("warning: sending events as old as") == 1


def test_dry_run_prints_the_events_ndjson_and_touches_no_network(tmp_path):
    state = tmp_path / "l.sqlite"
    argv = [SAMPLE, "--domain", "example.com", "--allow-historical", "--dry-run", "--state", str(state),
            "--endpoint", "http://127.0.0.1:9/api/event"]
    result = CliRunner().invoke(send, argv, catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == run_cli("events", SAMPLE, "--domain", "example.com").stdout
    assert not state.exists()


def test_uncertain_keys_are_reported_and_only_resent_when_asked(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(4)])
    assert run_send(receiver, state, log, "--domain", "example.com").exit_code == 0
    with sqlite3.connect(state) as db:  # as a kill -9 between request and answer would leave it
        db.execute("UPDATE events SET outcome = 'inflight', answered_at = NULL WHERE event_key LIKE '%:0'")
        db.execute("UPDATE files SET done_offset = 0, done_line = 1")
    receiver.clear()
    result = run_send(receiver, state, log, "--domain", "example.com")
    assert result.exit_code == 1 and receiver.count() == 0
    assert summary(state)["uncertain"] == 1 and "--resend-uncertain" in result.stderr
    resent = run_send(receiver, state, log, "--domain", "example.com", "--resend-uncertain")
    assert resent.exit_code == 0 and receiver.count() == 1
    assert receiver.requests[0].json["url"] == "https://example.com/page/0"


def test_one_run_per_ledger(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    receiver.delay = 0.5
    log = write_log(tmp_path / "a.log", [log_line(i) for i in range(3)])
    first = subprocess.Popen(send_command(log, "--domain", "example.com", "--state", str(state), "--endpoint",
                                          receiver.url, "--concurrency", "1"), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while receiver.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_send(receiver, state, log, "--domain", "example.com")
    assert second.exit_code == 2 and "another plausible-logs send is using the ledger" in second.stderr
    assert first.wait(timeout=30) == 0


def test_the_same_content_compressed_is_not_sent_again(receiver, tmp_path):
    import gzip

    state = tmp_path / "l.sqlite"
    plain = tmp_path / "access.log"
    lines = visitor_lines(30)
    write_log(plain, lines)
    assert run_send(receiver, state, str(plain), "--domain", "example.com").exit_code == 0
    with gzip.open(tmp_path / "access.log.1.gz", "wt") as handle:
        handle.writelines(lines + visitor_lines(5, start=30))  # rotated, compressed, and it had grown
    result = run_send(receiver, state, str(tmp_path / "access.log.1.gz"), "--domain", "example.com")
    assert result.exit_code == 0, result.stderr
    assert receiver.count() == 35
    assert sorted(int(r.json["url"].rsplit("/", 1)[1]) for r in receiver.requests) == list(range(35))


def test_standard_input(receiver, tmp_path):
    argv = ["-", "--domain", "example.com", "--state", str(tmp_path / "l.sqlite"), "--endpoint", receiver.url]
    text = "".join(visitor_lines(3))
    result = CliRunner().invoke(send, argv, input=text, catch_exceptions=False)
    assert result.exit_code == 0 and receiver.count() == 3
    again = CliRunner().invoke(send, argv, input=text, catch_exceptions=False)
    assert again.exit_code == 0 and receiver.count() == 3  # stdin keys come from its content too


def test_sigterm_drains_in_flight_requests_then_a_rerun_sends_the_rest(receiver, tmp_path):
    import signal

    receiver.delay = 0.05
    state = tmp_path / "l.sqlite"
    log = write_log(tmp_path / "a.log", visitor_lines(200))
    process = subprocess.Popen(send_command(log, "--domain", "example.com", "--state", str(state), "--endpoint",
                                            receiver.url, "--concurrency", "4"), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while receiver.count() < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1 and b"interrupted" in stderr
    counts = ledger_counts(state)
    assert "inflight" not in counts  # every request in flight got its answer saved
    assert counts["accepted"] == receiver.count()
    receiver.delay = 0.0
    assert run_send(receiver, state, log, "--domain", "example.com").exit_code == 0
    pages = [int(r.json["url"].rsplit("/", 1)[1]) for r in receiver.requests]
    assert sorted(pages) == list(range(200))


def test_a_line_caught_mid_write_waits_for_the_next_run(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    log = tmp_path / "a.log"
    lines = visitor_lines(4)
    log.write_text("".join(lines[:3]) + lines[3][:50])  # the server is still writing line 4
    assert run_send(receiver, state, str(log), "--domain", "example.com").exit_code == 0
    assert receiver.count() == 3
    log.write_text("".join(lines) + visitor_lines(1, start=4)[0])
    assert run_send(receiver, state, str(log), "--domain", "example.com").exit_code == 0
    assert sorted(int(r.json["url"].rsplit("/", 1)[1]) for r in receiver.requests) == [0, 1, 2, 3, 4]


def test_dry_run_leaves_out_what_the_ledger_says_was_sent(receiver, tmp_path):
    state = tmp_path / "l.sqlite"
    lines = visitor_lines(9)  # made once: lines stamped "now" must not change between the two writes
    log = write_log(tmp_path / "a.log", lines[:6])
    assert run_send(receiver, state, log, "--domain", "example.com", "--concurrency", "1").exit_code == 0
    write_log(tmp_path / "a.log", lines)  # three more lines since
    dry = run_send(None, state, log, "--domain", "example.com", "--dry-run", "--endpoint", "http://127.0.0.1:9/x")
    assert dry.exit_code == 0
    assert [json.loads(line)["body"]["url"][-1] for line in dry.stdout.splitlines()] == ["6", "7", "8"]
    assert receiver.count() == 6
