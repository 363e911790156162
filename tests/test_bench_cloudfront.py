"""The CloudFront benchmark input (bench/gen_cloudfront_log.py) parses with zero unaccounted lines.

The generator writes its own ground truth; these tests read the .gz files independently (line counts,
the header of every file) and check that the real CLI accounts for every line: data lines become rows,
the two directive lines of each file become `header` rejects, nothing else. No timings are asserted.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from parsers.w3c import CLOUDFRONT_FIELDS
from tests.conftest import ROOT, ndjson_rows, run_cli

GENERATOR = ROOT / "bench" / "gen_cloudfront_log.py"
LINES = 2_000


def generate(out: Path, *flags: str) -> dict:
    stats = out.parent / f"{out.name}.stats.json"
    argv = [sys.executable, str(GENERATOR), "--lines", str(LINES), "-o", str(out), "--stats", str(stats), *flags]
    subprocess.run(argv, check=True, capture_output=True)
    return json.loads(stats.read_text())


@pytest.fixture(scope="module")
def cloudfront_logs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """2,000 requests in 3 files over 2 hours; small gzip members; the rare agent encodings made common."""
    out = tmp_path_factory.mktemp("cf") / "logs"
    truth = generate(out, "--files", "3", "--hours", "2", "--part-lines", "400", "--double-encoded-share", "0.05",
                     "--utf8-ua-share", "0.02", "--workers", "1")  # fmt: skip
    return out, truth


def test_files_look_like_cloudfront_deliveries(cloudfront_logs: tuple[Path, dict]) -> None:
    out, truth = cloudfront_logs
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(truth["files"])
    assert [f.name.split(".")[1] for f in files] == ["2026-11-01-13", "2026-11-01-13", "2026-11-01-14"]
    total = 0
    for f in files:
        lines = gzip.decompress(f.read_bytes()).decode("ascii").splitlines()
        assert lines[0] == "#Version: 1.0"
        assert lines[1] == "#Fields: " + " ".join(CLOUDFRONT_FIELDS)
        assert all(len(line.split("\t")) == len(CLOUDFRONT_FIELDS) for line in lines[2:])
        assert all(line[:10] == f.name.split(".")[1][:10] for line in lines[2:])  # the file's UTC date
        total += len(lines)
    assert total == truth["lines"] == LINES + 2 * len(files)


def test_every_line_is_a_row_or_a_header_reject(cloudfront_logs: tuple[Path, dict], tmp_path: Path) -> None:
    out, truth = cloudfront_logs
    parquet, rejects = tmp_path / "rows.parquet", tmp_path / "rejects.ndjson"
    result = run_cli("parse", str(out), "--format", "cloudfront", "--output", "parquet", "-o", str(parquet),
                     "--rejects", str(rejects))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = pl.read_parquet(parquet)
    rejected = ndjson_rows(rejects.read_text())
    assert rows.height == truth["accepted_lines"] == truth["data_lines"] == LINES
    assert Counter(r["reason"] for r in rejected) == {"header": truth["must_reject"]}
    assert rows.height + len(rejected) == truth["lines"]

    # What the generator says it wrote, seen through the parser's decoding.
    status = {("000" if s == 0 else str(s)): n for s, n in rows.group_by("status").len().rows()}
    assert status == truth["status"]
    assert dict(Counter(rows.get_column("method").to_list())) == {k: v for k, v in truth["method"].items() if v}
    assert rows.get_column("client_ip").n_unique() == truth["distinct_ips"]
    assert rows.get_column("path").n_unique() == truth["distinct_paths"]
    agents = rows.get_column("user_agent")
    assert agents.n_unique() == truth["distinct_uas"]  # %2520 and %C3%A9 agents decode to the agents sent
    assert not agents.str.contains("%20", literal=True).any()
    assert truth["double_encoded_ua_lines"] > 0
    assert agents.str.contains("[éü]").sum() == truth["utf8_ua_lines"] > 0
    hosts = Counter(rows.get_column("host").to_list())
    for host, n in truth["hosts"].items():
        if host:  # `-` in x-host-header: the parser falls back to cs(Host)
            assert hosts[host] == n
    assert hosts["d1234abcdef8.cloudfront.net"] == truth["hosts"].get("", 0)
    assert (rows.get_column("scheme") == "http").sum() == truth["http_redirect_lines"]
    assert rows.get_column("ts").min().isoformat().replace("+00:00", "Z") == truth["first_ts"]
    assert rows.get_column("ts").max().isoformat().replace("+00:00", "Z") == truth["last_ts"]


def test_same_seed_gives_the_same_bytes_for_any_worker_count(
    cloudfront_logs: tuple[Path, dict], tmp_path: Path
) -> None:
    out, _ = cloudfront_logs
    again = tmp_path / "again"
    generate(again, "--files", "3", "--hours", "2", "--part-lines", "400", "--double-encoded-share", "0.05",
             "--utf8-ua-share", "0.02", "--workers", "2")  # fmt: skip
    assert {f.name: f.read_bytes() for f in again.iterdir()} == {f.name: f.read_bytes() for f in out.iterdir()}


def test_format_auto_detects_every_file(cloudfront_logs: tuple[Path, dict], tmp_path: Path) -> None:
    out, truth = cloudfront_logs
    parquet = tmp_path / "rows.parquet"
    result = run_cli("parse", str(out), "--output", "parquet", "-o", str(parquet))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("detected format cloudfront") == len(truth["files"])
    assert pl.read_parquet(parquet).height == LINES


def test_benchmark_script_runs_the_cloudfront_path(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    argv = [sys.executable, str(ROOT / "bench" / "bench_parse.py"), "--generate-cloudfront", str(LINES),
            "--cf-files", "2", "--skip", "goaccess", "--skip", "auto", "--json", str(report)]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
    doc = json.loads(report.read_text())
    assert doc["format"] == "cloudfront" and doc["lines"] == LINES + 2 * 2 and len(doc["files"]) == 2
    floor, parse, plain = doc["results"]
    assert floor["name"] == "zcat | wc -l" and floor["status"] == "ok"
    assert parse["name"] == "plausible-logs parse --format cloudfront" and parse["status"] == "ok"
    assert plain["name"] == "wc -l (decompressed)" and plain["status"] == "ok"  # the same-run reference
    assert any(line.startswith("host: wc -l ran at ") for line in doc["calibration"])
    assert parse["reported"] == f"lines {LINES + 4:,} · parsed {LINES:,} · rejected 4 (header 4)"
