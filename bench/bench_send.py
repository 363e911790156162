"""Benchmark `plausible-logs send` against the local Plausible stand-in in its own process.

Why: sending is bound by HTTP round trips, not parsing, so this measures events/s end to end (parse, ledger,
HTTP) and the sender's peak RSS, which must stay flat however big the log is (batches are streamed; queues
are bounded), plus the CPU each side spends per event (sender and receiver share the 2 cores).
`--compare-clients` also measures the candidate async HTTP clients alone (httpx, aiohttp, and the project's own
keep-alive client, importer/sinks/http1.py) posting the same request to the same receiver, which is how the
client was chosen.

    python bench/bench_send.py --lines 200000            # ~54k page views from bench/gen_access_log.py
    python bench/bench_send.py --lines 200000 --compare-clients
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNNER = "import sys; from importer.cli_send import send; send.main(sys.argv[1:], prog_name='plausible-logs send')"


def start_receiver(delay: float) -> tuple[subprocess.Popen[str], str]:
    """The receiver in a separate process, so its CPU is not the sender's."""
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "receiver.py"), "--delay", str(delay)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, f"http://127.0.0.1:{port}"


def receiver_stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/__stats", timeout=10) as response:
        return json.loads(response.read())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def generate(lines: int, folder: Path) -> Path:
    log = folder / f"access-{lines}.log"
    if not log.exists():
        subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", str(lines),
                        "-o", str(log)], check=True, stderr=subprocess.DEVNULL)
    return log


def run_send(log: Path, base: str, state: Path, concurrency: int, receiver_pid: int) -> dict[str, Any]:
    """One `send` run as a child process; wall time, CPU and peak RSS from wait4, and the receiver's CPU."""
    summary = state.with_suffix(".json")
    args = [str(log), "--domain", "example.com", "--endpoint", f"{base}/api/event", "--state", str(state),
            "--allow-historical", "--concurrency", str(concurrency), "--summary-json", str(summary)]
    receiver_before = cpu_seconds(receiver_pid)
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", RUNNER, *args], stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    receiver_cpu = cpu_seconds(receiver_pid) - receiver_before
    send = json.loads(summary.read_text())["send"]
    sender_cpu = usage.ru_utime + usage.ru_stime
    per_event = max(1, send["sent"])
    return {
        "exit": os.waitstatus_to_exitcode(status), "wall_s": round(wall, 2), "sent": send["sent"],
        "accepted": send["accepted"], "events_per_s": round(send["sent"] / wall),
        "sender_cpu_s": round(sender_cpu, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "sender_cpu_us_per_event": round(sender_cpu / per_event * 1e6),
        "receiver_cpu_us_per_event": round(receiver_cpu / per_event * 1e6),
    }


def synthetic_child(total: int, base: str, folder: str, concurrency: int) -> None:
    """In a child process: feed the Sender generated event frames directly, batch by batch (no parsing)."""
    from datetime import datetime, timezone

    import polars as pl

    from importer.events import EVENT_COLUMNS
    from importer.ledger import Ledger
    from importer.sinks.send_model import Outgoing, SendOptions, SendStats
    from importer.sinks.upstream import Sender

    batch = 10_000
    now = datetime.now(timezone.utc)

    def frames():  # one batch alive at a time, like the file pipeline
        for start in range(0, total, batch):
            n = min(batch, total - start)
            index = pl.int_range(start, start + n, eager=True)
            frame = pl.DataFrame({
                "ts": [now] * n, "name": ["pageview"] * n, "domain": ["example.com"] * n,
                "url": "https://example.com/page/" + index.cast(pl.String),
                "user_agent": "Mozilla/5.0 Firefox/123.0 v" + (index % 997).cast(pl.String),
                "client_ip": "198.51.100." + (index % 250 + 1).cast(pl.String),
                "file": ["synthetic.log"] * n, "line": (index + 1).cast(pl.UInt64),
                "offset": (index * 100).cast(pl.UInt64),
            })
            missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)
            yield Outgoing(frame.select(list(EVENT_COLUMNS)), "5e7d1c0ffee00000", (start + n) * 100, start + n + 1)

    async def run() -> SendStats:
        stats = SendStats()
        sender = Sender(Ledger(Path(folder) / "synthetic.sqlite"), SendOptions(f"{base}/api/event",
                        concurrency=concurrency), stats, lambda line: None)

        async def batches():
            for item in frames():
                yield item

        await sender.run(batches())
        return stats

    stats = asyncio.run(run())
    print(json.dumps(stats.as_dict()))


