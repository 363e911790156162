"""Page-view rules as polars expressions: every row gets ``is_pageview`` and one ``drop_reason``.

Why vectorised: a run classifies millions of rows; per-row Python would cost more than
parsing. Only three things touch Python, all on small sets: the user-agent parser (per
DISTINCT agent, in :mod:`importer.useragents`), IPv6 CIDR checks (per distinct IPv6 address)
and option compilation (once per :class:`ClassifyOptions`).

A dropped row carries exactly one reason: the first that holds in :data:`DROP_REASONS`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone

import polars as pl

from importer.useragents import AgentClassifier

DROP_REASONS: tuple[str, ...] = (
    "method",  # not GET (HEAD, POST, ...)
    "status",  # not 2xx / 304 and not in count_status
    "asset",  # non-HTML content type, or a static file extension
    "excluded_path",  # default non-page paths, exclude_paths, or outside include_paths
    "bot",  # crawlers, preview fetchers, headless browsers, empty agents
    "not_browser",  # HTTP libraries and CLIs, agents without a browser family
    "excluded_ip",  # client_ip in exclude_ips
    "excluded_ua",  # user_agent matches exclude_ua
    "out_of_range",  # ts outside [since, until)
    "url_too_long",  # Plausible answers 400 for URLs over 2,000 bytes
)

# Well-known non-page paths (globs: `*` matches any run of characters, `/` included).
# fmt: off
DEFAULT_EXCLUDED_PATHS: tuple[str, ...] = (
    "/robots.txt", "/favicon.ico", "/apple-touch-icon*", "/.well-known/*", "/sitemap*.xml", "/sitemap*.xml.gz",
    "/ads.txt", "/app-ads.txt", "/humans.txt", "/security.txt", "/feed", "/feed/", "/feed/*", "*/feed", "*/feed/",
    "/rss", "/rss/", "/rss.xml", "/atom.xml", "/feed.xml", "/index.xml", "/wp-admin", "/wp-admin/*",
    "/wp-login.php", "/xmlrpc.php", "/wp-cron.php", "/wp-json/*", "/wp-content/*", "/wp-includes/*", "/api",
    "/api/*", "/graphql", "/cdn-cgi/*", "/healthz", "/livez", "/readyz", "/server-status",
)
# fmt: on

# Static files. pdf/zip & co. become "File Download" events later; they are never page views.
# fmt: off
ASSET_EXTENSIONS: tuple[str, ...] = (
    "css", "js", "mjs", "cjs", "map", "json", "jsonld", "xml", "txt", "webmanifest", "rss", "atom", "png", "jpg",
    "jpeg", "gif", "webp", "avif", "svg", "svgz", "ico", "bmp", "tif", "tiff", "heic", "woff", "woff2", "ttf",
    "otf", "eot", "mp4", "webm", "mp3", "ogg", "ogv", "oga", "wav", "m4a", "m4v", "mov", "avi", "flac", "aac",
    "m3u8", "ts", "vtt", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "pdf", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "csv", "odt", "ods", "epub", "exe", "dmg", "msi", "apk", "deb", "rpm", "iso", "bin",
    "wasm",
)
# fmt: on

HTML_TYPES: tuple[str, ...] = ("text/html", "application/xhtml+xml")
_HTML_RE = r"(?i)^\s*(?:" + "|".join(re.escape(t) for t in HTML_TYPES) + r")\s*(?:;|$)"
_STATUS_RE = re.compile(r"^(?:(\d)xx|(\d{3})(?:-(\d{3}))?)$", re.IGNORECASE)


def glob_to_regex(glob: str) -> str:
    """fnmatch-style glob -> anchored regex: `*` any run (across `/`), `?` one char."""
    parts = [".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in glob]
    return "^" + "".join(parts) + "$"


def _globs_regex(globs: Iterable[str]) -> str | None:
    """One alternation for a list of globs (None when empty)."""
    regexes = [glob_to_regex(g) for g in globs]
    return "|".join(f"(?:{r})" for r in regexes) or None


def parse_status_ranges(specs: Iterable[str]) -> tuple[tuple[int, int], ...]:
    """'404' -> (404, 404), '4xx' -> (400, 499), '400-410' -> (400, 410)."""
    ranges = []
    for spec in specs:
        m = _STATUS_RE.match(str(spec).strip())
        if not m:
            raise ValueError(f"count_status: {spec!r} is not a status; use e.g. 404, 4xx or 400-410")
        if m.group(1):
            lo = int(m.group(1)) * 100
            ranges.append((lo, lo + 99))
        else:
            lo = int(m.group(2))
            ranges.append((lo, int(m.group(3) or lo)))
    return tuple(ranges)


def _networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse CIDRs or single addresses; a bad entry says what a good one looks like."""
    nets = []
    for cidr in cidrs:
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"exclude_ips: {cidr!r} is not an IP address or CIDR (e.g. 203.0.113.0/24, 2001:db8::/32)"
            ) from None
    return tuple(nets)


