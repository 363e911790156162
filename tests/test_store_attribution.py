"""Pure derivations used by the DuckDB store: attribution, source names, root domains, ids, countries."""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
import pytest

from importer.attribution import attribute, hostname_of
from importer.geo import country_codes, with_country
from importer.source_names import canonical_source, root_domain, source_for_host
from importer.visitors import LINK_WINDOW_S, daily_salt, visitor_hash, with_visitor_ids

SCHEMA = {"host": pl.String, "path": pl.String, "query": pl.String, "referrer": pl.String}

# (host, path, query, referrer) -> (hostname, pathname, referrer, referrer_source, utm_source, utm_medium)
CASES = [
    (("www.example.com", "/caf%C3%A9%20 ", None, None), ("example.com", "/café", None, None, None, None)),
    (("example.com", "", None, "https://www.google.de/"), ("example.com", "/", "google.de", "Google", None, None)),
    (("example.com", "/a/", "ref=betalist", None), ("example.com", "/a/", None, "betalist", "betalist", None)),
    (("example.com", "/%ff", "gclid=1", "https://google.com/"),
     ("example.com", "/%ff", "google.com", "Google", None, "(gclid)")),
    (("example.com", "/m", "msclkid=9", "https://www.bing.com/search?q=x"),
     ("example.com", "/m", "bing.com/search", "Bing", None, "(msclkid)")),
    (("example.com", "/t", "utm_source=FB&utm_medium=social&utm_source=ig", "https://t.co/abc"),
     ("example.com", "/t", "t.co/abc", "Instagram", "ig", "social")),
    (("example.com", "/e", "utm_source=&ref=foo", "https://news.ycombinator.com/item?id=1"),
     ("example.com", "/e", "news.ycombinator.com/item", None, None, None)),
    (("example.com", "/s", "source=Newsletter", "https://duckduckgo.com/"),
     ("example.com", "/s", "duckduckgo.com", "Newsletter", "Newsletter", None)),
    (("example.com", "/i", None, "https://www.example.com/other"), ("example.com", "/i", None, None, None, None)),
    (("example.com", "/l", None, "http://localhost:3000/x"), ("example.com", "/l", None, None, None, None)),
    (("example.com", "/f", None, "ftp://files.example.net/"), ("example.com", "/f", None, None, None, None)),
    (("example.com", "/g", None, "not a url"), ("example.com", "/g", None, None, None, None)),
    (("example.com", "/sub", None, "https://user@Blog.Example.com:8443/p/q/?a#b"),
     ("example.com", "/sub", "blog.example.com/p/q", "blog.example.com", None, None)),
    (("example.com", "/app", None, "android-app://com.google.android.gm/"),
     ("example.com", "/app", "android-app://com.google.android.gm", "Gmail", None, None)),
    (("example.com", "/app", None, "android-app://org.example.reader"),
     ("example.com", "/app", "android-app://org.example.reader", "android-app://org.example.reader", None, None)),
    ((None, "/w", None, "https://en.m.wikipedia.org/wiki/X"),
     ("(none)", "/w", "en.m.wikipedia.org/wiki/X", "Wikipedia", None, None)),
    (("example.com", "/q", "utm_campaign=a+b%2Bc&utm_term", "https://www.indiehackers.com/"),
     ("example.com", "/q", "indiehackers.com", "indiehackers.com", None, None)),
]


@pytest.mark.parametrize(("given", "expected"), CASES, ids=[c[0][1] + "|" + str(c[0][3]) for c in CASES])
def test_attribute(given: tuple, expected: tuple) -> None:
    data = pl.DataFrame([dict(zip(SCHEMA, given, strict=True))], schema=SCHEMA)
    row = attribute(data).row(0, named=True)
    got = tuple(row[c] for c in ("hostname", "pathname", "referrer", "referrer_source", "utm_source", "utm_medium"))
    assert got == expected


def test_attribute_utm_fields_and_passthrough() -> None:
    data = pl.DataFrame(
        [{"host": "example.com", "path": "/", "query": "utm_campaign=a+b%2Bc&utm_term&utm_content=x%20y",
          "referrer": None, "line": 7}],
        schema={**SCHEMA, "line": pl.UInt64},
    )
    row = attribute(data).row(0, named=True)
    assert (row["utm_campaign"], row["utm_term"], row["utm_content"], row["line"]) == ("a b+c", None, "x y", 7)