def run_synthetic(total: int, base: str, folder: Path, concurrency: int) -> dict[str, Any]:
    """The Sender alone on `total` synthetic events, in a child process so its peak RSS is its own."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, __file__, "--child-synthetic", str(total), "--base", base,
                                "--folder", str(folder), "--concurrency", str(concurrency)], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stats = json.loads(out.strip().splitlines()[-1])
    return {"events": total, "sent": stats["sent"], "wall_s": round(wall, 2),
            "events_per_s": round(stats["events_per_s"]), "sender_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mib": round(usage.ru_maxrss / 1024)}


async def _client_run(kind: str, url: str, total: int, concurrency: int) -> None:
    body = json.dumps({"name": "pageview", "url": "https://example.com/a", "domain": "example.com"}).encode()
    headers = {"User-Agent": "Mozilla/5.0 Firefox/123.0", "X-Forwarded-For": "192.0.2.1",
               "Content-Type": "application/json"}
    left = iter(range(total))
    if kind == "http1":
        from importer.sinks.http1 import Connection, Endpoint

        endpoint = Endpoint.parse(url)
        head = endpoint.post_head() + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

        async def work_http1() -> None:
            connection = Connection(endpoint)
            for _ in left:
                await connection.post(request, 10)
            connection.close()

        await asyncio.gather(*(work_http1() for _ in range(concurrency)))
        return
    if kind == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(limits=limits) as client:
            async def work() -> None:
                for _ in left:
                    (await client.post(url, content=body, headers=headers)).read()

            await asyncio.gather(*(work() for _ in range(concurrency)))
        return
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def work_aio() -> None:
            for _ in left:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

        await asyncio.gather(*(work_aio() for _ in range(concurrency)))


def compare_clients(base: str, receiver_pid: int, total: int, concurrency: int) -> list[dict[str, Any]]:
    rows = []
    for kind in ("httpx", "aiohttp", "http1"):
        if kind != "http1" and importlib.util.find_spec(kind) is None:
            rows.append({"client": kind, "requests_per_s": "not installed (pip install " + kind + ")"})
            continue
        server_cpu = cpu_seconds(receiver_pid)
        cpu = time.process_time()
        started = time.perf_counter()
        asyncio.run(_client_run(kind, f"{base}/api/event", total, concurrency))
        wall = time.perf_counter() - started
        rows.append({"client": kind, "requests_per_s": round(total / wall),
                     "client_cpu_us_per_request": round((time.process_time() - cpu) / total * 1e6),
                     "receiver_cpu_us_per_request": round((cpu_seconds(receiver_pid) - server_cpu) / total * 1e6)})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000, help="log lines to generate (~27%% are page views)")
    parser.add_argument("--log", type=Path, default=None, help="use this log instead of generating one")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.0, help="receiver answer delay in seconds")
    parser.add_argument("--compare-clients", type=int, nargs="?", const=5000, default=0, metavar="REQUESTS",
                        help="also time httpx and aiohttp alone for this many requests")
    parser.add_argument("--synthetic", type=int, nargs="*", default=[], metavar="EVENTS",
                        help="also run the Sender alone on generated event frames of these sizes (flat RSS check)")
    parser.add_argument("--skip-log", action="store_true", help="skip the end-to-end run on a log")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--child-synthetic", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--base", default="", help=argparse.SUPPRESS)
    parser.add_argument("--folder", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_synthetic:
        synthetic_child(args.child_synthetic, args.base, args.folder, args.concurrency)
        return
    receiver, base = start_receiver(args.delay)
    report: dict[str, Any] = {"cpus": os.cpu_count(), "load_avg": os.getloadavg()[0]}
    try:
        with tempfile.TemporaryDirectory() as folder:
            if not args.skip_log:
                log = args.log or generate(args.lines, Path(folder))
                report["log_mb"] = round(log.stat().st_size / 1e6, 1)
                report["send"] = run_send(log, base, Path(folder) / "ledger.sqlite", args.concurrency, receiver.pid)
                report["receiver"] = receiver_stats(base)
            for size in args.synthetic:
                sub = Path(folder) / f"synthetic-{size}"
                sub.mkdir()
                report.setdefault("synthetic", []).append(run_synthetic(size, base, sub, args.concurrency))
            if args.compare_clients:
                report["clients"] = compare_clients(base, receiver.pid, args.compare_clients, args.concurrency)
    finally:
        receiver.terminate()
        receiver.wait()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['cpus']} CPUs · load average {report['load_avg']:.2f} at start")
    if "send" in report:
        send = report["send"]
        print(f"send {report['log_mb']} MB log: {send['sent']:,} events in {send['wall_s']} s = "
              f"{send['events_per_s']:,} events/s (whole process incl. start-up and parsing) · sender CPU "
              f"{send['sender_cpu_s']} s ({send['sender_cpu_us_per_event']} µs/event) · receiver CPU "
              f"{send['receiver_cpu_us_per_event']} µs/event · peak RSS {send['peak_rss_mib']} MiB · "
              f"exit {send['exit']} · receiver got {report['receiver'].get('requests', 0):,} requests")
    for row in report.get("synthetic", []):
        print(f"sender alone: {row['sent']:,} events in {row['wall_s']} s = {row['events_per_s']:,} events/s · "
              f"sender CPU {row['sender_cpu_s']} s · peak RSS {row['peak_rss_mib']} MiB")
    for row in report.get("clients", []):
        if isinstance(row["requests_per_s"], str):
            print(f"{row['client']:>8}: {row['requests_per_s']}")
            continue
        print(f"{row['client']:>8}: {row['requests_per_s']:,} requests/s · client CPU "
              f"{row['client_cpu_us_per_request']} µs/request · receiver CPU {row['receiver_cpu_us_per_request']} "
              "µs/request")


if __name__ == "__main__":
    main()
