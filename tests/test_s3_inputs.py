"""s3:// inputs against a real S3-protocol server (moto's server mode) on 127.0.0.1, driven through the CLI.

The objects are the CloudFront sample split into three gzip objects, plus keys that must not be read; every
expectation is the same command run on the same bytes as local files, or counted from the sample by hand.
Dummy credentials and an explicit endpoint keep every request on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import duckdb
import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import ROOT, SAMPLES, ndjson_rows, run_cli

SAMPLE_LINES = (SAMPLES / "cloudfront.log").read_text().splitlines()
HEADER, DATA = SAMPLE_LINES[:2], SAMPLE_LINES[2:]  # `#Version`, `#Fields`, then one request per line
CHUNKS = (DATA[:7], DATA[7:14], DATA[14:])
KEYS = (
    "cf/E2EXAMPLE.2024-03-05-13.a1b2c3d4.gz",
    "cf/E2EXAMPLE.2024-03-05-14.b2c3d4e5.gz",
    "cf/E2EXAMPLE.2024-03-05-15.c3d4e5f6.gz",
)
NOT_MATCHING = {  # under other prefixes, or another distribution: never read
    "cf/E2OTHERDIST.2024-03-05-13.d4e5f6a7.gz": gzip.compress(b"not a log line\n"),
    "elsewhere/E2EXAMPLE.2024-03-05-13.e5f6a7b8.gz": gzip.compress(b"not a log line either\n"),
    "cf/": b"",  # a console-made folder marker
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1, and an environment whose only credentials are dummies."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def server_log() -> Iterator[list[str]]:
    """The S3 server's own access log (werkzeug's request lines), to see which objects were downloaded."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("werkzeug")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def upload(endpoint: str, local: Path) -> str:
    """A new bucket holding the three CloudFront objects and the keys that must not be read; local copies too."""
    bucket = f"logs-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    local.mkdir(exist_ok=True)
    for key, chunk in zip(KEYS, CHUNKS, strict=True):
        body = gzip.compress(("\n".join(HEADER + chunk) + "\n").encode())
        client.put_object(Bucket=bucket, Key=key, Body=body)
        (local / Path(key).name).write_bytes(body)
    for key, body in NOT_MATCHING.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    return bucket


def local_files(local: Path, keys: tuple[str, ...] = KEYS) -> list[str]:
    return [str(local / Path(key).name) for key in keys]