def test_hostname_of() -> None:
    assert [hostname_of(h) for h in ("www.example.com", " Example.com ", None, "", "www.")] == [
        "example.com", "example.com", "(none)", "(none)", "(none)",
    ]


@pytest.mark.parametrize(
    ("host", "root"),
    [
        ("www.example.com", "example.com"), ("blog.example.com", "example.com"), ("a.b.example.co.uk", "example.co.uk"),
        ("shop.example.com.au", "example.com.au"), ("user.github.io", "user.github.io"), ("203.0.113.9", "203.0.113.9"),
        ("localhost", "localhost"), (None, "(none)"), ("", "(none)"), ("co.uk", "co.uk"), ("Example.COM.", "example.com"),
    ],
)
def test_root_domain(host: str | None, root: str) -> None:
    assert root_domain(host) == root


def test_source_names() -> None:
    assert [canonical_source(s) for s in ("GOOGLE", "ig", "adwords", "wikipedia", "betalist")] == [
        "Google", "Instagram", "Google", "Wikipedia", "betalist",
    ]
    assert source_for_host("l.facebook.com") == "Facebook"
    assert source_for_host("gemini.google.com") == "Google Gemini"
    assert source_for_host("google.co.uk") == "Google"
    assert source_for_host("de.search.yahoo.com") == "Yahoo!"
    assert source_for_host("fr.wikipedia.org") == "Wikipedia"
    assert source_for_host("chatgpt.com") == "ChatGPT"
    assert source_for_host("markosaric.com") == "markosaric.com"
    assert source_for_host("com.reddit.frontpage", android_app=True) == "Reddit"


def test_visitor_hash_is_pinned() -> None:
    """Only hashlib is involved, so ids must never change with polars/DuckDB upgrades."""
    salt = daily_salt(bytes(range(32)), date(2024, 1, 1))
    assert salt.hex() == "62f680bc9ed045de53d0aa3ba5e98c2cf06d844a47035faca22eb889b5a2ef3f"
    assert visitor_hash(salt, "Mozilla/5.0", "203.0.113.42", "example.com", "example.com") == 15387180542601432584


def test_with_visitor_ids_matches_scalar_and_links() -> None:
    secret = bytes(range(32))
    utc = timezone.utc
    data = pl.DataFrame(
        {
            "ts": [datetime(2024, 3, 6, 0, 30, 0, 999, tzinfo=utc), datetime(2024, 3, 6, 0, 30, 1, tzinfo=utc),
                   datetime(2024, 3, 5, 12, 0, tzinfo=utc)],
            "user_agent": ["UA", "UA", None],
            "client_ip": ["203.0.113.42", "203.0.113.42", "2001:db8::7"],
            "domain": ["www.example.com", "www.example.com", "example.com"],
            "host": ["shop.example.com", "shop.example.com", None],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    out = with_visitor_ids(data, secret)
    today, yesterday = daily_salt(secret, date(2024, 3, 6)), daily_salt(secret, date(2024, 3, 5))
    first = visitor_hash(today, "UA", "203.0.113.42", "example.com", "example.com")
    assert out["visitor_id"].to_list()[:2] == [first, first]
    assert out["link_id"].to_list() == [
        visitor_hash(yesterday, "UA", "203.0.113.42", "example.com", "example.com"), None, None,
    ]
    assert out["visitor_id"][2] == visitor_hash(yesterday, "", "2001:db8::7", "example.com", "(none)")
    assert LINK_WINDOW_S == 1800


def test_countries() -> None:
    assert country_codes(["81.2.69.142", "8.8.8.8", "192.0.2.1", "10.0.0.1", "garbage"]) == [
        "GB", "US", None, None, None,
    ]
    assert country_codes([]) == []
    out = with_country(pl.DataFrame({"client_ip": ["81.2.69.142", None, "81.2.69.142"]}))
    assert out["country"].to_list() == ["GB", None, "GB"]
