"""Referrer host -> source name, and tagged ``utm_source`` -> canonical name, as Plausible shows them.

Why a built-in table: Plausible maps referrers through RefInspector (snowplow referer-parser's
``referers.yml``) plus its own ``priv/custom_sources.json`` (``lib/plausible/ingestion/source.ex``).
Shipping those databases is out of scope, so this is a hand-picked subset of the sources that
matter for most sites, with Plausible's spelling ("Youtube", "Yahoo!", "Outlook.com"). Hosts that
are not known stay bare (``indiehackers.com``), exactly as Plausible stores unknown referrers.

Everything here is pure Python over DISTINCT values (a batch has a few thousand referrer hosts at
most); :mod:`importer.attribution` joins the answers back onto the rows.
"""

from __future__ import annotations

from collections.abc import Iterable

# Exact host (or any subdomain of it) -> name. Keys are lower-case, without a leading "www.".
# Android app ids are matched the same way for android-app:// referrers.
# fmt: off
HOST_SOURCES: dict[str, str] = {
    # search
    "google.com": "Google", "news.google.com": "Google News", "gemini.google.com": "Google Gemini",
    "bing.com": "Bing", "ntp.msn.com": "Bing", "cn.bing.com": "Bing", "duckduckgo.com": "DuckDuckGo",
    "search.yahoo.com": "Yahoo!", "yahoo.com": "Yahoo!", "yandex.ru": "Yandex", "yandex.com": "Yandex",
    "ya.ru": "Yandex", "yandex.com.tr": "Yandex", "baidu.com": "Baidu", "m.baidu.com": "Baidu",
    "ecosia.org": "Ecosia", "search.brave.com": "Brave", "qwant.com": "Qwant", "startpage.com": "Startpage",
    "naver.com": "Naver", "search.naver.com": "Naver", "seznam.cz": "Seznam", "sogou.com": "Sogou",
    "m.sogou.com": "Sogou", "wap.sogou.com": "Sogou", "so.com": "360.cn", "ask.com": "Ask",
    "search.aol.com": "AOL", "kagi.com": "Kagi", "mojeek.com": "Mojeek", "presearch.com": "Presearch",
    # AI assistants
    "chatgpt.com": "ChatGPT", "chat.openai.com": "ChatGPT", "perplexity.ai": "Perplexity",
    "claude.ai": "Claude", "copilot.microsoft.com": "Microsoft Copilot", "you.com": "You.com",
    # social
    "facebook.com": "Facebook", "fb.me": "Facebook", "m.facebook.com": "Facebook", "l.facebook.com": "Facebook",
    "lm.facebook.com": "Facebook", "com.facebook.katana": "Facebook", "instagram.com": "Instagram",
    "l.instagram.com": "Instagram", "com.instagram.android": "Instagram", "threads.net": "Threads",
    "twitter.com": "Twitter", "t.co": "Twitter", "x.com": "Twitter", "com.twitter.android": "Twitter",
    "linkedin.com": "LinkedIn", "lnkd.in": "LinkedIn", "com.linkedin.android": "LinkedIn",
    "reddit.com": "Reddit", "old.reddit.com": "Reddit", "out.reddit.com": "Reddit",
    "com.reddit.frontpage": "Reddit", "pinterest.com": "Pinterest", "pinterest.de": "Pinterest",
    "pinterest.co.uk": "Pinterest", "pinterest.fr": "Pinterest", "pinterest.ca": "Pinterest",
    "youtube.com": "Youtube", "m.youtube.com": "Youtube", "youtu.be": "Youtube", "tiktok.com": "TikTok",
    "vk.com": "Vkontakte", "tumblr.com": "Tumblr", "quora.com": "Quora", "vimeo.com": "Vimeo",
    "bsky.app": "Bluesky", "mastodon.social": "Mastodon", "mstdn.social": "Mastodon",
    "news.ycombinator.com": "Hacker News", "lobste.rs": "Lobsters", "producthunt.com": "Product Hunt",
    "github.com": "GitHub", "gitlab.com": "GitLab", "stackoverflow.com": "StackOverflow",
    "medium.com": "Medium", "substack.com": "Substack", "dev.to": "DEV Community", "linktr.ee": "Linktree",
    "wikipedia.org": "Wikipedia", "flipboard.com": "Flipboard", "getpocket.com": "Pocket",
    # messaging and mail
    "app.slack.com": "Slack", "com.slack": "Slack", "discord.com": "Discord", "discordapp.com": "Discord",
    "ptb.discord.com": "Discord", "canary.discord.com": "Discord", "web.telegram.org": "Telegram",
    "webk.telegram.org": "Telegram", "t.me": "Telegram", "org.telegram.messenger": "Telegram",
    "web.whatsapp.com": "WhatsApp", "com.whatsapp": "WhatsApp", "statics.teams.cdn.office.net": "Microsoft Teams",
    "teams.microsoft.com": "Microsoft Teams", "teams.live.com": "Microsoft Teams",
    "mail.google.com": "Gmail", "com.google.android.gm": "Gmail", "inbox.google.com": "Gmail",
    "outlook.live.com": "Outlook.com", "mail.live.com": "Outlook.com", "outlook.office.com": "Outlook.com",
    "outlook.office365.com": "Outlook.com", "com.microsoft.office.outlook": "Outlook.com",
    "mail.yahoo.com": "Yahoo! Mail", "mail.yahoo.co.jp": "Yahoo! Mail", "mail.yahoo.co.uk": "Yahoo! Mail",
    "mail.proton.me": "Proton", "mail.aol.com": "AOL Mail", "mail.zoho.com": "Zoho",
    "officeapps.live.com": "Microsoft 365",
}
# fmt: on

