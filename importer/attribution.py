"""Plausible's per-event fields from the URL and Referer: hostname, pathname, referrer, source, UTMs.

Why DuckDB SQL: percent-decoding (``url_decode``) and RE2 extraction run vectorised over a
whole batch; only the DISTINCT tagged sources and referrer hosts go through Python
(:mod:`importer.source_names`). The rules follow ``request.ex`` (hostname, pathname) and
``source.ex``/``event.ex`` (source, referrer, UTMs, medium inference) of plausible/analytics:

* hostname: host minus a leading ``www.``; no host gives ``(none)``.
* pathname: percent-decoded path (kept raw if it does not decode to UTF-8), trailing whitespace
  trimmed, ``/`` if empty; the query is dropped and a trailing slash kept.
* query parameters: the last occurrence wins, ``+`` is a space, values are percent-decoded.
* tagged source = ``utm_source`` || ``source`` || ``ref`` (an empty value still wins, as Elixir's
  ``""`` is truthy); it is stored as ``utm_source`` and, canonicalised, as ``referrer_source``.
* otherwise a *valid referral* (scheme http/https/android-app, a host, not the page's own host
  after ``www.`` stripping, not ``localhost``) gives the mapped referrer host; else NULL (Direct).
* stored ``referrer`` = host (no ``www.``) + path with trailing ``/`` trimmed, for valid referrals.
* ``utm_medium`` missing + Google + ``gclid`` -> ``(gclid)``; Bing + ``msclkid`` -> ``(msclkid)``.

Empty strings are stored as NULL (Plausible's ClickHouse columns use ``''`` for the same thing).
Hosts are compared lower-case.
"""

from __future__ import annotations

import duckdb
import polars as pl

from importer.source_names import canonical_source, source_for_host

UTM_FIELDS: tuple[str, ...] = ("utm_medium", "utm_campaign", "utm_content", "utm_term")
CLICK_ID_PARAMS: tuple[str, ...] = ("gclid", "gbraid", "wbraid", "msclkid", "fbclid", "twclid")
DERIVED_COLUMNS: tuple[str, ...] = (
    "hostname", "pathname", "referrer", "referrer_source", "utm_source", *UTM_FIELDS,
)
_SCHEME = r"^[A-Za-z][A-Za-z0-9+.\-]*"
_VIEW = "_attribution_distinct"


def _decoded(expr: str) -> str:
    """Percent-decode, falling back to the raw text when the bytes are not UTF-8."""
    return f"coalesce(try(url_decode({expr})), {expr})"


def _param_present(name: str) -> str:
    return f"coalesce(regexp_matches(query, '(?:^|&){name}(?:=|&|$)'), false)"


def _param(name: str) -> str:
    """Last value of a query parameter, form-decoded; NULL when the key is absent, '' when empty."""
    raw = f"replace(regexp_extract(query, '^(?s:.*&)?{name}(?:=([^&]*))?(?:&|$)', 1), '+', ' ')"
    return f"CASE WHEN {_param_present(name)} THEN {_decoded(raw)} END"


PATH_SQL = f"""
SELECT path, coalesce(nullif(regexp_replace({_decoded("path")}, '\\s+$', ''), ''), '/') AS pathname
FROM {_VIEW}
"""

QUERY_SQL = f"""
SELECT query,
  coalesce({_param("utm_source")}, {_param("source")}, {_param("ref")}) AS _tagged,
  CASE {" ".join(f"WHEN {_param_present(p)} THEN '{p}'" for p in CLICK_ID_PARAMS)} END AS _click_id,
  {", ".join(f"nullif({_param(f)}, '') AS {f}" for f in UTM_FIELDS)}
FROM {_VIEW}
"""

