"""Deterministic generator of realistic CloudFront standard (legacy) access logs, gzip-compressed, with ground truth.

Why: issue 7 asks for CloudFront gzip logs to parse at >= 500,000 lines/s, and that needs big, realistic,
reproducible input in the shape CloudFront delivers it: one or several ``<DistID>.YYYY-MM-DD-HH.<unique>.gz``
objects, each starting with ``#Version: 1.0`` and the 33-field ``#Fields:`` line, then TAB-separated records.
The same ``--seed`` and flags always give byte-identical files (stdlib ``random`` only), for any ``--workers``.

What the records look like (see ../shared/reference/log_formats.md, CloudFront section):

* The site, visitors and bots come from ``gen_access_log.Site`` (same pages, user agents, documentation
  addresses, bot request mix), so the two generators describe the same website.
* Human sessions: a page view (``text/html``), its assets (css/js/woff2/images/favicon, ``Hit`` mostly; 304 on a
  warm cache) and XHR calls to ``/api/`` (``Miss``); referrers from search, social, other sites or the previous
  page; UTM query strings on some landing pages. Statuses 200/304/404/301/5xx and ``000`` (viewer went away,
  ``ClientCommError``). ``--http-share`` of sessions start on ``http://`` and get CloudFront's 301 ``Redirect``.
* Bots: Googlebot, bingbot, AhrefsBot, GPTBot, curl monitors (HEAD), python-requests scanners.
* Encoding as CloudFront writes it: spaces in agents as ``%20``; ``%`` as ``%25`` (so a client's ``/caf%C3%A9``
  shows as ``/caf%25C3%25A9``); ``--double-encoded-share`` of sessions with the agent encoded twice (``%2520``);
  ``--utf8-ua-share`` with a raw UTF-8 byte in the agent (``%C3%A9``); ``-`` for every empty field.
* ``x-host-header`` is the site (``www.example.com``, some apex ``example.com``, a few ``-``); ``cs(Host)`` is
  the ``*.cloudfront.net`` name. ``time`` is the finish time, so records are only roughly in order.

Files: ``--hours`` UTC hours from ``--start``, lines per hour follow gen_access_log's daily profile, and the
``--files`` objects are dealt over the hours (several per hour when there are more files than hours). A file
longer than ``--part-lines`` is written as several gzip members (still one valid ``.gz``), so big files render
in parallel too.

``--lines`` counts requests (data lines); each file adds its two header lines, so ``zcat * | wc -l`` gives
``lines + 2 * files``: the ``lines`` key of the ``--stats`` JSON.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gc
import gzip
import json
import math
import multiprocessing as mp
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gen_access_log import (
    ASSET_EXTENSIONS,
    BOT_FAMILIES,
    BOT_MAX_REQUESTS,
    HOURLY,
    OTHER_REFS,
    SEARCH_TERMS,
    UTM_QUERIES,
    Options,
    Site,
    Truth,
    allocate,
    default_workers,
    page_outcomes,
    stream,
    table,
)

FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) "
    "cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken "
    "x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status "
    "fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len "
    "sc-range-start sc-range-end"
)
HEADER = f"#Version: 1.0\n#Fields: {FIELDS}\n"
HEADER_LINES = 2
SHIFT = 32
MASK = (1 << SHIFT) - 1

EDGES = (
    ("FRA56-P3", 14), ("FRA60-P1", 6), ("AMS1-C1", 7), ("LHR61-P5", 9), ("CDG50-C1", 6), ("ARN56-C1", 2),
    ("MAD53-P1", 2), ("MXP63-P1", 2), ("WAW51-P2", 2), ("IAD89-C2", 12), ("IAD12-P1", 4), ("JFK50-C1", 5),
    ("DFW56-P1", 4), ("SEA19-C1", 4), ("SFO53-P7", 4), ("LAX50-C3", 3), ("YTO53-P2", 2), ("GRU3-C1", 2),
    ("NRT57-P2", 3), ("SIN2-P6", 2), ("BOM78-P4", 2), ("SYD62-P1", 2),
)  # fmt: skip
BOT_EDGES = ("IAD89-C2", "SEA19-C1", "SFO53-P7", "FRA56-P3", "AMS1-C1")
TLS = (
    ("TLSv1.3\tTLS_AES_128_GCM_SHA256", 70), ("TLSv1.3\tTLS_AES_256_GCM_SHA384", 10),
    ("TLSv1.3\tTLS_CHACHA20_POLY1305_SHA256", 5), ("TLSv1.2\tECDHE-RSA-AES128-GCM-SHA256", 15),
)  # fmt: skip
UTF8_UAS = (
    "CaféReader/2.1 (iPhone; iOS 18.1; Scale/3.00)",
    "Mozilla/5.0 (Linux; Android 14; Télé Box 4K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36",
    "Bücherwurm/0.9 (+https://bot.example.net/)",
)
CONTENT_TYPES = {
    "css": "text/css", "js": "application/javascript", "mjs": "application/javascript", "json": "application/json",
    "xml": "application/xml", "txt": "text/plain", "ico": "image/x-icon", "png": "image/png", "jpg": "image/jpeg",
    "jpeg": "image/jpeg", "gif": "image/gif", "svg": "image/svg+xml", "webp": "image/webp", "avif": "image/avif",
    "woff2": "font/woff2", "woff": "font/woff", "php": "text/html",
}  # fmt: skip
ORIGIN_ERRORS = ("OriginError", "OriginConnectError", "OriginReadError", "OriginCommError")  # detail of a 5xx

# CloudFront percent-encodes bytes 0-32 and >= 127 and these characters (and % itself) in every field.
_CF_SPECIAL = frozenset(b"\"#%<>[\\]^`{|}~'")
_NEEDS_ENCODING = re.compile(r"""[\x00-\x20\x7f-\uffff"#%<>\[\\\]^`{|}~']""")

