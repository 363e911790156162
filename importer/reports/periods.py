"""Date ranges in the site's timezone, the UTC bounds that select their rows, and the buckets of a timeseries.

Rows are stored in UTC. Filtering on UTC bounds computed here keeps DuckDB's scans on the raw `ts`/`"end"`
columns (zone maps prune row groups); only bucketing needs local time, and for that a CASE over the few UTC
offsets the range spans is far cheaper per row than a time-zone library call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from importer.reports.errors import ReportError

PERIODS = ("day", "7d", "30d", "month", "6mo", "12mo", "year", "all")
INTERVALS = ("hour", "day", "week", "month")
_STEP = timedelta(hours=6)
EPOCH = datetime(1970, 1, 1)  # no zone changes its offset twice within six hours


@dataclass(frozen=True)
class DateRange:
    """Calendar days `start`..`end`, both inclusive, in the site's timezone."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Number of days, both ends included."""
        return (self.end - self.start).days + 1

    def dates(self) -> Iterator[date]:
        """Every day of the range in order."""
        for n in range(self.days):
            yield self.start + timedelta(days=n)


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or an error naming it, so a typo in sites.timezone or --timezone is caught early."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(f"unknown timezone '{name}'. Use an IANA name such as Europe/Berlin or UTC.") from exc


def parse_date(text: str | date, flag: str = "--from") -> date:
    """Accept YYYY-MM-DD (or a date object) and say which flag was wrong otherwise."""
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ReportError(f"{flag} '{text}' is not a date; use YYYY-MM-DD.") from exc


def _month_start(day: date, months_back: int) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def period_range(period: str, latest: date, earliest: date | None = None) -> DateRange:
    """Plausible's period names, anchored on the latest day that has data rather than on today.

    Logs are imported after the fact, so "today" is usually empty; the latest data day is what people mean.
    Calendar periods (month, 6mo, 12mo, year) run from their first day up to that latest day.
    """
    starts = {
        "day": latest,
        "7d": latest - timedelta(days=6),
        "30d": latest - timedelta(days=29),
        "month": _month_start(latest, 0),
        "6mo": _month_start(latest, 5),
        "12mo": _month_start(latest, 11),
        "year": date(latest.year, 1, 1),
        "all": earliest or latest,
    }
    if period not in starts:
        raise ReportError(f"unknown period '{period}'. Try one of: {', '.join(PERIODS)}.")
    return DateRange(starts[period], latest)


