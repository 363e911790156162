"""What every query of one report shares: the site, the local date range and its UTC bounds, and the rounding.

Ratios are computed in Python from integer sums so the rounding is Plausible's (round half to even, as
ClickHouse's round on floats), not SQL's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from importer.reports.periods import DateRange, bucket_key_sql, local_sql, utc_bounds, zone

# Session sums without visitors: visits, bounces, Σduration, Σpageviews (ratio_metrics' inputs). Cheap: no distinct.
SESSION_TOTALS = (
    "count(*) AS visits, count(*) FILTER (WHERE is_bounce) AS bounces, "
    "coalesce(sum(duration), 0) AS duration, coalesce(sum(pageviews), 0) AS session_pageviews"
)


@dataclass(frozen=True)
class Scope:
    """A site and a local date range, with the UTC bounds and SQL snippets every query of one report shares."""

    site: str
    timezone: str
    rng: DateRange
    lo: datetime
    hi: datetime

    @property
    def tz(self) -> ZoneInfo:
        """The site's zone object (the dataclass keeps the name, which is hashable and printable)."""
        return zone(self.timezone)

    @property
    def params(self) -> dict[str, Any]:
        """Named parameters for the *_where snippets: values never go into SQL text."""
        return {"site": self.site, "lo": self.lo, "hi": self.hi}

    session_time = '"end"'  # a visit counts when its last event happens, as in Plausible
    sessions_where = 'site = $site AND "end" >= $lo AND "end" < $hi'
    events_where = "site = $site AND ts >= $lo AND ts < $hi"
    pageviews_where = "site = $site AND ts >= $lo AND ts < $hi AND name = 'pageview'"

    def uniq(self, column: str) -> str:
        """Exact distinct count (Plausible's ClickHouse `uniq` is approximate on large sets; this never is)."""
        return f"count(DISTINCT {column})"

    def local(self, column: str) -> str:
        """SQL for `column` (naive UTC) in the site's local time."""
        return local_sql(column, self.tz, self.lo, self.hi)

    def bucket(self, column: str, interval: str) -> str:
        """SQL for the timeseries bucket key of `column` (naive UTC); bucket_label turns a key into its label."""
        return bucket_key_sql(column, interval, self.rng, self.tz, self.lo, self.hi)


def ratio_metrics(visits: int, bounces: int, duration: int, session_pageviews: int) -> dict[str, Any]:
    """views_per_visit, bounce_rate and visit_duration as Plausible rounds them; 0 when there are no visits."""
    if not visits:
        return {"views_per_visit": 0.0, "bounce_rate": 0, "visit_duration": 0}
    return {
        "views_per_visit": round(session_pageviews / visits, 2),
        "bounce_rate": round(bounces / visits * 100),
        "visit_duration": round(duration / visits),
    }


def make_scope(site: str, tz_name: str, rng: DateRange) -> Scope:
    """Compute the UTC bounds once, so every query filters on the raw timestamp columns."""
    lo, hi = utc_bounds(rng, zone(tz_name))
    return Scope(site, tz_name, rng, lo, hi)
