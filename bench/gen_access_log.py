"""Deterministic generator of realistic nginx ``combined`` access logs, with ground truth.

Why: the parser and the importer need big, realistic, reproducible inputs to be benchmarked
and checked against (``bench/bench_parse.py``), and real logs hold personal data. The same
``--seed`` and flags always give byte-identical output (stdlib ``random`` only; nothing depends on
hash order).

What the log looks like:

* Human visitor sessions: a page view, then its assets (css/js/woff2/images/favicon, 200 on a cold
  cache, 304 on a warm one), XHR calls to ``/api/`` (GET and POST). Referrers: search engines, social,
  other sites, same-site (the previous page), ``-`` (direct). UTM and ?ref= query strings on some
  landing pages. Statuses 200/304/404/301 (followed by the target)/499/5xx.
* Bots (Googlebot, bingbot, AhrefsBot, GPTBot, curl, python-requests): crawls, robots.txt, sitemaps,
  monitors (HEAD), scanners probing ``/wp-login.php`` and friends.
* Edge lines at ``--edge-rate``: truncated lines (cut inside the user agent, no closing quote), TLS
  handshakes sent to the HTTP port (``"\\x16\\x03\\x01..." 400``), ``"-"`` requests (408), ``""``
  requests (400), and valid page views whose UA holds a quote, nginx-escaped (``\\x22``) or
  Apache-escaped (``\\"``). ``--stats`` says how many lines a strict parser must reject.

Addresses: IPv4 only from the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24
(hosts .1-.254, so at most 762 addresses) and IPv6 from 2001:db8::/32. ``--ipv6-share`` is the share of
*traffic* (sessions, hence lines) from IPv6 clients. Since IPv4 cannot supply more than 762 distinct
addresses, the rest of ``--ips`` is IPv6: with the defaults, 762 IPv4 addresses (shared by many
visitors, like a carrier-grade NAT) carry ~90% of the lines and ~19k IPv6 addresses (privacy addresses,
a new one per session) carry ~9.5%. Visitor identity (ip + user agent) stays diverse either way.

Speed and memory: the file is rendered one day at a time (a chunk with its own RNG seeded by seed and
day; sessions are cut at midnight), so memory stays at one day's worth and days render in parallel
(``--workers``, default: all CPUs) with byte-identical output for any worker count. Within a day,
visits are planned as small tuples, sorted once by an integer key (second << 32 | index) and expanded
from precomputed pools and draw tables, so the per-line work is about one f-string.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import gzip
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY = 86_400
SHIFT = 32  # unit index bits in the sort key
MASK = (1 << SHIFT) - 1

# Path extensions counted as static assets in the ground truth (same idea as the importer's rule).
ASSET_EXTENSIONS = (
    "css", "js", "mjs", "map", "json", "xml", "txt", "ico", "png", "jpg", "jpeg", "gif", "svg", "webp",
    "avif", "woff", "woff2", "ttf", "eot", "mp4", "webm", "mp3", "pdf", "zip", "gz",
)  # fmt: skip

# Local-time traffic profile for humans, per hour of day (bots ignore it).
HOURLY = (
    0.25, 0.18, 0.14, 0.12, 0.12, 0.16, 0.28, 0.50, 0.80, 1.00, 1.10, 1.12,
    1.08, 1.10, 1.12, 1.08, 1.00, 0.92, 0.85, 0.80, 0.75, 0.65, 0.50, 0.36,
)  # fmt: skip
WEEKEND = 0.7

WORDS = (
    "nginx", "logs", "privacy", "analytics", "guide", "setup", "docker", "python", "rust", "cache", "deploy",
    "metrics", "dashboard", "release", "notes", "tips", "performance", "security", "static", "site", "cdn",
    "domain", "config", "api", "webhook", "export", "import", "goals", "funnels", "events", "campaigns",
    "utm", "referrers", "sources", "pages", "bounce", "rate", "visitors", "sessions", "retention", "team",
    "billing", "plans", "migration", "postgres", "clickhouse", "duckdb", "polars", "parquet", "csv",
    "json", "apache", "caddy", "traefik", "cloudfront", "cloudflare", "fastly", "logrotate", "gzip",
    "timezone", "bots", "crawlers", "robots", "sitemap", "seo", "search", "console", "keywords", "outbound",
    "links", "downloads", "forms", "newsletter", "email", "social", "mastodon", "hacker", "news", "launch",
    "beta", "roadmap", "changelog", "january", "spring", "summer", "autumn", "winter", "small", "business",
    "open", "source", "self", "hosted", "cookie", "banner", "gdpr", "consent", "tracking", "script",
    "lightweight", "fast", "simple", "better", "alternative", "comparison", "benchmark", "tutorial",
    "intro", "advanced", "faq", "how", "why", "what", "when", "first", "week", "year", "review",
)  # fmt: skip
ENCODED_WORDS = ("caf%C3%A9", "na%C3%AFve", "%C3%BCber", "r%C3%A9sum%C3%A9", "stra%C3%9Fe", "%E2%80%93")
DOC_SECTIONS = ("getting-started", "integrations", "reference", "self-hosting", "api", "guides", "faq")

SEARCH_REFS = (
    ("https://www.google.com/", 50), ("https://www.google.de/", 6), ("https://www.google.co.uk/", 5),
    ("https://www.google.fr/", 3), ("https://www.bing.com/", 10), ("https://duckduckgo.com/", 9),
    ("https://search.brave.com/", 3), ("https://www.ecosia.org/", 3), ("https://search.yahoo.com/", 2),
    ("https://yandex.ru/", 1), ("https://www.qwant.com/", 1),
)  # fmt: skip
SOCIAL_REFS = (
    ("https://news.ycombinator.com/", 20), ("https://www.reddit.com/", 10), ("https://old.reddit.com/", 3),
    ("https://t.co/", 12), ("https://www.linkedin.com/", 8), ("https://lnkd.in/", 3),
    ("https://www.facebook.com/", 6), ("https://l.facebook.com/", 4), ("https://mastodon.social/", 6),
    ("https://bsky.app/", 5), ("https://lobste.rs/", 4), ("https://www.youtube.com/", 3),
    ("android-app://com.slack/", 2),
)  # fmt: skip
OTHER_REFS = (
    "https://blog.example.org/2024/12/year-in-review/", "https://www.example.org/links/",
    "https://forum.example.net/t/which-analytics-do-you-use/1234", "https://example.net/",
    "https://docs.example.org/integrations/", "https://news.example.org/weekly/142",
    "https://github.com/", "https://www.producthunt.com/", "https://dev.to/", "https://medium.com/",
)  # fmt: skip
UTM_QUERIES = (
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=2025-01-digest", "-"),
    ("?utm_source=newsletter&utm_medium=email&utm_campaign=product-update", "-"),
    ("?utm_source=twitter&utm_medium=social&utm_campaign=launch", "https://t.co/"),
    ("?utm_source=mastodon&utm_medium=social", "https://mastodon.social/"),
    ("?utm_source=linkedin&utm_medium=social&utm_campaign=launch", "https://www.linkedin.com/"),
    ("?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=privacy+analytics", "https://www.google.com/"),
    ("?utm_source=bing&utm_medium=cpc&utm_campaign=generic", "https://www.bing.com/"),
    ("?utm_source=partner&utm_medium=referral&utm_content=sidebar", "https://www.example.org/links/"),
    ("?ref=producthunt", "https://www.producthunt.com/"),
    ("?ref=hackernews", "https://news.ycombinator.com/"),
)  # fmt: skip
SEARCH_TERMS = (
    "nginx", "goals", "api+key", "self+hosting", "csv+import", "bot+filter", "caf%C3%A9", "timezone",
    "utm", "proxy", "docker+compose", "funnel", "export", "wordpress", "hugo",
)  # fmt: skip

# Human user agents: (family, weight, templates); {v} variants come from VERSIONS.
CHROME_MAJORS = tuple(range(109, 133))
FIREFOX_MAJORS = tuple(range(115, 135))
SAFARI_VERSIONS = ("16.6", "17.0", "17.1", "17.2", "17.3", "17.4", "17.5", "17.6", "18.0", "18.1", "18.2", "18.3")
IOS_VERSIONS = ("16_7_10", "17_1_2", "17_4_1", "17_5_1", "17_6_1", "18_0", "18_0_1", "18_1", "18_1_1", "18_2")
ANDROID_DEVICES = (
    "SM-S918B", "SM-S911B", "SM-A546B", "SM-A536B", "SM-G991B", "Pixel 7", "Pixel 8", "Pixel 8 Pro",
    "Pixel 6a", "2201116SG", "CPH2451", "moto g54 5G", "RMX3630", "M2101K6G",
)  # fmt: skip
MAC_VERSIONS = ("10_15_7", "14_2_1", "14_5", "13_6_3")

BOT_FAMILIES = ("googlebot", "bingbot", "ahrefsbot", "gptbot", "curl", "python-requests")
BOT_LINE_SHARES = (0.30, 0.21, 0.16, 0.16, 0.07, 0.10)  # share of bot lines per family
SCANNER_PATHS = (
    "/wp-login.php", "/xmlrpc.php", "/.env", "/.git/config", "/wp-admin/", "/phpmyadmin/", "/admin.php",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/.aws/credentials", "/config.json",
    "/wp-content/plugins/", "/cgi-bin/luci", "/server-status", "/backup.zip", "/.DS_Store",
)  # fmt: skip

# Edge lines.
TLS_PAYLOADS = (
    r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03",
    r"\x16\x03\x01\x00\xF1\x01\x00\x00\xED\x03\x03",
    r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03\xA1\x9B",
    r"\x16\x03\x01\x00\xCA\x01\x00\x00\xC6\x03\x03",
)
NGINX_QUOTE_UAS = (
    r"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
    r" Safari/537.36 Toolbar/\x22Example Search\x22",
    r"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0"
    r" Mobile Safari/537.36 [ExampleApp \x22v4.2\x22]",
    r"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1"
    r" Safari/605.1.15 caf\xC3\xA9 \x22reader\x22",
)
APACHE_QUOTE_UAS = (
    r"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0 Widget/\"Example Reader\"",
    r"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    r" Mobile/15E148 \"ExampleShell/2.0\"",
)
EDGE_KINDS = ("truncated", "tls_garbage", "dash_request", "empty_request", "nginx_x22_quote", "apache_backslash_quote")
EDGE_WEIGHTS = (0.30, 0.25, 0.10, 0.10, 0.15, 0.10)
REJECT_KINDS = EDGE_KINDS[:4]

# Unit kinds and asset modes.
K_PV, K_BOT, K_EDGE = 0, 1, 2
M_NONE, M_FULL, M_CACHED, M_NEXT, M_NEXT_REVAL = 0, 1, 2, 3, 4
NO_ASSETS: tuple[list[str], int, tuple[str, ...]] = ([], 0, ())
BOT_MAX_REQUESTS = (40, 30, 25, 35, 3, 12)  # per visit, same order as BOT_FAMILIES
# Families are drawn per visit, so weight them by line share / mean visit length.
BOT_VISIT_WEIGHTS = tuple(s / ((1 + m) / 2) for s, m in zip(BOT_LINE_SHARES, BOT_MAX_REQUESTS, strict=True))
PROTOS = ("HTTP/2.0", "HTTP/1.1", "HTTP/3.0")
EPOCH = 8 * DAY  # a deploy renames the hashed css/js every 8 days


@dataclass(frozen=True)
class Options:
    """Every knob of one generation run."""

    lines: int
    seed: int = 42
    days: int = 30
    start: dt.date = dt.date(2025, 1, 6)
    tz_offset: str = "+0000"
    ips: int = 20_000
    uas: int = 800
    paths: int = 3_500
    ipv6_share: float = 0.095
    bot_share: float = 0.15
    edge_rate: float = 0.001
    host: str = "www.example.com"


@dataclass
class Page:
    """One HTML page of the synthetic site."""

    path: str
    nbytes: int
    images: tuple[tuple[str, int], ...]
    can_redirect: bool
    search: bool = False


def stream(draw: Callable[[int], list[Any]], block: int = 8192) -> Iterator[Any]:
    """An endless iterator over values drawn in bulk (``draw(k)`` returns k values): cheap ``next()``."""
    return itertools.chain.from_iterable(iter(lambda: draw(block), None))


def zipf_weights(n: int, s: float, offset: float = 1.0) -> list[float]:
    return [1.0 / (i + offset) ** s for i in range(n)]


# ----------------------------------------------------------------------------- pools


def build_ips(rng: random.Random, total: int, v6_share: float) -> tuple[list[str], list[str]]:
    """IPv4 (at most 762, documentation /24s) and IPv6 (2001:db8::/32) pools; see the module docstring."""
    v4_all = [f"{net}.{h}" for net in ("192.0.2", "198.51.100", "203.0.113") for h in range(1, 255)]
    rng.shuffle(v4_all)
    n_v6 = max(round(total * v6_share), total - len(v4_all), 1 if v6_share > 0 else 0)
    n_v4 = max(total - n_v6, 1)
    v6: dict[str, None] = {}
    r = rng.randrange
    while len(v6) < n_v6:
        if r(3):  # privacy-extension style, all 8 groups
            a = "2001:db8:" + ":".join(f"{r(1, 65536):x}" for _ in range(6))
        else:  # compressed ::
            a = f"2001:db8:{r(1, 65536):x}:{r(1, 65536):x}::{r(1, 65536):x}"
        v6[a] = None
    return v4_all[:n_v4], list(v6)


def build_human_uas(rng: random.Random, n: int) -> tuple[list[str], list[float]]:
    """About n distinct browser UAs from templates x versions, weighted by family share and recency."""
    cands: list[tuple[str, float]] = []
    newest_c = CHROME_MAJORS[-1]

    def rec(v: int, newest: int, half: float = 2.0) -> float:
        return float(0.5 ** ((newest - v) / half))

    for v in CHROME_MAJORS:
        w = rec(v, newest_c)
        for os_part, fw in (
            ("Windows NT 10.0; Win64; x64", 30.0),
            ("X11; Linux x86_64", 3.0),
            *((f"Macintosh; Intel Mac OS X {m}", 8.0 / len(MAC_VERSIONS)) for m in MAC_VERSIONS[:1]),
        ):
            cands.append(
                (
                    f"Mozilla/5.0 ({os_part}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
                    fw * w,
                )
            )
            cands.append(
                (
                    f"Mozilla/5.0 ({os_part}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                    f"Safari/537.36 Edg/{v}.0.{2300 + 60 * (v - 109) + 17}.{40 + v % 50}",
                    fw * 0.2 * w,
                )
            )
            cands.append(
                (
                    f"Mozilla/5.0 ({os_part}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                    f"Safari/537.36 OPR/{v - 14}.0.0.0",
                    fw * 0.03 * w,
                )
            )
        cands.append(
            (
                f"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
                "Mobile Safari/537.36",
                25.0 * w,
            )
        )
        for dev in ANDROID_DEVICES:
            for andr in (13, 14):
                cands.append(
                    (
                        f"Mozilla/5.0 (Linux; Android {andr}; {dev}) AppleWebKit/537.36 (KHTML, like Gecko) "
                        f"Chrome/{v}.0.{6000 + 50 * (v - 109)}.{100 + (v * 7) % 90} Mobile Safari/537.36",
                        0.15 * w,
                    )
                )
                cands.append(
                    (
                        f"Mozilla/5.0 (Linux; Android {andr}; SAMSUNG {dev}) AppleWebKit/537.36 "
                        f"(KHTML, like Gecko) SamsungBrowser/{20 + (v - 109) // 5}.0 Chrome/{v}.0.0.0 "
                        "Mobile Safari/537.36",
                        0.05 * w,
                    )
                )
        for ios in IOS_VERSIONS:
            cands.append(
                (
                    f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) AppleWebKit/605.1.15 "
                    f"(KHTML, like Gecko) CriOS/{v}.0.{6000 + 50 * (v - 109)}.{30 + v % 60} Mobile/15E148 "
                    "Safari/604.1",
                    0.12 * w,
                )
            )
        for m in MAC_VERSIONS[1:]:
            cands.append(
                (
                    f"Mozilla/5.0 (Macintosh; Intel Mac OS X {m}) AppleWebKit/537.36 (KHTML, like Gecko) "
                    f"Chrome/{v}.0.{6000 + 50 * (v - 109)}.{100 + v % 80} Safari/537.36",
                    0.3 * w,
                )
            )
    newest_f = FIREFOX_MAJORS[-1]
    for v in FIREFOX_MAJORS:
        w = rec(v, newest_f, 2.5) + (0.5 if v == 115 else 0.0)  # 115 ESR lingers
        for os_part, fw in (
            ("Windows NT 10.0; Win64; x64", 5.0),
            ("Macintosh; Intel Mac OS X 10.15", 1.5),
            ("X11; Linux x86_64", 1.5),
            ("X11; Ubuntu; Linux x86_64", 1.0),
        ):
            cands.append((f"Mozilla/5.0 ({os_part}; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", fw * w))
        cands.append((f"Mozilla/5.0 (Android 14; Mobile; rv:{v}.0) Gecko/{v}.0 Firefox/{v}.0", 0.8 * w))
    for i, sv in enumerate(SAFARI_VERSIONS):
        w = 0.5 ** ((len(SAFARI_VERSIONS) - 1 - i) / 2.0)
        for m in MAC_VERSIONS:
            cands.append(
                (
                    f"Mozilla/5.0 (Macintosh; Intel Mac OS X {m}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    f"Version/{sv} Safari/605.1.15",
                    2.0 * w,
                )
            )
    for i, ios in enumerate(IOS_VERSIONS):
        w = 0.5 ** ((len(IOS_VERSIONS) - 1 - i) / 2.5)
        sv = ios.replace("_", ".").rsplit(".", 1)[0] if ios.count("_") == 2 else ios.replace("_", ".")
        for dev, fw in (("iPhone; CPU iPhone OS", 18.0), ("iPad; CPU OS", 2.5)):
            cands.append(
                (
                    f"Mozilla/5.0 ({dev} {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                    f"Version/{sv} Mobile/15E148 Safari/604.1",
                    fw * w,
                )
            )
            cands.append(
                (
                    f"Mozilla/5.0 ({dev} {ios} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
                    0.6 * w,
                )
            )  # in-app web views
    uniq = dict(cands)  # dedupe, keep first weight, insertion order
    items = list(uniq.items())
    if len(items) > n:
        # Keep every heavy UA, then a seeded sample of the long tail.
        items.sort(key=lambda kv: -kv[1])
        head = items[: n // 3]
        tail = rng.sample(items[n // 3 :], n - len(head))
        items = head + tail
    return [k for k, _ in items], [w for _, w in items]


def build_bot_uas() -> dict[str, list[str]]:
    chrome = ("130.0.6723.116", "131.0.6778.85", "131.0.6778.204", "132.0.6834.83", "129.0.6668.100")
    gb_mobile = [
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{c} Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        for c in chrome
    ]
    gb_desktop = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        *(
            f"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
            f"+http://www.google.com/bot.html) Chrome/{c} Safari/537.36"
            for c in chrome[:3]
        ),
        "Googlebot-Image/1.0",
    ]
    return {
        "googlebot": gb_mobile + gb_desktop,
        "bingbot": [
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            *(
                f"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
                f"+http://www.bing.com/bingbot.htm) Chrome/{c} Safari/537.36"
                for c in chrome[:3]
            ),
            "Mozilla/5.0 (iPhone; CPU iPhone OS 7_0 like Mac OS X) AppleWebKit/537.51.1 (KHTML, like Gecko) "
            "Version/7.0 Mobile/11A465 Safari/9537.53 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        ],
        "ahrefsbot": ["Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"],
        "gptbot": [
            f"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/{v}; +https://openai.com/gptbot)"
            for v in ("1.0", "1.1", "1.2")
        ],
        "curl": [
            f"curl/{v}"
            for v in ("7.68.0", "7.74.0", "7.81.0", "7.88.1", "8.0.1", "8.4.0", "8.5.0", "8.7.1", "8.9.1", "8.11.1")
        ],
        "python-requests": [
            f"python-requests/2.{m}.{p}" for m, p in ((25, 1), (28, 1), (28, 2), (31, 0), (32, 0), (32, 3))
        ],
    }


def build_site(rng: random.Random, n_paths: int) -> tuple[list[Page], list[float]]:
    """Pages (about 55% of --paths) with popularity weights; their images make up most of the rest."""
    n_pages = max(20, round(n_paths * 0.55))
    fixed = [
        "/",
        "/about/",
        "/pricing/",
        "/contact/",
        "/blog/",
        "/docs/",
        "/changelog/",
        "/features/",
        "/privacy/",
        "/terms/",
        "/careers/",
        "/login/",
        "/register/",
        "/search",
        "/blog/page/2/",
    ]
    seen: dict[str, None] = dict.fromkeys(fixed)
    r = rng.random
    while len(seen) < n_pages:
        x = r()
        words = rng.sample(WORDS, rng.randint(2, 5))
        if r() < 0.01:
            words[rng.randrange(len(words))] = rng.choice(ENCODED_WORDS)
        slug = "-".join(words)
        if x < 0.50:
            p = f"/blog/{slug}/"
        elif x < 0.85:
            p = f"/docs/{rng.choice(DOC_SECTIONS)}/{slug}/"
        elif x < 0.90:
            p = f"/blog/tag/{words[0]}/"
        else:
            p = f"/features/{'-'.join(words[:2])}/"
        seen[p] = None
    pages: list[Page] = []
    for p in seen:
        if p.startswith("/blog/") and p.count("/") == 3 and not p.startswith(("/blog/tag/", "/blog/page/")):
            n_img, size = rng.choice((0, 0, 1, 1, 2)), rng.randint(18_000, 90_000)
        elif p.startswith("/docs/"):
            n_img, size = rng.choice((0, 0, 0, 1)), rng.randint(12_000, 60_000)
        elif p.startswith("/features/"):
            n_img, size = rng.randint(1, 2), rng.randint(20_000, 70_000)
        else:
            n_img, size = rng.choice((0, 1)), rng.randint(8_000, 45_000)
        stem = p.strip("/").replace("/", "-") or "home"
        imgs = []
        for k in range(n_img):
            ext = rng.choice(("webp", "webp", "png", "png", "jpg", "svg", "gif", "avif"))
            imgs.append((f"/images/{stem[:48]}-{k + 1}.{ext}", rng.randint(2_500, 420_000)))
        # Only some old links lack the trailing slash (and get a 301).
        redirect = p != "/" and p.endswith("/") and rng.random() < 0.08
        pages.append(Page(p, size, tuple(imgs), can_redirect=redirect, search=p == "/search"))
    # Popularity: a few fixed pages lead, then a Zipf tail over a shuffled order.
    order = list(range(len(fixed), len(pages)))
    rng.shuffle(order)
    weights = [0.0] * len(pages)
    for i, w in zip(range(len(fixed)), (900, 120, 150, 40, 200, 160, 50, 90, 15, 8, 12, 60, 30, 25, 20), strict=True):
        weights[i] = float(w)
    for rank, i in enumerate(order):
        weights[i] = 400.0 / (rank + 3) ** 0.95
    return pages, weights


# ----------------------------------------------------------------------------- generator

Session = tuple[str, str, str, bool, str, str]  # head "ip - user [", tail '" "ua"\n', proto, is_v6, ip, ua
Assets = tuple[list[str], int, tuple[str, ...]]  # line pieces, how many are 304, their paths
BotPool = list[tuple[tuple[str, ...], tuple[str, str, int]]]  # (piece per protocol, (method, target, status))


def table(items: Sequence[Any], weights: Sequence[float], size: int = 1 << 18) -> list[Any]:
    """A lookup table for weighted draws (each item gets at least one slot): no bisect per draw."""
    total = sum(weights)
    out: list[Any] = []
    for item, w in zip(items, weights, strict=True):
        if w > 0:
            out.extend([item] * max(1, round(w / total * size)))
    return out


class Site:
    """Everything shared by all chunks: address, agent and path pools, draw tables, caches.

    Built from ``Random(seed)`` alone, so every worker process builds the same site.
    """

    def __init__(self, o: Options) -> None:
        self.o = o
        rng = random.Random(o.seed)
        self.period = o.days * DAY
        self.v4, self.v6 = build_ips(rng, o.ips, o.ipv6_share)
        self.bot_uas = build_bot_uas()
        n_bot_uas = sum(len(v) for v in self.bot_uas.values())
        self.human_uas, hw = build_human_uas(rng, max(1, o.uas - n_bot_uas))
        self.pages, pw = build_site(rng, o.paths)
        self.paths = [p.path for p in self.pages]
        self.page_url = [f"https://{o.host}{p.path}" for p in self.pages]
        self.stale = [p.path.rstrip("/") + "-old/" for p in self.pages[:: max(1, len(self.pages) // 60)]]
        self.n_epochs = (self.period - 1) // EPOCH + 1
        self.core_assets = [
            [
                (f"/static/css/main.{rng.getrandbits(32):08x}.css", rng.randint(28_000, 60_000)),
                (f"/static/js/app.{rng.getrandbits(32):08x}.js", rng.randint(90_000, 260_000)),
                ("/static/fonts/inter-var-latin.woff2", 48_256),
                ("/favicon.ico", 15_086),
            ]
            for _ in range(self.n_epochs)
        ]
        self.tco = [
            "https://t.co/" + "".join(rng.choices("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=10))
            for _ in range(300)
        ]
        self.page_table = table(range(len(self.pages)), pw)
        self.hua_table = table(self.human_uas, hw)
        self.v4_table = table(self.v4, zipf_weights(len(self.v4), 0.9, 8.0), 1 << 16)
        self.hour_table = table(range(24), HOURLY, 1 << 12)
        self.search_table = table([u for u, _ in SEARCH_REFS], [w for _, w in SEARCH_REFS], 1 << 10)
        self.social_table = table([u for u, _ in SOCIAL_REFS], [w for _, w in SOCIAL_REFS], 1 << 10)
        self.fam_table = table(range(len(BOT_FAMILIES)), BOT_VISIT_WEIGHTS, 1 << 12)
        outcomes = page_outcomes()
        self.outcome_table = table([x[:4] for x in outcomes], [x[4] for x in outcomes], 1 << 18)
        self.api_specs = api_specs()
        self.api_table = table(range(len(self.api_specs)), [x[5] for x in self.api_specs], 1 << 16)
        dates = [o.start + dt.timedelta(days=i) for i in range(o.days)]
        self.day_str = [f"{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:" for d in dates]
        self.hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
        # Deterministic caches (their content never depends on which chunk filled them).
        self.asset_cache: list[Assets | None] = [None] * (len(self.pages) * 5 * len(PROTOS) * self.n_epochs)
        self.bot_pools: dict[tuple[int, bool, int], BotPool] = {}

    def asset_pieces(self, ci: int, pi: int, mode: int, proto: str, epoch: int) -> Assets:
        """'GET /x HTTP/2.0" 200 123 "' pieces of one page view's assets, the number of 304s, the paths."""
        core = self.core_assets[epoch]
        imgs = self.pages[pi].images
        if mode == M_FULL:  # cold cache: css, js, font, images, favicon
            items = [(p, 200, b) for p, b in (*core[:3], *imgs, core[3])]
        elif mode == M_CACHED:  # warm cache on landing: images revalidated
            items = [(p, 304, 0) for p, _ in imgs]
        elif mode == M_NEXT:  # next page: only its own images
            items = [(p, 200, b) for p, b in imgs]
        elif mode == M_NEXT_REVAL:
            items = [(p, 304, 0) for p, _ in core[:2]] + [(p, 200, b) for p, b in imgs]
        else:
            items = []
        got = (
            [f'GET {p} {proto}" {s} {b} "' for p, s, b in items],
            sum(1 for _, s, _ in items if s == 304),
            tuple(p for p, _, _ in items),
        )
        self.asset_cache[ci] = got
        return got

    def bot_pool(self, fi: int, image_ua: bool, epoch: int) -> BotPool:
        """Ready-made requests of one bot family in one deploy epoch; drawing from it is cheap.

        2048 requests per crawler family and epoch still cover the whole site. The pool has its own
        seeded RNG, so it is the same whichever chunk asks first.
        """
        key = (fi, image_ua, epoch)
        pool = self.bot_pools.get(key)
        if pool is None:
            rng = random.Random(f"{self.o.seed}/bots/{fi}/{int(image_ua)}/{epoch}")
            pool = []
            for _ in range(2048 if fi < 4 else 256):
                meth, target, s, nb = self.bot_request(rng, fi, image_ua, epoch)
                pieces = tuple(f'{meth} {target} {proto}" {s} {nb} "-' for proto in PROTOS)
                pool.append((pieces, (meth, target, s)))
            self.bot_pools[key] = pool
        return pool

    def bot_request(self, rng: random.Random, fi: int, image_ua: bool, epoch: int) -> tuple[str, str, int, int]:
        """(method, target, status, bytes) of one request by bot family fi."""
        rnd = rng.random
        pages = self.pages
        fam = BOT_FAMILIES[fi]
        r = rnd()
        if fam == "curl":  # uptime monitors and scripts
            if r < 0.5:
                return ("HEAD", "/", 200, 0)
            return ("GET", "/api/v1/health", 200, 15) if r < 0.75 else ("GET", "/feed.xml", 200, 48_211)
        if fam == "python-requests":  # scanners and scrapers
            if r < 0.6:
                p = SCANNER_PATHS[int(rnd() * len(SCANNER_PATHS))]
                return ("POST" if p == "/xmlrpc.php" and rnd() < 0.5 else "GET", p, 404, 153)
            if r < 0.85:
                return ("GET", f"/api/v1/posts?page={1 + int(rnd() * 20)}", 200 if rnd() < 0.8 else 401, 2_348)
            return ("GET", "/", 200, pages[0].nbytes)
        if image_ua or r < 0.06:
            pg = pages[int(rnd() * len(pages))]
            img = pg.images[int(rnd() * len(pg.images))] if pg.images else ("/favicon.ico", 15_086)
            return ("GET", img[0], 200, img[1])
        if r < 0.09:
            return ("GET", "/sitemap.xml", 200, 91_420) if r < 0.08 else ("GET", "/feed.xml", 200, 48_211)
        if r < 0.11 and fi < 2:  # Google and Bing render pages, so they fetch css/js
            path, nb = self.core_assets[epoch][int(rnd() * 2)]
            return ("GET", path, 200, nb)
        pg = pages[int(rnd() * len(pages))]
        s = rnd()
        if s < 0.78:
            return ("GET", pg.path, 200, pg.nbytes)
        if s < 0.92 and fi < 2:
            return ("GET", pg.path, 304, 0)
        if s < 0.95 and pg.can_redirect:
            return ("GET", pg.path[:-1], 301, 162)
        if s < 0.97:
            return ("GET", self.stale[int(rnd() * len(self.stale))], 404, 153)
        if s < 0.975 and fam == "gptbot":
            return ("GET", pg.path, 499, 0)
        return ("GET", pg.path, 200, pg.nbytes)


