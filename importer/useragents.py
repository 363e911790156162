"""Parse each DISTINCT user agent once; join browser/OS/device/class columns back by agent.

Why distinct: a 5M-line log has ~800 distinct agents. ua-parser with its Rust resolver costs
tens of µs per agent, so parsing per line would take minutes and per distinct agent takes
milliseconds (reference/perf_baseline.md). Only the parser call is per agent in Python; the
naming, device and bot rules are polars expressions over the distinct set.

Names follow Plausible, which shows UAInspector (Matomo device-detector) names, normalised in
its ``event.ex``: Mobile Safari -> Safari, Chrome Mobile -> Chrome, webviews and in-app
browsers -> "Mobile App", versions as major.minor, device Desktop/Mobile/Tablet or unknown.
ua-parser (uap-core) names are mapped onto those.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import polars as pl

from importer.bots import BotDetector

ParseFn = Callable[[str], object]
"""Takes an agent, returns an object with ua-parser's ``user_agent``/``os``/``device``."""

AGENT_SCHEMA: dict[str, pl.DataType] = {
    "user_agent": pl.String(),
    "browser": pl.String(),
    "browser_version": pl.String(),
    "os": pl.String(),
    "os_version": pl.String(),
    "device": pl.String(),
    "agent_class": pl.String(),
}
AGENT_COLUMNS: tuple[str, ...] = tuple(c for c in AGENT_SCHEMA if c != "user_agent")

_RAW_COLUMNS = ("user_agent", "ua_family", "ua_major", "ua_minor", "os_family", "os_major", "os_minor")
_RAW_SCHEMA: dict[str, pl.DataType] = dict.fromkeys((*_RAW_COLUMNS, "device_family", "device_brand"), pl.String())

# uap-core browser family -> the name Plausible shows (device-detector's, after event.ex).
BROWSER_NAMES: dict[str, str] = {
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Mobile Safari": "Safari",
    "Edge": "Microsoft Edge",
    "Edge Mobile": "Microsoft Edge",
    "Opera Mobile": "Opera",
    "Opera Mini": "Opera",
    "Opera Touch": "Opera",
    "Samsung Internet": "Samsung Browser",
    "Yandex Browser Lite": "Yandex Browser",
    "YandexSearch": "Yandex Browser",
    "IE": "Internet Explorer",
    "DuckDuckGo Mobile": "DuckDuckGo Privacy Browser",
    "MiuiBrowser": "MIUI Browser",
    "HuaweiBrowser": "Huawei Browser",
    "Silk": "Mobile Silk",
    "Amazon Silk": "Mobile Silk",
    "Whale": "Whale Browser",
    "HeadlessChrome": "Headless Chrome",
}

# Webviews and in-app browsers: Plausible reports these as "Mobile App" without a version.
# fmt: off
MOBILE_APP_FAMILIES: frozenset[str] = frozenset((
    "Chrome Mobile WebView", "Mobile Safari UI/WKWebView", "Facebook", "Instagram", "Twitter", "LinkedIn",
    "Pinterest", "Snapchat", "WeChat", "LINE", "Line", "TikTok", "Google", "Outlook", "Yahoo! Mail",
    "Threads", "Messenger", "Teams", "Slack",
))
# fmt: on

OS_NAMES: dict[str, str] = {
    "Mac OS X": "Mac",
    "Mac OS": "Mac",
    "Linux": "GNU/Linux",
}

_TV = (
    r"(?i)smart-?tv|\btv\b|tizen.+tv|web0s|netcast|hbbtv|apple ?tv|crkey|\baft[a-z]|bravia"
    r"|roku|googletv|android tv|viera|aquosbrowser|opera tv|\(tv;"
)
_CONSOLE = r"PlayStation|Xbox|Nintendo"
_CAR = r"QtCarBrowser|Tesla/"
_WEARABLE = r"(?i)watchos|wear ?os|apple watch"
_TABLET = r"iPad|\bTablet\b|Kindle|\bSilk/|PlayBook|\bTab\b"
_MOBILE = r"iPhone|iPod|Mobile|\bMobi\b|Windows Phone|BlackBerry|\bBB10\b|KAIOS|Opera Mini"
_DESKTOP = r"Windows NT|Macintosh|\bX11\b|\bCrOS\b|Linux x86_64|FreeBSD|OpenBSD"


