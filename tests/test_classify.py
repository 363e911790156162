"""Page-view classification: one reason per dropped row, in the documented order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from importer.classify import (
    DROP_REASONS,
    ClassifyOptions,
    classify,
    drop_counts,
    glob_to_regex,
    ipv4_to_int,
    parse_status_ranges,
)
from importer.useragents import AgentClassifier
from parsers.schema import CANONICAL

T0 = datetime(2024, 3, 5, 12, 0, tzinfo=timezone.utc)
WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
CHROME = f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/126.0.0.0 Safari/537.36"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
AGENTS = {
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "ahrefs": "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "gptbot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "claudebot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claude@example.com)",
    "facebook": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "headless": f"Mozilla/5.0 (X11; Linux x86_64) {WEBKIT} HeadlessChrome/126.0.6478.126 Safari/537.36",
    "curl": "curl/8.5.0",
    "requests": "python-requests/2.32.3",
}


def row(**overrides: object) -> dict[str, object]:
    """A canonical row of a plain page view, with some fields replaced."""
    base: dict[str, object] = {
        "ts": T0,
        "client_ip": "198.51.100.7",
        "method": "GET",
        "scheme": "https",
        "host": "example.com",
        "path": "/blog/hello-world",
        "query": None,
        "protocol": "HTTP/2.0",
        "status": 200,
        "bytes": 5123,
        "referrer": None,
        "user_agent": CHROME,
        "content_type": None,
        "xff": None,
        "request_time_ms": None,
        "file": "access.log",
        "line": 1,
        "offset": 0,
    }
    base.update(overrides)
    return base


def frame_of(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CANONICAL)


@pytest.fixture(scope="module")
def agents() -> AgentClassifier:
    return AgentClassifier()


def reasons(rows: list[dict[str, object]], agents: AgentClassifier, **options: object) -> list[str | None]:
    out = classify(frame_of(rows), ClassifyOptions(**options), agents)
    assert out["is_pageview"].to_list() == [r is None for r in out["drop_reason"].to_list()]
    return out["drop_reason"].to_list()


CASES: list[tuple[str, dict[str, object], str | None]] = [
    ("plain page view", {}, None),
    ("iphone page view", {"user_agent": IPHONE}, None),
    ("304 counts", {"status": 304}, None),
    ("204 counts", {"status": 204}, None),
    ("HEAD", {"method": "HEAD"}, "method"),
    ("POST", {"method": "POST"}, "method"),
    ("null method", {"method": None}, None),  # formats that log no method (Bunny): every request is a GET
    ("404", {"status": 404}, "status"),
    ("301", {"status": 301}, "status"),
    ("500", {"status": 500}, "status"),
    ("null status", {"status": None}, "status"),
    ("css", {"path": "/static/app.css"}, "asset"),
    ("upper-case image", {"path": "/img/Logo.PNG"}, "asset"),
    ("js module", {"path": "/assets/index-4f2a.mjs"}, "asset"),
    ("font", {"path": "/fonts/inter.woff2"}, "asset"),
    ("pdf is an asset for page views", {"path": "/files/report.pdf"}, "asset"),
    ("robots.txt (extension wins, first rule)", {"path": "/robots.txt"}, "asset"),
    ("favicon", {"path": "/favicon.ico"}, "asset"),
    ("json content type", {"path": "/data", "content_type": "application/json"}, "asset"),
    ("image content type", {"path": "/img", "content_type": "image/webp"}, "asset"),
    ("html content type", {"path": "/page", "content_type": "text/html; charset=utf-8"}, None),
    ("xhtml content type", {"path": "/page", "content_type": "application/xhtml+xml"}, None),
    ("html served for an image path", {"path": "/missing.png", "content_type": "text/html"}, None),  # the logged type decides
    ("well-known", {"path": "/.well-known/openid-configuration"}, "excluded_path"),
    ("feed", {"path": "/feed"}, "excluded_path"),
    ("category feed", {"path": "/category/news/feed/"}, "excluded_path"),
    ("wp-login", {"path": "/wp-login.php"}, "excluded_path"),
    ("wp-admin", {"path": "/wp-admin/options.php"}, "excluded_path"),
    ("xmlrpc", {"path": "/xmlrpc.php"}, "excluded_path"),
    ("api", {"path": "/api/v1/users"}, "excluded_path"),
    ("api root", {"path": "/api"}, "excluded_path"),
    ("apiary is a page", {"path": "/apiary"}, None),
    ("Googlebot", {"user_agent": AGENTS["googlebot"]}, "bot"),
    ("bingbot", {"user_agent": AGENTS["bingbot"]}, "bot"),
    ("AhrefsBot", {"user_agent": AGENTS["ahrefs"]}, "bot"),
    ("GPTBot", {"user_agent": AGENTS["gptbot"]}, "bot"),
    ("ClaudeBot", {"user_agent": AGENTS["claudebot"]}, "bot"),
    ("facebookexternalhit", {"user_agent": AGENTS["facebook"]}, "bot"),
    ("HeadlessChrome", {"user_agent": AGENTS["headless"]}, "bot"),
    ("empty UA", {"user_agent": None}, "bot"),
    ("dash UA", {"user_agent": "-"}, "bot"),
    ("curl", {"user_agent": AGENTS["curl"]}, "not_browser"),
    ("python-requests", {"user_agent": AGENTS["requests"]}, "not_browser"),
    ("unknown agent", {"user_agent": "SomeInternalTool/2.0"}, "not_browser"),
    ("order: POST by a bot is 'method'", {"method": "POST", "user_agent": AGENTS["googlebot"]}, "method"),
    ("order: 404 css is 'status'", {"status": 404, "path": "/x.css"}, "status"),
    ("order: bot fetching css is 'asset'", {"path": "/x.css", "user_agent": AGENTS["googlebot"]}, "asset"),
    ("order: curl on /api is 'excluded_path'", {"path": "/api/x", "user_agent": AGENTS["curl"]}, "excluded_path"),
    ("URL too long", {"path": "/" + "a" * 2100}, "url_too_long"),
    ("URL at the limit", {"path": "/" + "a" * (2000 - len("https://example.com/"))}, None),
    ("long query too", {"query": "q=" + "x" * 2000}, "url_too_long"),
]


@pytest.mark.parametrize(("overrides", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_default_rules(agents: AgentClassifier, overrides: dict[str, object], expected: str | None) -> None:
    assert reasons([row(**overrides)], agents) == [expected]


def test_all_cases_in_one_frame_keep_order_and_add_up(agents: AgentClassifier) -> None:
    rows = [row(line=i, **c[1]) for i, c in enumerate(CASES)]
    out = classify(frame_of(rows), ClassifyOptions(), agents)
    assert out["drop_reason"].to_list() == [c[2] for c in CASES]
    assert out["line"].to_list() == list(range(len(CASES)))
    assert {"browser", "browser_version", "os", "os_version", "device", "agent_class"} <= set(out.columns)
    counts = drop_counts(out)
    assert list(counts) == ["pageview", *DROP_REASONS]
    assert sum(counts.values()) == out.height


def test_since_until(agents: AgentClassifier) -> None:
    rows = [row(ts=T0 - timedelta(seconds=1)), row(ts=T0), row(ts=T0 + timedelta(hours=1))]
    got = reasons(rows, agents, since=T0, until=T0 + timedelta(hours=1))
    assert got == ["out_of_range", None, "out_of_range"]
    naive = reasons(rows, agents, since=T0.replace(tzinfo=None))  # naive means UTC
    assert naive == ["out_of_range", None, None]


def test_exclude_ips_v4_and_v6_cidr(agents: AgentClassifier) -> None:
    ips = ["203.0.113.7", "203.0.114.1", "192.0.2.1", "192.0.2.2", "2001:db8::7", "2001:db9::1"]
    ips += ["::ffff:203.0.113.9", "10.1.2.3", "10.255.0.1", "not-an-ip", "1.2.3.4.5"]
    got = reasons(
        [row(client_ip=ip) for ip in ips],
        agents,
        exclude_ips=["203.0.113.0/24", "192.0.2.1", "2001:db8::/32", "10.0.0.0/8", "10.1.0.0/16"],
    )
    hit, miss = "excluded_ip", None
    assert got == [hit, miss, hit, miss, hit, miss, hit, hit, hit, miss, miss]


def test_include_and_exclude_globs(agents: AgentClassifier) -> None:
    paths = ["/blog/a", "/blog/2024/b", "/about", "/blog/drafts/x", "/private/y"]
    got = reasons(
        [row(path=p) for p in paths], agents, include_paths=["/blog/*"], exclude_paths=["/blog/drafts/*", "/private/*"]
    )
    assert got == [None, None, "excluded_path", "excluded_path", "excluded_path"]


def test_defaults_can_be_replaced(agents: AgentClassifier) -> None:
    rows = [row(path="/robots.txt"), row(path="/api/docs")]
    assert reasons(rows, agents, asset_extensions=()) == ["excluded_path", "excluded_path"]
    assert reasons(rows, agents, asset_extensions=(), default_excluded_paths=()) == [None, None]


def test_count_status(agents: AgentClassifier) -> None:
    rows = [row(status=404), row(status=410), row(status=500)]
    assert reasons(rows, agents, count_status=["404"]) == [None, "status", "status"]
    assert reasons(rows, agents, count_status=["4xx"]) == [None, None, "status"]
    assert reasons(rows, agents, count_status=["400-409", "5xx"]) == [None, "status", None]


def test_exclude_ua(agents: AgentClassifier) -> None:
    rows = [row(user_agent=CHROME + " InternalQA/1.0"), row()]
    assert reasons(rows, agents, exclude_ua=["InternalQA/"]) == ["excluded_ua", None]


def test_max_url_length(agents: AgentClassifier) -> None:
    assert reasons([row(path="/" + "a" * 100)], agents, max_url_length=100) == ["url_too_long"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"exclude_ips": ["300.1.1.1/8"]}, "exclude_ips"),
        ({"count_status": ["4x"]}, "count_status"),
        ({"exclude_ua": ["(?=lookahead)"]}, "exclude_ua"),
        ({"since": T0, "until": T0}, "since"),
    ],
)
def test_bad_options_say_what_is_wrong(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClassifyOptions(**options)


def test_options_are_frozen_hashable_tuples() -> None:
    options = ClassifyOptions(exclude_paths=["/a/*"], exclude_ips=["192.0.2.0/24"])
    assert options.exclude_paths == ("/a/*",)
    assert options == ClassifyOptions(exclude_paths=("/a/*",), exclude_ips=("192.0.2.0/24",))
    hash(options)
    with pytest.raises(AttributeError):
        options.max_url_length = 1  # type: ignore[misc]


def test_glob_to_regex() -> None:
    assert glob_to_regex("/sitemap*.xml") == r"^/sitemap.*\.xml$"
    assert glob_to_regex("/a?c") == "^/a.c$"


def test_ipv4_to_int() -> None:
    ips = pl.Series(["0.0.0.0", "255.255.255.255", "192.0.2.1", "256.0.0.1", "1.2.3", "1.2.3.4.5", "::1", None])
    got = pl.DataFrame({"ip": ips}).select(ipv4_to_int(pl.col("ip"))).to_series().to_list()
    assert got == [0, 4_294_967_295, 3_221_225_985, None, None, None, None, None]


def test_parse_status_ranges() -> None:
    assert parse_status_ranges(["404", "4xx", "400-410"]) == ((404, 404), (400, 499), (400, 410))


def test_an_empty_classifier_is_reused_not_replaced() -> None:
    fresh = AgentClassifier()
    classify(frame_of([row(), row(user_agent=AGENTS["curl"])]), ClassifyOptions(), fresh)
    assert fresh.parse_calls == 2
    assert fresh.cached_agents == 2
