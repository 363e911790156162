"""Benchmark parsing access logs: ``wc -l`` vs GoAccess vs ``plausible-logs parse``, in the same run.

Why: absolute seconds mean little on a shared, noisy machine, but ratios measured side by side in one
run do. ``wc -l`` is the I/O floor and GoAccess is the peer (a C log analyser on one core), so the
table reports each tool as "x slower than wc -l" and plausible-logs' speed as a multiple of GoAccess.
Runs are interleaved (wc, goaccess, plausible-logs, wc, ...) so drift hits every tool alike, and each
figure is the median of ``--runs``. Peak RSS is the child's ``ru_maxrss`` from ``os.wait4`` (for a
pipeline, its largest process); CPU s is the child's user + sys time, which a busy machine distorts less.

``--format cloudfront`` benchmarks gzip CloudFront standard logs (one or several ``.gz`` files, or
``--generate-cloudfront N`` with gen_cloudfront_log.py): the floor is then ``zcat FILES | wc -l``,
GoAccess reads ``zcat FILES`` with ``--log-format=CLOUDFRONT``, and plausible-logs runs once with
``--format cloudfront`` and once with ``--format auto``. MB/s is given for the compressed and the
decompressed bytes, and ``wc -l`` also runs on the files decompressed into one.

``--reference`` adds perf_baseline.md's plain polars parse (reference_polars.py) on the same file: with
GoAccess and ``wc -l`` it says how this host compares with the machine the targets were set on.

Nothing is installed: a missing GoAccess shows as "not installed", a missing plausible-logs as
"not available". ``--cmd-parse``/``--cmd-goaccess`` replace a command (placeholders {file} {files} {out}).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "gen_access_log.py"
CF_GENERATOR = HERE / "gen_cloudfront_log.py"
GOACCESS_ARGS = "{files} --log-format=COMBINED -o {out} --no-global-config --no-progress --no-parsing-spinner"
PARSE_ARGS = "parse {files} --format combined --output parquet -o {out}"
# CloudFront: GoAccess reads the decompressed stream on stdin; $1 is the report path, the rest are the files.
CF_GOACCESS = ('out=$1; shift; gzip -dc -- "$@" | goaccess - --log-format=CLOUDFRONT -o "$out" '
               "--no-global-config --no-progress --no-parsing-spinner")  # fmt: skip
CF_PARSE_ARGS = "parse {files} --format {fmt} --output parquet -o {out}"
CF_LINES_PER_FILE = 50_000  # --generate-cloudfront default: one .gz per 50k requests (several per hour)
TARGET_LINES_PER_S = 500_000  # issue 7: CloudFront gzip logs parse at >= 500,000 lines/s
REFERENCE = HERE / "reference_polars.py"
# shared/reference/perf_baseline.md (5M generated combined lines, 2 cores): what the targets were set against.
BASELINE = {"reference": 757_880, "goaccess": 79_056, "wc -l MB/s": 6_660}


@dataclass
class Tool:
    """One benchmarked command and what its runs measured."""

    name: str
    argv: list[str] | None  # None: the command is missing
    out: Path | None = None
    missing: str = ""  # row text when argv is None
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    error: str = ""
    rows: str = ""  # what the tool says it parsed (best effort)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.error else None

    @property
    def label(self) -> str:
        """A file-name-safe name for its stderr log."""
        return re.sub(r"\W+", "_", self.name).strip("_")


def find_plausible_logs() -> str | None:
    """The console script next to this interpreter (the project venv), else on PATH."""
    exe = Path(sys.executable).parent / ("plausible-logs.exe" if os.name == "nt" else "plausible-logs")
    return str(exe) if exe.exists() else shutil.which("plausible-logs")


def command(template: str, files: list[Path], out: Path | None, fmt: str = "") -> list[str]:
    """argv from a template: {files} (a whole argument) becomes every file, {file} the first one."""
    argv: list[str] = []
    for arg in shlex.split(template):
        if arg == "{files}":
            argv += [str(f) for f in files]
        else:
            argv.append(arg.format(file=str(files[0]), files=" ".join(map(str, files)), out=str(out or ""), fmt=fmt))
    return argv


def warm_page_cache(paths: list[Path]) -> None:
    """Read the files once so the timed tool reads them from memory."""
    buf = bytearray(1 << 20)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def run_once(argv: list[str], log_dir: Path, label: str) -> tuple[float, float, int, int, str]:
    """(wall seconds, CPU seconds, peak RSS KiB, exit code, stderr tail) of one child run."""
    err_path = log_dir / f"{label}.stderr"
    with open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped by wait4 already; keep Popen from waiting again
    rss = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024  # macOS reports bytes
    tail = err_path.read_text(errors="replace")[-400:].strip() if code else ""
    return wall, usage.ru_utime + usage.ru_stime, rss, code, tail


def parse_summary(log_dir: Path, tool: Tool) -> str:
    """plausible-logs' own count line on stderr (`lines N · parsed N · rejected N (...)`), without the speed."""
    path = log_dir / f"{tool.label}.stderr"
    if not path.exists():
        return ""
    found = re.findall(r"^lines [\d,]+ · parsed [\d,]+ · rejected [\d,]+(?: \([^)]*\))?", path.read_text(), re.M)
    return found[-1] if found else ""


