"""JSON-lines formats: the bundled CDN/server presets, --json-map, detection and the decoder's edge cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from parsers.jsonlines import JsonMapError, auto_time, parse_path
from parsers.jsonpresets import from_json_map, preset
from tests.conftest import SAMPLES, ndjson_rows, run_cli

EXPECTED = json.loads((Path(__file__).parent / "expected" / "samples.json").read_text())
JSON_SAMPLES = {
    "caddy.log": "caddy",
    "cloudflare_logpush.log": "cloudflare",
    "traefik_json.log": "traefik_json",
    "akamai_datastream2.log": "akamai",
    "gcp_loadbalancer.log": "gcp",
    "azure_frontdoor.log": "azure_frontdoor",
    "fastly_json.log": "fastly_json",
}
NGINX_JSON_MAP = (
    "ts=time,client_ip=remote_addr,xff=xff,host=host,scheme=scheme,method=method,uri=uri,status=status,"
    "bytes=bytes,referrer=referer,user_agent=ua,content_type=ct,request_time_ms=rt"
)
NGINX_JSON_TEMPLATE = EXPECTED["nginx_json.log"]["flags"]


def _lines(texts: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"text": texts}, schema={"text": pl.String}).with_columns(
        pl.int_range(1, len(texts) + 1, dtype=pl.UInt64).alias("line"),
        pl.lit(0, dtype=pl.UInt64).alias("offset"),
    )


@pytest.mark.parametrize("name", sorted(JSON_SAMPLES))
def test_sample_parses_to_its_expectations_and_is_detected(name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    assert expected["flags"] == ["--format", JSON_SAMPLES[name]]
    rejects = tmp_path / "rejects.ndjson"
    result = run_cli("parse", *expected["flags"], "--output", "ndjson", "--rejects", str(rejects), str(SAMPLES / name))
    assert result.exit_code == 0, result.stderr
    rows = ndjson_rows(result.stdout)
    assert len(rows) == expected["rows"]
    assert Counter(r["reason"] for r in ndjson_rows(rejects.read_text())) == Counter(expected["rejects"])
    by_line = {r["line"]: r for r in rows}
    for example in expected["examples"]:
        assert {k: by_line[example["line"]][k] for k in example} == pytest.approx(example)
    detected = run_cli("parse", "--output", "ndjson", str(SAMPLES / name))
    assert f"detected format {JSON_SAMPLES[name]} (" in detected.stderr
    assert detected.stdout == result.stdout


def test_json_formats_score_zero_on_text_logs() -> None:
    lines = (SAMPLES / "nginx_combined.log").read_text(errors="replace").splitlines()
    texts = pl.Series([line for line in lines if line])
    for name in JSON_SAMPLES.values():
        assert preset(name).match_fractions(texts) == (0.0, 0.0)


def test_json_map_reads_a_custom_json_log_like_the_equivalent_template(tmp_path: Path) -> None:
    path = str(SAMPLES / "nginx_json.log")
    mapped = run_cli("parse", "--json-map", NGINX_JSON_MAP, "--output", "ndjson", path)
    assert mapped.exit_code == 0, mapped.stderr
    assert "lines 34 · parsed 30 · rejected 4 (" in mapped.stderr
    template = run_cli("parse", *NGINX_JSON_TEMPLATE, "--output", "ndjson", path)
    assert ndjson_rows(mapped.stdout) == ndjson_rows(template.stdout)


def test_json_map_errors_are_usage_errors(tmp_path: Path) -> None:
    log = tmp_path / "a.log"
    log.write_text('{"t":1}\n')
    result = run_cli("parse", "--json-map", "client_ip=ip,uri=u", str(log))
    assert result.exit_code == 2
    assert "--json-map needs ts=KEY" in result.stderr
    result = run_cli("parse", "--json-map", "ts=t,uri=u", "--log-format", "$remote_addr [$time_local]", str(log))
    assert result.exit_code == 2
    assert "give either --json-map or a format string" in result.stderr


def test_events_from_a_json_sample() -> None:
    result = run_cli("events", str(SAMPLES / "caddy.log"), "--domain", "example.com")
    assert result.exit_code == 0, result.stderr
    events = ndjson_rows(result.stdout)
    assert events[0]["body"]["url"] == "https://www.example.com/blog/hello-world?utm_source=newsletter&utm_medium=email"
    assert events[0]["headers"]["X-Forwarded-For"] == "203.0.113.42"
    assert all(e["body"]["domain"] == "example.com" for e in events)


def test_epoch_units_and_iso_are_told_apart() -> None:
    values = ["1709644927", "1709644927.5", "1709644927123", "1709644927123456", "1709644927123456789",
              "2024-03-05T14:22:07+01:00", "2024-03-05T13:22:07.1234567Z", "1.709644927e9", "05/Mar/2024:14:22:07 +0100", "soon"]
    out = pl.DataFrame({"v": values}).select(auto_time(pl.col("v")).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")).to_series()
    assert out.to_list() == [
        "2024-03-05T13:22:07.000000", "2024-03-05T13:22:07.500000", "2024-03-05T13:22:07.123000",
        "2024-03-05T13:22:07.123456", "2024-03-05T13:22:07.123456", "2024-03-05T13:22:07.000000",
        "2024-03-05T13:22:07.123456", "2024-03-05T13:22:07.000000", "2024-03-05T13:22:07.000000", None,
    ]


def test_paths_with_brackets_and_dashes() -> None:
    assert parse_path("request.headers.User-Agent[0]") == ("request", "headers", "User-Agent", 0)
    assert parse_path("a['b.c'][2].d") == ("a", "b.c", 2, "d")
    with pytest.raises(JsonMapError):
        parse_path("[0]")
    with pytest.raises(JsonMapError):
        from_json_map("ts=a,uri=a.b")


def test_every_line_is_a_row_or_a_reject_even_when_a_batch_fails_to_decode() -> None:
    good = '{"ts":1709644927,"request":{"method":"GET","uri":"/a?b=1","headers":{"User-Agent":["x"]}},"status":200}'
    wrong_type = '{"ts":1709644927,"request":{"method":"GET","uri":"/","headers":{"User-Agent":{"o":1}}}}'
    texts = [good] * 40 + [wrong_type, "not json", None, '{"ts":1', good + ' rt=0.1 "junk"', '{"ts":"x","request":{}}']
    texts += ['{"ts":"bad","request":{"method":"GET","uri":"/"}}', '{"level":"info","ts":1709644927,"msg":"started"}']
    rows, rejects = preset("caddy").parse(_lines(texts), "f")
    assert rows.height + rejects.height == len(texts)
    assert rows.height == 41
    assert dict(Counter(rejects.get_column("reason").to_list())) == {
        "invalid_json": 2, "no_match": 3, "empty": 1, "invalid_timestamp": 1,
    }
    assert rows.filter(pl.col("line") == 45).select("path", "query", "scheme").row(0) == ("/a", "b=1", "http")


def test_urldecoded_fields_and_full_urls() -> None:
    line = (
        '{"reqTimeSec":"1709644927","cliIP":"203.0.113.42","reqMethod":"GET","reqHost":"www.example.com",'
        '"reqPath":"/","statusCode":"200","UA":"Mozilla%2F5.0+%28X11%29","referer":"https%3A%2F%2Fwww.example.org%2F"}'
    )
    rows, _ = preset("akamai").parse(_lines([line]), "f")
    assert rows.select("user_agent", "referrer").row(0) == ("Mozilla/5.0 (X11)", "https://www.example.org/")
    fmt = from_json_map("ts=t:epoch_ms,url=u,request_time_ms=d:ms")
    rows, _ = fmt.parse(_lines(['{"t":1709644927123,"u":"HTTPS://[2001:DB8::1]:8443?x=1","d":"2.5"}']), "f")
    assert rows.select("scheme", "host", "path", "query", "request_time_ms").row(0) == (
        "https", "2001:db8::1", "/", "x=1", 2.5,
    )
