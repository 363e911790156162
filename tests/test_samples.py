"""Every bundled sample parses to its hand-derived expectations (tests/expected/samples.json).

The expectations were written by reading the sample lines, not by running the
parser, so these tests check the parser against an independent oracle.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, ndjson_rows, run_cli

EXPECTED = json.loads((Path(__file__).parent / "expected" / "samples.json").read_text())


def _parse(name: str, flags: list[str], tmp_path: Path) -> tuple[list[dict], list[dict], str]:
    rejects = tmp_path / "rejects.ndjson"
    result = run_cli("parse", *flags, "--output", "ndjson", "--rejects", str(rejects), str(SAMPLES / name))
    assert result.exit_code == 0, result.stderr
    return ndjson_rows(result.stdout), ndjson_rows(rejects.read_text()), result.stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_counts_and_reasons(name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    rows, rejects, stderr = _parse(name, expected["flags"], tmp_path)
    assert len(rows) == expected["rows"]
    assert Counter(r["reason"] for r in rejects) == Counter(expected["rejects"])
    assert len(rows) + len(rejects) == expected["lines"]
    assert sorted(r["line"] for r in rows + rejects) == list(range(1, expected["lines"] + 1))
    assert f"lines {expected['lines']:,} · parsed {expected['rows']:,}" in stderr
    if expected.get("invalid_utf8"):
        assert f"{expected['invalid_utf8']} lines had bytes that are not UTF-8" in stderr


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_example_rows_exactly(name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    rows, _, _ = _parse(name, expected["flags"], tmp_path)
    by_line = {r["line"]: r for r in rows}
    for example in expected["examples"]:
        row = by_line[example["line"]]
        for key, value in example.items():
            if key == "request_time_ms" and value is not None:
                assert row[key] == pytest.approx(value), (example["line"], key)
            else:
                assert row[key] == value, (example["line"], key)
        assert row["file"] == str(SAMPLES / name)


def test_rows_carry_exactly_the_canonical_columns(tmp_path: Path) -> None:
    from parsers.schema import CANONICAL_COLUMNS

    rows, _, _ = _parse("nginx_combined.log", ["--format", "combined"], tmp_path)
    assert all(list(r) == CANONICAL_COLUMNS for r in rows)
    assert all(r["ts"].endswith("+00:00") for r in rows)


@pytest.mark.parametrize("output", ["parquet", "csv"])
def test_file_outputs_hold_the_same_rows_as_ndjson(output: str, tmp_path: Path) -> None:
    import polars as pl

    from parsers.schema import CANONICAL, CANONICAL_COLUMNS

    expected = EXPECTED["apache_vhost_combined.log"]
    target = tmp_path / f"rows.{output}"
    result = run_cli("parse", *expected["flags"], "--output", output, "-o", str(target),
                     str(SAMPLES / "apache_vhost_combined.log"))
    assert result.exit_code == 0, result.stderr
    frame = pl.read_parquet(target) if output == "parquet" else pl.read_csv(target)
    assert frame.columns == CANONICAL_COLUMNS
    assert frame.height == expected["rows"]
    if output == "parquet":
        assert frame.schema == pl.Schema(CANONICAL)
    rows, _, _ = _parse("apache_vhost_combined.log", expected["flags"], tmp_path)
    assert frame.get_column("path").to_list() == [r["path"] for r in rows]
    assert not list(tmp_path.glob("*.part-*"))  # written atomically, nothing left behind
