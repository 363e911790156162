"""HAProxy, S3 access logs, classic ELB, CloudFront v2 JSON, Traefik CLF and the Fastly alias through the real CLI.

Per-sample counts and exact rows live in tests/expected/samples.json (test_samples.py, test_detect.py and
test_events.py run them); these tests cover the time zone of HAProxy's offset-less times, loading every new
sample into DuckDB, and the shapes the samples do not show.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SAMPLES, ndjson_rows, run_cli

EXPECTED = json.loads((Path(__file__).parent / "expected" / "samples.json").read_text())
HAPROXY_LINE = (
    "203.0.113.42:52114 [{when}] https-in~ web/web1 0/0/1/11/12 200 8321 - - ---- 1/1/1/1/0 0/0 "
    '{{www.example.com|Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0|}} "GET /p HTTP/1.1"'
)


def parse(path: Path, *flags: str, tmp_path: Path) -> tuple[list[dict], list[dict], str]:
    rejects = tmp_path / "rejects.ndjson"
    result = run_cli("parse", str(path), *flags, "--output", "ndjson", "--rejects", str(rejects))
    assert result.exit_code == 0, result.stderr
    return ndjson_rows(result.stdout), ndjson_rows(rejects.read_text()), result.stderr


@pytest.mark.parametrize(("zone", "first", "last"), [
    (None, "2024-03-05T14:22:07.123+00:00", "2024-03-06T00:30:00+00:00"),  # no --timezone: UTC
    ("America/New_York", "2024-03-05T19:22:07.123+00:00", "2024-03-06T05:30:00+00:00"),  # EST, -05:00
])
def test_haproxy_accept_dates_are_read_in_the_timezone_given(zone: str | None, first: str, last: str,
                                                              tmp_path: Path) -> None:
    flags = ("--timezone", zone) if zone else ()
    rows, _, _ = parse(SAMPLES / "haproxy.log", "--format", "haproxy", *flags, tmp_path=tmp_path)
    assert (rows[0]["line"], rows[0]["ts"]) == (1, first)
    assert (rows[-1]["line"], rows[-1]["ts"]) == (15, last)


def test_haproxy_time_in_a_dst_gap_is_invalid_and_a_repeated_hour_is_the_first(tmp_path: Path) -> None:
    log = tmp_path / "haproxy.log"
    lines = [HAPROXY_LINE.format(when=w) for w in ("31/Mar/2024:02:30:00.000", "27/Oct/2024:02:30:00.000",
                                                   "27/Oct/2024:03:30:00.000")]
    log.write_text("\n".join(lines) + "\n")
    rows, rejects, _ = parse(log, "--format", "haproxy", "--timezone", "Europe/Berlin", tmp_path=tmp_path)
    assert [(r["line"], r["reason"]) for r in rejects] == [(1, "invalid_timestamp")]  # 02:00-03:00 does not exist
    # 02:30 happens twice on 27 Oct: the first (CEST, +02:00); 03:30 is after the change (CET, +01:00)
    assert [r["ts"] for r in rows] == ["2024-10-27T00:30:00+00:00", "2024-10-27T02:30:00+00:00"]


def test_an_unknown_timezone_is_a_one_line_usage_error() -> None:
    result = run_cli("parse", str(SAMPLES / "haproxy.log"), "--timezone", "Mars/Olympus_Mons")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: unknown time zone 'Mars/Olympus_Mons'; use an IANA name such as Europe/Berlin or UTC."
    ]


def test_haproxy_captures_are_told_apart_by_their_shape(tmp_path: Path) -> None:
    log = tmp_path / "haproxy.log"
    base = "192.0.2.5:4000 [05/Mar/2024:13:00:00.000] fe be/s1 0/0/0/1/1 200 10 - - ---- 1/1/1/1/0 0/0 "
    log.write_text("\n".join([
        # declared in another order (referrer, XFF, agent, host), and a response block with the content type
        base + '{https://www.example.org/|198.51.100.1, 192.0.2.9|curl/8.5.0|Shop.Example.com:8443} '
               '{no-cache|application/json} "GET /x HTTP/1.1"',
        # one block holding a response header: a MIME type is the content type, never the agent
        base + '{text/html; charset=utf-8} "GET /y HTTP/1.1"',
    ]) + "\n")
    rows, _, _ = parse(log, "--format", "haproxy", tmp_path=tmp_path)
    first, second = rows
    assert (first["referrer"], first["user_agent"], first["host"], first["content_type"]) == (
        "https://www.example.org/", "curl/8.5.0", "shop.example.com", "application/json")
    assert first["scheme"] is None  # a frontend without `~` does not say the visitor used TLS
    assert (second["referrer"], second["user_agent"], second["host"], second["content_type"]) == (
        None, None, None, "text/html; charset=utf-8")


# Page views worked out by hand from each sample (see sample_logs/README.md): pages fetched with GET, 2xx/304,
# by a browser; not assets, robots.txt, /api/*, bots, curl, redirects or errors.
PAGEVIEWS = {"haproxy.log": 5, "s3_access.log": 5, "elb_classic.log": 5, "cloudfront_json.log": 4,
             "traefik_clf.log": 10}


@pytest.mark.parametrize("name", sorted(PAGEVIEWS))
def test_every_new_sample_loads_and_a_second_load_skips_it(name: str, tmp_path: Path) -> None:
    db, summary = tmp_path / "site.duckdb", tmp_path / "summary.json"
    args = ("load", str(SAMPLES / name), "--db", str(db), "--domain", "example.com", "--key-file",
            str(tmp_path / "visitor.key"), "--summary-json", str(summary), *EXPECTED[name]["flags"])
    first = run_cli(*args)
    assert first.exit_code == 0, first.stderr
    totals = json.loads(summary.read_text())
    assert (totals["lines"], totals["pageviews"], totals["events_written"]) == (
        EXPECTED[name]["lines"], PAGEVIEWS[name], PAGEVIEWS[name])
    assert totals["dropped"]["invalid"] == sum(EXPECTED[name]["rejects"].values())
    again = run_cli(*args)
    assert again.exit_code == 0, again.stderr
    assert json.loads(summary.read_text())["files_skipped"] == [str(SAMPLES / name)]


def test_load_reads_haproxy_times_in_the_site_timezone(tmp_path: Path) -> None:
    db = tmp_path / "site.duckdb"
    result = run_cli("load", str(SAMPLES / "haproxy.log"), "--db", str(db), "--domain", "example.com", "--format",
                     "haproxy", "--timezone", "Europe/Berlin", "--key-file", str(tmp_path / "visitor.key"))
    assert result.exit_code == 0, result.stderr
    with duckdb.connect(str(db), read_only=True) as con:
        stamps = [str(t) for (t,) in con.execute("SELECT ts FROM events ORDER BY ts").fetchall()]
    # lines 1, 2, 6, 9 and 15, one hour behind the Berlin wall clock (seconds, as Plausible keeps them)
    assert stamps == ["2024-03-05 13:22:07", "2024-03-05 13:22:09", "2024-03-05 13:22:31", "2024-03-05 13:23:40",
                      "2024-03-05 23:30:00"]


def test_fastly_default_clf_is_read_as_common(tmp_path: Path) -> None:
    log = tmp_path / "fastly.log"
    log.write_text(
        '203.0.113.42 - - [05/Mar/2024:13:22:07 +0000] "GET /pricing?plan=pro HTTP/1.1" 200 8123\n'
        '203.0.113.43 "-" "-" [05/Mar/2024:13:22:08 +0000] "GET /blog/ HTTP/1.1" 200 5120\n'  # Fastly v1 style
    )
    rows, rejects, _ = parse(log, "--format", "fastly", tmp_path=tmp_path)
    assert rejects == []
    assert [(r["client_ip"], r["path"], r["query"], r["bytes"]) for r in rows] == [
        ("203.0.113.42", "/pricing", "plan=pro", 8123), ("203.0.113.43", "/blog/", None, 5120)]
    detected = run_cli("parse", str(log), "--output", "ndjson")
    assert "detected format common (" in detected.stderr


def test_cloudfront_json_with_numbers_and_epoch_timestamp(tmp_path: Path) -> None:
    log = tmp_path / "cf-v2.json"
    log.write_text('{"timestamp":1709644927,"c-ip":"203.0.113.42","cs-method":"GET","cs-uri-stem":"/pricing",'
                   '"sc-status":200,"sc-bytes":8321,"x-host-header":"www.example.com","cs-uri-query":"plan=pro"}\n')
    rows, rejects, _ = parse(log, "--format", "cloudfront_v2", tmp_path=tmp_path)
    assert rejects == []
    assert (rows[0]["ts"], rows[0]["status"], rows[0]["bytes"], rows[0]["host"], rows[0]["query"]) == (
        "2024-03-05T13:22:07+00:00", 200, 8321, "www.example.com", "plan=pro")