# Search engines that live on many country domains (google.de, google.co.uk, yandex.kz ...):
# the first label of the registrable domain decides, as referer-parser's long domain lists do.
BRAND_LABELS: dict[str, str] = {
    "google": "Google",
    "bing": "Bing",
    "yahoo": "Yahoo!",
    "yandex": "Yandex",
    "baidu": "Baidu",
    "duckduckgo": "DuckDuckGo",
    "ecosia": "Ecosia",
    "qwant": "Qwant",
    "startpage": "Startpage",
    "pinterest": "Pinterest",
    "amazon": "Amazon",
}

# Tagged-source shorthands from Plausible's custom_sources.json (utm_source=ig -> Instagram).
# fmt: off
TAG_ALIASES: dict[str, str] = {
    "fb": "Facebook", "fb-ads": "Facebook", "fbads": "Facebook", "fbad": "Facebook", "facebook-ads": "Facebook",
    "facebook_ads": "Facebook", "fcb": "Facebook", "facebook_ad": "Facebook", "facebook_feed_ad": "Facebook",
    "ig": "Instagram", "yt": "Youtube", "yt-ads": "Youtube", "reddit-ads": "Reddit", "google_ads": "Google",
    "google-ads": "Google", "googleads": "Google", "gads": "Google", "google ads": "Google", "adwords": "Google",
    "twitter-ads": "Twitter", "tiktokads": "TikTok", "tik.tok": "TikTok", "perplexity": "Perplexity",
    "linktree": "Linktree",
    # host keys of custom_sources.json take part in the tag lookup too
    "baidu.com": "Baidu", "discord.com": "Discord", "discordapp.com": "Discord", "linktr.ee": "Linktree",
    "perplexity.ai": "Perplexity", "search.brave.com": "Brave", "t.me": "Telegram", "ya.ru": "Yandex",
    "sogou.com": "Sogou", "ntp.msn.com": "Bing", "statics.teams.cdn.office.net": "Microsoft Teams",
}
# fmt: on

