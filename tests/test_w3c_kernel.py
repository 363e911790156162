"""The machine-code W3C reader (parsers/w3c_kernel.py) gives exactly the polars reader's rows and rejects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from parsers import compiled, w3c
from parsers.reader import MAX_LINE_BYTES

ROOT = Path(__file__).resolve().parent.parent
CF_HEADER = ["#Version: 1.0", "#Fields: " + " ".join(w3c.CLOUDFRONT_FIELDS)]


def _cf(**changes: str) -> str:
    fields = {
        "date": "2024-03-05", "time": "13:22:07", "x-edge-location": "FRA56-P3", "sc-bytes": "5821",
        "c-ip": "203.0.113.42", "cs-method": "GET", "cs(Host)": "d111111abcdef8.cloudfront.net",
        "cs-uri-stem": "/index.html", "sc-status": "200", "cs(Referer)": "-", "cs(User-Agent)": "Mozilla/5.0%20(X11)",
        "cs-uri-query": "-", "cs(Cookie)": "-", "x-edge-result-type": "Hit", "x-edge-request-id": "abc==",
        "x-host-header": "www.Example.com:443", "cs-protocol": "HTTPS", "cs-bytes": "412", "time-taken": "0.002",
        "x-forwarded-for": "-", "ssl-protocol": "TLSv1.3", "ssl-cipher": "TLS_AES_128_GCM_SHA256",
        "x-edge-response-result-type": "Hit", "cs-protocol-version": "HTTP/2.0", "fle-status": "-",
        "fle-encrypted-fields": "-", "c-port": "50001", "time-to-first-byte": "0.002",
        "x-edge-detailed-result-type": "Hit", "sc-content-type": "text/html", "sc-content-len": "5310",
        "sc-range-start": "-", "sc-range-end": "-",
    }
    fields.update({k.replace("_", "-"): v for k, v in changes.items()})
    return "\t".join(fields[name] for name in w3c.CLOUDFRONT_FIELDS)


def _tricky_cloudfront() -> list[str]:
    lines = [*CF_HEADER]
    lines += [
        _cf(), _cf(time="13:22:07.250"), _cf(date="2024-02-30"), _cf(time="24:00:00"), _cf(date="2024-3-05"),
        _cf(**{"sc-status": "abc"}), _cf(**{"sc-status": "-"}), _cf(**{"sc-status": "99999"}),
        _cf(**{"sc-status": "0200"}), _cf(**{"sc-bytes": "-"}), _cf(**{"sc-bytes": "12345678901234567890"}),
        _cf(**{"time-taken": "5"}), _cf(**{"time-taken": "1e3"}), _cf(**{"time-taken": ".5"}),
        _cf(**{"time-taken": "5."}), _cf(**{"time-taken": "0.1234567890123456"}), _cf(**{"time-taken": "-"}),
        _cf(**{"time-taken": "0.000001"}), _cf(**{"cs-method": "-"}), _cf(**{"cs-uri-stem": ""}),
        _cf(**{"x-host-header": "-"}), _cf(**{"x-host-header": "[2001:DB8::1]:8443"}),
        _cf(**{"x-host-header": "%5B2001:DB8::2%5D:443"}), _cf(**{"x-host-header": "Caf%C3%A9.Example:80"}),
        _cf(**{"x-host-header": "a::12"}), _cf(**{"x-host-header": "HOST]:"}), _cf(**{"x-host-header": "[]"}),
        _cf(**{"x-host-header": "b\u00fccher.EXAMPLE:1"}), _cf(**{"cs-protocol": "Http%C3%A9"}),
        _cf(**{"cs(User-Agent)": "Caf%C3%A9Bot/1.0%20%E2%82%AC"}), _cf(**{"cs(User-Agent)": "x%2520y%25"}),
        _cf(**{"cs(User-Agent)": "Caf%25C3%25A9%2520Bot/1.0"}),
        _cf(**{"cs(User-Agent)": "end%2"}), _cf(**{"cs(User-Agent)": "end%"}), _cf(**{"cs(User-Agent)": "%7c%7C%zz"}),
        _cf(**{"cs-uri-query": "q=%2522x%2522%20y&%25=1"}), _cf(**{"cs(Referer)": "https://a.example/%E2%82"}),
        _cf(**{"cs-protocol": "-"}), _cf(**{"x-forwarded-for": "198.51.100.1,%20203.0.113.9"}),
        _cf(**{"cs(User-Agent)": "raw UTF-8 \u00e9 and tab-free"}), _cf(**{"sc-content-type": "-"}),
        _cf() + "\textra\tfields", _cf() + " trailing", _cf().rsplit("\t", 5)[0], "", "garbage",
        "#a comment", _cf(date="0000-01-01"), _cf(**{"cs-uri-stem": "/" + "a" * (MAX_LINE_BYTES + 10)}),
        "#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent)",
        "2024-03-05\t13:30:00\t192.0.2.9\tGET\t/g\t200\tMozilla/5.0%20Z",
        "2024-03-05\t13:30:00\t192.0.2.9\tGET\t/g\t200\tMozilla/5.0 Z\textra",
        "2024-03-05\t13:30:00\t192.0.2.9\tGET\t/g\t200\tlast\u00a0nbsp",
        "2024-03-05\t13:30:01\t192.0.2.9\tGET",
        "#Fields: date time cs-uri-stem cs-method",
        "2024-03-05\t13:30:02\t/last\tPOST",
        "2024-03-05\t13:30:02\t/last\t-",
        "#Fields: timestamp c-ip cs-method cs-uri-stem",
        "1709645000\t192.0.2.1\tGET\t/epoch",
    ]
    return lines


def _both(fmt: w3c.W3CFormat, lines: list[str], monkeypatch: pytest.MonkeyPatch, batch: int = 0) -> None:
    """Parse with the kernel and with polars (in batches of `batch` lines, 0: one) and compare everything."""
    texts = pl.Series("text", [line or None for line in lines], dtype=pl.String)
    frame = pl.DataFrame({"text": texts, "line": pl.int_range(1, len(lines) + 1, dtype=pl.UInt64, eager=True),
                          "offset": pl.int_range(0, len(lines), dtype=pl.UInt64, eager=True)})
    results = {}
    for switch in ("1", "0"):
        monkeypatch.setattr(compiled, "_SWITCH", switch)
        reader = fmt.fresh()
        size = batch or frame.height
        parts = [reader.parse(frame.slice(at, size), "f.log") for at in range(0, frame.height, size)]
        results[switch] = (pl.concat([p[0] for p in parts]), pl.concat([p[1] for p in parts]))
    assert_frame_equal(results["1"][0], results["0"][0])
    assert_frame_equal(results["1"][1], results["0"][1])
    assert results["1"][0].height + results["1"][1].height == len(lines)


@pytest.mark.parametrize("batch", [0, 7])
def test_tricky_cloudfront_lines_read_the_same_by_kernel_and_polars(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    _both(w3c.cloudfront(), _tricky_cloudfront(), monkeypatch, batch)


def test_only_lines_the_kernel_cannot_vouch_for_reach_the_polars_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_SWITCH", "1")
    calls: list[int] = []
    polars_parse = w3c.W3CFormat._parse
    monkeypatch.setattr(w3c.W3CFormat, "_parse", lambda self, s, lines, f: calls.append(lines.height)
                        or polars_parse(self, s, lines, f))
    lines = [*CF_HEADER, _cf(), "garbage", _cf(**{"cs-uri-stem": "/x"}), _cf(time="13:22:07.5")]
    rows, rejects = w3c.cloudfront().parse(
        pl.DataFrame({"text": lines, "line": range(1, 7), "offset": range(6)},
                     schema_overrides={"line": pl.UInt64, "offset": pl.UInt64}), "f")
    assert calls == [4]  # two directives, the garbage and the fractional second
    assert rows.get_column("line").to_list() == [3, 5, 6]
    assert rejects.get_column("reason").to_list() == ["header", "header", "no_match"]


def test_headers_alone_skip_the_polars_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_SWITCH", "1")
    monkeypatch.setattr(w3c.W3CFormat, "_parse", lambda *a: pytest.fail("polars reader used"))
    lines = [*CF_HEADER, _cf(), _cf()]
    rows, rejects = w3c.cloudfront().parse(
        pl.DataFrame({"text": lines, "line": [1, 2, 3, 4], "offset": [0, 1, 2, 3]},
                     schema_overrides={"line": pl.UInt64, "offset": pl.UInt64}), "f")
    assert rows.height == 2 and rejects.get_column("reason").to_list() == ["header", "header"]


def test_iis_lines_read_the_same_by_kernel_and_polars(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [
        "#Software: Microsoft Internet Information Services 10.0", "#Fields: " + " ".join(w3c.IIS_FIELDS),
        "2024-03-05 13:22:07 10.0.0.1 GET /a q=1 443 - 203.0.113.4 Mozilla/5.0+(Windows;++x) - 200 0 0 15",
        "2024-03-05 13:22:08 10.0.0.1 GET /b - 443 - 203.0.113.4 curl/8 https://r.example/?q=a+b 404 0 2 7",
        "2024-03-05 13:22:09 10.0.0.1 GET /c - 443 - 203.0.113.4 curl/8 - 200 0 0 15 trailing junk",
        "2024-03-05 13:22:09 10.0.0.1 GET /c - 443 - 203.0.113.4 curl/8 - 200 0 0",
        "#Fields: date time c-ip cs-method cs-host cs-uri-stem sc-status time-taken",
        "2024-03-05 13:22:10 203.0.113.5 HEAD WWW.Example.COM /d 301 3",
        "2024-03-05 13:22:10 203.0.113.5 HEAD B\u00dcCHER.Example:8080 /d 301 3",
        "2024-03-05 13:22:10 203.0.113.5 HEAD [::1]:80 /d 301 3",
    ]
    _both(w3c.iis(), lines, monkeypatch)


def test_a_generated_cloudfront_log_reads_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "cf"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_cloudfront_log.py"), "--lines", "6000", "--files", "1",
                    "--seed", "5", "--utf8-ua-share", "0.05", "--double-encoded-share", "0.05", "-o", str(out)],
                   check=True, capture_output=True)
    import gzip

    (path,) = out.iterdir()
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    _both(w3c.cloudfront(), lines, monkeypatch, batch=2500)


def _through_files(fmt_name: str, lines: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   newline: str = "\n") -> None:
    """As _both, but through parse_all: batches as read, which the kernel reads straight from their bytes."""
    from parsers.reader import Source
    from parsers.stream import FormatChoice, ParseReport, parse_all

    log = tmp_path / f"w3c-{len(newline)}.log"
    log.write_bytes(newline.join(lines).encode() + newline.encode())
    results = {}
    for switch in ("1", "0"):
        monkeypatch.setattr(compiled, "_SWITCH", switch)
        batches = list(parse_all([Source(str(log))], FormatChoice(fmt_name), ParseReport(), batch_bytes=4096))
        results[switch] = (pl.concat([b.rows for b in batches]), pl.concat([b.rejects for b in batches]))
    assert_frame_equal(results["1"][0], results["0"][0])
    assert_frame_equal(results["1"][1], results["0"][1])
    assert results["1"][0].height + results["1"][1].height == len(lines)


def test_raw_batches_read_the_same_by_kernel_and_polars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [line for line in _tricky_cloudfront() if line]  # an empty line would end the file's last batch early
    many = [*CF_HEADER, *[_cf(**{"cs-uri-stem": f"/p{n}"}) for n in range(300)], *lines[len(CF_HEADER):]]
    _through_files("cloudfront", many, tmp_path, monkeypatch)


def test_crlf_batches_take_the_framed_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["#Fields: " + " ".join(w3c.IIS_FIELDS)]
    lines += [f"2024-03-05 13:22:{n % 60:02d} 10.0.0.1 GET /a{n} q=1 443 - 203.0.113.4 Mozilla/5.0+(X11) - 200 0 0 15"
              for n in range(200)]
    _through_files("iis", lines, tmp_path, monkeypatch, newline="\r\n")