def _merged_v4_ranges(nets: Iterable[ipaddress.IPv4Network]) -> tuple[tuple[int, int], ...]:
    """Sorted, non-overlapping [first, last] integer ranges for binary search."""
    merged: list[list[int]] = []
    for lo, hi in sorted((int(n.network_address), int(n.broadcast_address)) for n in nets):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return tuple((lo, hi) for lo, hi in merged)


def _check_regex(pattern: str, what: str) -> None:
    """Fail early, in the engine that will run it (Rust regex: no look-around)."""
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"{what}: invalid regex {pattern!r} ({exc}). Use Rust regex syntax.") from None


def _utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC, aware ones converted."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class ClassifyOptions:
    """What counts as a page view. Lists may be given as lists; they are stored as tuples."""

    include_paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    default_excluded_paths: tuple[str, ...] = DEFAULT_EXCLUDED_PATHS
    asset_extensions: tuple[str, ...] = ASSET_EXTENSIONS
    exclude_ips: tuple[str, ...] = ()
    exclude_ua: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    count_status: tuple[str, ...] = ()
    max_url_length: int = 2000
    # Compiled once in __post_init__ (never part of equality or repr).
    _include_re: str | None = field(init=False, repr=False, compare=False, default=None)
    _exclude_re: str | None = field(init=False, repr=False, compare=False, default=None)
    _asset_re: str | None = field(init=False, repr=False, compare=False, default=None)
    _ua_re: str | None = field(init=False, repr=False, compare=False, default=None)
    _status: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False, default=())
    _v4: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False, default=())
    _nets: tuple = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        """Normalise lists to tuples, validate, and compile every rule once."""
        put = object.__setattr__
        for spec in fields(self):  # every public tuple field also accepts a list or a single string
            if spec.init and spec.type == "tuple[str, ...]":
                value = getattr(self, spec.name)
                put(self, spec.name, (value,) if isinstance(value, str) else tuple(value))
        put(self, "since", _utc(self.since))
        put(self, "until", _utc(self.until))
        if self.since and self.until and self.since >= self.until:
            raise ValueError(f"since ({self.since}) must be before until ({self.until})")
        for pattern in self.exclude_ua:
            _check_regex(pattern, "exclude_ua")
        exts = "|".join(re.escape(e.lower().lstrip(".")) for e in self.asset_extensions)
        nets = _networks(self.exclude_ips)
        put(self, "_include_re", _globs_regex(self.include_paths))
        put(self, "_exclude_re", _globs_regex(self.default_excluded_paths + self.exclude_paths))
        put(self, "_asset_re", rf"(?i)\.(?:{exts})$" if exts else None)
        put(self, "_ua_re", "|".join(f"(?:{p})" for p in self.exclude_ua) or None)
        put(self, "_status", parse_status_ranges(self.count_status))
        put(self, "_v4", _merged_v4_ranges(n for n in nets if n.version == 4))
        put(self, "_nets", nets)


def _matches(column: pl.Expr, regex: str | None) -> pl.Expr:
    """Regex match with null -> False; no regex -> False."""
    if regex is None:
        return pl.lit(False)
    return column.str.contains(regex).fill_null(False)


def _status_ok(options: ClassifyOptions) -> pl.Expr:
    """2xx or 304, or a counted extra status/range."""
    status = pl.col("status").cast(pl.Int32)
    ok = status.is_between(200, 299) | (status == 304)
    for lo, hi in options._status:
        ok = ok | status.is_between(lo, hi)
    return ok.fill_null(False)


def _is_asset(options: ClassifyOptions) -> pl.Expr:
    """The logged content type decides when there is one; otherwise the path's extension does.

    A logged text/html answer is a page even at /x.png (single-page apps answer
    every path with their HTML shell); with no content type logged, the
    extension is the only evidence there is.
    """
    content_type = pl.col("content_type")
    logged = content_type.is_not_null() & ~content_type.str.contains(r"^\s*$")
    html = content_type.str.contains(_HTML_RE)
    by_extension = _matches(pl.col("path"), options._asset_re)
    return pl.when(logged).then(~html).otherwise(by_extension).fill_null(False)


def _excluded_path(options: ClassifyOptions) -> pl.Expr:
    """Outside include_paths (when given) or inside an exclusion glob."""
    path = pl.col("path")
    outside = ~_matches(path, options._include_re) if options._include_re else pl.lit(False)
    return outside | _matches(path, options._exclude_re)


def ipv4_to_int(ip: pl.Expr) -> pl.Expr:
    """Dotted quad -> integer (null when not exactly four octets 0-255)."""
    parts = ip.str.split_exact(".", 3)
    octets = [parts.struct.field(f"field_{i}").cast(pl.Int64, strict=False) for i in range(4)]
    valid = ip.str.count_matches(".", literal=True) == 3
    for octet in octets:
        valid = valid & octet.is_between(0, 255)
    value = octets[0] * 16_777_216 + octets[1] * 65_536 + octets[2] * 256 + octets[3]
    return pl.when(valid).then(value).otherwise(None)