MULTI_PART_SUFFIXES: frozenset[str] = frozenset({
    "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk", "sch.uk", "nhs.uk",
    "com.au", "net.au", "org.au", "edu.au", "gov.au", "asn.au", "id.au", "co.nz", "net.nz", "org.nz",
    "govt.nz", "ac.nz", "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp", "co.kr", "or.kr", "ne.kr", "co.in",
    "net.in", "org.in", "firm.in", "gen.in", "ind.in", "com.br", "net.br", "org.br", "gov.br", "com.cn",
    "net.cn", "org.cn", "gov.cn", "edu.cn", "com.hk", "com.tw", "com.sg", "com.my", "com.mx", "com.ar",
    "com.co", "com.tr", "com.pl", "co.za", "org.za", "co.il", "org.il", "ac.il", "com.ua", "co.id",
    "or.id", "com.ph", "com.pk", "com.vn", "com.eg", "com.sa", "co.th", "in.th", "com.pe", "com.ng",
    "co.ke", "com.gr", "com.pt", "com.es", "co.at", "or.at", "com.ru", "com.do", "com.ec", "com.uy",
    "com.bd", "com.np", "com.qa", "com.kw", "co.ve", "com.ve", "com.gt", "com.bo", "com.py", "co.cr",
    # private suffixes the Public Suffix List carries (PublicSuffix includes them by default)
    "github.io", "gitlab.io", "netlify.app", "vercel.app", "pages.dev", "workers.dev", "herokuapp.com",
    "blogspot.com", "appspot.com", "web.app", "firebaseapp.com", "azurewebsites.net", "cloudfront.net",
    "s3.amazonaws.com", "fly.dev", "onrender.com", "wordpress.com", "substack.com", "neocities.org",
})


def _all_names() -> Iterable[str]:
    yield from HOST_SOURCES.values()
    yield from BRAND_LABELS.values()
    yield from TAG_ALIASES.values()


_CANONICAL: dict[str, str] = {**{name.lower(): name for name in _all_names()}, **TAG_ALIASES}


def canonical_source(tagged: str) -> str:
    """Plausible's ``canonical/1``: a known name or alias, matched case-insensitively, else unchanged."""
    return _CANONICAL.get(tagged.lower(), tagged)


def is_ipv4(host: str) -> bool:
    """Dotted-quad check without ipaddress' cost; hosts are already lower-case and port-free."""
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts)


def root_domain(host: str | None) -> str:
    """Registrable domain of a page host, as Plausible's ``get_root_domain/1`` feeds the visitor hash.

    IPv4 hosts and single-label hosts stay as they are, no host gives ``(none)``. The suffix
    list is a small built-in subset of the Public Suffix List (two-label suffixes only).
    """
    if host is None:
        return "(none)"
    host = host.strip().rstrip(".").lower()
    if host.startswith("www."):
        host = host[4:]
    if not host or host == "(none)":
        return "(none)"
    if ":" in host or is_ipv4(host):
        return host
    labels = host.split(".")
    if len(labels) < 2:
        return host
    last_two = ".".join(labels[-2:])
    if last_two in MULTI_PART_SUFFIXES:
        return ".".join(labels[-3:]) if len(labels) >= 3 else host
    return last_two


def source_for_host(host: str, android_app: bool = False) -> str:
    """Name for a referrer host (lower-case, no ``www.``): exact, then parent domains, then brand, else host.

    Mirrors ``Source.from_referrer/1``: the custom table first (so ``gemini.google.com`` beats
    Google), then referer-parser's name, else the bare host (``android-app://`` kept for apps).
    """
    labels = host.split(".")
    for i in range(len(labels) - 1):
        name = HOST_SOURCES.get(".".join(labels[i:]))
        if name is not None:
            return name
    if not android_app:
        root = root_domain(host)
        brand = BRAND_LABELS.get(root.split(".", 1)[0]) if "." in root else None
        if brand is not None:
            return brand
    return f"android-app://{host}" if android_app else host
