"""Sessions from stored events, in SQL, with Plausible's rules (``lib/plausible/session/cache_store.ex``).

Why recompute from events instead of keeping a live cache as Plausible does: a load may add
events in any order and in any number of runs, and the result must not depend on how the logs
were split. So the sessions touching a time window are deleted and rebuilt from all events they
own plus every event in the window; the session id is a hash of (site, first visitor id, start).
The same events therefore always give the same sessions, ids included.

Rules (and why):

* **Chains.** Events are grouped per site by visitor id. Plausible looks a session up by the
  current-salt id, then by the previous-salt id, so a visit continues across the 00:00 UTC salt
  change. Here an event in the first 30 minutes of a UTC day carries ``link_id`` (its id under the
  previous day's salt); each (visitor_id -> link_id) pair joins the two days' ids into one chain
  (transitively, for visits spanning several midnights). Joining two ids of the same person is
  harmless: only the gap rule below decides where sessions split.
* **Gap.** An event continues the session when it comes at most :data:`SESSION_GAP_S` (1800) seconds
  after the previous event of the chain; 29:59 and 30:00 continue, 30:01 starts a new session.
  Plausible checks ``NaiveDateTime.diff(ts, last, :minute) <= 30`` (whole minutes, which alone would
  allow up to 30:59), but the session lives in a cache with ``global_ttl: 30 min`` refreshed on each
  event (``Plausible.Application``), so after 30 minutes of inactivity the entry is gone and the
  next event starts a new session. (The cache expires entries on a 10 s check cycle, so right at
  30:00 Plausible itself is not deterministic; we take <= 1800 s.) Timestamps are compared at
  second precision, as Plausible stores them.
* **Pages.** entry_page / hostname = first page view's, exit_page = last page view's; custom events
  never set them (NULL for a session without page views).
* **Bounce.** Since v3.1.0 (PR #5295) a session is a bounce when it has fewer than 2 page views and
  no interactive custom event; custom events are interactive unless sent with ``interactive: false``,
  and the ``404`` / ``File Download`` events this importer emits are interactive. Before, any second
  event cleared the flag. Both give ``is_bounce = events < 2``; a lone custom event stays a bounce
  (a new session starts as one). The one case read differently: [custom event, page view] is not a
  bounce here, per the PR's definition.
* **Duration** = last event - first event, in seconds. **Attributes** (referrer, source, UTMs,
  device, browser, OS, country) come from the session's first event, page view or not.
* ``visitor_id`` of a session is its last event's id, like the final row Plausible writes.

Event order inside a chain: ts, then file fingerprint and line (the log's own order), then name,
so ties resolve the same way in every run. Only narrow columns go through the window sort; page
names and the frozen attributes are fetched afterwards by rowid, which keeps the sort cheap.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import NamedTuple

import duckdb

SESSION_GAP_S = 30 * 60
MAX_CHAIN_DAYS = 400
"""Bound on the link recursion (consecutive midnights one visit may span)."""
WINDOW_EVENTS = 500_000
"""Events per rebuild step (about 350 MB of DuckDB working memory): a backfill of years is rebuilt in steps, so
memory follows the step and not the span a load touched."""

FROZEN_COLUMNS: tuple[str, ...] = (
    "referrer", "referrer_source", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
    "device", "browser", "browser_version", "os", "os_version", "country",
)

_EVENTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE _sess_ev AS
WITH RECURSIVE edges AS (
  SELECT DISTINCT visitor_id AS child, link_id AS parent
  FROM events WHERE site = $site AND ts >= $first AND ts < $edges_end AND link_id IS NOT NULL
    AND link_id <> visitor_id
), walk(child, root, depth) AS (
  SELECT child, parent, 1 FROM edges
  UNION ALL
  SELECT w.child, e.parent, w.depth + 1 FROM walk w JOIN edges e ON e.child = w.root
  WHERE w.depth < {MAX_CHAIN_DAYS}
), roots AS (
  SELECT child, arg_max(root, depth) AS root FROM walk GROUP BY child
), touched AS (
  SELECT session_id FROM sessions WHERE site = $site AND start < $hi AND "end" >= $lo
), file_order AS (
  SELECT file_id, row_number() OVER (ORDER BY fingerprint) AS fp_rank FROM files
), cand AS (
  SELECT e.rowid AS rid, e.session_id AS old_sid, coalesce(r.root, e.visitor_id) AS chain,
    e.ts, coalesce(f.fp_rank, 0) AS fp_rank, e.line, e.name, e.visitor_id
  FROM events e
  LEFT JOIN roots r ON r.child = e.visitor_id
  LEFT JOIN file_order f ON f.file_id = e.file_id
  WHERE e.site = $site AND e.ts >= $first AND e.ts <= $last
    AND ((e.ts >= $lo AND e.ts < $hi) OR e.session_id IN (SELECT session_id FROM touched))
), gaps AS (
  SELECT *, row_number() OVER w AS ord, epoch(ts) - epoch(lag(ts) OVER w) AS gap
  FROM cand
  WINDOW w AS (PARTITION BY chain ORDER BY ts, fp_rank, line, name, rid)
)
SELECT rid, old_sid, chain, ts, name, visitor_id, ord,
  sum(CASE WHEN gap IS NULL OR gap > {SESSION_GAP_S} THEN 1 ELSE 0 END)
    OVER (PARTITION BY chain ORDER BY ord ROWS UNBOUNDED PRECEDING) AS sess_no
FROM gaps
"""

