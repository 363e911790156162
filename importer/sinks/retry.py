"""What to do with one answer from the Events API, and when to send the next request.

The retry decision is a pure function of one answer.

Why pure: the retry policy is where at-least-once and at-most-once meet, so it
must be testable without a network or a clock (Vector's retry logic is built
the same way). Plausible answers 202 for everything it takes in, including
events it drops on purpose (then `x-plausible-dropped: N`), and 400 with
`{"errors": {field: [message]}}` for invalid payloads. 408, 429 and 5xx
(except 501) are transient; any other answer is final. 401/403/404/405 and
redirects say nothing about the event and much about the endpoint, so they
are flagged, and a run of them stops the whole run.

Also here, as pure policy: the token bucket that paces requests, and the
message that explains why events older than --max-age are not sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from enum import Enum

RETRY_STATUSES = frozenset({408, 429})
ENDPOINT_STATUSES = frozenset({401, 403, 404, 405})


class Verdict(str, Enum):
    """The fate of one event after one answer."""

    ACCEPTED = "accepted"
    DROPPED = "dropped"  # 202, but Plausible said it dropped the event (bot, unknown site, throttled...)
    REJECTED = "rejected"  # a final answer that the event was not taken
    RETRY = "retry"
    GIVE_UP = "give_up"  # transient trouble that outlasted the attempt or time budget


@dataclass(frozen=True)
class Answer:
    """What came back for one request; status None when no HTTP answer came at all."""

    status: int | None = None
    body: str = ""
    retry_after: str | None = None
    dropped: str | None = None  # the x-plausible-dropped header, as sent
    error: str = ""  # "timeout after 10s", "connection closed"...


@dataclass(frozen=True)
class RetryPolicy:
    """The attempt and time budget for one event, and the backoff curve."""

    max_attempts: int = 8
    max_elapsed: float = 120.0
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    delay: float = 0.0
    dropped: int = 0
    reason: str = ""
    endpoint_suspect: bool = False  # the answer points at a wrong --endpoint rather than at the event


def is_transient(status: int | None) -> bool:
    """408, 429, 5xx except 501, and no answer at all (timeout, connection error)."""
    return status is None or status in RETRY_STATUSES or (500 <= status <= 599 and status != 501)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - now).total_seconds())


def backoff(attempt: int, policy: RetryPolicy, jitter: float) -> float:
    """Capped exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1)))."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** max(0, attempt - 1)))
    return max(0.0, min(1.0, jitter)) * ceiling


def rejection_reason(status: int, body: str) -> str:
    """Plausible's `{"errors": {field: [msg]}}` as `field: msg; ...`, else the status and a body excerpt."""
    try:
        errors = json.loads(body).get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, dict) and errors:
        parts = []
        for name, messages in errors.items():
            listed = messages if isinstance(messages, list) else [messages]
            parts.extend(f"{name}: {message}" for message in listed)
        return "; ".join(parts)
    excerpt = " ".join(body.split())[:120]
    return f"HTTP {status}" + (f" {excerpt}" if excerpt else "")


def _transient_reason(answer: Answer) -> str:
    return f"HTTP {answer.status}" if answer.status is not None else (answer.error or "no answer")


def decide(
    answer: Answer, attempt: int, elapsed: float, policy: RetryPolicy, jitter: float, now: datetime | None = None
) -> Decision:
    """The verdict for one answer to attempt number `attempt` (1-based), `elapsed` seconds after the first try.

    `jitter` is a number in [0, 1) supplied by the caller so this stays deterministic under test.
    """
    status = answer.status
    if status is not None and 200 <= status <= 299:
        dropped = _dropped_count(answer.dropped)
        return Decision(Verdict.DROPPED, dropped=dropped) if dropped else Decision(Verdict.ACCEPTED)
    if is_transient(status):
        reason = _transient_reason(answer)
        wait = backoff(attempt, policy, jitter)
        asked = parse_retry_after(answer.retry_after, now or datetime.now(timezone.utc))
        if asked is not None:
            wait = max(wait, asked)
        if attempt >= policy.max_attempts:
            return Decision(Verdict.GIVE_UP, reason=f"{reason} after {attempt} attempts")
        if elapsed + wait > policy.max_elapsed:
            return Decision(Verdict.GIVE_UP, reason=f"{reason}; the retry budget of {policy.max_elapsed:g}s ran out")
        return Decision(Verdict.RETRY, delay=wait, reason=reason)
    assert status is not None
    if status == 400:
        return Decision(Verdict.REJECTED, reason=rejection_reason(status, answer.body))
    if status in ENDPOINT_STATUSES or 300 <= status <= 399:
        return Decision(Verdict.REJECTED, reason=f"HTTP {status}", endpoint_suspect=True)
    return Decision(Verdict.REJECTED, reason=rejection_reason(status, answer.body))


def _dropped_count(header: str | None) -> int:
    if header is None:
        return 0
    try:
        return max(0, int(header.strip()))
    except ValueError:
        return 1  # present but unreadable: Plausible only sends it when it dropped something


class TokenBucket:
    """`rate` tokens per second with a burst of `burst`, as a theoretical arrival time (GCRA)."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self.burst = burst if burst is not None else max(1.0, rate / 10)
        self.clock = clock
        self.tat = clock()

    def reserve(self) -> float:
        """Take one token; return how long to wait before using it."""
        now = self.clock()
        self.tat = max(self.tat, now)
        wait = self.tat - now - (self.burst - 1) * self.interval
        self.tat += self.interval
        return max(0.0, wait)


class EndpointGuard:
    """Trips after `threshold` consecutive answers that blame the endpoint (401/403/404/405, redirects).

    Why: a typo in --endpoint would otherwise turn a whole log into rejections.
    Transient answers neither count nor reset; any answer about the event itself resets.
    """

    def __init__(self, threshold: int = 5) -> None:
        self.threshold = threshold
        self.streak = 0
        self.last_status = ""

    def observe(self, decision: Decision) -> bool:
        if decision.verdict in (Verdict.RETRY, Verdict.GIVE_UP):
            return False
        if decision.endpoint_suspect:
            self.streak += 1
            self.last_status = decision.reason
        else:
            self.streak = 0
        return self.streak >= self.threshold


def endpoint_message(endpoint: str, guard: EndpointGuard) -> str:
    """Why the run stopped, and what to check."""
    return (
        f"the endpoint {endpoint} answered {guard.last_status} to {guard.streak} requests in a row, so the run stopped "
        "instead of rejecting the whole log. Check --endpoint (or PLAUSIBLE_ENDPOINT): Plausible's events API is "
        "https://plausible.io/api/event, or https://YOUR-PLAUSIBLE-HOST/api/event when self-hosted. "
        "Events not delivered stay in the ledger as unsent; re-run to send them."
    )


def history_message(oldest: datetime, max_age: timedelta) -> str:
    """Why old events are refused, and where history should go instead."""
    return (
        f"refusing events older than {format_age(max_age)} (the oldest is from {oldest:%Y-%m-%d %H:%M} UTC): "
        "Plausible's events API has no timestamp field and stamps every event when it arrives, so old visits "
        "would be counted as happening now. For history, load the logs with `plausible-logs load` and import "
        "`plausible-logs export`'s CSV bundle into Plausible; or pass --allow-historical to send them anyway."
    )


def format_age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
