"""A local stand-in for Plausible's `POST /api/event`, strict about the contract.

Why: `send` must be tested against a real HTTP server on 127.0.0.1 that
answers the way Plausible does (reference/plausible.md §1): 202 `ok`, 202 with
`x-plausible-dropped` for bots, 400 `{"errors": ...}` with Plausible's own
messages. It records every request (headers and body) so tests can assert
exactly what arrived, and can be scripted to misbehave: 429 with Retry-After,
5xx, answers slower than the client's timeout, connections closed without an
answer, or a 404 for everything (a wrong endpoint).

Run in a thread (`with Receiver() as r:`) or as its own process:
`python tests/receiver.py [--delay S]` prints its port on stdout, then serves
until killed; `GET /__stats` answers request counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EVENT_PATH = "/api/event"
MAX_URL_BYTES = 2000
MAX_NAME_CHARS = 120


@dataclass(frozen=True)
class Scripted:
    """One scripted answer, used instead of the contract for the next request."""

    status: int = 202
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # close the connection without any answer


@dataclass
class Recorded:
    """One request as it arrived, and what it was answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None: the connection was closed without an answer
    dropped: int = 0
    at: float = 0.0

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def validate(body: bytes, content_type: str) -> dict[str, list[str]]:
    """Plausible's request validation (request.ex): field -> messages; empty when valid."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"request": ["Unable to parse request body as json"]}
    if not isinstance(payload, dict):
        return {"request": ["Unable to parse request body as json"]}
    errors: dict[str, list[str]] = {}
    name = _first(payload, "n", "name")
    if name is None or (isinstance(name, str) and not name.strip()):
        errors["event_name"] = ["can't be blank"]
    elif not isinstance(name, (str, int)):
        errors["event_name"] = ["is invalid"]
    elif len(str(name)) > MAX_NAME_CHARS:
        errors["event_name"] = [f"should be at most {MAX_NAME_CHARS} character(s)"]
    url = _first(payload, "u", "url")
    if url is None:
        errors["url"] = ["is required"]
    elif not isinstance(url, str) or len(url.encode()) > MAX_URL_BYTES:
        errors["url"] = ["must be a valid url"]
    elif url.lower().startswith("data:"):
        errors["url"] = ["scheme is not allowed"]
    domain = _first(payload, "d", "domain")
    if ("d" in payload or "domain" in payload) and (not isinstance(domain, str) or not domain.strip()):
        errors["domain"] = ["can't be blank"]
    props = _first(payload, "m", "meta", "p", "props")
    if isinstance(props, dict) and any(len(str(k).encode()) > 300 or len(str(v).encode()) > 2000
                                       for k, v in props.items()):
        errors["props"] = ["keys should have at most 300 bytes and values 2000 bytes"]
    return errors


def _first(payload: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if payload.get(key) is not None:
            return payload[key]
    return None


def dropped_count(headers: dict[str, str], payload: dict[str, Any]) -> int:
    """Bots (and headless browsers) are dropped once per target domain, still with 202."""
    agent = headers.get("user-agent", "").lower()
    if "bot" not in agent and "headless" not in agent:
        return 0
    domain = _first(payload, "d", "domain") or ""
    return max(1, len([d for d in str(domain).split(",") if d.strip()]))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small answers must not wait for delayed ACKs
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path == "/__stats":
            self._answer(200, json.dumps(self.server.owner.stats()), {"content-type": "application/json"})
            return
        self._other()

    def _other(self) -> None:
        self._read_body()
        self._answer(404, "Not Found", {})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = _other

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        body = self._read_body()
        owner = self.server.owner
        headers = {k.lower(): v for k, v in self.headers.items()}
        scripted = owner.next_scripted()
        if scripted is None and owner.endpoint_status is not None:
            scripted = Scripted(status=owner.endpoint_status, body="Not Found")
        if scripted is None and self.path != EVENT_PATH:
            scripted = Scripted(status=404, body="Not Found")
        delay = owner.delay if scripted is None else max(scripted.delay, owner.delay)
        if delay:
            time.sleep(delay)
        if scripted is not None:
            owner.record(Recorded("POST", self.path, headers, body, None if scripted.drop else scripted.status))
            if scripted.drop:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._answer(scripted.status, scripted.body, scripted.headers)
            return
        self._contract(headers, body)

    def _contract(self, headers: dict[str, str], body: bytes) -> None:
        owner = self.server.owner
        accept = headers.get("accept", "*/*")
        if "json" not in accept and "*/*" not in accept:
            owner.record(Recorded("POST", self.path, headers, body, 406))
            self._answer(406, "Not Acceptable", {})
            return
        errors = validate(body, headers.get("content-type", ""))
        if errors:
            owner.record(Recorded("POST", self.path, headers, body, 400))
            self._answer(400, json.dumps({"errors": errors}), {"content-type": "application/json"})
            return
        dropped = dropped_count(headers, json.loads(body))
        owner.record(Recorded("POST", self.path, headers, body, 202, dropped))
        extra = {"x-plausible-dropped": str(dropped)} if dropped else {}
        self._answer(202, "ok", {"content-type": "text/plain; charset=utf-8", **extra})

    def _answer(self, status: int, text: str, headers: dict[str, str]) -> None:
        data = text.encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self._headers_buffer.append(b"\r\n" + data)  # headers and body in one write
            self.flush_headers()
        except OSError:  # the client gave up (timeout) before the answer
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, owner: Receiver, port: int) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that was killed or timed out mid-request is normal here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class Receiver:
    """The server, its record of requests, and the script of misbehaviour."""

    def __init__(self, port: int = 0, delay: float = 0.0, keep_bodies: bool = True) -> None:
        self.delay = delay
        self.endpoint_status: int | None = None
        self.keep_bodies = keep_bodies
        self._lock = threading.Lock()
        self._script: deque[Scripted] = deque()
        self._requests: list[Recorded] = []
        self._counts: Counter[str] = Counter()
        self._server = _Server(self, port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENT_PATH}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *answers: Scripted) -> None:
        """Answer the next requests with these, in order, then follow the contract again."""
        with self._lock:
            self._script.extend(answers)

    def next_scripted(self) -> Scripted | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def record(self, request: Recorded) -> None:
        request.at = time.monotonic()
        with self._lock:
            self._counts["requests"] += 1
            self._counts[str(request.status)] += 1
            self._counts["dropped"] += request.dropped
            if self.keep_bodies:
                self._requests.append(request)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def count(self) -> int:
        with self._lock:
            return self._counts["requests"]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._counts.clear()


# Helpers for the send tests: fresh log lines (so the history guard lets them through) and the command line.

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/122.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.3 Safari/605.1.15")
AGENTS = (CHROME, FIREFOX, SAFARI)
SEND_RUNNER = "import sys; from importer.cli_send import send; send.main(sys.argv[1:], prog_name='plausible-logs send')"


def log_line(index: int, ip: str = "203.0.113.7", agent: str = CHROME, path: str | None = None,
             when: float | None = None) -> str:
    """One nginx combined page view; the path is unique per index so each request can be told apart."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(time.time() if when is None else when))
    page = path or f"/page/{index}"
    return f'{ip} - - [{stamp}] "GET {page} HTTP/1.1" 200 512 "https://www.example.org/" "{agent}"\n'


def visitor_lines(count: int, visitors: int = 20, start: int = 0) -> list[str]:
    """`count` page views spread round-robin over `visitors` distinct (ip, agent) pairs."""
    lines = []
    for i in range(start, start + count):
        v = i % visitors
        lines.append(log_line(i, ip=f"198.51.100.{1 + v % 250}", agent=AGENTS[v % 3] + f" v{v}"))
    return lines


def send_command(*args: str) -> list[str]:
    """`plausible-logs send ARGS` as a subprocess command line, whether or not cli.py registers it yet."""
    return [sys.executable, "-c", SEND_RUNNER, *args]


def main(argv: list[str] | None = None) -> None:
    """Serve in this process until killed; print the port first so a parent can connect."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    args = parser.parse_args(argv)
    receiver = Receiver(args.port, args.delay, keep_bodies=False)
    print(receiver.port, flush=True)
    receiver._server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    sys.exit(main())