def default_parse() -> ParseFn:
    """ua-parser's ``Parser.parse`` on the Rust ``regex`` resolver (pure Python as a fallback).

    No ua-parser cache: :class:`AgentClassifier` already parses each agent once.
    """
    import ua_parser

    try:
        from ua_parser.regex import Resolver
    except ImportError:  # ua-parser-rs missing: ~25x slower, still correct
        return ua_parser.Parser(ua_parser.BasicResolver(ua_parser.load_builtins())).parse
    return ua_parser.Parser(Resolver(ua_parser.load_lazy_builtins())).parse


def _raw_row(agent: str, parse: ParseFn) -> tuple[str | None, ...]:
    """Flatten one ua-parser result into the raw columns."""
    result = parse(agent)
    ua = getattr(result, "user_agent", None)
    os_ = getattr(result, "os", None)
    dev = getattr(result, "device", None)
    versions = [(p.family, p.major, p.minor) if p else (None, None, None) for p in (ua, os_)]
    return (agent, *versions[0], *versions[1], dev and dev.family, dev and dev.brand)


def _major_minor(major: pl.Expr, minor: pl.Expr) -> pl.Expr:
    """``major.minor``, or ``major`` alone, like Plausible's ``major_minor``."""
    return pl.when(minor.is_null()).then(major).otherwise(pl.concat_str(major, pl.lit("."), minor))


