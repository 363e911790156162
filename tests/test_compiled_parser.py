"""The compiled tokenizer (parsers/compiled.py) gives exactly the regex engine's rows and rejects.

Each test parses the same input twice through the real CLI, once with the
compiled path forced on and once with it off, and compares everything; the
hand-written tricky lines also carry hand-derived expectations, so both
engines are checked against an oracle and not only against each other.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from parsers import compiled
from parsers.registry import lookup
from tests.conftest import ROOT, SAMPLES, ndjson_rows, run_cli

EXPECTED = json.loads((Path(__file__).parent / "expected" / "samples.json").read_text())

_HEAD = '192.0.2.10 - - [06/Jan/2025:10:00:00 +0000] '
_UA = '"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"'
TRICKY = [
    _HEAD + f'"GET /pricing/ HTTP/1.1" 200 512 "https://www.example.org/" {_UA}',  # 1 plain
    _HEAD + '"GET /a HTTP/1.1" 200 512 "-" "Mozilla/5.0 Widget/\\"Reader\\" 2"',  # 2 Apache \" in the agent
    _HEAD + f'"GET /a\\x22b?x=\\x5C HTTP/1.1" 200 512 "-" {_UA}',  # 3 nginx \xHH in the target
    _HEAD + '"-" 400 0 "-" "-"',  # 4 no request
    _HEAD + '"GET /cut HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Lin',  # 5 truncated
    _HEAD + f'"GET http://www.Example.com:8080/p?q=1 HTTP/1.1" 200 5 "-" {_UA}',  # 6 absolute target
    '192.0.2.10 - - [30/Feb/2025:10:00:00 +0000] ' + f'"GET /feb HTTP/1.1" 200 5 "-" {_UA}',  # 7 no such day
    '192.0.2.10 - - [06/Jan/2025:24:00:00 +0000] ' + f'"GET /h24 HTTP/1.1" 200 5 "-" {_UA}',  # 8 hour 24
    '192.0.2.10 - - [06/jan/2025:10:00:00 +0000] ' + f'"GET /lower HTTP/1.1" 200 5 "-" {_UA}',  # 9 month case
    _HEAD + f'"GET /junk HTTP/1.1" 200 5 "-" {_UA} "extra" 0.003',  # 10 appended fields
    _HEAD + f'"GET /glued HTTP/1.1" 200 5 "-" {_UA}x',  # 11 text glued to the last quote
    "",  # 12 empty
    _HEAD + f'"GET /noproto" 200 5 "-" {_UA}',  # 13 HTTP/0.9 style, no protocol
    _HEAD + f'"HEAD /dash HTTP/1.1" 304 - "-" {_UA}',  # 14 bytes "-"
    _HEAD + f'"GET /status HTTP/1.1" 2000 5 "-" {_UA}',  # 15 four-digit status
    '2001:db8::7 - - [06/Jan/2025:10:00:00 +0000] ' + f'"GET /v6 HTTP/2.0" 200 5 "-" {_UA}',  # 16 IPv6
    _HEAD + f'"GET /caf\\xC3\\xA9/und/café HTTP/1.1" 200 5 "-" {_UA}',  # 17 escaped and raw UTF-8
    _HEAD + '"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03" 400 157 "-" "-"',  # 18 TLS bytes
    '192.0.2.10 - - [06/Jan/2025:03:00:00 -0700] ' + f'"GET /tz HTTP/1.1" 200 5 "-" {_UA}',  # 19 offset
    _HEAD + '"GET /bs HTTP/1.1" 200 5 "-" "agent\\\\"',  # 20 escaped backslash before the closing quote
    '192.0.2.10 - - [29/Feb/2024:23:59:59 +0530] ' + f'"GET /leap HTTP/1.1" 200 5 "-" {_UA}',  # 21 leap day
    _HEAD + f'"GET /two  spaces HTTP/1.1" 200 5 "-" {_UA}',  # 22 space inside the target
    _HEAD + f'"get /lowercase HTTP/1.1" 200 5 "-" {_UA}',  # 23 lower-case method
    _HEAD + f'"GET / HTTP/1.1" 200 5 "-" {_UA}\t',  # 24 trailing tab
    _HEAD + f'"GET /esc\\?q=1 HTTP/1.1" 200 5 "-" {_UA}',  # 25 an escaped `?` still splits the target
    '192.0.2.10 - - [06/Jan/2025:10:00:00 +0099] ' + f'"GET /off HTTP/1.1" 200 5 "-" {_UA}',  # 26 offset minutes 99
    '192.0.2.10 - - [06/Jan/2025:10:00:60 +0000] ' + f'"GET /leap-second HTTP/1.1" 200 5 "-" {_UA}',  # 27 second 60
    _HEAD + f'"GET /huge HTTP/1.1" 200 99999999999999999999 "-" {_UA}',  # 28 bytes past 2**64 - 1
    _HEAD + f'"GET /max HTTP/1.1" 200 18446744073709551615 "-" {_UA}',  # 29 bytes exactly 2**64 - 1
    _HEAD + f'"GET /s?q=a?b HTTP/1.1" 200 5 "-" {_UA}',  # 30 the first `?` splits
    _HEAD + f'"GET ?x HTTP/1.1" 200 5 "-" {_UA}',  # 31 no path before the query
    '192.0.2.10 - - [06/JAN/2025:10:00:00 +0000] ' + f'"GET /upper HTTP/1.1" 200 5 "-" {_UA}',  # 32 month case
    _HEAD + f'"GET /long?{"x" * 70_000} HTTP/1.1" 200 5 "-" {_UA}',  # 33 over 64 KiB
    _HEAD + f'"GET /quote HTTP/1.1" 200 5 "-" {_UA}"',  # 34 a quote glued to the last quote
    _HEAD + f'"GET /quoted HTTP/1.1" 200 5 "-" {_UA}"x" 1',  # 35 a quoted field glued to the last quote
    _HEAD + '"GET /bq HTTP/1.1" 200 5 "-" "python-requests/2.28.1\\"',  # 36 Apache \" leaves the agent open
    _HEAD + f'"GET /rq HTTP/1.1" 200 5 "https://www.example.com/x/\\" {_UA}',  # 37 \" inside the referrer
]


def _parse(path: Path, switch: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *flags: str) -> tuple[str, str]:
    monkeypatch.setattr(compiled, "_SWITCH", switch)
    rejects = tmp_path / f"rejects-{switch}.ndjson"
    result = run_cli("parse", *flags, "--output", "ndjson", "--rejects", str(rejects), str(path))
    assert result.exit_code == 0, result.stderr
    return result.stdout, rejects.read_text()


def test_tricky_lines_same_on_both_engines_and_as_derived_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "tricky.log"
    log.write_text("\n".join(TRICKY) + "\n")
    fast_rows, fast_rejects = _parse(log, "1", monkeypatch, tmp_path, "--format", "combined")
    slow_rows, slow_rejects = _parse(log, "0", monkeypatch, tmp_path, "--format", "combined")
    assert fast_rows == slow_rows
    assert fast_rejects == slow_rejects

    rows = {r["line"]: r for r in ndjson_rows(fast_rows)}
    reasons = {r["line"]: r["reason"] for r in ndjson_rows(fast_rejects)}
    assert reasons == {4: "invalid_request", 5: "truncated", 7: "invalid_timestamp", 8: "invalid_timestamp",
                       9: "invalid_timestamp", 11: "no_match", 12: "empty", 15: "no_match",
                       18: "invalid_request", 22: "invalid_request", 23: "invalid_request",
                       26: "invalid_timestamp", 27: "invalid_timestamp", 31: "invalid_request",
                       32: "invalid_timestamp", 33: "line_too_long", 34: "no_match", 35: "no_match",
                       36: "truncated", 37: "no_match"}
    assert sorted(rows) == [n for n in range(1, len(TRICKY) + 1) if n not in reasons]
    assert rows[1]["path"] == "/pricing/" and rows[1]["referrer"] == "https://www.example.org/"
    assert rows[2]["user_agent"] == 'Mozilla/5.0 Widget/"Reader" 2'
    assert (rows[3]["path"], rows[3]["query"]) == ('/a"b', "x=\\")
    assert (rows[6]["host"], rows[6]["scheme"], rows[6]["path"], rows[6]["query"]) == (
        "www.example.com", "http", "/p", "q=1")
    assert rows[10]["path"] == "/junk" and rows[10]["user_agent"].endswith("Firefox/133.0")
    assert (rows[13]["path"], rows[13]["protocol"]) == ("/noproto", None)
    assert (rows[14]["method"], rows[14]["status"], rows[14]["bytes"]) == ("HEAD", 304, None)
    assert rows[16]["client_ip"] == "2001:db8::7"
    assert rows[17]["path"] == "/café/und/café"
    assert rows[19]["ts"] == "2025-01-06T10:00:00+00:00"
    assert rows[20]["user_agent"] == "agent\\"
    assert rows[21]["ts"] == "2024-02-29T18:29:59+00:00"
    assert rows[24]["path"] == "/"
    assert (rows[25]["path"], rows[25]["query"]) == ("/esc\\", "q=1")
    assert (rows[28]["bytes"], rows[29]["bytes"]) == (None, 2**64 - 1)
    assert (rows[30]["path"], rows[30]["query"]) == ("/s", "q=a?b")


def test_mutated_lines_same_on_both_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Damaged lines (bytes inserted, cut or removed, quotes and backslashes added) read alike on both engines."""
    generated = tmp_path / "gen.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", "3000", "-o",
                    str(generated)], check=True)
    rng = random.Random(7)
    pieces = [b'"', b"\\", b"\\\"", b" ", b"-", b"[", b"]", b"?", b"\xc3\xa9", b"\xff", b"\x00", b"\t", b"x"]
    lines = []
    for line in generated.read_bytes().splitlines():
        mutated = bytearray(line)
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(mutated) + 1)
            if rng.random() < 0.6:
                mutated[at:at] = rng.choice(pieces)
            else:
                del mutated[at : at + rng.randint(1, 5)]
        lines.append(bytes(mutated))
    log = tmp_path / "mutated.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    fast = _parse(log, "1", monkeypatch, tmp_path, "--format", "combined")
    slow = _parse(log, "0", monkeypatch, tmp_path, "--format", "combined")
    assert fast == slow
    assert len(fast[0].splitlines()) + len(fast[1].splitlines()) == len(lines)
    assert len(fast[1].splitlines()) > 300  # the mutations reject a good share of the lines


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_samples_same_on_both_engines(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = EXPECTED[name]["flags"]
    fast = _parse(SAMPLES / name, "1", monkeypatch, tmp_path, *flags)
    slow = _parse(SAMPLES / name, "0", monkeypatch, tmp_path, *flags)
    assert fast == slow


def test_a_generated_log_big_enough_for_the_automatic_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "gen.log"
    lines = compiled.MIN_LINES + 5_000
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", str(lines),
                    "--edge-rate", "0.02", "-o", str(log)], check=True)
    assert compiled.kernel_ready(), compiled.load_error  # the test install builds the C extension
    outputs = {}
    for switch in ("auto", "0"):
        monkeypatch.setattr(compiled, "_SWITCH", switch)
        assert compiled.enabled(lines) is (switch == "auto")
        out = tmp_path / f"rows-{switch}.parquet"
        rejects = tmp_path / f"rejects-{switch}.ndjson"
        result = run_cli("parse", "--output", "parquet", "-o", str(out), "--rejects", str(rejects), str(log))
        assert result.exit_code == 0, result.stderr
        outputs[switch] = (pl.read_parquet(out), rejects.read_text())
    assert outputs["auto"][0].equals(outputs["0"][0])
    assert outputs["auto"][1] == outputs["0"][1]
    assert outputs["auto"][0].height + len(outputs["auto"][1].splitlines()) == lines