@dataclass
class Truth:
    """Ground truth of a chunk or of the whole file (accepted lines only unless named)."""

    nbytes: int = 0
    status: list[int] = field(default_factory=lambda: [0] * 600)
    post: int = 0
    head: int = 0
    bot: int = 0
    asset: int = 0
    api: int = 0
    pv: int = 0
    v6_lines: int = 0
    edge: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EDGE_KINDS, 0))
    ips: set[str] = field(default_factory=set)
    uas: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)
    first_ts: str = ""
    last_ts: str = ""

    def merge(self, other: Truth) -> None:
        self.nbytes += other.nbytes
        self.status = [a + b for a, b in zip(self.status, other.status, strict=True)]
        for name in ("post", "head", "bot", "asset", "api", "pv", "v6_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.edge.items():
            self.edge[k] += v
        self.ips |= other.ips
        self.uas |= other.uas
        self.paths |= other.paths
        self.first_ts = self.first_ts or other.first_ts
        self.last_ts = other.last_ts or self.last_ts


class Chunk:
    """One day of the log: plans its units, sorts them by time and renders the text.

    Sessions that would run past midnight are cut there, so days never overlap and the file is
    the days concatenated. Its RNG is seeded by (seed, day): the output is the same for any --workers.
    """

    def __init__(self, site: Site, day: int, n_lines: int, n_edges: int) -> None:
        self.site = site
        self.day = day
        self.lo = day * DAY
        self.hi = self.lo + DAY
        self.n_lines = n_lines
        self.n_edges = n_edges
        self.rng = rng = random.Random(f"{site.o.seed}/day/{day}")
        self.rand = rng.random
        block = max(64, min(8192, n_lines // 2))

        def draws(tab: list[Any], k: int = block) -> Iterator[Any]:
            return stream(lambda n: rng.choices(tab, k=n), k)

        self.page_it = draws(site.page_table)
        self.hua_it = draws(site.hua_table)
        self.v4_it = draws(site.v4_table)
        self.hour_it = draws(site.hour_table, 1024)
        self.search_it = draws(site.search_table, 1024)
        self.social_it = draws(site.social_table, 1024)
        self.fam_it = draws(site.fam_table, 1024)
        self.outcome_it = draws(site.outcome_table)
        self.api_it = draws(site.api_table)
        self.gap_it = stream(lambda n: [4 + int(-math.log(1.0 - rng.random()) * 50) for _ in range(n)], block)
        self.truth = Truth()
        self.units: list[tuple[Any, ...]] = []
        self.keys: list[int] = []
        self.page_seen = bytearray(len(site.pages))
        self.redirected = bytearray(len(site.pages))
        self.asset_paths: set[tuple[str, ...]] = set()
        self.bot_counts: dict[tuple[int, bool, int], list[int]] = {}
        self.robots = 0

    # -- planning -----------------------------------------------------------

    def session(self, ip: str, ua: str, proto: str, user: str = "-") -> Session:
        return (f"{ip} - {user} [", f'" "{ua}"\n', proto, ":" in ip, ip, ua)

    def human_client(self) -> Session:
        rnd = self.rand
        v6 = self.site.v6
        ip = v6[int(rnd() * len(v6))] if (rnd() < self.site.o.ipv6_share and v6) else next(self.v4_it)
        p = rnd()
        proto = PROTOS[0] if p < 0.62 else (PROTOS[1] if p < 0.95 else PROTOS[2])
        return self.session(ip, next(self.hua_it), proto, "-" if rnd() >= 0.002 else "preview")

    def landing_ref(self) -> tuple[str, str]:
        """(referrer, query) of the first page of a session."""
        rnd = self.rand
        r = rnd()
        if r < 0.07:
            q, ref = UTM_QUERIES[int(rnd() * len(UTM_QUERIES))]
            return ("-" if rnd() < 0.25 else ref), q  # apps often send no referrer
        if r < 0.45:
            return "-", ""
        if r < 0.78:
            return next(self.search_it), ""
        if r < 0.90:
            ref = next(self.social_it)
            tco = self.site.tco
            return (tco[int(rnd() * len(tco))] if ref == "https://t.co/" else ref), ""
        return OTHER_REFS[int(rnd() * len(OTHER_REFS))], ""

    def plan_human(self, room: int) -> int:
        """One visitor session; returns the number of lines planned (never more than room)."""
        site = self.site
        rnd = self.rand
        pages = site.pages
        page_url = site.page_url
        cache = site.asset_cache
        n_epochs = site.n_epochs
        page_it = self.page_it
        outcome_it = self.outcome_it
        gap_it = self.gap_it
        units = self.units
        keys = self.keys
        status = self.truth.status
        seen = self.page_seen
        asset_paths = self.asset_paths
        lo, hi = self.lo, self.hi
        sess = self.human_client()
        proto = sess[2]
        proto_i = PROTOS.index(proto)
        t = lo + next(self.hour_it) * 3600 + int(rnd() * 3600)
        cached = rnd() < 0.45
        npv = 1
        while npv < 30 and rnd() < 0.6:
            npv += 1
        used = assets = a304 = pv = 0
        prev = ""
        for k in range(npv):
            pi = next(page_it)
            page = pages[pi]
            s, n_api, reval, is_pv = next(outcome_it)
            ref, query = self.landing_ref() if k == 0 else (prev, "")
            if page.search:
                query = "?q=" + SEARCH_TERMS[int(rnd() * len(SEARCH_TERMS))]
            redirect = page.can_redirect and rnd() < 0.3  # an old link without the trailing slash
            if redirect:
                s, is_pv = 200, True
            if s == 200 or s == 304 or s == 404:
                mode = (M_CACHED if cached else M_FULL) if k == 0 else (M_NEXT_REVAL if reval else M_NEXT)
                epoch = t // EPOCH
                ci = ((pi * 5 + mode) * 3 + proto_i) * n_epochs + epoch
                pieces, n304, apaths = cache[ci] or site.asset_pieces(ci, pi, mode, proto, epoch)
            else:
                pieces, n304, apaths = NO_ASSETS
            n = 1 + redirect + len(pieces) + n_api
            if n > room - used:
                redirect, pieces, n304, apaths, n_api, n = False, [], 0, (), 0, 1
            keys.append(((t - lo) << SHIFT) | len(units))
            nb = page.nbytes if s == 200 else 0 if s == 304 or s == 499 else 4_791 if s == 404 else 157
            units.append((K_PV, sess, pi, s, pieces, n_api, ref, query, redirect, nb))
            status[s] += 1
            if redirect:
                status[301] += 1
                self.redirected[pi] = 1
            seen[pi] = 1
            if pieces:
                asset_paths.add(apaths)
            pv += is_pv
            assets += len(pieces)
            a304 += n304
            used += n
            if used >= room:
                break
            prev = page_url[pi] + query
            t += next(gap_it)
            if t >= hi:
                break
        tr = self.truth
        tr.asset += assets
        status[304] += a304
        status[200] += assets - a304
        tr.pv += pv
        if sess[3]:
            tr.v6_lines += used
        tr.ips.add(sess[4])
        tr.uas.add(sess[5])
        return used

    def plan_bot(self, room: int) -> int:
        """One crawler, monitor or scanner visit; returns lines planned (never more than room)."""
        site = self.site
        rnd = self.rand
        fi = next(self.fam_it)
        fam = BOT_FAMILIES[fi]
        uas = site.bot_uas[fam]
        ua = uas[int(rnd() * len(uas))]
        # Each family comes from a handful of fixed addresses.
        if fam == "googlebot" and site.v6 and rnd() < 0.2:
            ip = site.v6[(fi * 7 + int(rnd() * 6)) % len(site.v6)]
        else:
            ip = site.v4[(fi * 11 + int(rnd() * 8)) % len(site.v4)]
        proto_i = 0 if fi < 2 and rnd() < 0.4 else 1
        sess = self.session(ip, ua, PROTOS[proto_i])
        lo, hi = self.lo, self.hi
        t = lo + int(rnd() * DAY)
        n = min(room, 1 + int(rnd() * BOT_MAX_REQUESTS[fi]))
        image_ua = ua.startswith("Googlebot-Image")
        units = self.units
        keys = self.keys
        gap = 120.0 if fam == "curl" else 20.0
        log = math.log
        used = 0
        if fi < 4 and not image_ua and rnd() < 0.5:  # crawlers start with robots.txt
            keys.append(((t - lo) << SHIFT) | len(units))
            units.append((K_BOT, sess, f'GET /robots.txt {PROTOS[proto_i]}" 200 68 "-'))
            self.robots += 1
            used = 1
            t += 1 + int(-log(1.0 - rnd()) * gap)
        epoch = t // EPOCH
        key = (fi, image_ua, epoch)
        pool = site.bot_pool(*key)
        counts = self.bot_counts.get(key)
        if counts is None:
            counts = self.bot_counts[key] = [0] * len(pool)
        npool = len(pool)
        while used < n and t < hi:
            i = int(rnd() * npool)
            keys.append(((t - lo) << SHIFT) | len(units))
            units.append((K_BOT, sess, pool[i][0][proto_i]))
            counts[i] += 1
            used += 1
            t += 1 + int(-log(1.0 - rnd()) * gap)
        tr = self.truth
        tr.bot += used
        if sess[3]:
            tr.v6_lines += used
        tr.ips.add(ip)
        tr.uas.add(ua)
        return used

    def plan_edges(self) -> None:
        """Edge lines at uniform random times; the quoted-UA ones are valid human page views."""
        rnd = self.rand
        site = self.site
        tr = self.truth
        for kind in self.rng.choices(range(len(EDGE_KINDS)), weights=EDGE_WEIGHTS, k=self.n_edges):
            name = EDGE_KINDS[kind]
            t = int(rnd() * DAY)
            ip = site.v4[int(rnd() * len(site.v4))]
            if name == "truncated":
                sess = self.human_client()
            elif name == "nginx_x22_quote":
                sess = self.session(ip, NGINX_QUOTE_UAS[int(rnd() * len(NGINX_QUOTE_UAS))], "HTTP/2.0")
            elif name == "apache_backslash_quote":
                sess = self.session(ip, APACHE_QUOTE_UAS[int(rnd() * len(APACHE_QUOTE_UAS))], "HTTP/1.1")
            else:
                sess = self.session(ip, "-", "HTTP/1.1")
            pi = next(self.page_it)
            self.keys.append((t << SHIFT) | len(self.units))
            self.units.append((K_EDGE, sess, name, pi, self.landing_ref()[0], rnd()))
            tr.edge[name] += 1
            if name in ("nginx_x22_quote", "apache_backslash_quote"):
                tr.status[200] += 1
                tr.pv += 1
                self.page_seen[pi] = 1
                tr.ips.add(ip)
                tr.uas.add(sess[5])

    def plan(self) -> None:
        room = self.n_lines - self.n_edges
        share = self.site.o.bot_share
        total = bots = 0
        while room > 0:
            if bots < share * (total + 1):
                n = self.plan_bot(room)
                bots += n
            else:
                n = self.plan_human(room)
            total += n
            room -= n
        self.plan_edges()
        self.keys.sort()

    # -- writing ------------------------------------------------------------

    def render(self) -> bytes:
        """The chunk's text, in time order."""
        site = self.site
        o = site.o
        day = site.day_str[self.day]
        hms = site.hms
        tz_close = f' {o.tz_offset}] "'
        units = self.units
        paths = site.paths
        page_url = site.page_url
        api_it = self.api_it
        api_specs = site.api_specs
        tr = self.truth
        status = tr.status
        post = api = 0
        buf: list[str] = []
        app = buf.append
        cur_t = -1
        ts = ""
        for key in self.keys:
            t = key >> SHIFT
            if t != cur_t:
                cur_t = t
                ts = day + hms[t] + tz_close
            u = units[key & MASK]
            sess = u[1]
            pre = sess[0] + ts
            tail = sess[1]
            kind = u[0]
            if kind == K_BOT:
                app(f"{pre}{u[2]}{tail}")
            elif kind == K_PV:
                _, _, pi, s, pieces, n_api, ref, query, redirect, nb = u
                proto = sess[2]
                path = paths[pi]
                if redirect:
                    app(f'{pre}GET {path[:-1]}{query} {proto}" 301 162 "{ref}{tail}')
                app(f'{pre}GET {path}{query} {proto}" {s} {nb} "{ref}{tail}')
                if pieces:
                    pref = page_url[pi] + query
                    app(f"{pre}{(pref + tail + pre).join(pieces)}{pref}{tail}")
                if n_api:
                    pref = page_url[pi] + query
                    for _ in range(n_api):
                        meth, target, use_pi, s2, nb2, _w = api_specs[next(api_it)]
                        if use_pi:
                            app(f'{pre}{meth} {target}{pi} {proto}" {s2} {nb2 + pi % 97 * 13} "{pref}{tail}')
                        else:
                            app(f'{pre}{meth} {target} {proto}" {s2} {nb2} "{pref}{tail}')
                        status[s2] += 1
                        if meth == "POST":
                            post += 1
                    api += n_api
            else:
                _, _, name, pi, ref, frac = u
                if name == "tls_garbage":
                    app(f'{pre}{TLS_PAYLOADS[int(frac * len(TLS_PAYLOADS))]}" 400 157 "-" "-"\n')
                elif name == "dash_request":
                    app(f'{pre}-" 408 0 "-" "-"\n')
                elif name == "empty_request":
                    app(f'{pre}" 400 0 "-" "-"\n')
                else:
                    page = site.pages[pi]
                    line = f'{pre}GET {page.path} {sess[2]}" 200 {page.nbytes} "{ref}{tail}'
                    if name == "truncated":  # keep 1..len-1 characters of the user agent, drop the rest
                        ua = sess[5]
                        line = line[: len(line) - 2 - len(ua) + 1 + int(frac * (len(ua) - 1))] + "\n"
                    app(line)
        data = "".join(buf).encode("ascii")
        tr.nbytes = len(data)
        tr.post += post
        tr.api += api
        if self.keys:
            tr.first_ts = f"{day}{hms[self.keys[0] >> SHIFT]} {o.tz_offset}"
            tr.last_ts = f"{day}{hms[self.keys[-1] >> SHIFT]} {o.tz_offset}"
        self.finish_truth()
        return data

    def finish_truth(self) -> None:
        """Fold the per-pool bot counts, robots.txt and the path flags into the chunk's truth."""
        site = self.site
        tr = self.truth
        tr.status[200] += self.robots
        tr.asset += self.robots  # robots.txt has an asset extension
        if self.robots:
            tr.paths.add("/robots.txt")
        for key, counts in self.bot_counts.items():
            for (_, (meth, target, s)), n in zip(site.bot_pools[key], counts, strict=True):
                if not n:
                    continue
                tr.status[s] += n
                if meth == "POST":
                    tr.post += n
                elif meth == "HEAD":
                    tr.head += n
                path = target.split("?", 1)[0]
                name = path.rsplit("/", 1)[-1]
                if path.startswith("/api/"):
                    tr.api += n
                elif "." in name and name.rsplit(".", 1)[1] in ASSET_EXTENSIONS:
                    tr.asset += n
                tr.paths.add(path)
        for group in self.asset_paths:
            tr.paths.update(group)
        tr.paths.update(p.path for p, seen in zip(site.pages, self.page_seen, strict=True) if seen)
        tr.paths.update(p.path[:-1] for p, r in zip(site.pages, self.redirected, strict=True) if r)
        if tr.api:
            tr.paths.update(spec[1].split("?", 1)[0] for spec in site.api_specs)


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split total into integer parts proportional to weights (largest remainder)."""
    wsum = sum(weights)
    raw = [total * w / wsum for w in weights]
    parts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: (parts[i] - raw[i], i))[: total - sum(parts)]:
        parts[i] += 1
    return parts


def day_plan(o: Options) -> list[tuple[int, int, int]]:
    """(day, lines, edge lines) per day: lines follow the weekly profile (weekends are quieter)."""
    weights = [WEEKEND if (o.start + dt.timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(o.days)]
    lines = allocate(o.lines, weights)
    edges = allocate(min(o.lines, round(o.lines * o.edge_rate)), weights)
    return [(d, n, min(e, n)) for d, (n, e) in enumerate(zip(lines, edges, strict=True))]


_SITE: Site | None = None


def _init_worker(o: Options) -> None:
    global _SITE
    gc.disable()  # hundreds of thousands of long-lived tuples per day: the cyclic GC would only rescan them
    _SITE = Site(o)


def _run_day(job: tuple[int, int, int, int]) -> tuple[bytes, Truth]:
    """Worker entry: render one day (gzip member if level > 0)."""
    day, n_lines, n_edges, gzip_level = job
    assert _SITE is not None
    chunk = Chunk(_SITE, day, n_lines, n_edges)
    chunk.plan()
    data = chunk.render()
    if gzip_level:
        data = gzip.compress(data, compresslevel=gzip_level, mtime=0)
    return data, chunk.truth


def generate(o: Options, out: IO[bytes], workers: int, gzip_level: int = 0) -> Truth:
    """Write the whole log to out (bytes stream); gzip_level > 0 writes concatenated gzip members."""
    jobs = [(d, n, e, gzip_level) for d, n, e in day_plan(o) if n]
    truth = Truth()
    if workers <= 1 or len(jobs) <= 1:
        gc_was_on = gc.isenabled()
        try:
            _init_worker(o)
            for data, tr in map(_run_day, jobs):
                out.write(data)
                truth.merge(tr)
        finally:
            if gc_was_on:
                gc.enable()
        return truth
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else None)
    with ctx.Pool(workers, initializer=_init_worker, initargs=(o,)) as pool:
        for data, tr in pool.imap(_run_day, jobs, chunksize=1):
            out.write(data)
            truth.merge(tr)
    return truth


def stats_json(o: Options, tr: Truth, seconds: float, workers: int) -> dict[str, Any]:
    """The ground truth as JSON: see its "definitions" key."""
    rejects = {k: tr.edge[k] for k in REJECT_KINDS}
    must_reject = sum(rejects.values())
    accepted = o.lines - must_reject
    return {
        "generator": "bench/gen_access_log.py",
        "format": "nginx combined",
        "options": {k: (str(v) if isinstance(v, dt.date) else v) for k, v in vars(o).items()},
        "lines": o.lines,
        "bytes": tr.nbytes,
        "first_ts": tr.first_ts,
        "last_ts": tr.last_ts,
        "must_reject": must_reject,
        "expected_rejects": {**rejects, "total": must_reject},
        "accepted_lines": accepted,
        "edge_lines": {**tr.edge, "total": sum(tr.edge.values())},
        "valid_quoted_ua_lines": tr.edge["nginx_x22_quote"] + tr.edge["apache_backslash_quote"],
        "bot_lines": tr.bot,
        "human_lines": accepted - tr.bot,
        "asset_lines": tr.asset,
        "api_lines": tr.api,
        "pageview_candidates": tr.pv,
        "ipv6_lines": tr.v6_lines,
        "distinct_ips": len(tr.ips),
        "distinct_ipv6": sum(1 for ip in tr.ips if ":" in ip),
        "distinct_uas": len(tr.uas),
        "distinct_paths": len(tr.paths),
        "status": {str(s): n for s, n in enumerate(tr.status) if n},
        "method": {"GET": accepted - tr.post - tr.head, "POST": tr.post, "HEAD": tr.head},
        "definitions": {
            "counts": "over accepted lines only (all lines except the must_reject ones)",
            "must_reject": "truncated + tls_garbage + dash_request + empty_request lines",
            "bot_lines": "user agent is Googlebot, bingbot, AhrefsBot, GPTBot, curl or python-requests",
            "asset_lines": "path (without query) ends in ." + " .".join(ASSET_EXTENSIONS),
            "api_lines": "path starts with /api/",
            "pageview_candidates": "GET, status 2xx or 304, not an asset, not /api/, not a bot "
            "(includes the valid quoted-UA edge lines)",
            "distinct_uas": "raw user-agent strings as logged (escapes not decoded)",
            "distinct_paths": "paths without query string",
        },
        "generate_seconds": round(seconds, 3),
        "workers": workers,
    }


def page_outcomes() -> list[tuple[int, int, bool, bool, float]]:
    """(status, XHR calls, revalidates css/js, is a page-view candidate, weight) of one human page view."""
    statuses = ((200, 0.9545), (304, 0.02), (404, 0.022), (499, 0.003), (500, 0.0002), (502, 0.0001),
                (503, 0.0001), (504, 0.0001))  # fmt: skip
    out = []
    for s, sw in statuses:
        for n_api, aw in ((0, 0.56), (1, 0.30), (2, 0.11), (3, 0.03)) if s in (200, 304) else ((0, 1.0),):
            for reval, rw in ((True, 0.1), (False, 0.9)):
                out.append((s, n_api, reval, s in (200, 304), sw * aw * rw))
    return out


def api_specs() -> list[tuple[str, str, bool, int, int, float]]:
    """(method, target, append page index, status, bytes, weight) of the XHR calls pages make."""
    specs: list[tuple[str, str, bool, int, int, float]] = []
    get_status = ((200, 0.90), (304, 0.05), (401, 0.025), (404, 0.005), (499, 0.017), (500, 0.001),
                  (502, 0.001), (503, 0.001))  # fmt: skip
    for target, use_pi, nb, w in (("/api/v1/comments?post=", True, 1_840, 0.30),
                                  ("/api/v1/likes?post=", True, 64, 0.15),
                                  ("/api/v1/search?q=nginx", False, 5_320, 0.05),
                                  ("/api/v1/search?q=goals", False, 3_114, 0.05),
                                  ("/api/v1/session", False, 412, 0.17)):  # fmt: skip
        for s, sw in get_status:
            body = 0 if s in (304, 499) else (61 if 400 <= s < 500 else 157 if s >= 500 else nb)
            specs.append(("GET", target, use_pi and s < 300, s, body, w * sw))
    for target, ok, nb, w in (("/api/v1/events", 202, 0, 0.18), ("/api/v1/comments", 201, 233, 0.06),
                              ("/api/v1/newsletter", 201, 27, 0.04)):  # fmt: skip
        for s, sw in ((ok, 0.95), (422, 0.03), (429, 0.017), (502, 0.003)):
            body = nb if s == ok else (61 if s < 500 else 157)
            specs.append(("POST", target, False, s, body, w * sw))
    return specs


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    ap.add_argument("--lines", type=int, required=True, help="exact number of lines to write")
    ap.add_argument("-o", "--output", default="-", help="output path, '-' for stdout; a .gz suffix writes gzip")
    ap.add_argument("--seed", type=int, default=42, help="RNG seed; same seed and flags = same bytes")
    ap.add_argument("--days", type=int, default=30, help="period length in days (default 30)")
    ap.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2025, 1, 6), help="first day, local time")
    ap.add_argument("--tz-offset", default="+0000", help="UTC offset written in the timestamps, e.g. +0100")
    ap.add_argument("--ips", type=int, default=20_000, help="distinct client addresses (at most 762 are IPv4)")
    ap.add_argument("--uas", type=int, default=800, help="distinct user agents (browsers + 35 bot agents)")
    ap.add_argument("--paths", type=int, default=3_500, help="distinct paths, roughly (55%% pages, the rest assets)")
    ap.add_argument("--ipv6-share", type=float, default=0.095, help="share of sessions from IPv6 clients")
    ap.add_argument("--bot-share", type=float, default=0.15, help="share of lines from bots")
    ap.add_argument("--edge-rate", type=float, default=0.001, help="share of edge-case lines")
    ap.add_argument("--host", default="www.example.com", help="site host, used in same-site referrers")
    ap.add_argument("--stats", metavar="PATH", help="write the ground truth JSON here ('-' = stderr)")
    ap.add_argument(
        "--gzip-level",
        type=int,
        default=6,
        choices=range(1, 10),
        metavar="1-9",
        help="compression level of .gz output (default 6, like gzip)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes rendering days in parallel (output does not depend on it)",
    )
    a = ap.parse_args(argv)
    if a.lines < 0 or a.days < 1 or a.ips < 1 or a.uas < 1 or a.paths < 1:
        ap.error("--lines must be >= 0; --days, --ips, --uas and --paths >= 1")
    if not re.fullmatch(r"[+-]\d{4}", a.tz_offset):
        ap.error("--tz-offset must look like +0000 or -0530")
    for name in ("ipv6_share", "bot_share", "edge_rate"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} must be within 0..1")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    o = Options(lines=a.lines, seed=a.seed, days=a.days, start=a.start, tz_offset=a.tz_offset, ips=a.ips,
                uas=a.uas, paths=a.paths, ipv6_share=a.ipv6_share, bot_share=a.bot_share, edge_rate=a.edge_rate,
                host=a.host)  # fmt: skip
    gz = a.output != "-" and a.output.endswith(".gz")
    t0 = time.perf_counter()
    if a.output == "-":
        truth = generate(o, sys.stdout.buffer, a.workers)
        sys.stdout.buffer.flush()
    else:
        with open(a.output, "wb", buffering=1 << 20) as out:
            truth = generate(o, out, a.workers, a.gzip_level if gz else 0)
    seconds = time.perf_counter() - t0
    if a.stats:
        text = json.dumps(stats_json(o, truth, seconds, a.workers), indent=2) + "\n"
        if a.stats == "-":
            sys.stderr.write(text)
        else:
            with open(a.stats, "w", encoding="utf-8") as f:
                f.write(text)
    mb = truth.nbytes / 1e6
    print(
        f"wrote {o.lines:,} lines ({mb:,.1f} MB) in {seconds:.1f} s, {o.lines / max(seconds, 1e-9):,.0f} lines/s, "
        f"{a.workers} worker(s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
