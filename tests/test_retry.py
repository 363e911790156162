"""The pure retry decision, Retry-After parsing, backoff bounds, the endpoint guard and the token bucket."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from importer.sinks.retry import (
    Answer,
    EndpointGuard,
    RetryPolicy,
    TokenBucket,
    Verdict,
    backoff,
    decide,
    is_transient,
    parse_retry_after,
    rejection_reason,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
POLICY = RetryPolicy(max_attempts=5, max_elapsed=60.0, base_delay=0.5, max_delay=8.0)


def test_202_is_accepted():
    assert decide(Answer(202, "ok"), 1, 0.0, POLICY, 0.5, NOW).verdict is Verdict.ACCEPTED


def test_202_with_dropped_header_is_dropped_upstream():
    decision = decide(Answer(202, "ok", dropped="1"), 1, 0.0, POLICY, 0.5, NOW)
    assert (decision.verdict, decision.dropped) == (Verdict.DROPPED, 1)
    assert decide(Answer(202, "ok", dropped="2"), 1, 0.0, POLICY, 0.5, NOW).dropped == 2
    assert decide(Answer(202, "ok", dropped="0"), 1, 0.0, POLICY, 0.5, NOW).verdict is Verdict.ACCEPTED
    assert decide(Answer(202, "ok", dropped="x"), 1, 0.0, POLICY, 0.5, NOW).verdict is Verdict.DROPPED


def test_400_is_rejected_with_plausibles_messages():
    body = '{"errors": {"url": ["must be a valid url"], "domain": ["can\'t be blank"]}}'
    decision = decide(Answer(400, body), 1, 0.0, POLICY, 0.5, NOW)
    assert decision.verdict is Verdict.REJECTED
    assert decision.reason == "url: must be a valid url; domain: can't be blank"
    assert not decision.endpoint_suspect


def test_rejection_reason_without_json():
    assert rejection_reason(400, "<html>Bad   request</html>") == "HTTP 400 <html>Bad request</html>"
    assert rejection_reason(413, "") == "HTTP 413"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599, None])
def test_transient_answers_are_retried(status):
    assert is_transient(status)
    answer = Answer(status, error="" if status else "timeout")
    decision = decide(answer, 1, 0.0, POLICY, 0.999, NOW)
    assert decision.verdict is Verdict.RETRY
    assert 0.0 <= decision.delay <= POLICY.base_delay


@pytest.mark.parametrize("status", [501, 400, 401, 403, 404, 405, 409, 413, 422, 301, 302, 307])
def test_final_answers_are_not_retried(status):
    assert not is_transient(status)
    assert decide(Answer(status, ""), 1, 0.0, POLICY, 0.5, NOW).verdict is Verdict.REJECTED


@pytest.mark.parametrize("status,suspect", [(401, True), (403, True), (404, True), (405, True), (301, True),
                                            (400, False), (413, False), (501, False)])
def test_endpoint_suspects(status, suspect):
    assert decide(Answer(status, ""), 1, 0.0, POLICY, 0.5, NOW).endpoint_suspect is suspect


def test_backoff_is_capped_exponential_with_full_jitter():
    assert backoff(1, POLICY, 0.0) == 0.0
    assert backoff(1, POLICY, 1.0) == 0.5
    assert backoff(2, POLICY, 1.0) == 1.0
    assert backoff(4, POLICY, 1.0) == 4.0
    assert backoff(10, POLICY, 1.0) == 8.0  # capped
    assert backoff(10, POLICY, 0.5) == 4.0
    assert backoff(3, POLICY, 7.0) == 2.0  # jitter clamped to [0, 1]


def test_retry_after_seconds_is_honoured_over_a_shorter_backoff():
    decision = decide(Answer(429, "", retry_after="3"), 1, 0.0, POLICY, 0.1, NOW)
    assert decision.verdict is Verdict.RETRY and decision.delay == 3.0


def test_retry_after_http_date():
    later = "Sun, 01 Mar 2026 12:00:07 GMT"
    assert parse_retry_after(later, NOW) == 7.0
    decision = decide(Answer(503, "", retry_after=later), 1, 0.0, POLICY, 0.1, NOW)
    assert decision.delay == 7.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == 0.0  # in the past: now


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5x"])
def test_unreadable_retry_after_is_ignored(value):
    assert parse_retry_after(value, NOW) is None


def test_attempt_budget_gives_up():
    decision = decide(Answer(503, ""), POLICY.max_attempts, 1.0, POLICY, 0.5, NOW)
    assert decision.verdict is Verdict.GIVE_UP
    assert decision.reason == "HTTP 503 after 5 attempts"


def test_time_budget_gives_up_when_the_wait_would_overrun_it():
    decision = decide(Answer(429, "", retry_after="30"), 1, 40.0, POLICY, 0.5, NOW)
    assert decision.verdict is Verdict.GIVE_UP
    assert "budget of 60s" in decision.reason
    assert decide(Answer(None, error="connection error (X)"), 2, 1.0, POLICY, 0.5, NOW).reason == \
        "connection error (X)"


def test_endpoint_guard_trips_after_a_run_of_endpoint_answers():
    guard = EndpointGuard(threshold=3)
    not_found = decide(Answer(404, ""), 1, 0, POLICY, 0.5, NOW)
    retry = decide(Answer(503, ""), 1, 0, POLICY, 0.5, NOW)
    ok = decide(Answer(202, "ok"), 1, 0, POLICY, 0.5, NOW)
    assert not guard.observe(not_found)
    assert not guard.observe(retry)  # transient answers neither count nor reset
    assert not guard.observe(not_found)
    assert not guard.observe(ok)  # an accepted event proves the endpoint right
    assert [guard.observe(not_found) for _ in range(3)] == [False, False, True]
    assert guard.last_status == "HTTP 404"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_paces_after_its_burst():
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=3, clock=clock)
    waits = [bucket.reserve() for _ in range(6)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == pytest.approx([0.1, 0.2, 0.3])


def test_token_bucket_refills_with_time():
    clock = FakeClock()
    bucket = TokenBucket(2.0, burst=1, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.5)
    clock.now += 10
    assert bucket.reserve() == 0.0  # idle time refills, but never beyond the burst
    assert bucket.reserve() == pytest.approx(0.5)


def test_decide_uses_the_current_time_by_default():
    when = (datetime.now(timezone.utc) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    decision = decide(Answer(429, "", retry_after=when), 1, 0.0, RetryPolicy(max_elapsed=100), 0.0)
    assert 28 <= decision.delay <= 31