def test_only_big_batches_take_the_compiled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "_SWITCH", "auto")
    assert not compiled.enabled(compiled.MIN_LINES - 1)
    assert compiled.enabled(compiled.MIN_LINES)


def test_without_the_c_extension_every_line_takes_the_regex_engine_with_the_same_result(tmp_path: Path) -> None:
    log = tmp_path / "gen.log"
    lines = compiled.MIN_LINES + 5_000
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", str(lines),
                    "--edge-rate", "0.02", "-o", str(log)], check=True)
    # As installed where no C compiler was at hand: importing the extension fails.
    missing = "import sys; sys.modules['parsers._kernels'] = None; "
    run = ("from parsers import compiled; assert compiled.enabled({lines}) is {expected}, compiled.load_error; "
           "from importer.launch import main; sys.argv = ['plausible-logs', 'parse', '--output', 'ndjson', '{log}']; "
           "main()")
    outputs = []
    for prefix, expected in (("import sys; ", True), (missing, False)):
        code = prefix + run.format(lines=lines, expected=expected, log=log)
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) > compiled.MIN_LINES


def test_the_environment_switch_turns_the_compiled_path_on_for_small_inputs(tmp_path: Path) -> None:
    outputs = []
    for switch in ("1", "0"):
        env = {**os.environ, "PLAUSIBLE_LOGS_COMPILED": switch}
        code = "import sys; from parsers import compiled; print(compiled.enabled(1)); sys.exit(0)"
        probe = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert probe.stdout.strip() == ("True" if switch == "1" else "False")
        done = subprocess.run([sys.executable, "-m", "importer", "parse", "--output", "ndjson",
                               str(SAMPLES / "nginx_combined.log")], env=env, capture_output=True, check=True)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]


