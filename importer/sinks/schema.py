"""The DuckDB file's schema: the one place its tables and views are defined.

People query this file with SQL, so the columns follow Plausible's own names
(events_v2 / sessions_v2) and the README documents them. No raw IP address
is stored anywhere: visitors are keyed daily-rotating hashes.
"""

from __future__ import annotations

SCHEMA_VERSION = 2  # 2 added the rollups; a version-1 file is migrated when load opens it

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS sites (
    site VARCHAR PRIMARY KEY,          -- the Plausible domain, e.g. example.com
    timezone VARCHAR NOT NULL          -- IANA name used to bucket dates in reports
);

CREATE TABLE IF NOT EXISTS files (
    file_id BIGINT PRIMARY KEY,
    fingerprint VARCHAR NOT NULL UNIQUE,   -- sha256 of the first 4 KiB, decompressed
    path VARCHAR NOT NULL,                 -- last path it was seen under
    compression VARCHAR NOT NULL,
    committed_offset UBIGINT NOT NULL,     -- decompressed bytes loaded so far
    committed_line UBIGINT NOT NULL,       -- lines loaded so far
    first_loaded TIMESTAMPTZ NOT NULL,
    last_loaded TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
    run_id BIGINT PRIMARY KEY,
    started TIMESTAMPTZ NOT NULL,
    finished TIMESTAMPTZ,
    command VARCHAR NOT NULL,
    summary JSON                           -- lines, pageviews, drop reasons, files loaded/skipped
);

CREATE TABLE IF NOT EXISTS events (
    site VARCHAR NOT NULL,
    ts TIMESTAMP NOT NULL,                 -- UTC, second precision as in Plausible
    name VARCHAR NOT NULL,                 -- pageview, 404, File Download
    hostname VARCHAR NOT NULL,             -- without www.
    pathname VARCHAR NOT NULL,             -- percent-decoded, no query
    referrer VARCHAR,                      -- host (no www.) + path, as Plausible stores it
    referrer_source VARCHAR,
    utm_source VARCHAR,
    utm_medium VARCHAR,
    utm_campaign VARCHAR,
    utm_content VARCHAR,
    utm_term VARCHAR,
    browser VARCHAR,
    browser_version VARCHAR,
    os VARCHAR,
    os_version VARCHAR,
    device VARCHAR,                        -- Desktop, Mobile, Tablet or NULL
    country VARCHAR,                       -- ISO 3166-1 alpha-2 or NULL
    visitor_id UBIGINT NOT NULL,           -- keyed hash of (daily salt, UA, IP, site, root domain)
    session_id UBIGINT NOT NULL,
    props JSON,
    file_id BIGINT NOT NULL,
    line UBIGINT NOT NULL,
    link_id UBIGINT                        -- the same hash with the previous day's salt, only for events
                                           -- in the first 30 minutes after 00:00 UTC (joins a session
                                           -- across the salt change, as Plausible's two-salt lookup does)
);

CREATE TABLE IF NOT EXISTS sessions (
    site VARCHAR NOT NULL,
    session_id UBIGINT NOT NULL,
    visitor_id UBIGINT NOT NULL,
    start TIMESTAMP NOT NULL,
    "end" TIMESTAMP NOT NULL,
    entry_page VARCHAR,
    exit_page VARCHAR,
    hostname VARCHAR,
    pageviews UINTEGER NOT NULL,
    events UINTEGER NOT NULL,
    is_bounce BOOLEAN NOT NULL,
    duration UINTEGER NOT NULL,            -- seconds, last event - first event
    referrer VARCHAR,
    referrer_source VARCHAR,
    utm_source VARCHAR,
    utm_medium VARCHAR,
    utm_campaign VARCHAR,
    utm_content VARCHAR,
    utm_term VARCHAR,
    device VARCHAR,
    browser VARCHAR,
    browser_version VARCHAR,
    os VARCHAR,
    os_version VARCHAR,
    country VARCHAR
);

CREATE TABLE IF NOT EXISTS rollups (
    site VARCHAR NOT NULL,
    utc_day DATE NOT NULL,            -- UTC day of the session's last event, or of the page view
    local_day DATE,                   -- its day in rollup_sites.timezone; NULL: the whole UTC day
    dim VARCHAR NOT NULL,             -- a report list (sources, pages, browsers.versions …), visits or pageviews
    key VARCHAR,                      -- the list's label (NULL for visits and pageviews)
    subkey VARCHAR,                   -- the version, for browsers.versions and operating_systems.versions
    visitors UBIGINT NOT NULL,        -- distinct visitor ids in this cell
    visits UBIGINT NOT NULL,
    bounces UBIGINT NOT NULL,
    duration UBIGINT NOT NULL,        -- Σ session seconds
    pageviews UBIGINT NOT NULL        -- Σ session page views; page view events for pages and pageviews
);

CREATE TABLE IF NOT EXISTS rollup_sites (
    site VARCHAR PRIMARY KEY,
    timezone VARCHAR NOT NULL,        -- the zone local_day was computed in
    exact BOOLEAN NOT NULL            -- no visitor id spans two UTC days, so cells add up exactly
);
"""