# Timing classes: (x-edge-result-type, time-taken, x-edge-response-result-type, time-to-first-byte, detailed type)
T_STATIC, T_PAGE, T_API, T_ERROR, T_CLOSED, T_REDIRECT, T_ORIGIN = range(7)
Timing = tuple[str, str, str, str, str]
# edge\t, \tip\t, \tencoded ua\t, host\tscheme, xff\tssl\tcipher, proto\t-\t-\tport
Session = tuple[str, str, str, str, str, str]
Response = tuple[str, str, int, int]  # method\tcs(Host)\tstem\tstatus, type\tlength, sc-bytes, timing class
M_FULL, M_CACHED, M_NEXT, M_NEXT_REVAL = range(4)  # which assets a page view fetches


def cf_encode(value: str) -> str:
    """A value as CloudFront writes it: bytes 0-32, >= 127 and ``"#%<>[\\]^`{|}~'`` as %XX."""
    if not _NEEDS_ENCODING.search(value):
        return value
    return "".join(f"%{b:02X}" if b <= 0x20 or b >= 0x7F or b in _CF_SPECIAL else chr(b) for b in value.encode("utf-8"))


def content_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[1] if "." in name else ""
    return CONTENT_TYPES.get(ext, "application/octet-stream" if ext in ASSET_EXTENSIONS else "text/html")


