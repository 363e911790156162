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

It is an asyncio server rather than http.server's thread per connection: the
send benchmark runs it beside the sender on 2 cores, and threads fighting over
the GIL cost ~270 µs of CPU per request against ~90 µs here, for the same
validation of every body.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http import HTTPStatus
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
    return _validated(body)[0]


def _validated(body: bytes) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The validation errors and the decoded payload (empty when it is not a JSON object)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {"request": ["Unable to parse request body as json"]}, {}
    if not isinstance(payload, dict):
        return {"request": ["Unable to parse request body as json"]}, {}
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
    return errors, payload


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


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    length_required: bool = False


class _Connection(asyncio.Protocol):
    """One client connection: requests are answered in order, one at a time (a delayed answer holds the rest)."""

    def __init__(self, owner: Receiver) -> None:
        self.owner = owner
        self.buffer = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self.busy and self.transport is not None and not self.transport.is_closing():
            request = self._take_request()
            if request is None:
                return
            self._handle(request)

    def _take_request(self) -> _Request | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        lines = bytes(self.buffer[:end]).decode("utf-8", "replace").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        path, _, version = rest.partition(" ")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():  # not needed by `send`: refuse, do not misread
            del self.buffer[:]
            return _Request(method, path, "HTTP/1.0", {"connection": "close"}, b"", length_required=True)
        length = int(headers.get("content-length") or 0)
        if len(self.buffer) < end + 4 + length:
            return None
        body = bytes(self.buffer[end + 4: end + 4 + length])
        del self.buffer[: end + 4 + length]
        return _Request(method, path, version, headers, body)

    def _handle(self, request: _Request) -> None:
        owner = self.owner
        if request.length_required:
            self._write(request, 411, "Length Required", {})
            return
        if request.method == "GET" and request.path == "/__stats":
            self._write(request, 200, json.dumps(owner.stats()), {"content-type": "application/json"})
            return
        if request.method != "POST":
            self._write(request, 404, "Not Found", {})
            return
        scripted = owner.next_scripted()
        if scripted is None and owner.endpoint_status is not None:
            scripted = Scripted(status=owner.endpoint_status, body="Not Found")
        if scripted is None and request.path != EVENT_PATH:
            scripted = Scripted(status=404, body="Not Found")
        delay = owner.delay if scripted is None else max(scripted.delay, owner.delay)
        if not delay:
            self._answer(request, scripted)
            return
        self.busy = True
        asyncio.get_running_loop().call_later(delay, self._answer_later, request, scripted)

    def _answer_later(self, request: _Request, scripted: Scripted | None) -> None:
        self.busy = False
        self._answer(request, scripted)
        self._serve()

    def _answer(self, request: _Request, scripted: Scripted | None) -> None:
        owner = self.owner
        if scripted is not None:
            owner.record(Recorded("POST", request.path, request.headers, request.body,
                                  None if scripted.drop else scripted.status))
            if scripted.drop:
                assert self.transport is not None
                self.transport.close()
                return
            self._write(request, scripted.status, scripted.body, scripted.headers)
            return
        status, text, headers, dropped = _contract(request)
        owner.record(Recorded("POST", request.path, request.headers, request.body, status, dropped))
        self._write(request, status, text, headers)

    def _write(self, request: _Request, status: int, text: str, headers: dict[str, str]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():  # the client gave up (timeout) before the answer
            return
        data = text.encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        head = [f"HTTP/1.1 {status} {reason}"]
        head.extend(f"{name}: {value}" for name, value in headers.items())
        head.append(f"content-length: {len(data)}")
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        connection = request.headers.get("connection", "").lower()
        if connection == "close" or (request.version == "HTTP/1.0" and connection != "keep-alive"):
            transport.close()


def _contract(request: _Request) -> tuple[int, str, dict[str, str], int]:
    """Plausible's answer to one well-addressed POST: status, body, headers, and how many events it dropped."""
    accept = request.headers.get("accept", "*/*")
    if "json" not in accept and "*/*" not in accept:
        return 406, "Not Acceptable", {}, 0
    errors, payload = _validated(request.body)
    if errors:
        return 400, json.dumps({"errors": errors}), {"content-type": "application/json"}, 0
    dropped = dropped_count(request.headers, payload)
    extra = {"x-plausible-dropped": str(dropped)} if dropped else {}
    return 202, "ok", {"content-type": "text/plain; charset=utf-8", **extra}, dropped


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
        self._connections: set[_Connection] = set()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(128)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{EVENT_PATH}"

    def serve(self) -> None:
        """Serve on the calling thread until `stop`."""
        loop = self._loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(loop.create_server(lambda: _Connection(self), sock=self._socket))
        try:
            loop.run_forever()
        finally:
            server.close()
            for connection in list(self._connections):
                if connection.transport is not None:
                    connection.transport.abort()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
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
    receiver.serve()


if __name__ == "__main__":
    sys.exit(main())