def utc_bounds(rng: DateRange, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Naive UTC instants [lo, hi) covering local midnight of `start` to local midnight after `end`."""

    def utc(day: date) -> datetime:
        local = datetime(day.year, day.month, day.day, tzinfo=tz)
        return local.astimezone(timezone.utc).replace(tzinfo=None)

    return utc(rng.start), utc(rng.end + timedelta(days=1))


def _offset(tz: ZoneInfo, instant: datetime) -> int:
    offset = instant.replace(tzinfo=timezone.utc).astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset else 0


def offset_segments(tz: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, int]]:
    """[(from_utc, offset_seconds)] for every offset in force between lo and hi, first one starting at lo."""
    segments = [(lo, _offset(tz, lo))]
    cursor = lo
    while cursor < hi:
        nxt = min(cursor + _STEP, hi)
        if _offset(tz, nxt) != segments[-1][1]:
            before, after = cursor, nxt  # offset(before) is the old one, offset(after) the new one
            while after - before > timedelta(seconds=1):
                mid = before + (after - before) / 2
                mid = mid.replace(microsecond=0)
                if _offset(tz, mid) == segments[-1][1]:
                    before = mid
                else:
                    after = mid
            segments.append((after, _offset(tz, after)))
        cursor = nxt
    return segments


def offset_sql(column: str, tz: ZoneInfo, lo: datetime, hi: datetime) -> str:
    """SQL for the site's UTC offset in seconds at `column` (naive UTC), valid for lo <= column < hi."""
    segments = offset_segments(tz, lo, hi)
    if len(segments) == 1:
        return str(segments[0][1])
    whens = " ".join(
        f"WHEN {column} < TIMESTAMP '{until:%Y-%m-%d %H:%M:%S}' THEN {seconds}"
        for (_, seconds), (until, _) in pairwise(segments)
    )
    return f"(CASE {whens} ELSE {segments[-1][1]} END)"


def local_sql(column: str, tz: ZoneInfo, lo: datetime, hi: datetime) -> str:
    """SQL turning a naive-UTC column into naive local time, valid for rows with lo <= column < hi."""
    offset = offset_sql(column, tz, lo, hi)
    if offset == "0":
        return column
    if offset.lstrip("-").isdigit():
        return f"({column} + INTERVAL ({offset}) SECOND)"  # parenthesised: DuckDB rejects INTERVAL -5 SECOND
    return f"({column} + to_seconds({offset}))"


def bucket_key_sql(column: str, interval: str, rng: DateRange, tz: ZoneInfo, lo: datetime, hi: datetime) -> str:
    """SQL for a row's bucket key; hours and days as integers since the epoch (integer arithmetic is several
    times cheaper per row than date functions), weeks and months as their clamped first day."""
    if interval in ("hour", "day"):
        unit = 3_600_000_000 if interval == "hour" else 86_400_000_000
        return f"((epoch_us({column}) + CAST({offset_sql(column, tz, lo, hi)} AS BIGINT) * 1000000) // {unit})"
    return bucket_sql(local_sql(column, tz, lo, hi), interval, rng)


def bucket_sql(local: str, interval: str, rng: DateRange) -> str:
    """SQL for a row's bucket: hour start, day, or week/month start clamped to the range's first day.

    The clamp is Plausible's: a partial first week or month is labelled with the range's first day.
    """
    start = f"DATE '{rng.start.isoformat()}'"
    if interval == "hour":
        return f"date_trunc('hour', {local})"
    if interval == "day":
        return f"CAST({local} AS DATE)"
    if interval in ("week", "month"):
        return f"greatest(CAST(date_trunc('{interval}', {local}) AS DATE), {start})"
    raise ReportError(f"unknown interval '{interval}'. Try one of: {', '.join(INTERVALS)}.")


def bucket_label(value: date | datetime | int, interval: str) -> str:
    """How a bucket is written in the report: a date, or 'YYYY-MM-DD HH:00:00' for hours (as Plausible does).

    Integer keys (from bucket_key_sql) count hours or days since 1970-01-01 in local time.
    """
    if isinstance(value, int):
        value = EPOCH + (timedelta(hours=value) if interval == "hour" else timedelta(days=value))
        if interval != "hour":
            value = value.date()
    if interval == "hour":
        return f"{value:%Y-%m-%d %H}:00:00"
    return value.isoformat() if not isinstance(value, datetime) else value.date().isoformat()


def bucket_labels(rng: DateRange, tz: ZoneInfo, interval: str) -> list[str]:
    """Every bucket of the range, so days without data still appear as zeros.

    Hours are walked in UTC and read locally, so a skipped DST hour is absent and a repeated one appears once.
    """
    if interval == "hour":
        lo, hi = utc_bounds(rng, tz)
        hours: set[datetime] = set()
        instant = lo
        while instant < hi:
            local = instant.replace(tzinfo=timezone.utc).astimezone(tz).replace(tzinfo=None)
            hours.add(local.replace(minute=0, second=0, microsecond=0))
            instant += timedelta(minutes=15)
        return [bucket_label(hour, "hour") for hour in sorted(hours)]
    if interval == "day":
        return [day.isoformat() for day in rng.dates()]
    if interval == "week":
        starts = {max(day - timedelta(days=day.weekday()), rng.start) for day in rng.dates()}
    elif interval == "month":
        starts = {max(day.replace(day=1), rng.start) for day in rng.dates()}
    else:
        raise ReportError(f"unknown interval '{interval}'. Try one of: {', '.join(INTERVALS)}.")
    return [day.isoformat() for day in sorted(starts)]
