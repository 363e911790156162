"""The benchmark's host reference (bench/reference_polars.py) and how bench_parse.py reads it.

The reference is only useful if it does the work perf_baseline.md timed: a strict parse that
rejects exactly the lines the generator says must be rejected, the same lines plausible-logs
rejects. No timings are asserted; the calibration arithmetic is checked on given figures.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import ROOT, run_cli

BENCH = ROOT / "bench"


def _bench_parse() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_parse", BENCH / "bench_parse.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_parse", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_reference_rejects_what_the_ground_truth_and_plausible_logs_reject(tmp_path: Path) -> None:
    log, stats = tmp_path / "access.log", tmp_path / "stats.json"
    subprocess.run([sys.executable, str(BENCH / "gen_access_log.py"), "--lines", "4000", "--edge-rate", "0.05",
                    "-o", str(log), "--stats", str(stats)], check=True, capture_output=True)  # fmt: skip
    truth = json.loads(stats.read_text())
    assert truth["must_reject"] > 20

    done = subprocess.run([sys.executable, str(BENCH / "reference_polars.py"), str(log)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    assert done.stderr.strip() == f"parsed {truth['accepted_lines']:,} / rejected {truth['must_reject']:,}"

    ours = run_cli("parse", str(log), "--format", "combined", "--output", "ndjson", "-o", str(tmp_path / "rows"))
    assert ours.exit_code == 0, ours.stderr
    assert f"parsed {truth['accepted_lines']:,} · rejected {truth['must_reject']:,}" in ours.stderr


def test_host_calibration_scales_our_speed_by_each_reference() -> None:
    bench = _bench_parse()
    results = [
        {"name": "wc -l", "lines_per_s": 20_000_000, "median_s": 0.5},
        {"name": "reference: polars extract_groups", "lines_per_s": 378_940, "median_s": 13.2},
        {"name": "goaccess", "lines_per_s": 39_528, "median_s": 126.5},
        {"name": "plausible-logs parse", "lines_per_s": 500_000, "median_s": 10.0},
    ]
    lines = bench.host_calibration(results, 5_000_000, 1_665_000_000)
    assert len(lines) == 3
    # the reference ran at half its baseline speed here, so the baseline machine would run us twice as fast
    assert "(this host: 0.50x that machine)" in lines[0] and "1,000,000 lines/s" in lines[0]
    assert lines[1].startswith("host: GoAccess ran at 39,528 lines/s here, 79,056")
    assert "(this host: 0.50x that machine)" in lines[2]  # 3,330 MB/s against 6,660
    assert bench.host_calibration(results[:1], 5_000_000, None) == []