def load(tmp_path: Path, db: str, *inputs: str, extra: tuple[str, ...] = ()) -> tuple[dict, str]:
    summary = tmp_path / "summary.json"
    result = run_cli("load", *inputs, "--db", str(tmp_path / db), "--domain", "example.com",
                     "--key-file", str(tmp_path / "visitor.key"), "--summary-json", str(summary), *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(summary.read_text()), result.stderr


def stored(db: Path) -> dict[str, object]:
    with duckdb.connect(str(db), read_only=True) as con:
        one = con.execute
        return {
            "events": one("SELECT name, ts, hostname, pathname, referrer_source, browser, visitor_id FROM events "
                          "ORDER BY ALL").fetchall(),
            "sessions": one('SELECT visitor_id, start, "end", entry_page, exit_page, pageviews, is_bounce, duration '
                            "FROM sessions ORDER BY ALL").fetchall(),
        }


def without_file_names(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("files", "files_loaded", "files_skipped")}


def test_load_from_s3_equals_loading_the_same_files_and_a_second_run_downloads_nothing(
    endpoint: str, tmp_path: Path, server_log: list[str]
) -> None:
    bucket = upload(endpoint, tmp_path / "local")
    urls = [f"s3://{bucket}/{key}" for key in KEYS]

    from_s3, _ = load(tmp_path, "s3.duckdb", f"s3://{bucket}/cf/E2EXAMPLE.", extra=("--endpoint-url", endpoint))
    from_files, _ = load(tmp_path, "local.duckdb", *local_files(tmp_path / "local"))

    assert from_s3["files_loaded"] == urls  # key order; the other distribution and prefix were not read
    assert from_s3["lines"] == len(KEYS) * len(HEADER) + len(DATA)
    assert without_file_names(from_s3) == without_file_names(from_files)
    assert from_s3["events_written"] > 0
    assert stored(tmp_path / "s3.duckdb") == stored(tmp_path / "local.duckdb")
    with duckdb.connect(str(tmp_path / "s3.duckdb"), read_only=True) as con:
        ledger = con.execute("SELECT path, compression, fingerprint FROM files ORDER BY file_id").fetchall()
    assert [(path, compression) for path, compression, _ in ledger] == [(url, "gzip") for url in urls]
    assert all(fp.startswith("s3:") and fp.endswith(":complete") for _, _, fp in ledger)

    server_log.clear()
    again, stderr = load(tmp_path, "s3.duckdb", f"s3://{bucket}/cf/E2EXAMPLE.", extra=("--endpoint-url", endpoint))
    assert again["files_skipped"] == urls and again["files_loaded"] == [] and again["events_written"] == 0
    assert "skipped 3 already loaded" in stderr
    assert any(f"GET /{bucket}?" in line for line in server_log)  # the listing
    assert not [line for line in server_log if f"GET /{bucket}/" in line]  # and no object downloaded
    assert stored(tmp_path / "s3.duckdb") == stored(tmp_path / "local.duckdb")


def test_a_glob_after_the_prefix_parses_only_the_matching_keys_in_key_order(endpoint: str, tmp_path: Path) -> None:
    bucket = upload(endpoint, tmp_path / "local")
    chosen = KEYS[1:]
    result = run_cli("parse", f"s3://{bucket}/cf/E2EXAMPLE.2024-03-05-1[45].*.gz", "--endpoint-url", endpoint,
                     "--output", "ndjson")
    assert result.exit_code == 0, result.stderr
    local = run_cli("parse", *local_files(tmp_path / "local", chosen), "--output", "ndjson")
    rows, expected = ndjson_rows(result.stdout), ndjson_rows(local.stdout)
    url_of = {Path(key).name: f"s3://{bucket}/{key}" for key in chosen}
    assert [r["file"] for r in rows] == [url_of[Path(r["file"]).name] for r in expected]
    assert [{**r, "file": None} for r in rows] == [{**r, "file": None} for r in expected]
    assert len(rows) > 0


def test_events_and_send_dry_run_read_s3_like_files(endpoint: str, tmp_path: Path) -> None:
    bucket = upload(endpoint, tmp_path / "local")
    remote, local = [f"s3://{bucket}/cf/E2EXAMPLE."], local_files(tmp_path / "local")
    common = ("--domain", "example.com", "--endpoint-url", endpoint)
    events = run_cli("events", *remote, *common)
    assert events.exit_code == 0, events.stderr
    assert events.stdout == run_cli("events", *local, "--domain", "example.com").stdout
    assert len(ndjson_rows(events.stdout)) > 0
    dry = ("--dry-run", "--allow-historical", "--state", str(tmp_path / "ledger.sqlite"))
    sent = run_cli("send", *remote, *common, *dry)
    assert sent.exit_code == 0, sent.stderr
    assert sent.stdout and sent.stdout == run_cli("send", *local, "--domain", "example.com", *dry).stdout


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("s3://no-such-bucket-here/cf/", "bucket 'no-such-bucket-here' does not exist"),
        ("s3://{bucket}/cf/E2EXAMPLE.2023-*.gz", "no objects match 's3://{bucket}/cf/E2EXAMPLE.2023-*.gz'"),
        ("s3://{bucket}/*.gz", "no objects match"),  # `*` stays within one part of the key
        ("s3://{bucket}/nothing/here/", "no objects are under 's3://{bucket}/nothing/here/'"),
        ("s3:///cf/", "names no bucket; write s3://BUCKET/PREFIX"),
    ],
)
def test_bad_s3_inputs_are_one_line_errors_with_exit_2(endpoint: str, tmp_path: Path, spec: str, message: str) -> None:
    bucket = upload(endpoint, tmp_path / "local")
    result = run_cli("load", spec.format(bucket=bucket), "--endpoint-url", endpoint, "--db", str(tmp_path / "x.duckdb"),
                     "--domain", "example.com", "--key-file", str(tmp_path / "visitor.key"))
    assert result.exit_code == 2
    assert message.format(bucket=bucket) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.duckdb").exists()