def _in_v4_ranges(value: pl.Expr, ranges: tuple[tuple[int, int], ...]) -> pl.Expr:
    """Binary search of `value` in sorted disjoint ranges: O(log n) per row, any list size."""
    starts = pl.lit(pl.Series([lo for lo, _ in ranges], dtype=pl.Int64))
    ends = pl.lit(pl.Series([hi for _, hi in ranges], dtype=pl.Int64))
    idx = (starts.search_sorted(value, side="right").cast(pl.Int64) - 1).clip(lower_bound=0)
    return ((value >= starts.gather(idx)) & (value <= ends.gather(idx))).fill_null(False)


def _excluded_addresses(frame: pl.DataFrame, options: ClassifyOptions) -> list[str]:
    """The DISTINCT client_ip values inside an excluded network.

    IPv4 is vectorised (octets -> integer -> binary search over merged ranges); IPv6 and
    IPv4-mapped IPv6 go through ``ipaddress``. Both run on the distinct set, which is 10-100x
    smaller than the rows, so the per-row cost is one hash lookup (``is_in``).
    """
    ip = pl.col("client_ip")
    distinct = frame.select(ip.unique().drop_nulls())
    hits: list[str] = []
    if options._v4:
        v4 = distinct.lazy().with_columns(ipv4_to_int(ip).alias("_v4"))  # lazy: the octets are split once
        hits += v4.filter(_in_v4_ranges(pl.col("_v4"), options._v4)).collect()["client_ip"].to_list()
    candidates = distinct.filter(ip.str.contains(":", literal=True))["client_ip"].to_list()
    for text in candidates:
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            continue
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr.version == net.version and addr in net for net in options._nets):
            hits.append(text)
    return hits


def _excluded_ip(frame: pl.DataFrame, options: ClassifyOptions) -> pl.Expr:
    """client_ip in exclude_ips (decided per distinct address, applied per row)."""
    if not options._nets:
        return pl.lit(False)
    hits = _excluded_addresses(frame, options)
    return pl.col("client_ip").is_in(pl.Series(hits, dtype=pl.String).implode()).fill_null(False)


def _out_of_range(options: ClassifyOptions) -> pl.Expr:
    """Outside [since, until); a null ts is out of range only when a bound is set."""
    ts = pl.col("ts")
    out = pl.lit(False)
    if options.since is not None:
        out = out | (ts < pl.lit(options.since)).fill_null(True)
    if options.until is not None:
        out = out | (ts >= pl.lit(options.until)).fill_null(True)
    return out


def url_length(default_scheme: str = "https") -> pl.Expr:
    """Bytes of scheme://host/path[?query], the length Plausible limits to 2,000."""
    query = pl.col("query")
    return (
        pl.col("scheme").fill_null(default_scheme).str.len_bytes()
        + 3
        + pl.col("host").fill_null("").str.len_bytes()
        + pl.col("path").fill_null("").str.len_bytes()
        + pl.when(query.is_null()).then(0).otherwise(query.str.len_bytes() + 1)
    )


def drop_reason(frame: pl.DataFrame, options: ClassifyOptions) -> pl.Expr:
    """The first failing rule, in DROP_REASONS order (null for a page view).

    Needs the agent columns (``agent_class``) already joined onto `frame`.
    """
    klass = pl.col("agent_class")
    conditions = {
        "method": pl.col("method").fill_null("GET") != "GET",  # null: the format logs no method (Bunny)
        "status": ~_status_ok(options),
        "asset": _is_asset(options),
        "excluded_path": _excluded_path(options),
        "bot": (klass == "bot").fill_null(True),
        "not_browser": klass == "not_browser",
        "excluded_ip": _excluded_ip(frame, options),
        "excluded_ua": _matches(pl.col("user_agent"), options._ua_re),
        "out_of_range": _out_of_range(options),
        "url_too_long": url_length() > options.max_url_length,
    }
    chain = pl.when(conditions["method"]).then(pl.lit("method"))
    for reason in DROP_REASONS[1:]:  # KeyError here means the two lists drifted apart
        chain = chain.when(conditions[reason]).then(pl.lit(reason))
    return chain.otherwise(pl.lit(None, dtype=pl.String))


def classify(
    frame: pl.DataFrame,
    options: ClassifyOptions | None = None,
    agents: AgentClassifier | None = None,
) -> pl.DataFrame:
    """`frame` + agent columns + ``is_pageview`` + ``drop_reason``.

    Pass one long-lived `agents` so each distinct user agent is parsed once per process.
    """
    options = ClassifyOptions() if options is None else options
    agents = AgentClassifier() if agents is None else agents
    enriched = agents.enrich(frame)
    reason = drop_reason(enriched, options)
    return (
        enriched.lazy()
        .with_columns(reason.alias("drop_reason"))
        .with_columns(pl.col("drop_reason").is_null().alias("is_pageview"))
        .collect()
    )


def drop_counts(classified: pl.DataFrame) -> dict[str, int]:
    """{'pageview': n, reason: n, ...} with every reason present, so the totals add up."""
    counts = dict.fromkeys(("pageview", *DROP_REASONS), 0)
    grouped = classified.group_by("drop_reason").len()
    for reason, n in grouped.iter_rows():
        counts["pageview" if reason is None else reason] = n
    return counts