def _device_expr() -> pl.Expr:
    """Plausible's device buckets from UA tokens and ua-parser's device family/brand.

    tv/console -> Desktop, car/tablet -> Tablet, wearable/phone/media player -> Mobile.
    Android without "Mobile" is a tablet (device-detector's rule too).
    """
    ua = pl.col("user_agent")
    fam = pl.col("device_family").fill_null("")
    tablet = (
        ua.str.contains(_TABLET)
        | pl.col("device_brand").is_in(["Generic_Android_Tablet"])
        | fam.is_in(["iPad", "Generic Tablet"])
        | (ua.str.contains("Android") & ~ua.str.contains(r"Mobile|\bMobi\b|Opera Mini"))
    )
    return (
        pl.when(ua.is_null() | (fam == "Spider"))
        .then(pl.lit(None, dtype=pl.String))
        .when(ua.str.contains(_TV) | ua.str.contains(_CONSOLE))
        .then(pl.lit("Desktop"))
        .when(ua.str.contains(_CAR))
        .then(pl.lit("Tablet"))
        .when(ua.str.contains(_WEARABLE))
        .then(pl.lit("Mobile"))
        .when(tablet.fill_null(False))
        .then(pl.lit("Tablet"))
        .when(ua.str.contains(_MOBILE) | (fam == "Generic Smartphone"))
        .then(pl.lit("Mobile"))
        .when(ua.str.contains(_DESKTOP))
        .then(pl.lit("Desktop"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def derive(raw: pl.DataFrame, detector: BotDetector) -> pl.DataFrame:
    """Raw ua-parser columns -> the Plausible-named agent columns (vectorised)."""
    fam = pl.col("ua_family")
    known = fam.is_not_null() & (fam != "Other")
    app = fam.is_in(list(MOBILE_APP_FAMILIES))
    browser = pl.when(app).then(pl.lit("Mobile App")).otherwise(fam.replace(BROWSER_NAMES))
    os_fam = pl.col("os_family")
    ipad = (pl.col("device_family") == "iPad") & (os_fam == "iOS")
    ipados = ipad & (pl.col("os_major").cast(pl.Int32, strict=False) >= 13)
    os_name = pl.when(ipados).then(pl.lit("iPadOS")).otherwise(os_fam.replace(OS_NAMES))
    os_known = os_fam.is_not_null() & (os_fam != "Other")
    none = pl.lit(None, dtype=pl.String)
    return raw.select(
        "user_agent",
        pl.when(known).then(browser).otherwise(none).alias("browser"),
        pl.when(known & ~app)
        .then(_major_minor(pl.col("ua_major"), pl.col("ua_minor")))
        .otherwise(none)
        .alias("browser_version"),
        pl.when(os_known).then(os_name).otherwise(none).alias("os"),
        pl.when(os_known)
        .then(_major_minor(pl.col("os_major"), pl.col("os_minor")))
        .otherwise(none)
        .alias("os_version"),
        _device_expr().alias("device"),
        detector.agent_class(pl.col("user_agent"), fam, pl.col("device_family")).alias("agent_class"),
    )


class AgentClassifier:
    """Parses each distinct agent once per process and remembers the answer.

    Hold one per run (or per long-running ``--follow`` process) and pass it explicitly; the
    cache is this object's, never the module's. ``parse_calls`` counts parser invocations.
    """

    def __init__(
        self,
        parse: ParseFn | None = None,
        detector: BotDetector | None = None,
        max_cached: int = 200_000,
    ) -> None:
        self._parse = default_parse() if parse is None else parse
        self._detector = BotDetector.default() if detector is None else detector
        self._max_cached = max_cached
        self._known = pl.DataFrame(schema=AGENT_SCHEMA)
        self.parse_calls = 0
        self._lock = threading.Lock()

    @property
    def cached_agents(self) -> int:
        """How many distinct agents are remembered (deliberately not ``__len__``: an empty
        classifier must stay truthy so ``classifier or AgentClassifier()`` never drops it)."""
        return self._known.height

    def describe(self, agents: pl.Series) -> pl.DataFrame:
        """One row per distinct agent of `agents` (null included), parsing only new ones.

        Safe to call from several threads: the cache is updated under a lock.
        """
        with self._lock:
            return self._describe_locked(agents)

    def _describe_locked(self, agents: pl.Series) -> pl.DataFrame:
        distinct = agents.cast(pl.String).unique().rename("user_agent").to_frame()
        known = self._known.join(distinct, on="user_agent", how="semi", nulls_equal=True)
        fresh = distinct.join(known, on="user_agent", how="anti", nulls_equal=True)["user_agent"]
        if not fresh.len():
            return known
        batch = pl.concat([known, self._describe_new(fresh)])
        self._remember(batch, batch.height - known.height)
        return batch

    def enrich(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`frame` + browser, versions, os, device, agent_class (left join on user_agent).

        The join runs on a 64-bit hash of the agent, not the long string itself:
        hashing each row once is much cheaper than hashing and comparing strings
        in both the distinct step and the join.
        """
        base = frame.drop([c for c in AGENT_COLUMNS if c in frame.columns and c != "user_agent"])
        key = pl.col("user_agent").cast(pl.String).hash().alias("_agent_key")
        keyed = base.with_columns(key)
        distinct = keyed.select("_agent_key", "user_agent").unique("_agent_key")
        table = self.describe(distinct.get_column("user_agent"))
        table = table.with_columns(key).drop("user_agent")
        return keyed.join(table, on="_agent_key", how="left", maintain_order="left").drop("_agent_key")

    def _describe_new(self, fresh: pl.Series) -> pl.DataFrame:
        """Parse the agents never seen before; blank ones skip the parser."""
        rows = []
        for agent in fresh.to_list():
            if agent is None or agent.strip() in ("", "-"):
                rows.append((agent,) + (None,) * (len(_RAW_SCHEMA) - 1))
            else:
                self.parse_calls += 1
                rows.append(_raw_row(agent, self._parse))
        raw = pl.DataFrame(rows, schema=_RAW_SCHEMA, orient="row")
        return derive(raw, self._detector)

    def _remember(self, batch: pl.DataFrame, added: int) -> None:
        """Add the batch's new rows; past `max_cached` keep only this batch (bounded memory)."""
        if self._known.height + added > self._max_cached:
            self._known = batch
        else:
            self._known = pl.concat([self._known, batch.tail(added)], rechunk=False)


def describe_agents(agents: pl.Series, classifier: AgentClassifier | None = None) -> pl.DataFrame:
    """One row per distinct agent: user_agent, browser(+version), os(+version), device, class."""
    return (AgentClassifier() if classifier is None else classifier).describe(agents)


def enrich(frame: pl.DataFrame, classifier: AgentClassifier | None = None) -> pl.DataFrame:
    """Join the agent columns onto a canonical frame; null, '' and '-' agents are bots."""
    return (AgentClassifier() if classifier is None else classifier).enrich(frame)
