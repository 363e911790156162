"""How much classification adds on top of parsing, measured in one run on the same file.

Parses the file twice in one process: once parse only, once through the events
pipeline (parse + client IP + page-view classification with user agents parsed
once per distinct agent + site mapping + event building). Prints both times and the overhead as a share of
parse time (the target is at most 30%). Runs alternate to spread machine noise.

    python bench/bench_classify.py --file /tmp/access.log [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from importer.pipeline import EventOptions, RunSummary, run_events
from importer.sites import SiteMap
from parsers.reader import Source
from parsers.registry import lookup
from parsers.stream import FormatChoice, SourceReport, parse_source


def parse_only(path: str) -> tuple[float, int]:
    started = time.perf_counter()
    report = SourceReport(path)
    for _ in parse_source(Source(path), lookup("combined").build(), report):
        pass
    return time.perf_counter() - started, report.lines


def parse_and_classify(path: str) -> tuple[float, int]:
    """The pipeline `events`, `send` and `load` use: parse, client IP, classification, sites, events."""
    started = time.perf_counter()
    options = EventOptions(sites=SiteMap.build("example.com", (), None, "https"))
    summary = RunSummary()
    for _ in run_events([Source(path)], FormatChoice("combined"), options, summary):
        pass
    return time.perf_counter() - started, summary.pageviews


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    parse_times, classify_times = [], []
    lines = pageviews = 0
    for run in range(args.runs):
        seconds, lines = parse_only(args.file)
        parse_times.append(seconds)
        seconds, pageviews = parse_and_classify(args.file)
        classify_times.append(seconds)
        print(f"run {run + 1}: parse {parse_times[-1]:.2f} s, parse+classify {classify_times[-1]:.2f} s", flush=True)
    parse_s, both_s = statistics.median(parse_times), statistics.median(classify_times)
    overhead = both_s / parse_s - 1
    figures = {"file": args.file, "lines": lines, "pageviews": pageviews, "parse_s": round(parse_s, 3),
               "parse_classify_s": round(both_s, 3), "overhead": round(overhead, 3),
               "parse_lines_per_s": round(lines / parse_s), "classify_lines_per_s": round(lines / both_s)}
    print(f"{lines:,} lines, {pageviews:,} page views")
    print(f"parse only        {parse_s:7.2f} s  {lines / parse_s:12,.0f} lines/s")
    print(f"parse + classify  {both_s:7.2f} s  {lines / both_s:12,.0f} lines/s")
    print(f"classification adds {overhead:.0%} to parse time (target <= 30%)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
