"""Auto-detection picks each sample's format, also when every line carries trailing junk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import SAMPLES, run_cli

EXPECTED = json.loads((Path(__file__).parent / "expected" / "samples.json").read_text())
PRESET_SAMPLES = {name: spec["flags"][1] for name, spec in EXPECTED.items() if spec["flags"][0] == "--format"}


def _detected(path: Path) -> tuple[str, int, str]:
    result = run_cli("parse", "--output", "ndjson", str(path))
    return result.stderr, result.exit_code, result.stdout


@pytest.mark.parametrize("name", sorted(PRESET_SAMPLES))
def test_detection_picks_the_sample_format(name: str) -> None:
    stderr, code, _ = _detected(SAMPLES / name)
    assert code == 0
    assert f"{SAMPLES / name}: detected format {PRESET_SAMPLES[name]} (" in stderr
    assert f"lines {EXPECTED[name]['lines']:,} · parsed {EXPECTED[name]['rows']:,}" in stderr


@pytest.mark.parametrize("name", sorted(n for n in PRESET_SAMPLES if not n.endswith(".gz")))
def test_detection_survives_junk_appended_to_every_line(name: str, tmp_path: Path) -> None:
    lines = (SAMPLES / name).read_bytes().decode("utf-8", "replace").splitlines()
    junk = [line + ' rt=0.012 cache=HIT "x-junk"' if line else line for line in lines]
    path = tmp_path / name
    path.write_text("\n".join(junk) + "\n")
    stderr, code, _ = _detected(path)
    assert code == 0
    assert f"detected format {PRESET_SAMPLES[name]} (" in stderr
    assert "more text after the last field" in stderr
    assert f"parsed {EXPECTED[name]['rows']:,}" in stderr


def test_confidence_is_reported_as_share_of_sampled_lines() -> None:
    stderr, _, _ = _detected(SAMPLES / "nginx_combined.log")
    expected = EXPECTED["nginx_combined.log"]
    share = round(100 * expected["rows"] / (expected["lines"] - 1))  # the empty line is not sampled
    assert f"({share}% of sampled lines parse)" in stderr


def test_each_file_is_detected_on_its_own(tmp_path: Path) -> None:
    result = run_cli("parse", "--output", "ndjson", str(SAMPLES / "apache_common.log"), str(SAMPLES / "nginx_main.log"))
    assert result.exit_code == 0
    assert "apache_common.log: detected format common" in result.stderr
    assert "nginx_main.log: detected format main" in result.stderr


def parse_files_then_cloudfront(tmp_path: Path, templates: list[str], number: str) -> Result:
    """`parse` over access-N.log files of 30 lines from each template, then the CloudFront sample as the last one."""
    logs = []
    for index, template in enumerate(templates):
        path = tmp_path / f"access-{number.format(index)}.log"
        path.write_text("\n".join(template.format(n=n) for n in range(30)) + "\n")
        logs.append(path)
    cloudfront = tmp_path / f"access-{number.format(len(templates))}.log"
    cloudfront.write_bytes((SAMPLES / "cloudfront.log").read_bytes())
    return run_cli("parse", "--output", "ndjson", *map(str, logs), str(cloudfront))


def test_a_run_of_files_keeps_a_format_only_while_it_reads_them_exactly(tmp_path: Path) -> None:
    """Files like the previous one reuse its format; a richer or different file is scored afresh."""
    combined = ('203.0.113.{n} - - [05/Mar/2024:10:00:{n:02d} +0000] "GET /p{n} HTTP/1.1" 200 5 "-" '
                '"Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"')
    main = combined + ' "198.51.100.{n}"'
    result = parse_files_then_cloudfront(tmp_path, [combined, combined, main, combined, main], "{}")
    assert result.exit_code == 0, result.stderr
    detected = re.findall(r"access-(\d)\.log: detected format (\w+)", result.stderr)
    assert detected == [("0", "combined"), ("1", "combined"), ("2", "main"), ("3", "combined"), ("4", "main"),
                        ("5", "cloudfront")]
    xff = [json.loads(line)["xff"] for line in result.stdout.splitlines()[60:62]]
    assert xff == ["198.51.100.0", "198.51.100.1"]


def test_many_files_in_one_format_are_not_listed_one_by_one(tmp_path: Path) -> None:
    """The first 20 files are named with their format; after that only a file whose format differs."""
    line = '203.0.113.{n} - - [05/Mar/2024:10:00:{n:02d} +0000] "GET /p{n} HTTP/1.1" 200 5 "-" "curl/8.5.0"'
    result = parse_files_then_cloudfront(tmp_path, [line] * 25, "{:02d}")
    assert result.exit_code == 0, result.stderr
    named = re.findall(r"access-(\d+)\.log: detected format (\w+)", result.stderr)
    assert named == [(f"{i:02d}", "combined") for i in range(20)] + [("25", "cloudfront")]
    assert "5 more files were read in the format of the file before them (not listed one by one)." in result.stderr
    assert len(result.stdout.splitlines()) == 25 * 30 + 18
