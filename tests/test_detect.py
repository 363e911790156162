"""Auto-detection picks each sample's format, also when every line carries trailing junk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
