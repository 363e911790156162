"""Benchmark parsing one access log: ``wc -l`` vs GoAccess vs ``plausible-logs parse``, in the same run.

Why: absolute seconds mean little on a shared, noisy machine, but ratios measured side by side in one
run do. ``wc -l`` is the I/O floor and GoAccess is the peer (a C log analyser on one core), so the
table reports each tool as "x slower than wc -l" and plausible-logs' speed as a multiple of GoAccess.
Runs are interleaved (wc, goaccess, plausible-logs, wc, ...) so drift hits every tool alike, and each
figure is the median of ``--runs``. Peak RSS is the child's ``ru_maxrss`` from ``os.wait4``.

Nothing is installed: a missing GoAccess shows as "not installed", a missing plausible-logs as
"not available". ``--cmd-parse``/``--cmd-goaccess`` replace a command (placeholders {file} {out}).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
GOACCESS_ARGS = "{file} --log-format=COMBINED -o {out} --no-global-config --no-progress --no-parsing-spinner"
PARSE_ARGS = "parse {file} --format combined --output parquet -o {out}"


@dataclass
class Tool:
    """One benchmarked command and what its runs measured."""

    name: str
    argv: list[str] | None  # None: the command is missing
    out: Path | None = None
    missing: str = ""  # row text when argv is None
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    error: str = ""
    rows: str = ""  # what the tool says it parsed (best effort)

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times and not self.error else None


def find_plausible_logs() -> str | None:
    """The console script next to this interpreter (the project venv), else on PATH."""
    exe = Path(sys.executable).parent / ("plausible-logs.exe" if os.name == "nt" else "plausible-logs")
    return str(exe) if exe.exists() else shutil.which("plausible-logs")


def command(template: str, file: Path, out: Path | None) -> list[str]:
    return [a.format(file=str(file), out=str(out) if out else "") for a in shlex.split(template)]


def run_once(argv: list[str], log_dir: Path, label: str) -> tuple[float, int, int, str]:
    """(wall seconds, peak RSS KiB, exit code, stderr tail) of one child run."""
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
    return wall, rss, code, tail


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


def generate(n: int, seed: int, workdir: Path) -> tuple[Path, Path, float]:
    log = workdir / "access.log"
    stats = workdir / "access.stats.json"
    argv = [sys.executable, str(GENERATOR), "--lines", str(n), "--seed", str(seed), "-o", str(log)]
    argv += ["--stats", str(stats)]
    t0 = time.perf_counter()
    subprocess.run(argv, check=True)
    return log, stats, time.perf_counter() - t0


def fmt_int(x: float | None) -> str:
    return "" if x is None else f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}x" if x >= 100 else f"{x:,.1f}x" if x >= 10 else f"{x:,.2f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--file", type=Path, help="log file to parse (nginx combined)")
    src.add_argument("--generate", type=int, metavar="N", help="generate N lines with gen_access_log.py first")
    ap.add_argument("--seed", type=int, default=42, help="seed for --generate")
    ap.add_argument("--stats", type=Path, help="ground-truth JSON of --file (from gen_access_log.py --stats)")
    ap.add_argument("--runs", type=int, default=1, help="runs per command; the median is reported")
    ap.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    ap.add_argument("--cmd-parse", help=f"plausible-logs command template (default: plausible-logs {PARSE_ARGS})")
    ap.add_argument("--cmd-goaccess", help=f"GoAccess command template (default: goaccess {GOACCESS_ARGS})")
    ap.add_argument("--skip", action="append", default=[], choices=["wc", "goaccess", "plausible-logs"])
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (generated log, outputs)")
    a = ap.parse_args(argv)
    if a.runs < 1:
        ap.error("--runs must be >= 1")

    tmp = Path(tempfile.mkdtemp(prefix="bench_parse_"))
    try:
        gen_seconds = None
        stats_path = a.stats
        if a.generate is not None:
            print(f"generating {a.generate:,} lines into {tmp} ...", file=sys.stderr)
            file, stats_path, gen_seconds = generate(a.generate, a.seed, tmp)
        else:
            file = a.file
            if not file.is_file():
                ap.error(f"no such file: {file}")
        truth = json.loads(stats_path.read_text()) if stats_path and stats_path.exists() else None
        size = file.stat().st_size

        tools: list[Tool] = []
        if "wc" not in a.skip:
            tools.append(Tool("wc -l", ["wc", "-l", str(file)]))
        if "goaccess" not in a.skip:
            out = tmp / "goaccess.json"
            if a.cmd_goaccess:
                tools.append(Tool("goaccess", command(a.cmd_goaccess, file, out), out))
            elif shutil.which("goaccess"):
                tools.append(Tool("goaccess", command("goaccess " + GOACCESS_ARGS, file, out), out))
            else:
                tools.append(Tool("goaccess", None, missing="not installed"))
        if "plausible-logs" not in a.skip:
            out = tmp / "out.parquet"
            exe = find_plausible_logs()
            if a.cmd_parse:
                tools.append(Tool("plausible-logs parse", command(a.cmd_parse, file, out), out))
            elif exe:
                tools.append(Tool("plausible-logs parse", [exe, *command(PARSE_ARGS, file, out)], out))
            else:
                tools.append(Tool("plausible-logs parse", None, missing="not available"))

        # Warm the page cache so every tool reads from memory, then interleave the runs.
        buf = bytearray(1 << 20)
        with open(file, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
        # ru_maxrss of a child counts this process's memory up to exec(): measure that floor once.
        floor_mib = run_once(["true"], tmp, "rss_floor")[1] / 1024 if shutil.which("true") else None
        for r in range(a.runs):
            for tool in tools:
                if tool.argv is None or tool.error:
                    continue
                if tool.out:
                    tool.out.unlink(missing_ok=True)
                print(f"run {r + 1}/{a.runs}: {tool.name} ...", file=sys.stderr, flush=True)
                try:
                    wall, rss, code, tail = run_once(tool.argv, tmp, tool.name.split()[0])
                except OSError as exc:
                    tool.error = f"cannot run: {exc}"
                    continue
                if code:
                    tool.error = f"failed (exit {code})" + (f": {tail.splitlines()[-1]}" if tail else "")
                    continue
                tool.times.append(wall)
                tool.rss_kib.append(rss)
        for tool in tools:
            tool.rows = describe_output(tool) if tool.median is not None else ""
        wc = next((t for t in tools if t.name == "wc -l"), None)
        if truth:
            lines = int(truth["lines"])
        else:
            with open(file, "rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))

        t_wc = wc.median if wc else None
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
                "lines_per_s": round(lines / m) if m else None,
                "mb_per_s": round(size / 1e6 / m, 1) if m else None,
                "peak_rss_mib": round(max(tool.rss_kib) / 1024, 1) if tool.rss_kib and m is not None else None,
                "x_slower_than_wc": round(m / t_wc, 2) if m and t_wc else None,
                "x_faster_than_goaccess": round(t_ga / m, 2) if m and t_ga else None,
                "reported": tool.rows,
            }
            results.append(res)

        print()
        print(f"file: {file} ({size / 1e6:,.1f} MB, {lines:,} lines); median of {a.runs} run(s); warm page cache")
        if truth:
            ok, bad = truth["accepted_lines"], truth["must_reject"]
            print(f"ground truth: {ok:,} parseable lines, {bad:,} must be rejected")
        if gen_seconds is not None:
            print(f"generated in {gen_seconds:.1f} s ({lines / gen_seconds:,.0f} lines/s)")
        head = ["command", "median s", "lines/s", "MB/s", "peak RSS MiB", "x wc -l (slower)", "x GoAccess (faster)",
                "parsed"]  # fmt: skip
        rows = []
        for res in results:
            if res["median_s"] is None:
                status = res["status"] if len(res["status"]) <= 40 else res["status"][:39] + "…"
                rows.append([res["name"], status, "", "", "", "", "", ""])
                continue
            rows.append([
                res["name"], f"{res['median_s']:.2f}", fmt_int(res["lines_per_s"]), f"{res['mb_per_s']:,.0f}",
                f"{res['peak_rss_mib']:,.0f}", fmt_ratio(res["x_slower_than_wc"]),
                fmt_ratio(res["x_faster_than_goaccess"]), res["reported"],
            ])  # fmt: skip
        widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
        print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in rows:
            print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if floor_mib:
            print(f"\npeak RSS cannot read below ~{floor_mib:.0f} MiB here (this harness's memory, counted up to exec)")
        pl = next((r for r in results if r["name"] == "plausible-logs parse"), None)
        if pl and pl["x_faster_than_goaccess"]:
            print(f"\nplausible-logs parses {pl['x_faster_than_goaccess']:.2f}x as fast as GoAccess "
                  f"and is {pl['x_slower_than_wc']:.0f}x slower than wc -l (same run).")  # fmt: skip

        if a.json:
            machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
            doc = {
                "file": str(file),
                "bytes": size,
                "lines": lines,
                "runs": a.runs,
                "rss_floor_mib": round(floor_mib, 1) if floor_mib else None,
                "generated_seconds": round(gen_seconds, 3) if gen_seconds is not None else None,
                "ground_truth": {k: truth[k] for k in ("accepted_lines", "must_reject")} if truth else None,
                "machine": machine,
                "results": results,
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
