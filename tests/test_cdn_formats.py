"""CDN and load-balancer formats (CloudFront, IIS W3C, AWS ALB, Bunny) through the real CLI.

Per-sample counts and exact rows live in tests/expected/samples.json (test_samples.py and
test_detect.py run them); these tests cover what those cannot: header state across batches
and sources, the CloudFront decoding layers, and events from a CDN log.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from parsers import reader, w3c
from parsers.reader import Source
from parsers.stream import FormatChoice, ParseReport, parse_all
from tests.conftest import SAMPLES, ndjson_rows, run_cli

IIS_HEADER = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2024-03-05 00:00:01",
]
IIS_DEFAULT = (
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) "
    "sc-status sc-substatus sc-win32-status time-taken"
)
IIS_WITH_HOST = "#Fields: date time c-ip cs-method cs-host cs-uri-stem cs-uri-query sc-status sc-bytes time-taken"


def parse(path: Path, *flags: str, tmp_path: Path) -> tuple[list[dict], list[dict], str]:
    rejects = tmp_path / "rejects.ndjson"
    result = run_cli("parse", str(path), *flags, "--output", "ndjson", "--rejects", str(rejects))
    assert result.exit_code == 0, result.stderr
    return ndjson_rows(result.stdout), ndjson_rows(rejects.read_text()), result.stderr


def test_cloudfront_directives_are_accounted_as_header_rejects(tmp_path: Path) -> None:
    rows, rejects, stderr = parse(SAMPLES / "cloudfront.log", "--format", "cloudfront", tmp_path=tmp_path)
    headers = [r for r in rejects if r["reason"] == "header"]
    assert [r["line"] for r in headers] == [1, 2]
    assert headers[0]["text"] == "#Version: 1.0"
    assert len(rows) + len(rejects) == 22
    assert "header 2" in stderr


def test_cloudfront_gzip_gives_the_same_rows_as_plain(tmp_path: Path) -> None:
    plain, _, _ = parse(SAMPLES / "cloudfront.log", "--format", "cloudfront", tmp_path=tmp_path)
    packed, _, _ = parse(SAMPLES / "cloudfront.log.gz", "--format", "cloudfront", tmp_path=tmp_path)
    assert [{k: v for k, v in r.items() if k != "file"} for r in plain] == [
        {k: v for k, v in r.items() if k != "file"} for r in packed
    ]
    assert gzip.decompress((SAMPLES / "cloudfront.log.gz").read_bytes()) == (SAMPLES / "cloudfront.log").read_bytes()


def test_cloudfront_layer_is_decoded_once_in_path_and_query_but_agents_twice() -> None:
    values = pl.Series(["/caf%25C3%25A9/menu", "q=a%2520b", "/%7Ealice/", "Caf%C3%A9Bot/1.0%20(x)", "-", None])
    assert w3c.cloudfront_decode(values).to_list() == [
        "/caf%C3%A9/menu", "q=a%20b", "/~alice/", "CaféBot/1.0 (x)", "-", None,
    ]


def test_cloudfront_v2_fields_in_another_order_and_timestamp_ms(tmp_path: Path) -> None:
    log = tmp_path / "E2EXAMPLE.2024-03-05-13.abcd1234.gz"
    lines = [
        "#Version: 1.0",
        "#Fields: timestamp(ms) c-ip cs-method x-host-header cs-uri-stem sc-status cs(User-Agent) cs-uri-query",
        "1709644927123\t203.0.113.42\tGET\twww.example.com\t/pricing\t200\tcurl/8.5.0\tplan=pro",
    ]
    log.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    rows, rejects, _ = parse(log, "--format", "cloudfront", tmp_path=tmp_path)
    assert [r["reason"] for r in rejects] == ["header", "header"]
    assert rows[0]["ts"] == "2024-03-05T13:22:07.123+00:00"
    assert (rows[0]["host"], rows[0]["path"], rows[0]["query"], rows[0]["status"]) == (
        "www.example.com", "/pricing", "plan=pro", 200,
    )


def _iis_line(i: int, with_host: bool) -> str:
    if with_host:
        return f"2024-03-05 14:{i // 60:02d}:{i % 60:02d} 203.0.113.{i % 250} GET WWW.Example.com:443 /p{i} - 200 {i} 5"
    return (f"2024-03-05 13:{i // 60:02d}:{i % 60:02d} 10.0.0.4 GET /p{i} - 443 - 198.51.100.{i % 250} "
            f"Mozilla/5.0+(X11;+Linux+x86_64) - 200 0 0 12")


def test_iis_fields_changing_mid_file_are_followed_across_many_small_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reader, "READ_BLOCK", 1024)  # 8 KiB reads, so the file spans many batches
    log = tmp_path / "u_ex240305.log"
    lines = [*IIS_HEADER, IIS_DEFAULT, *(_iis_line(i, False) for i in range(300))]
    lines += [*IIS_HEADER, IIS_WITH_HOST, *(_iis_line(i, True) for i in range(300))]
    log.write_text("\n".join(lines) + "\n")
    report = ParseReport()
    batches = list(parse_all([Source(str(log))], FormatChoice("iis"), report, batch_bytes=4096))
    assert len(batches) > 4  # the second #Fields sits in an earlier batch than most lines it describes
    rows = pl.concat([b.rows for b in batches])
    assert report.parsed == 600 and dict(report.rejected) == {"header": 8}
    first, second = rows.filter(pl.col("host").is_null()), rows.filter(pl.col("host").is_not_null())
    assert first.height == second.height == 300
    assert set(second.get_column("host")) == {"www.example.com"}
    assert second.get_column("bytes").to_list() == list(range(300))
    assert first.get_column("user_agent")[0] == "Mozilla/5.0 (X11; Linux x86_64)"


def test_each_source_starts_from_the_default_fields_not_the_previous_files_last_header(tmp_path: Path) -> None:
    headerless = tmp_path / "u_ex240306.log"  # e.g. a file picked up after its header was rotated away
    headerless.write_text("\n".join(_iis_line(i, False) for i in range(5)) + "\n")
    result = run_cli("parse", str(SAMPLES / "iis_w3c.log"), str(headerless), "--format", "iis", "--output", "ndjson")
    assert result.exit_code == 0, result.stderr
    rows = ndjson_rows(result.stdout)
    assert len(rows) == 14 + 5
    assert [r["path"] for r in rows if r["file"] == str(headerless)] == [f"/p{i}" for i in range(5)]


def test_iis_agent_plus_is_a_space_and_double_plus_keeps_a_literal_plus(tmp_path: Path) -> None:
    rows, _, _ = parse(SAMPLES / "iis_w3c.log", "--format", "iis", tmp_path=tmp_path)
    agents = {r["line"]: r["user_agent"] for r in rows}
    assert agents[9] == "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"
    assert {r["line"]: r["referrer"] for r in rows}[17] == "https://search.example.net/?q=iis+logs"  # not decoded


def test_alb_bad_request_and_trailing_fields(tmp_path: Path) -> None:
    rows, rejects, _ = parse(SAMPLES / "alb.log", "--format", "alb", tmp_path=tmp_path)
    assert {r["line"]: r["reason"] for r in rejects} == {8: "invalid_request", 13: "truncated", 15: "no_match"}
    assert all(r["referrer"] is None and r["content_type"] is None for r in rows)
    assert {r["line"] for r in rows} >= {11}  # the 29-field line (no conn_trace_id and later) parses too
    line = (SAMPLES / "alb.log").read_text().splitlines()[0] + ' TID_extra "future-field"'
    appended = tmp_path / "alb_future.log"
    appended.write_text(line + "\n")
    more, _, _ = parse(appended, "--format", "alb", tmp_path=tmp_path)
    assert more[0]["path"] == "/pricing" and more[0]["client_ip"] == "203.0.113.42"


def test_bunny_agent_with_a_pipe_and_anonymised_addresses(tmp_path: Path) -> None:
    rows, _, _ = parse(SAMPLES / "bunny.log", "--format", "bunny", tmp_path=tmp_path)
    by_line = {r["line"]: r for r in rows}
    assert by_line[9]["user_agent"] == "Mozilla/5.0 (compatible; Pipe|Bot/1.0; +https://bot.example.net/)"
    assert by_line[7]["client_ip"] == "0.0.0.0" and by_line[8]["client_ip"] == "::"
    assert all(r["method"] is None for r in rows)  # Bunny does not log the method


@pytest.mark.parametrize(
    ("name", "fmt"), [("cloudfront.log", "cloudfront"), ("cloudfront.log.gz", "cloudfront"), ("iis_w3c.log", "iis"),
                      ("alb.log", "alb"), ("bunny.log", "bunny"), ("cloudfront_realtime.log", "cloudfront_realtime")],
)
def test_cdn_samples_are_detected(name: str, fmt: str) -> None:
    result = run_cli("parse", str(SAMPLES / name), "--output", "ndjson")
    assert result.exit_code == 0, result.stderr
    assert f"detected format {fmt} (" in result.stderr
    assert "more text after the last field" not in result.stderr


def test_events_from_cloudfront(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    result = run_cli("events", str(SAMPLES / "cloudfront.log"), "--domain", "example.com",
                     "--summary-json", str(summary))
    assert result.exit_code == 0, result.stderr
    events = ndjson_rows(result.stdout)
    totals = json.loads(summary.read_text())
    assert totals["lines"] == 22 and totals["pageviews"] == len(events) == 11
    assert totals["parse_rejects"] == {"header": 2, "truncated": 1, "no_match": 1}
    urls = [e["body"]["url"] for e in events]
    assert urls[1] == "https://www.example.com/caf%C3%A9/menu?q=caf%C3%A9%20menu"
    assert "https://www.example.com/~alice/notes" in urls
    assert events[0]["headers"]["X-Forwarded-For"] == "203.0.113.42"
    assert events[0]["body"]["referrer"] == "https://www.example.org/"


def test_cloudfront_realtime_with_a_chosen_field_subset_named_by_a_fields_line(tmp_path: Path) -> None:
    log = tmp_path / "kinesis-records.log"
    agent = "Mozilla/5.0%20(Macintosh;%20Intel%20Mac%20OS%20X%2014_3)%20AppleWebKit/605.1.15"
    lines = [
        "#Fields: timestamp c-ip sc-status cs-method cs-protocol cs-host cs-uri-stem cs-user-agent cs-referer "
        "sc-content-type",
        f"1709644927.123\t203.0.113.42\t200\tGET\thttps\twww.example.com\t/pricing?plan=pro\t{agent}"
        "\thttps://www.example.org/\ttext/html",
    ]
    log.write_text("\n".join(lines) + "\n")
    rows, rejects, _ = parse(log, "--format", "cloudfront_realtime", tmp_path=tmp_path)
    assert [r["reason"] for r in rejects] == ["header"]
    assert rows[0]["ts"] == "2024-03-05T13:22:07.123+00:00"
    assert (rows[0]["host"], rows[0]["path"], rows[0]["query"]) == ("www.example.com", "/pricing", "plan=pro")
    assert rows[0]["user_agent"] == "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_3) AppleWebKit/605.1.15"


def test_standard_cloudfront_file_is_not_taken_for_realtime() -> None:
    result = run_cli("parse", str(SAMPLES / "cloudfront.log"), "--output", "ndjson")
    assert "detected format cloudfront (" in result.stderr


def test_w3c_sample_check_counts_directives_short_long_and_untimed_lines() -> None:
    """Detection's per-line judgement of a W3C sample: the field list in force, trailing text, time shape."""
    fields = "#Fields: date time c-ip cs-method cs-uri-stem sc-status"
    lines = [
        "#Version: 1.0",
        fields,
        "2024-03-05 10:00:00 192.0.2.1 GET / 200",  # exact
        "2024-03-05 10:00:01 192.0.2.1 GET / 200 trailing",  # loose only: text after the last field
        "2024-03-05 10:00:02 192.0.2.1 GET /",  # short: a field missing
        "05/03/2024 10:00:03 192.0.2.1 GET / 200",  # no valid date
        "#Fields: date time c-ip",
        "2024-03-05 10:00:04 192.0.2.1",  # exact under the new list
        None,  # nulls are not sample lines
    ]
    exact, loose = w3c.iis().match_fractions(pl.Series(lines, dtype=pl.String))
    assert (exact, loose) == (5 / 8, 6 / 8)
    assert w3c.iis().match_fractions(pl.Series(["#Version: 1.0", "#Fields: c-ip", "192.0.2.1"])) == (0.0, 0.0)
