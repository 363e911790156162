"""What the sender is given and what it reports: options, a batch to send, and where every event went.

Kept apart from the sender itself (sinks/upstream.py), which the CLI, `follow` and the benchmark
only drive through these.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import polars as pl

from importer.sinks.retry import RetryPolicy


@dataclass(frozen=True)
class SendOptions:
    """How to send: where, how fast, how patiently, and which events are fair game."""

    endpoint: str
    concurrency: int = 16
    rate: float | None = None  # events per second; None for no limit
    timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_age: timedelta = timedelta(minutes=30)
    allow_historical: bool = False
    resend_uncertain: bool = False
    endpoint_threshold: int = 5
    queue_size: int = 4  # chunks (one per slice of SLICE_EVENTS) each worker may have waiting


@dataclass
class SendStats:
    """Where every event went; `sent` counts events that got at least one request."""

    sent: int = 0
    accepted: int = 0
    dropped: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    retried: int = 0
    undelivered: Counter[str] = field(default_factory=Counter)
    uncertain: int = 0
    skipped: int = 0
    refused: int = 0
    unsent: int = 0
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def as_dict(self) -> dict[str, object]:
        seconds = self.elapsed()
        return {
            "sent": self.sent, "accepted": self.accepted, "dropped_upstream": self.dropped,
            "rejected": dict(self.rejected), "retried": self.retried, "undelivered": dict(self.undelivered),
            "uncertain": self.uncertain, "already_sent": self.skipped, "refused_too_old": self.refused,
            "unsent": self.unsent, "elapsed_s": round(seconds, 3),
            "events_per_s": round(self.sent / seconds, 1) if seconds > 0 else 0.0,
        }


@dataclass
class Outgoing:
    """One batch of events from a file, and where that file stands once all of them are answered."""

    events: pl.DataFrame
    file_id: str | None = None
    end_offset: int = 0
    next_line: int = 1  # the number of the line at end_offset
