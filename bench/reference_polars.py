"""A host-speed reference: the plain polars parse that shared/reference/perf_baseline.md timed.

Why: lines/s depend on the machine, and this one is shared. perf_baseline.md measured this
approach (one strict regex over polars' CSV reader with a separator that never occurs) at
757,880 lines/s on 5M generated combined lines. Running the same approach on the same file in
the same run as plausible-logs says how fast this host is compared with that one, so a target
set there can be read here. It is a reference, not a competitor: it has no line numbers, no
rejects report, no escapes and no user-agent or host columns beyond what the regex captures.

Usage: reference_polars.py LOG  ->  prints `parsed N rejected M` on stderr (beside the benchmark's logs).
"""

from __future__ import annotations

import sys

import polars as pl

# ip, user, [time], "method path?query proto", status, bytes, "referrer", "agent": strict, RE2-compatible.
COMBINED = (
    r'^(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<ts>[^\]]+)\] '
    r'"(?P<method>[A-Z]+) (?P<path>[^ ?"]*)(?:\?(?P<query>[^ "]*))? (?P<proto>HTTP/[0-9.]+)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)"'
)
BASELINE_LINES_PER_S = 757_880  # perf_baseline.md: "polars scan_csv(sep=0x01)+extract_groups", 5M lines


def parse(path: str) -> tuple[int, int]:
    """(parsed, rejected): a line is parsed when the regex matches and its time and status convert."""
    lines = pl.scan_csv(path, separator="\x01", quote_char=None, has_header=False, new_columns=["line"],
                        schema_overrides={"line": pl.String})  # fmt: skip
    fields = lines.select(pl.col("line").str.extract_groups(COMBINED).alias("m")).unnest("m")
    typed = fields.with_columns(
        pl.col("status").cast(pl.Int16, strict=False),
        pl.col("ts").str.to_datetime("%d/%b/%Y:%H:%M:%S %z", strict=False),
    )
    frame = typed.collect()  # materialised, as the baseline did: counting alone would let polars skip work
    parsed = frame.select((pl.col("ts").is_not_null() & pl.col("status").is_not_null()).sum()).item()
    return parsed, frame.height - parsed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: reference_polars.py LOG", file=sys.stderr)
        return 2
    parsed, rejected = parse(argv[0])
    print(f"parsed {parsed:,} / rejected {rejected:,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