def test_missing_credentials_say_how_to_provide_them(endpoint: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = upload(endpoint, tmp_path / "local")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = run_cli("parse", f"s3://{bucket}/cf/", "--endpoint-url", endpoint)
    assert result.exit_code == 2
    assert "no AWS credentials found" in result.stderr and "AWS_PROFILE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


class CuttingProxy:
    """A TCP relay to the S3 server that drops the connection part-way through the first object download.

    Why: a connection lost mid-object is what a real network does; the load must stop with a one-line error
    and keep what it committed, and a re-run must end exactly where an uninterrupted load would.
    """

    def __init__(self, upstream: str, object_path: bytes, cut_after: int) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.object_path, self.cut_after = object_path, cut_after
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cut = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            downloading = threading.Event()
            threading.Thread(target=self._requests, args=(client, server, downloading), daemon=True).start()
            threading.Thread(target=self._answers, args=(server, client, downloading), daemon=True).start()

    def _requests(self, client: socket.socket, server: socket.socket, downloading: threading.Event) -> None:
        while data := _recv(client):
            if self.object_path in data and not self.cut.is_set():
                downloading.set()
            server.sendall(data)

    def _answers(self, server: socket.socket, client: socket.socket, downloading: threading.Event) -> None:
        relayed = 0
        while data := _recv(server):
            if downloading.is_set() and not self.cut.is_set():
                if relayed + len(data) >= self.cut_after:
                    client.sendall(data[: self.cut_after - relayed])
                    self.cut.set()
                    for end in (client, server):  # shutdown wakes the other relay thread and sends FIN now
                        with contextlib.suppress(OSError):
                            end.shutdown(socket.SHUT_RDWR)
                        end.close()
                    return
                relayed += len(data)
            client.sendall(data)

    def close(self) -> None:
        self.listener.close()


def _recv(end: socket.socket) -> bytes:
    try:
        return end.recv(65536)
    except OSError:
        return b""


def test_a_download_cut_part_way_stops_cleanly_and_the_rerun_ends_like_an_uninterrupted_load(
    endpoint: str, tmp_path: Path
) -> None:
    plain = tmp_path / "access.log"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_access_log.py"), "--lines", "20000", "--days", "2",
                    "--workers", "1", "-o", str(plain)], check=True, capture_output=True)
    log = tmp_path / "access.log.gz"  # gzip without compression: the object is as long as the log, several MiB
    log.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=0))
    bucket = f"logs-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="nginx/access.log.gz", Body=log.read_bytes())
    small_batches = ("--format", "combined", "--batch-bytes", "65536", "--commit-events", "100")

    proxy = CuttingProxy(endpoint, f"/{bucket}/nginx/access.log.gz".encode(), log.stat().st_size * 4 // 5)
    try:
        cut = run_cli("load", f"s3://{bucket}/nginx/", "--endpoint-url", proxy.url, "--db", str(tmp_path / "s3.duckdb"),
                      "--domain", "example.com", "--key-file", str(tmp_path / "visitor.key"), *small_batches)
    finally:
        proxy.close()
    assert proxy.cut.is_set()
    assert cut.exit_code == 2
    assert f"reading s3://{bucket}/nginx/access.log.gz failed" in cut.stderr and "re-run" in cut.stderr
    with duckdb.connect(str(tmp_path / "s3.duckdb"), read_only=True) as con:
        (fingerprint, offset), = con.execute("SELECT fingerprint, committed_offset FROM files").fetchall()
    assert offset > 0 and not fingerprint.endswith(":complete")  # part of it is in, and it is known to be partial

    load(tmp_path, "s3.duckdb", f"s3://{bucket}/nginx/", extra=("--endpoint-url", endpoint, *small_batches))
    load(tmp_path, "local.duckdb", str(log), extra=small_batches)
    assert stored(tmp_path / "s3.duckdb") == stored(tmp_path / "local.duckdb")
    with duckdb.connect(str(tmp_path / "s3.duckdb"), read_only=True) as con:
        s3_files = con.execute("SELECT committed_offset, committed_line, fingerprint FROM files").fetchall()
    with duckdb.connect(str(tmp_path / "local.duckdb"), read_only=True) as con:
        local_files = con.execute("SELECT committed_offset, committed_line FROM files").fetchall()
    assert [row[:2] for row in s3_files] == local_files and s3_files[0][2].endswith(":complete")


def test_send_follow_refuses_s3_inputs_with_the_fix(endpoint: str, tmp_path: Path) -> None:
    result = run_cli("send", "s3://any-bucket/cf/", "--follow", "--domain", "example.com", "--endpoint-url", endpoint,
                     "--state", str(tmp_path / "ledger.sqlite"))
    assert result.exit_code == 2
    assert "--follow tails local files" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_local_inputs_never_import_boto3() -> None:
    probe = "import sys, importer.cli, importer.load; print('boto3' in sys.modules or 'botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "False"