def is_asset(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return "." in name and name.rsplit(".", 1)[1] in ASSET_EXTENSIONS


@dataclass(frozen=True)
class CfOptions:
    """Every knob of one generation run (pages, agents and addresses come from gen_access_log's Site)."""

    lines: int
    seed: int = 42
    files: int = 1
    hours: int = 1
    start: dt.datetime = dt.datetime(2026, 11, 1, 13)
    distribution: str = "E2ABC1EXAMPLE"
    cloudfront_domain: str = "d1234abcdef8.cloudfront.net"
    host: str = "www.example.com"
    ips: int = 20_000
    uas: int = 800
    paths: int = 3_500
    ipv6_share: float = 0.095
    bot_share: float = 0.15
    http_share: float = 0.02
    double_encoded_share: float = 0.01
    utf8_ua_share: float = 0.0005
    part_lines: int = 100_000


@dataclass
class CfTruth(Truth):
    """gen_access_log's Truth plus what only CloudFront logs have."""

    data_lines: int = 0
    compressed: int = 0
    http_redirects: int = 0
    double_encoded: int = 0
    utf8_ua: int = 0
    xff: int = 0
    hosts: Counter[str] = field(default_factory=Counter)
    edges: Counter[str] = field(default_factory=Counter)

    def merge(self, other: Truth) -> None:
        """Add other's counts; parts arrive in file order, not time order, so keep the extreme times."""
        assert isinstance(other, CfTruth)
        stamps = [ts for ts in (self.first_ts, self.last_ts, other.first_ts, other.last_ts) if ts]
        super().merge(other)
        for name in ("data_lines", "compressed", "http_redirects", "double_encoded", "utf8_ua", "xff"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.hosts.update(other.hosts)
        self.edges.update(other.edges)
        self.first_ts, self.last_ts = (min(stamps), max(stamps)) if stamps else ("", "")


class CfSite:
    """The shared gen_access_log site plus CloudFront pools and response caches; the same in every worker."""

    def __init__(self, o: CfOptions) -> None:
        self.o = o
        self.site = site = Site(Options(lines=o.lines, seed=o.seed, days=1, ips=o.ips, uas=o.uas, paths=o.paths,
                                        ipv6_share=o.ipv6_share, bot_share=o.bot_share, host=o.host))  # fmt: skip
        rng = random.Random(f"{o.seed}/cloudfront")
        self.edge_table = table([e for e, _ in EDGES], [w for _, w in EDGES], 1 << 10)
        self.tls_table = table([t for t, _ in TLS], [w for _, w in TLS], 1 << 8)
        self.stems = [cf_encode(p.path) for p in site.pages]
        self.page_url = [cf_encode(url) for url in site.page_url]
        apex = o.host.removeprefix("www.")
        self.hosts = table([o.host, apex, "-"], [0.945, 0.054, 0.001], 1 << 12)
        self.timings = [self.timing_pool(rng, kind) for kind in range(7)]
        self.cs_bytes = [str(x) for x in (rng.choice((38, 41, 52, 67, 88)) if i % 3 else rng.randint(90, 1400)
                                          for i in range(997))]  # fmt: skip
        outcomes = page_outcomes()
        self.outcome_table = table([x[:4] for x in outcomes], [x[4] for x in outcomes], 1 << 16)
        # Deterministic caches (their content never depends on which part filled them).
        self.ua_cache: dict[str, str] = {}
        self.page_cache: dict[tuple[int, int], Response] = {}
        self.asset_cache: dict[tuple[int, int], tuple[tuple[tuple[Response, int], ...], int, tuple[str, ...]]] = {}
        self.bot_cache: dict[tuple[str, str, int, int], tuple[Response, str, str]] = {}
        self.api_cache: dict[tuple[int, int], tuple[Response, str, str]] = {}

    @staticmethod
    def timing_pool(rng: random.Random, kind: int) -> list[Timing]:
        """512 ready (result, time-taken, response result, first byte, detail) combinations of one class."""
        out: list[Timing] = []
        for _ in range(512):
            r = rng.random()
            if kind in (T_STATIC, T_PAGE):
                if r < (0.88 if kind == T_STATIC else 0.55):
                    taken, result = rng.randint(0, 6) / 1000, "Hit"
                else:
                    taken, result = rng.randint(18, 380) / 1000, "RefreshHit" if r > 0.96 else "Miss"
                out.append((result, f"{taken:.3f}", result, f"{taken * rng.uniform(0.6, 1.0):.3f}", result))
            elif kind == T_API:
                taken = rng.randint(25, 520) / 1000
                out.append(("Miss", f"{taken:.3f}", "Miss", f"{taken * rng.uniform(0.8, 1.0):.3f}", "Miss"))
            elif kind == T_ERROR:
                taken = rng.randint(1, 90) / 1000
                out.append(("Error", f"{taken:.3f}", "Error", f"{taken:.3f}", "Error"))
            elif kind == T_ORIGIN:
                taken = rng.randint(30, 30_000) / 1000
                out.append(("Error", f"{taken:.3f}", "Error", f"{taken:.3f}", rng.choice(ORIGIN_ERRORS)))
            elif kind == T_CLOSED:
                taken = rng.randint(0, 2500) / 1000
                out.append(("Error", f"{taken:.3f}", "Error", "-", "ClientCommError"))
            else:
                out.append(("Redirect", "0.000", "Redirect", "0.000", "Redirect"))
        return out

    def response(
        self, method: str, stem: str, status: int, ctype: str, clen: str, sc_bytes: int, kind: int = -1
    ) -> Response:
        """The fixed fields of one kind of response; 499 (nginx's "client went away") is logged as 000."""
        if status == 499:
            text, kind, ctype, clen = "000", T_CLOSED, "-", "-"
        else:
            text = str(status)
            if kind < 0:
                kind = T_ORIGIN if status >= 500 else T_ERROR if status >= 400 else \
                    T_API if stem.startswith("/api/") else T_STATIC if is_asset(stem) else T_PAGE  # fmt: skip
        return f"{method}\t{self.o.cloudfront_domain}\t{stem}\t{text}", f"{ctype}\t{clen}", sc_bytes, kind

    def agent(self, ua: str) -> str:
        enc = self.ua_cache.get(ua)
        if enc is None:
            enc = self.ua_cache[ua] = cf_encode(ua)
        return enc

    def page(self, pi: int, status: int) -> Response:
        """GET of page pi answered with status (200, 304, 404, 499 or 5xx)."""
        got = self.page_cache.get((pi, status))
        if got is None:
            page = self.site.pages[pi]
            stem = self.stems[pi]
            if status == 200:
                ctype = "text/html;%20charset=utf-8" if pi % 3 == 0 else "text/html"
                got = self.response("GET", stem, 200, ctype, str(page.nbytes) if pi & 1 else "-",
                                    page.nbytes + 310 + pi % 150)  # fmt: skip
            elif status == 304:
                got = self.response("GET", stem, 304, "-", "-", 290 + pi % 60)
            elif status == 499:
                got = self.response("GET", stem, 499, "-", "-", pi % 1200)
            else:
                body = 4_791 if status == 404 else 157
                got = self.response("GET", stem, status, "text/html", str(body), body + 300)
            self.page_cache[(pi, status)] = got
        return got

    def assets(self, pi: int, mode: int) -> tuple[tuple[tuple[Response, int], ...], int, tuple[str, ...]]:
        """((response, seconds later), ...), how many are 304, their paths: the assets of one page view."""
        got = self.asset_cache.get((pi, mode))
        if got is None:
            core = self.site.core_assets[0]
            imgs = self.site.pages[pi].images
            if mode == M_FULL:  # cold cache: css, js, font, images, favicon
                items = [(p, 200, b) for p, b in (*core[:3], *imgs, core[3])]
            elif mode == M_CACHED:  # warm cache on landing: images revalidated
                items = [(p, 304, 0) for p, _ in imgs]
            elif mode == M_NEXT:  # next page: only its own images
                items = [(p, 200, b) for p, b in imgs]
            else:  # M_NEXT_REVAL
                items = [(p, 304, 0) for p, _ in core[:2]] + [(p, 200, b) for p, b in imgs]
            responses = tuple(
                (self.response("GET", p, 200, content_type(p), str(b), b + 330 + (b & 63)), int(b > 100_000))
                if s == 200 else (self.response("GET", p, 304, "-", "-", 250 + len(p)), 0)
                for p, s, b in items
            )  # fmt: skip
            got = (responses, sum(1 for _, s, _ in items if s == 304), tuple(p for p, _, _ in items))
            self.asset_cache[(pi, mode)] = got
        return got

    def api(self, spec: int, pi: int) -> tuple[Response, str, str]:
        """(response, query as logged, path) of an XHR call made by page pi."""
        meth, target, use_pi, s, nb, _w = self.site.api_specs[spec]
        key = (spec, pi if use_pi else -1)
        got = self.api_cache.get(key)
        if got is None:
            path, _, query = (target + (str(pi) if use_pi else "")).partition("?")
            resp = self.response(meth, path, s, "application/json" if nb else "-", str(nb), nb + 280)
            got = self.api_cache[key] = (resp, cf_encode(query) or "-", path)
        return got

    def bot(self, request: tuple[str, str, int, int]) -> tuple[Response, str, str]:
        """(response, query as logged, path) of one gen_access_log bot request."""
        got = self.bot_cache.get(request)
        if got is None:
            meth, target, s, nb = request
            path, _, query = target.partition("?")
            ctype = "-" if s == 304 else content_type(path)
            clen = str(nb) if s == 200 and meth != "HEAD" else "-"
            resp = self.response(meth, cf_encode(path), s, ctype, clen, (0 if meth == "HEAD" else nb) + 300)
            got = self.bot_cache[request] = (resp, cf_encode(query) or "-", path)
        return got


class Part:
    """One file part: plans requests inside the file's hour, renders them, keeps the ground truth.

    Its RNG is seeded by (seed, file, part), so the bytes do not depend on which worker renders it.
    """

    def __init__(self, cf: CfSite, file_index: int, part: int, hour: int, n_lines: int) -> None:
        self.cf = cf
        self.site = cf.site
        self.o = cf.o
        self.part = part
        self.hour = hour
        self.n_lines = n_lines
        self.rng = rng = random.Random(f"{self.o.seed}/cloudfront/{file_index}/{part}")
        self.rand = rng.random
        block = max(64, min(8192, n_lines // 2))

        def draws(tab: list[Any], k: int = block) -> Iterator[Any]:
            return stream(lambda n: rng.choices(tab, k=n), k)

        site = self.site
        self.page_it = draws(site.page_table)
        self.hua_it = draws(site.hua_table)
        self.v4_it = draws(site.v4_table)
        self.search_it = draws(site.search_table, 1024)
        self.social_it = draws(site.social_table, 1024)
        self.fam_it = draws(site.fam_table, 1024)
        self.outcome_it = draws(cf.outcome_table)
        self.api_it = draws(site.api_table)
        self.edge_it = draws(cf.edge_table, 1024)
        self.tls_it = draws(cf.tls_table, 1024)
        self.host_it = draws(cf.hosts, 1024)
        self.index_it = stream(lambda n: [rng.getrandbits(30) for _ in range(n)], block)
        # Request ids: base64url of 40 random bytes (54 characters, the last one holding 2 bits, then "==").
        ids = base64.urlsafe_b64encode(rng.randbytes(42 * n_lines)).decode("ascii")
        self.rids = [ids[j : j + 53] + "AQgw"[ord(ids[j + 53]) & 3] for j in range(0, 56 * n_lines, 56)]
        self.truth = CfTruth()
        self.rest: list[str] = []
        self.keys: list[int] = []
        stamp = self.o.start + dt.timedelta(hours=hour)
        day = stamp.strftime("%Y-%m-%d") + "\t"
        self.hms = [f"{day}{stamp.hour:02d}:{m:02d}:{s:02d}\t" for m in range(60) for s in range(60)]
        self.hms += self.hms[-1:] * 2  # finish times of the hour's last second can reach 3600 or 3601
        self.timings = cf.timings
        self.cs_bytes = cf.cs_bytes
        self.add_line = self.rest.append
        self.add_key = self.keys.append

    # -- one record ---------------------------------------------------------

    def emit(self, t: int, sess: Session, resp: Response, ref: str, query: str) -> None:
        """Queue one record for second t of the hour."""
        i = len(self.rest)
        r = next(self.index_it)
        head, tail, sc_bytes, kind = resp
        res, taken, rres, first, detail = self.timings[kind][r & 511]
        self.add_key((t << SHIFT) | i)
        self.add_line(
            f"{self.hms[t]}{sess[0]}{sc_bytes}{sess[1]}{head}\t{ref}{sess[2]}{query}\t-\t{res}\t{self.rids[i]}==\t{sess[3]}\t"
            f"{self.cs_bytes[r % 997]}\t{taken}\t{sess[4]}\t{rres}\t{sess[5]}\t{first}\t{detail}\t{tail}\t-\t-\n"
        )

    # -- planning -----------------------------------------------------------

    def session(self, ip: str, ua: str, edge: str, proto: str, decoded_ua: str) -> Session:
        rnd = self.rand
        host = next(self.host_it)
        tls = "TLSv1.3\tTLS_AES_128_GCM_SHA256" if proto == "HTTP/3.0" else next(self.tls_it)
        xff = "-"
        if rnd() < 0.02:  # behind a proxy that adds X-Forwarded-For
            v4 = self.site.v4
            xff = v4[int(rnd() * len(v4))]
            if rnd() < 0.3:
                xff += ",%20" + v4[int(rnd() * len(v4))]
        self.truth.ips.add(ip)
        self.truth.uas.add(decoded_ua)
        port = 1024 + int(rnd() * 64511)
        return (f"{edge}\t", f"\t{ip}\t", f"\t{ua}\t", f"{host}\thttps", f"{xff}\t{tls}", f"{proto}\t-\t-\t{port}")

    def count(self, sess: Session, n: int) -> None:
        """Per-session truth for n more lines."""
        tr = self.truth
        tr.edges[sess[0][:-1]] += n
        host = sess[3].split("\t", 1)[0]
        tr.hosts["" if host == "-" else host.lower()] += n
        if ":" in sess[1]:
            tr.v6_lines += n
        if sess[4][0] != "-":
            tr.xff += n

    def human_agent(self) -> tuple[str, str, int]:
        """(agent as logged, agent as sent, 0 plain / 1 encoded twice / 2 raw UTF-8) of one human visitor."""
        rnd = self.rand
        x = rnd()
        if x < self.o.utf8_ua_share:
            ua = UTF8_UAS[int(rnd() * len(UTF8_UAS))]
            return self.cf.agent(ua), ua, 2
        ua = next(self.hua_it)
        if x < self.o.utf8_ua_share + self.o.double_encoded_share:
            return cf_encode(self.cf.agent(ua)), ua, 1
        return self.cf.agent(ua), ua, 0

    def landing_ref(self) -> tuple[str, str]:
        """(referrer, query) of a session's first page, as logged."""
        rnd = self.rand
        r = rnd()
        if r < 0.07:
            q, ref = UTM_QUERIES[int(rnd() * len(UTM_QUERIES))]
            return ("-" if rnd() < 0.25 else ref), cf_encode(q[1:])
        if r < 0.45:
            return "-", "-"
        if r < 0.78:
            return next(self.search_it), "-"
        if r < 0.90:
            ref = next(self.social_it)
            tco = self.site.tco
            return (tco[int(rnd() * len(tco))] if ref == "https://t.co/" else ref), "-"
        return OTHER_REFS[int(rnd() * len(OTHER_REFS))], "-"

    def plan_human(self, room: int) -> int:
        """One visitor session; returns the number of lines planned (never more than room)."""
        cf, site, o, rnd, tr = self.cf, self.site, self.o, self.rand, self.truth
        emit = self.emit
        pages = site.pages
        status = tr.status
        paths = tr.paths
        v6 = site.v6
        ip = v6[int(rnd() * len(v6))] if (rnd() < o.ipv6_share and v6) else next(self.v4_it)
        ua, decoded_ua, ua_kind = self.human_agent()
        p = rnd()
        proto = "HTTP/2.0" if p < 0.62 else ("HTTP/1.1" if p < 0.95 else "HTTP/3.0")
        insecure = rnd() < o.http_share
        sess = self.session(ip, ua, next(self.edge_it), proto, decoded_ua)
        t = int(rnd() * 3600)
        cached = rnd() < 0.45
        npv = 1
        while npv < 30 and rnd() < 0.6:
            npv += 1
        used = 0
        prev = "-"
        for k in range(npv):
            pi = next(self.page_it)
            page = pages[pi]
            s, n_api, reval, is_pv = next(self.outcome_it)
            ref, query = self.landing_ref() if k == 0 else (prev, "-")
            if page.search:
                query = cf_encode("q=" + SEARCH_TERMS[int(rnd() * len(SEARCH_TERMS))])
            redirect = page.can_redirect and rnd() < 0.3  # an old link without the trailing slash
            if redirect:
                s, is_pv = 200, True
            if s in (200, 304, 404):
                mode = (M_CACHED if cached else M_FULL) if k == 0 else (M_NEXT_REVAL if reval else M_NEXT)
                items, n304, apaths = cf.assets(pi, mode)
            else:
                items, n304, apaths = (), 0, ()
            first_http = insecure and k == 0
            n = 1 + first_http + redirect + len(items) + n_api
            if n > room - used:
                first_http, redirect, items, n304, apaths, n_api, n = False, False, (), 0, (), 0, 1
            if first_http:  # viewer protocol policy redirect-to-https, answered by CloudFront itself
                http = (*sess[:3], sess[3].replace("\thttps", "\thttp"), "-\t-\t-", sess[5])
                emit(t, http, cf.response("GET", cf.stems[pi], 301, "text/html", "167", 487, T_REDIRECT), ref, query)
                status[301] += 1
                tr.http_redirects += 1
                t += 1
            if redirect:
                emit(t, sess, cf.response("GET", cf.stems[pi][:-1], 301, "text/html", "162", 162 + 310), ref, query)
                status[301] += 1
                paths.add(page.path[:-1])
            emit(t, sess, cf.page(pi, s), ref, query)
            status[s] += 1
            paths.add(page.path)
            tr.pv += is_pv
            here = cf.page_url[pi] if query == "-" else f"{cf.page_url[pi]}?{query}"
            if items:
                for resp, later in items:
                    emit(t + later, sess, resp, here, "-")
                status[304] += n304
                status[200] += len(items) - n304
                tr.asset += len(items)
                paths.update(apaths)
            for _ in range(n_api):
                meth, s2 = self.api_line(t, sess, pi, here)
                status[s2] += 1
                tr.post += meth == "POST"
            tr.api += n_api
            used += n
            if used >= room:
                break
            prev = here
            t += 4 + int(-math.log(1.0 - rnd()) * 50)
            if t >= 3600:
                break
        self.count(sess, used)
        if ua_kind == 1:
            tr.double_encoded += used
        elif ua_kind == 2:
            tr.utf8_ua += used
        return used

    def api_line(self, t: int, sess: Session, pi: int, ref: str) -> tuple[str, int]:
        """One XHR call by page pi; returns its (method, status)."""
        spec = next(self.api_it)
        resp, query, path = self.cf.api(spec, pi)
        self.emit(t, sess, resp, ref, query)
        self.truth.paths.add(path)
        meth, _, _, s, _, _ = self.site.api_specs[spec]
        return meth, s

    def plan_bot(self, room: int) -> int:
        """One crawler, monitor or scanner visit; returns lines planned (never more than room)."""
        cf, site, rnd, tr = self.cf, self.site, self.rand, self.truth
        fi = next(self.fam_it)
        fam = BOT_FAMILIES[fi]
        uas = site.bot_uas[fam]
        ua = uas[int(rnd() * len(uas))]
        if fam == "googlebot" and site.v6 and rnd() < 0.2:
            ip = site.v6[(fi * 7 + int(rnd() * 6)) % len(site.v6)]
        else:
            ip = site.v4[(fi * 11 + int(rnd() * 8)) % len(site.v4)]
        proto = "HTTP/2.0" if fi < 2 and rnd() < 0.4 else "HTTP/1.1"
        sess = self.session(ip, cf.agent(ua), BOT_EDGES[(fi + int(rnd() * 2)) % len(BOT_EDGES)], proto, ua)
        t = int(rnd() * 3600)
        n = min(room, 1 + int(rnd() * BOT_MAX_REQUESTS[fi]))
        image_ua = ua.startswith("Googlebot-Image")
        gap = 120.0 if fam == "curl" else 20.0
        used = 0
        if fi < 4 and not image_ua and rnd() < 0.5:  # crawlers start with robots.txt
            self.emit(t, sess, cf.bot(("GET", "/robots.txt", 200, 68))[0], "-", "-")
            tr.status[200] += 1
            tr.asset += 1
            tr.paths.add("/robots.txt")
            used = 1
            t += 1 + int(-math.log(1.0 - rnd()) * gap)
        while used < n and t < 3600:
            request = site.bot_request(self.rng, fi, image_ua, 0)
            resp, query, path = cf.bot(request)
            self.emit(t, sess, resp, "-", query)
            meth, s = request[0], request[2]
            tr.status[s] += 1
            tr.post += meth == "POST"
            tr.head += meth == "HEAD"
            if path.startswith("/api/"):
                tr.api += 1
            elif is_asset(path):
                tr.asset += 1
            tr.paths.add(path)
            used += 1
            t += 1 + int(-math.log(1.0 - rnd()) * gap)
        tr.bot += used
        self.count(sess, used)
        return used

    def plan(self) -> None:
        room = self.n_lines
        share = self.o.bot_share
        total = bots = 0
        while room > 0:
            if bots < share * (total + 1):
                n = self.plan_bot(room)
                bots += n
            else:
                n = self.plan_human(room)
            total += n
            room -= n
        self.keys.sort()
        self.truth.data_lines = self.n_lines

    # -- writing ------------------------------------------------------------

    def render(self) -> str:
        """The part's text in time order (the header first in part 0 of a file)."""
        rest = self.rest
        text = "".join([rest[k & MASK] for k in self.keys])
        if self.keys:
            stamp = self.o.start + dt.timedelta(hours=self.hour)
            tr = self.truth
            first, last = self.keys[0] >> SHIFT, min(self.keys[-1] >> SHIFT, 3599)
            tr.first_ts = (stamp + dt.timedelta(seconds=first)).isoformat() + "Z"
            tr.last_ts = (stamp + dt.timedelta(seconds=last)).isoformat() + "Z"
        return (HEADER if self.part == 0 else "") + text


@dataclass(frozen=True)
class Job:
    """One gzip member: file part `part` of file `file_index`, `lines` requests in UTC hour `hour`."""

    file_index: int
    part: int
    hour: int
    lines: int


def plan_files(o: CfOptions) -> tuple[list[str], list[Job]]:
    """File names and the jobs that fill them, in file order."""
    rng = random.Random(f"{o.seed}/cloudfront/names")
    hour_weights = [HOURLY[(o.start + dt.timedelta(hours=h)).hour] for h in range(o.hours)]
    per_hour = allocate(o.lines, hour_weights)
    file_hours = [k * o.hours // o.files for k in range(o.files)]
    names: list[str] = []
    jobs: list[Job] = []
    for h in range(o.hours):
        mine = [k for k, fh in enumerate(file_hours) if fh == h]
        for k, n in zip(mine, allocate(per_hour[h], [1.0] * len(mine)), strict=True):
            stamp = (o.start + dt.timedelta(hours=h)).strftime("%Y-%m-%d-%H")
            names.append(f"{o.distribution}.{stamp}.{rng.getrandbits(32):08x}.gz")
            parts = max(1, -(-n // o.part_lines))
            for p, m in enumerate(allocate(n, [1.0] * parts)):
                jobs.append(Job(k, p, h, m))
    return names, jobs


_CF: CfSite | None = None


def _init_worker(o: CfOptions) -> None:
    global _CF
    gc.disable()  # hundreds of thousands of long-lived strings per part: the cyclic GC would only rescan them
    _CF = CfSite(o)


def _run_part(args: tuple[Job, int]) -> tuple[Job, bytes, CfTruth]:
    job, level = args
    assert _CF is not None
    part = Part(_CF, job.file_index, job.part, job.hour, job.lines)
    part.plan()
    text = part.render().encode("ascii")
    part.truth.nbytes = len(text)
    data = gzip.compress(text, compresslevel=level, mtime=0)
    part.truth.compressed = len(data)
    return job, data, part.truth


def generate(o: CfOptions, out_dir: Path, workers: int, level: int = 6) -> tuple[list[Path], CfTruth]:
    """Write the .gz files into out_dir; returns their paths and the ground truth."""
    names, jobs = plan_files(o)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in names]
    truth = CfTruth()
    handles = {}

    def results() -> Iterator[tuple[Job, bytes, CfTruth]]:
        work = [(j, level) for j in jobs]
        if workers <= 1 or len(jobs) <= 1:
            gc_was_on = gc.isenabled()
            try:
                _init_worker(o)
                yield from map(_run_part, work)
            finally:
                if gc_was_on:
                    gc.enable()
            return
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        with ctx.Pool(min(workers, len(jobs)), initializer=_init_worker, initargs=(o,)) as pool:
            yield from pool.imap(_run_part, work, chunksize=1)

    try:
        for job, data, tr in results():
            f = handles.get(job.file_index)
            if f is None:
                for old in handles.values():
                    old.close()
                handles.clear()
                f = handles[job.file_index] = open(paths[job.file_index], "wb")  # noqa: SIM115
            f.write(data)
            truth.merge(tr)
    finally:
        for f in handles.values():
            f.close()
    return paths, truth


def stats_json(o: CfOptions, paths: list[Path], tr: CfTruth, seconds: float, workers: int) -> dict[str, Any]:
    """The ground truth as JSON: see its "definitions" key."""
    headers = HEADER_LINES * len(paths)
    status = {("000" if s == 499 else str(s)): n for s, n in enumerate(tr.status) if n}
    options = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in vars(o).items()}
    return {
        "generator": "bench/gen_cloudfront_log.py",
        "format": "cloudfront",
        "options": options,
        "files": [p.name for p in paths],
        "lines": tr.data_lines + headers,
        "data_lines": tr.data_lines,
        "header_lines": headers,
        "bytes": tr.nbytes,
        "compressed_bytes": tr.compressed,
        "first_ts": tr.first_ts,
        "last_ts": tr.last_ts,
        "must_reject": headers,
        "expected_rejects": {"header": headers, "total": headers},
        "accepted_lines": tr.data_lines,
        "bot_lines": tr.bot,
        "human_lines": tr.data_lines - tr.bot,
        "asset_lines": tr.asset,
        "api_lines": tr.api,
        "pageview_candidates": tr.pv,
        "ipv6_lines": tr.v6_lines,
        "xff_lines": tr.xff,
        "http_redirect_lines": tr.http_redirects,
        "double_encoded_ua_lines": tr.double_encoded,
        "utf8_ua_lines": tr.utf8_ua,
        "distinct_ips": len(tr.ips),
        "distinct_ipv6": sum(1 for ip in tr.ips if ":" in ip),
        "distinct_uas": len(tr.uas),
        "distinct_paths": len(tr.paths),
        "hosts": dict(sorted(tr.hosts.items())),
        "edge_locations": dict(sorted(tr.edges.items())),
        "status": status,
        "method": {"GET": tr.data_lines - tr.post - tr.head, "POST": tr.post, "HEAD": tr.head},
        "definitions": {
            "lines": "every line of the decompressed files (what `zcat FILES | wc -l` counts)",
            "must_reject": "the #Version and #Fields lines of each file (reason `header`); every data line parses",
            "counts": "over data lines",
            "bot_lines": "user agent is Googlebot, bingbot, AhrefsBot, GPTBot, curl or python-requests",
            "asset_lines": "path (without query) ends in ." + " .".join(ASSET_EXTENSIONS),
            "api_lines": "path starts with /api/",
            "pageview_candidates": "GET, status 2xx or 304, not an asset, not /api/, not a bot",
            "status": "as logged; 000 = the viewer closed the connection before the response",
            "hosts": "x-host-header lower-cased; '' = '-'",
            "distinct_uas": "user agents as the client sent them (CloudFront's encoding undone, once or twice)",
            "distinct_paths": "request paths as the client sent them (CloudFront's layer undone, the client's kept)",
        },
        "generate_seconds": round(seconds, 3),
        "workers": workers,
    }


def parse_start(text: str) -> dt.datetime:
    """`2026-11-01T13` (or any ISO date/time) -> the UTC hour it falls in."""
    return dt.datetime.fromisoformat(text).replace(minute=0, second=0, microsecond=0, tzinfo=None)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    ap.add_argument("--lines", type=int, required=True, help="number of requests (data lines) in all files")
    ap.add_argument("-o", "--output", type=Path, required=True, help="directory for the .gz files (created)")
    ap.add_argument("--files", type=int, default=1, help="number of .gz objects (default 1)")
    ap.add_argument("--hours", type=int, help="UTC hours covered, at most --files (default: one file per hour)")
    ap.add_argument("--start", type=parse_start, default=dt.datetime(2026, 11, 1, 13), help="first UTC hour")
    ap.add_argument("--seed", type=int, default=42, help="RNG seed; same seed and flags = same bytes")
    ap.add_argument("--distribution-id", default="E2ABC1EXAMPLE", help="distribution ID in the file names")
    ap.add_argument("--cloudfront-domain", default="d1234abcdef8.cloudfront.net", help="cs(Host) value")
    ap.add_argument("--host", default="www.example.com", help="x-host-header (the site's own domain)")
    ap.add_argument("--ips", type=int, default=20_000, help="distinct client addresses (at most 762 are IPv4)")
    ap.add_argument("--uas", type=int, default=800, help="distinct user agents")
    ap.add_argument("--paths", type=int, default=3_500, help="distinct paths, roughly")
    ap.add_argument("--ipv6-share", type=float, default=0.095, help="share of sessions from IPv6 clients")
    ap.add_argument("--bot-share", type=float, default=0.15, help="share of lines from bots")
    ap.add_argument("--http-share", type=float, default=0.02, help="share of sessions that start on http://")
    ap.add_argument("--double-encoded-share", type=float, default=0.01, help="share of sessions with %%2520 agents")
    ap.add_argument("--utf8-ua-share", type=float, default=0.0005, help="share of sessions with a UTF-8 agent")
    ap.add_argument("--part-lines", type=int, default=100_000, help="lines per gzip member / parallel job")
    ap.add_argument("--gzip-level", type=int, default=6, choices=range(1, 10), metavar="1-9",
                    help="compression level (default 6, like gzip)")  # fmt: skip
    ap.add_argument("--workers", type=int, default=default_workers(), help="processes (output does not depend on it)")
    ap.add_argument("--stats", metavar="PATH", help="write the ground truth JSON here ('-' = stderr)")
    a = ap.parse_args(argv)
    a.hours = a.hours or a.files
    if a.lines < 0 or a.files < 1 or a.hours < 1 or a.part_lines < 1 or a.ips < 1 or a.uas < 1 or a.paths < 1:
        ap.error("--lines must be >= 0; --files, --hours, --part-lines, --ips, --uas and --paths >= 1")
    if a.hours > a.files:
        ap.error("--hours must not exceed --files: every hour needs at least one file")
    for name in ("ipv6_share", "bot_share", "http_share", "double_encoded_share", "utf8_ua_share"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            ap.error(f"--{name.replace('_', '-')} must be within 0..1")
    if not re.fullmatch(r"[A-Z0-9]{1,32}", a.distribution_id):
        ap.error("--distribution-id must be upper-case letters and digits, like E2ABC1EXAMPLE")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    o = CfOptions(lines=a.lines, seed=a.seed, files=a.files, hours=a.hours, start=a.start,
                  distribution=a.distribution_id, cloudfront_domain=a.cloudfront_domain, host=a.host, ips=a.ips,
                  uas=a.uas, paths=a.paths, ipv6_share=a.ipv6_share, bot_share=a.bot_share, http_share=a.http_share,
                  double_encoded_share=a.double_encoded_share, utf8_ua_share=a.utf8_ua_share,
                  part_lines=a.part_lines)  # fmt: skip
    t0 = time.perf_counter()
    paths, truth = generate(o, a.output, a.workers, a.gzip_level)
    seconds = time.perf_counter() - t0
    if a.stats:
        text = json.dumps(stats_json(o, paths, truth, seconds, a.workers), indent=2) + "\n"
        if a.stats == "-":
            sys.stderr.write(text)
        else:
            Path(a.stats).write_text(text, encoding="utf-8")
    print(
        f"wrote {o.lines:,} requests in {len(paths)} file(s) under {a.output} ({truth.nbytes / 1e6:,.1f} MB, "
        f"{truth.compressed / 1e6:,.1f} MB gzip) in {seconds:.1f} s, {o.lines / max(seconds, 1e-9):,.0f} lines/s, "
        f"{a.workers} worker(s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