_SESSIONS_SQL = """
CREATE OR REPLACE TEMP TABLE _sess AS
SELECT chain, sess_no,
  greatest(CAST('0x' || substr(md5(
    $site || chr(10) || CAST(arg_min(visitor_id, ord) AS VARCHAR) || chr(10)
    || strftime(min(ts), '%Y-%m-%d %H:%M:%S')), 1, 16) AS UBIGINT), 1) AS session_id,
  arg_max(visitor_id, ord) AS visitor_id,
  min(ts) AS start,
  max(ts) AS "end",
  arg_min(rid, ord) AS first_rid,
  arg_min(rid, ord) FILTER (WHERE name = 'pageview') AS entry_rid,
  arg_max(rid, ord) FILTER (WHERE name = 'pageview') AS exit_rid,
  count(*) FILTER (WHERE name = 'pageview') AS pageviews,
  count(*) AS events,
  count(*) < 2 AS is_bounce,
  CAST(epoch(max(ts)) - epoch(min(ts)) AS UINTEGER) AS duration
FROM _sess_ev
GROUP BY chain, sess_no
"""

_INSERT_SQL = f"""
INSERT INTO sessions (site, session_id, visitor_id, start, "end", entry_page, exit_page, hostname,
  pageviews, events, is_bounce, duration, {", ".join(FROZEN_COLUMNS)})
WITH span AS (
  SELECT rowid AS rid, pathname, hostname, {", ".join(FROZEN_COLUMNS)}
  FROM events WHERE site = $site AND ts >= $first AND ts <= $last
)
SELECT $site, s.session_id, s.visitor_id, s.start, s."end", en.pathname, ex.pathname, en.hostname,
  s.pageviews, s.events, s.is_bounce, s.duration, {", ".join(f"fe.{c}" for c in FROZEN_COLUMNS)}
FROM _sess s
JOIN span fe ON fe.rid = s.first_rid
LEFT JOIN span en ON en.rid = s.entry_rid
LEFT JOIN span ex ON ex.rid = s.exit_rid
"""

_WRITE_BACK_SQL = """
UPDATE events SET session_id = m.session_id
FROM (
  SELECT e.rid, s.session_id FROM _sess_ev e JOIN _sess s USING (chain, sess_no)
  WHERE e.old_sid <> s.session_id
) m
WHERE events.rowid = m.rid
"""


class Rebuilt(NamedTuple):
    """What a rebuild wrote: the session count, and the first and last event time of every session it replaced
    or wrote (None when there were none), so the rollups of exactly those days can follow."""

    sessions: int
    first: datetime | None
    last: datetime | None


def rebuild_window(con: duckdb.DuckDBPyConnection, site: str, lo: datetime, hi: datetime) -> Rebuilt:
    """Replace the sessions of ``site`` that touch [lo, hi) (naive UTC) and stamp their events.

    Must run inside the caller's transaction, so a crash leaves the old sessions in place.
    """
    touched = con.execute(
        'SELECT min(start), max("end") FROM sessions WHERE site = $site AND start < $hi AND "end" >= $lo',
        {"site": site, "lo": lo, "hi": hi},
    ).fetchall()[0]
    # Every event the rebuild reads lies in [first, last]: the window, and the sessions it touches. Bounding the
    # scans by time lets DuckDB skip the rest of the table, so a step costs what its span holds, not the table.
    first = lo if touched[0] is None else min(lo, touched[0])
    last = hi if touched[1] is None else max(hi, touched[1])
    span = {"site": site, "first": first, "last": last}
    # The links joining two ids of one chain come from events between them in time, each in the first
    # 30 minutes of its UTC day: those in [first, the end of last's day) join every chain the span holds.
    edges_end = datetime.combine(last.date(), time(0)) + timedelta(days=1)
    con.execute(_EVENTS_SQL, {**span, "lo": lo, "hi": hi, "edges_end": edges_end})
    con.execute(_SESSIONS_SQL, {"site": site})
    con.execute(
        "DELETE FROM sessions WHERE site = $site AND session_id IN (SELECT DISTINCT old_sid FROM _sess_ev)",
        {"site": site},
    )
    con.execute(_INSERT_SQL, span)
    con.execute(_WRITE_BACK_SQL)
    (count,) = con.execute("SELECT count(*) FROM _sess").fetchall()[0]
    # Old sessions owned only events in _sess_ev and new ones are made of them: its span covers both.
    first, last = con.execute("SELECT min(ts), max(ts) FROM _sess_ev").fetchall()[0]
    # Temp tables never reach the DB file; on failure the caller's rollback removes them.
    con.execute("DROP TABLE _sess; DROP TABLE _sess_ev")
    return Rebuilt(int(count), first, last)


def windows(con: duckdb.DuckDBPyConnection, site: str, lo: datetime, hi: datetime,
            limit: int = WINDOW_EVENTS) -> list[tuple[datetime, datetime]]:
    """[lo, hi) cut at UTC midnights into windows of about ``limit`` events, each reaching one day into the previous.

    Why the day of overlap: a visit that crosses a cut is ended at the cut by the earlier window; the later window
    takes back every session that ended in that day (they touch it) and rebuilds them with the events after the
    cut, as a later load of the next day's log would. So the windows together give the sessions one window gives.
    """
    days = con.execute(
        "SELECT CAST(ts AS DATE) AS day, count(*) FROM events WHERE site = $site AND ts >= $lo AND ts < $hi "
        "GROUP BY day ORDER BY day",
        {"site": site, "lo": lo, "hi": hi},
    ).fetchall()
    cuts: list[datetime] = []
    held = 0
    for day, count in days:
        if held and held + count > limit:
            cuts.append(datetime.combine(day, time(0)))
            held = 0
        held += count
    bounds = list(pairwise([lo, *cuts, hi]))
    return [bounds[0], *((start - timedelta(days=1), end) for start, end in bounds[1:])]