def describe_output(tool: Tool) -> str:
    """Rows parsed / rejected as reported by the tool's own output, when it can be read cheaply."""
    if not tool.out or not tool.out.exists():
        return ""
    try:
        if tool.out.suffix == ".json":  # GoAccess report
            general = json.loads(tool.out.read_text())["general"]
            return f"{general['valid_requests']:,} / {general['failed_requests']:,} failed"
        if tool.out.suffix == ".parquet":
            import pyarrow.parquet as pq  # type: ignore[import-untyped]

            return f"{pq.read_metadata(tool.out).num_rows:,} rows"
    except Exception as exc:  # a report we cannot read must not sink the benchmark
        return f"? ({type(exc).__name__})"
    return ""


def generate(n: int, seed: int, workdir: Path) -> tuple[list[Path], Path, float]:
    log = workdir / "access.log"
    stats = workdir / "access.stats.json"
    argv = [sys.executable, str(GENERATOR), "--lines", str(n), "--seed", str(seed), "-o", str(log)]
    argv += ["--stats", str(stats)]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True)
    return [log], stats, time.perf_counter() - t0


def generate_cloudfront(n: int, seed: int, files: int, level: int, workdir: Path) -> tuple[list[Path], Path, float]:
    """n requests as gzip CloudFront files (one per hour) in workdir/cloudfront, with their ground truth."""
    out = workdir / "cloudfront"
    stats = workdir / "cloudfront.stats.json"
    argv = [sys.executable, str(CF_GENERATOR), "--lines", str(n), "--seed", str(seed), "--files", str(files),
            "--gzip-level", str(level), "-o", str(out), "--stats", str(stats)]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(argv, check=True)
    names = json.loads(stats.read_text())["files"]
    return [out / name for name in names], stats, time.perf_counter() - t0


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for the files in it, sorted by name."""
    out: list[Path] = []
    for p in paths:
        out += sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
    return out


def count_lines(files: list[Path]) -> tuple[int, int]:
    """(newlines, decompressed bytes) of the files, gzip ones decompressed."""
    lines = size = 0
    for path in files:
        with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
            for chunk in iter(lambda f=f: f.read(1 << 24), b""):
                lines += chunk.count(b"\n")
                size += len(chunk)
    return lines, size


def build_tools(a: argparse.Namespace, files: list[Path], tmp: Path) -> list[Tool]:
    """The commands to compare, in run order (the floor first)."""
    tools: list[Tool] = []
    exe = find_plausible_logs()
    if a.format == "cloudfront":
        if "wc" not in a.skip:
            tools.append(Tool("zcat | wc -l", ["sh", "-c", 'gzip -dc -- "$@" | wc -l', "sh", *map(str, files)]))
        if "goaccess" not in a.skip:
            out = tmp / "goaccess.json"
            if a.cmd_goaccess:
                tools.append(Tool("goaccess", command(a.cmd_goaccess, files, out), out))
            elif shutil.which("goaccess"):
                tools.append(Tool("goaccess", ["sh", "-c", CF_GOACCESS, "sh", str(out), *map(str, files)], out))
            else:
                tools.append(Tool("goaccess", None, missing="not installed"))
        for fmt, skip in (("cloudfront", "plausible-logs"), ("auto", "auto")):
            if skip in a.skip:
                continue
            name = f"plausible-logs parse --format {fmt}"
            out = tmp / f"out-{fmt}.parquet"
            if a.cmd_parse and fmt == "cloudfront":
                tools.append(Tool(name, command(a.cmd_parse, files, out, fmt), out))
            elif exe:
                tools.append(Tool(name, [exe, *command(CF_PARSE_ARGS, files, out, fmt)], out))
            else:
                tools.append(Tool(name, None, missing="not available"))
        if "wc" not in a.skip and a.decompressed:
            tools.append(Tool("wc -l (decompressed)", ["wc", "-l", str(a.decompressed)]))
        return tools
    if "wc" not in a.skip:
        tools.append(Tool("wc -l", ["wc", "-l", *map(str, files)]))
    if a.reference:
        tools.append(Tool("reference: polars extract_groups", [sys.executable, str(REFERENCE), str(files[0])]))
    if "goaccess" not in a.skip:
        out = tmp / "goaccess.json"
        if a.cmd_goaccess:
            tools.append(Tool("goaccess", command(a.cmd_goaccess, files, out), out))
        elif shutil.which("goaccess"):
            tools.append(Tool("goaccess", command("goaccess " + GOACCESS_ARGS, files, out), out))
        else:
            tools.append(Tool("goaccess", None, missing="not installed"))
    if "plausible-logs" not in a.skip:
        out = tmp / "out.parquet"
        if a.cmd_parse:
            tools.append(Tool("plausible-logs parse", command(a.cmd_parse, files, out), out))
        elif exe:
            tools.append(Tool("plausible-logs parse", [exe, *command(PARSE_ARGS, files, out)], out))
        else:
            tools.append(Tool("plausible-logs parse", None, missing="not available"))
    return tools


def fmt_int(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}x" if x >= 100 else f"{x:,.1f}x" if x >= 10 else f"{x:,.2f}x"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", type=Path, nargs="+", help="log file(s) or directories to parse (all in one run)")
    src.add_argument("--generate", type=int, metavar="N", help="generate N lines first (gen_access_log.py, or "
                     "gen_cloudfront_log.py with --format cloudfront)")  # fmt: skip
    src.add_argument("--generate-cloudfront", type=int, metavar="N", help="same as --format cloudfront --generate N")
    ap.add_argument("--format", choices=["combined", "cloudfront"], default="combined",
                    help="combined: nginx access log(s); cloudfront: gzip CloudFront standard logs")  # fmt: skip
    ap.add_argument("--seed", type=int, default=42, help="seed for --generate")
    ap.add_argument(
        "--cf-files",
        type=int,
        metavar="K",
        help=f"--generate-cloudfront: number of .gz files (default: one per {CF_LINES_PER_FILE:,} lines)",
    )
    ap.add_argument("--gzip-level", type=int, default=6, choices=range(1, 10), metavar="1-9",
                    help="--generate-cloudfront: gzip level (default 6)")  # fmt: skip
    ap.add_argument("--stats", type=Path, help="ground-truth JSON of --file (from the generator's --stats)")
    ap.add_argument("--runs", type=int, default=1, help="runs per command; the median is reported")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    ap.add_argument("--cmd-parse", help=f"plausible-logs command template (default: plausible-logs {PARSE_ARGS})")
    ap.add_argument("--cmd-goaccess", help=f"GoAccess command template (default: goaccess {GOACCESS_ARGS})")
    ap.add_argument("--skip", action="append", default=[], choices=["wc", "goaccess", "plausible-logs", "auto"],
                    help="leave a command out (auto: the cloudfront --format auto run)")  # fmt: skip
    ap.add_argument("--reference", action="store_true",
                    help="also time perf_baseline.md's plain polars parse (one file): this host against that one")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (generated log, outputs)")
    a = ap.parse_args(argv)
    if a.generate_cloudfront is not None:
        a.format, a.generate = "cloudfront", a.generate_cloudfront
    if a.runs < 1:
        ap.error("--runs must be >= 1")
    if a.generate is not None and a.generate < 0:
        ap.error("--generate must be >= 0")
    if a.cf_files is not None and a.cf_files < 1:
        ap.error("--cf-files must be >= 1")
    if a.reference and a.format != "combined":
        ap.error("--reference times the combined-log reference parse: use it without --format cloudfront")
    a.decompressed = None  # cloudfront: the files decompressed into one, for `wc -l` (issue 7 asks for it)
    return a


def host_calibration(results: list[dict[str, Any]], lines: int, raw_size: int | None) -> list[str]:
    """How this host compares with perf_baseline.md's, from the reference tools timed in this run.

    Why: a lines/s target was set on that machine. A reference that ran here at half its
    baseline speed says this host is half as fast, for that kind of work; GoAccess (one core)
    and `wc -l` (memory bandwidth) give two more views of the same question.
    """
    by_name = {r["name"]: r for r in results if r["lines_per_s"]}
    ours = [r for r in results if r["name"].startswith("plausible-logs") and r["lines_per_s"]]
    out: list[str] = []
    views = []
    if "reference: polars extract_groups" in by_name:
        views.append(("the reference polars parse", by_name["reference: polars extract_groups"]["lines_per_s"],
                      BASELINE["reference"], "lines/s"))  # fmt: skip
    if "goaccess" in by_name and "--format cloudfront" not in " ".join(r["name"] for r in results):
        views.append(("GoAccess", by_name["goaccess"]["lines_per_s"], BASELINE["goaccess"], "lines/s"))
    wc = by_name.get("wc -l (decompressed)") or by_name.get("wc -l")
    if wc and raw_size:
        views.append(("wc -l", round(raw_size / 1e6 / wc["median_s"]), BASELINE["wc -l MB/s"], "MB/s"))
    for label, here, there, unit in views:
        factor = here / there
        line = (f"host: {label} ran at {here:,} {unit} here, {there:,} in perf_baseline.md "
                f"(this host: {factor:.2f}x that machine)")  # fmt: skip
        if ours:
            line += "; at that machine's speed " + ", ".join(
                f"{r['name'].removeprefix('plausible-logs ')} would run at {r['lines_per_s'] / factor:,.0f} lines/s"
                for r in ours
            )
        out.append(line + ".")
    return out


def fmt_table(head: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table (a `|` inside a cell, as in `zcat | wc -l`, is escaped)."""
    head = [h.replace("|", "\\|") for h in head]
    rows = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in rows]
    return out


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    cloudfront = a.format == "cloudfront"
    tmp = Path(tempfile.mkdtemp(prefix="bench_parse_"))
    try:
        gen_seconds = None
        stats_path = a.stats
        if a.generate is not None:
            print(f"generating {a.generate:,} lines into {tmp} ...", file=sys.stderr)
            if cloudfront:
                n_files = a.cf_files or max(1, -(-a.generate // CF_LINES_PER_FILE))
                files, stats_path, gen_seconds = generate_cloudfront(a.generate, a.seed, n_files, a.gzip_level, tmp)
            else:
                files, stats_path, gen_seconds = generate(a.generate, a.seed, tmp)
        else:
            files = expand(a.file)
            missing = [str(f) for f in files if not f.is_file()]
            if missing or not files:
                print(f"error: no such file: {', '.join(missing) or ' '.join(map(str, a.file))}. "
                      "Pass existing log files or directories to --file.", file=sys.stderr)  # fmt: skip
                return 2
        truth = json.loads(stats_path.read_text()) if stats_path and stats_path.exists() else None
        size = sum(f.stat().st_size for f in files)
        compressed = any(f.suffix == ".gz" for f in files)

        if cloudfront and "wc" not in a.skip:
            a.decompressed = tmp / "decompressed.log"
            with open(a.decompressed, "wb") as out:
                for path in files:
                    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 24)
        if a.reference and len(files) > 1:
            print("--reference reads one file: it times the first only, so its figure is left out", file=sys.stderr)
            a.reference = False
        tools = build_tools(a, files, tmp)
        # ru_maxrss of a child counts this process's memory up to exec(): measure that floor once.
        floor_mib = run_once(["true"], tmp, "rss_floor")[2] / 1024 if shutil.which("true") else None
        for r in range(a.runs):
            for tool in tools:
                if tool.argv is None or tool.error:
                    continue
                if tool.out:
                    tool.out.unlink(missing_ok=True)
                print(f"run {r + 1}/{a.runs}: {tool.name} ...", file=sys.stderr, flush=True)
                # Interleaved runs, each reading its input from memory: warmed just before it runs, since this host
                # reclaims page cache it thinks cold (a 2.4 GB file read minutes earlier came back half from disk).
                warm_page_cache([a.decompressed] if tool.name == "wc -l (decompressed)" else files)
                try:
                    wall, cpu, rss, code, tail = run_once(tool.argv, tmp, tool.label)
                except OSError as exc:
                    tool.error = f"cannot run: {exc}"
                    continue
                if code:
                    tool.error = f"failed (exit {code})" + (f": {tail.splitlines()[-1]}" if tail else "")
                    continue
                tool.times.append(wall)
                tool.cpu.append(cpu)
                tool.rss_kib.append(rss)
        for tool in tools:
            if tool.median is None:
                continue
            tool.rows = describe_output(tool)
            if tool.name.startswith("plausible-logs"):
                tool.rows = parse_summary(tmp, tool) or tool.rows
            elif tool.name.startswith("reference"):
                tool.rows = (tmp / f"{tool.label}.stderr").read_text().strip()
        if truth:
            lines, raw_size = int(truth["lines"]), int(truth.get("bytes") or 0) or None
        else:
            lines, raw_size = count_lines(files)
        if not compressed:
            raw_size = size

        base = tools[0] if tools and tools[0].name in ("wc -l", "zcat | wc -l") else None
        t_base = base.median if base else None
        ga = next((t for t in tools if t.name == "goaccess"), None)
        t_ga = ga.median if ga else None
        results: list[dict[str, Any]] = []
        for tool in tools:
            m = tool.median
            res: dict[str, Any] = {
                "name": tool.name,
                "argv": tool.argv,
                "status": tool.missing or tool.error or "ok",
                "runs": len(tool.times),
                "times_s": [round(x, 4) for x in tool.times],
                "median_s": round(m, 4) if m is not None else None,
                "cpu_s": round(statistics.median(tool.cpu), 3) if m is not None else None,
                "lines_per_s": round(lines / m) if m else None,
                "mb_per_s": round(size / 1e6 / m, 1) if m else None,
                "raw_mb_per_s": round(raw_size / 1e6 / m, 1) if m and raw_size else None,
                "peak_rss_mib": round(max(tool.rss_kib) / 1024, 1) if tool.rss_kib and m is not None else None,
                "x_slower_than_wc": round(m / t_base, 2) if m and t_base else None,
                "x_faster_than_goaccess": round(t_ga / m, 2) if m and t_ga else None,
                "reported": tool.rows,
            }
            results.append(res)

        what = f"{len(files)} file(s)" if len(files) > 1 else str(files[0])
        sizes = f"{size / 1e6:,.1f} MB" + (f" gzip, {raw_size / 1e6:,.1f} MB decompressed" if compressed and raw_size
                                           else "")  # fmt: skip
        print()
        print(f"{a.format}: {what} ({sizes}, {lines:,} lines); median of {a.runs} run(s); warm page cache")
        if truth:
            ok, bad = truth["accepted_lines"], truth["must_reject"]
            print(f"ground truth: {ok:,} parseable lines, {bad:,} must be rejected")
        if gen_seconds is not None:
            print(f"generated in {gen_seconds:.1f} s ({lines / gen_seconds:,.0f} lines/s)")
        base_name = base.name if base else "wc -l"
        head = ["command", "median s", "CPU s", "lines/s", "MB/s", "peak RSS MiB", f"x {base_name} (slower)",
                "x GoAccess (faster)", "parsed"]  # fmt: skip
        if compressed:
            head[4:5] = ["MB/s gz", "MB/s raw"]
        rows = []
        for res in results:
            if res["median_s"] is None:
                status = res["status"] if len(res["status"]) <= 40 else res["status"][:39] + "…"
                rows.append([res["name"], status] + [""] * (len(head) - 2))
                continue
            speed = [f"{res['mb_per_s']:,.0f}"] + ([fmt_int(res["raw_mb_per_s"])] if compressed else [])
            rows.append([
                res["name"], f"{res['median_s']:.2f}", f"{res['cpu_s']:.2f}", fmt_int(res["lines_per_s"]), *speed,
                f"{res['peak_rss_mib']:,.0f}", fmt_ratio(res["x_slower_than_wc"]),
                fmt_ratio(res["x_faster_than_goaccess"]), res["reported"],
            ])  # fmt: skip
        print("\n".join(fmt_table(head, rows)))
        if floor_mib:
            print(f"\npeak RSS cannot read below ~{floor_mib:.0f} MiB here (this harness's memory, counted up to exec)")
        for res in results:
            if not res["name"].startswith("plausible-logs") or res["median_s"] is None:
                continue
            parts = []
            if res["x_faster_than_goaccess"]:
                parts.append(f"{res['x_faster_than_goaccess']:.2f}x as fast as GoAccess")
            if res["x_slower_than_wc"]:
                ratio = res["x_slower_than_wc"]
                parts.append(f"{ratio:.1f}x slower than {base_name}" if ratio >= 1
                             else f"{1 / ratio:.1f}x as fast as {base_name}")
            if cloudfront:
                verdict = "meets" if res["lines_per_s"] >= TARGET_LINES_PER_S else "misses"
                parts.append(f"{verdict} the {TARGET_LINES_PER_S:,} lines/s target")
            if parts:
                print(f"{res['name']}: {res['lines_per_s']:,} lines/s, " + ", ".join(parts) + " (same run).")

        calibration = host_calibration(results, lines, raw_size)
        for line in calibration:
            print(line)

        if a.json:
            machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
            doc = {
                "format": a.format,
                "file": str(files[0]) if len(files) == 1 else None,
                "files": [str(f) for f in files],
                "bytes": size,
                "raw_bytes": raw_size,
                "lines": lines,
                "runs": a.runs,
                "baseline": base_name,
                "rss_floor_mib": round(floor_mib, 1) if floor_mib else None,
                "generated_seconds": round(gen_seconds, 3) if gen_seconds is not None else None,
                "ground_truth": {k: truth[k] for k in ("accepted_lines", "must_reject")} if truth else None,
                "machine": machine,
                "results": results,
                "calibration": calibration,
            }
            a.json.write_text(json.dumps(doc, indent=2) + "\n")
        failed = [t for t in tools if t.error]
        for t in failed:
            print(f"{t.name}: {t.error}", file=sys.stderr)
        return 1 if failed else 0
    finally:
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