def test_plans_exist_for_the_common_presets_and_not_for_formats_the_kernel_cannot_mirror() -> None:
    for name in ("combined", "common", "main", "vhost_combined", "common_vhost"):
        assert lookup(name).build()._machine is not None, name
    from parsers.nginx import compile_log_format

    touching = compile_log_format('$remote_addr [$time_local] "$request_method $uri$is_args_args" $status')
    assert touching._machine is None  # $uri$is_args_args touch: only the regex can split them


def _cloudfront_line(stem: str, agent: str, status: str = "200", query: str = "-") -> str:
    fields = ["2024-03-05", "13:22:07", "FRA56-P3", "5821", "203.0.113.42", "GET", "d111111abcdef8.cloudfront.net",
              stem, status, "-", agent, query, "-", "Hit", "Zq3rKx8Y1pL0mN4vB7cD9eF2gH5jK6lQ8sT0uV1wX3yZ4aB5cD6e01==",
              "www.example.com", "https", "412", "0.002", "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "Hit", "HTTP/2.0",
              "-", "-", "50001", "0.002", "Hit", "text/html", "5310", "-", "-"]
    return "\t".join(fields)


def test_cloudfront_decoding_and_splitting_same_on_both_engines_and_as_derived_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = (SAMPLES / "cloudfront.log").read_text().splitlines()[:2]
    lines = [
        *header,
        _cloudfront_line("/a", "Mozilla/5.0%20(X11)"),  # 3 one layer
        _cloudfront_line("/b", "Mozilla/5.0%2520(X11)"),  # 4 the agent encoded twice end to end
        _cloudfront_line("/caf%25C3%25A9", "Caf%C3%A9Bot/1.0"),  # 5 client encoding kept; raw UTF-8 decoded
        _cloudfront_line("/c", "curl/8.5.0", query="q=%2522x%2522%20y"),  # 6 query keeps the client's %22
        _cloudfront_line("/d", "agent%7Cwith%7cpipes%5C"),  # 7 either hex case
        _cloudfront_line("/e", "x").rsplit("\t", 20)[0],  # 8 cut short
        _cloudfront_line("/f", "x") + "\textra\tfields",  # 9 more fields than declared
        _cloudfront_line("/h", "%E2%82%AC%25"),  # 10 a euro sign and an encoded %
        "#Fields: date time c-ip cs-method cs-uri-stem sc-status cs(User-Agent)",  # 11 a new list mid-file
        "2024-03-05\t13:30:00\t192.0.2.9\tGET\t/g\t200\tMozilla/5.0%20Z",  # 12 read with the new list
        "2024-03-05\t13:30:01\t192.0.2.9\tGET",  # 13 cut short under the new list
    ]
    log = tmp_path / "cf.log"
    log.write_text("\n".join(lines) + "\n")
    fast = _parse(log, "1", monkeypatch, tmp_path, "--format", "cloudfront")
    slow = _parse(log, "0", monkeypatch, tmp_path, "--format", "cloudfront")
    assert ndjson_rows(fast[0]) == ndjson_rows(slow[0])
    assert fast == slow
    rows = {r["line"]: r for r in ndjson_rows(fast[0])}
    reasons = {r["line"]: r["reason"] for r in ndjson_rows(fast[1])}
    assert reasons == {1: "header", 2: "header", 8: "truncated", 11: "header", 13: "truncated"}
    assert rows[3]["user_agent"] == "Mozilla/5.0 (X11)"
    assert rows[4]["user_agent"] == "Mozilla/5.0 (X11)"
    assert (rows[5]["path"], rows[5]["user_agent"]) == ("/caf%C3%A9", "CaféBot/1.0")
    assert rows[6]["query"] == "q=%22x%22 y"
    assert rows[7]["user_agent"] == "agent|with|pipes\\"
    assert rows[9]["path"] == "/f" and rows[9]["bytes"] == 5821
    assert (rows[12]["client_ip"], rows[12]["path"], rows[12]["user_agent"]) == ("192.0.2.9", "/g", "Mozilla/5.0 Z")
    assert rows[10]["user_agent"] == "€%"


def test_iis_same_on_both_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (SAMPLES / "iis_w3c.log").read_text()
    log = tmp_path / "iis.log"
    log.write_text(text + text.replace("2024-", "2025-"))
    fast = _parse(log, "1", monkeypatch, tmp_path, "--format", "iis")
    slow = _parse(log, "0", monkeypatch, tmp_path, "--format", "iis")
    assert fast == slow
    assert len(ndjson_rows(fast[0])) > 0