REFERRER_SQL = f"""
WITH r AS (
  SELECT referrer, hostname, trim(left(referrer, 2000)) AS ref FROM {_VIEW}
), p AS (
  SELECT referrer, hostname,
    lower(regexp_extract(ref, '({_SCHEME}):', 1)) AS scheme,
    regexp_replace(regexp_extract(ref, '{_SCHEME}://([^/?#]*)', 1), '^.*@', '') AS auth,
    regexp_extract(ref, '{_SCHEME}://[^/?#]*([^?#]*)', 1) AS rpath
  FROM r
), h AS (
  SELECT *, lower(CASE WHEN starts_with(auth, '[') THEN regexp_extract(auth, '^\\[([^\\]]*)\\]', 1)
                       ELSE regexp_replace(auth, ':[0-9]*$', '') END) AS rhost_raw
  FROM p
), v AS (
  SELECT *, regexp_replace(rhost_raw, '^www\\.', '') AS rhost,
    (scheme IN ('http', 'https', 'android-app') AND rhost_raw <> ''
      AND regexp_replace(rhost_raw, '^www\\.', '') <> hostname AND rhost_raw <> 'localhost') AS valid
  FROM h
)
SELECT referrer, hostname,
  CASE WHEN valid THEN (CASE WHEN scheme = 'android-app' THEN 'android-app://' ELSE '' END) || rhost
    || rtrim(rpath, '/') END AS _ref_stored,
  CASE WHEN valid THEN (CASE WHEN scheme = 'android-app' THEN 'a:' ELSE 'h:' END) || rhost END AS _ref_key
FROM v
"""


def hostname_of(host: str | None) -> str:
    """Plausible's hostname: trimmed, leading ``www.`` removed, ``(none)`` when missing."""
    host = (host or "").strip().lower()
    host = host[4:] if host.startswith("www.") else host
    return host or "(none)"


def _run(con: duckdb.DuckDBPyConnection, sql: str, distinct: pl.DataFrame) -> pl.DataFrame:
    con.register(_VIEW, distinct)
    try:
        return con.sql(sql).pl()
    finally:
        con.unregister(_VIEW)


def _source_of_key(key: str | None) -> str | None:
    return None if key is None else source_for_host(key[2:], android_app=key.startswith("a:"))


def _parse_distinct(frame: pl.DataFrame, con: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, ...]:
    """Parse each distinct path, query and (referrer, page hostname) once; map names in Python."""
    paths = _run(con, PATH_SQL, frame.select(pl.col("path").drop_nulls().unique()))
    queries = _run(con, QUERY_SQL, frame.select(pl.col("query").drop_nulls().unique()))
    queries = queries.with_columns(
        _tagged_name=pl.Series([None if t is None else canonical_source(t) for t in queries["_tagged"].to_list()],
                               dtype=pl.String),
    )
    refs = _run(con, REFERRER_SQL, frame.filter(pl.col("referrer").is_not_null()).select("referrer", "hostname").unique())
    refs = refs.with_columns(
        _ref_name=pl.Series([_source_of_key(k) for k in refs["_ref_key"].to_list()], dtype=pl.String),
    ).drop("_ref_key")
    return paths, queries, refs


def attribute(frame: pl.DataFrame, con: duckdb.DuckDBPyConnection | None = None) -> pl.DataFrame:
    """Add hostname, pathname, referrer (stored form), referrer_source and utm_* to a batch.

    Needs columns host, path, query, referrer; the raw ``referrer`` is replaced by Plausible's
    stored form and every other column passes through unchanged. Why per distinct value: a
    million rows hold a few thousand paths, queries and referrers, and the regexes cost far more
    than the joins that bring the answers back.
    """
    hosts = {h: hostname_of(h) for h in frame["host"].drop_nulls().unique().to_list()}
    frame = frame.with_columns(
        hostname=pl.col("host").replace_strict(hosts, default="(none)", return_dtype=pl.String).fill_null("(none)")
    )
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        paths, queries, refs = _parse_distinct(frame, con)
    finally:
        if own:
            con.close()
    out = (
        frame.join(paths, on="path", how="left")
        .join(queries, on="query", how="left")
        .join(refs, on=["referrer", "hostname"], how="left")
    )
    tagged = pl.col("_tagged")
    source = pl.when(tagged.is_not_null()).then(pl.col("_tagged_name")).otherwise(pl.col("_ref_name"))
    medium = (
        pl.when(pl.col("utm_medium").is_not_null()).then(pl.col("utm_medium"))
        .when((source == "Google") & (pl.col("_click_id") == "gclid")).then(pl.lit("(gclid)"))
        .when((source == "Bing") & (pl.col("_click_id") == "msclkid")).then(pl.lit("(msclkid)"))
    )
    return out.with_columns(
        pathname=pl.col("pathname").fill_null("/"),
        referrer=pl.col("_ref_stored"),
        referrer_source=pl.when(source != "").then(source),
        utm_source=pl.when(tagged != "").then(tagged),
        utm_medium=medium,
    ).drop("_tagged", "_tagged_name", "_click_id", "_ref_stored", "_ref_name")


