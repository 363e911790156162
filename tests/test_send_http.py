"""The sender's HTTP/1.1 client against real sockets on 127.0.0.1 that answer in every framing HTTP allows.

Each server here is scripted with raw answer bytes, so the tests say exactly what came over the wire; the
requests are the exact bytes `send` builds for a batch in polars.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import pytest

from importer.events import EVENT_COLUMNS
from importer.sinks.http1 import Connection, ConnectionClosed, Endpoint, ProtocolError
from importer.sinks.upstream import request_bytes

REQUEST = b"POST /api/event HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[bool]]


class RawServer:
    """Reads whole requests (by Content-Length) and lets `answer` write whatever bytes it likes.

    `answer(reader, writer, n)` handles the n-th request (0-based) and returns False to close the connection.
    """

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def endpoint(self) -> Endpoint:
        assert self.server is not None
        return Endpoint.parse(f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/api/event")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                self.requests.append(head + await reader.readexactly(length))
                if not await self.answer(reader, writer, len(self.requests) - 1):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def answering(*answers: bytes, close_after: bool = False, pause: float = 0.0) -> Answer:
    """Write each answer in two pieces (split mid-way, `pause` apart): framing must not depend on one read."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        data = answers[min(n, len(answers) - 1)]
        half = len(data) // 2
        writer.write(data[:half])
        await writer.drain()
        await asyncio.sleep(pause)
        writer.write(data[half:])
        await writer.drain()
        return not close_after

    return answer


def test_content_length_answers_reuse_one_connection():
    async def scenario() -> None:
        async with RawServer(answering(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok", pause=0.01)) as server:
            connection = Connection(server.endpoint)
            for _ in range(3):
                response = await connection.post(REQUEST, 5)
                assert (response.status, response.body) == (202, b"ok")
            connection.close()
            assert server.connections == 1 and server.requests == [REQUEST] * 3

    run(scenario)


def test_chunked_answer_with_trailers_and_headers_by_lower_case_name():
    chunked = (b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nX-Plausible-Dropped: 1\r\n\r\n"
               b"5;ext=1\r\n{\"err\r\n7\r\nors\":1}\r\n0\r\nTrailer: x\r\n\r\n")

    async def scenario() -> None:
        async with RawServer(answering(chunked, pause=0.01)) as server:
            connection = Connection(server.endpoint)
            first = await connection.post(REQUEST, 5)
            second = await connection.post(REQUEST, 5)
            connection.close()
            assert (first.status, first.body, first.headers["x-plausible-dropped"]) == (400, b'{"errors":1}', "1")
            assert second == first and server.connections == 1

    run(scenario)


def test_connection_close_and_an_answer_framed_by_closing():
    async def scenario() -> None:
        async with RawServer(answering(b"HTTP/1.1 202 Accepted\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok",
                                       close_after=True)) as closing:
            connection = Connection(closing.endpoint)
            assert (await connection.post(REQUEST, 5)).body == b"ok"
            assert (await connection.post(REQUEST, 5)).body == b"ok"
            connection.close()
            assert closing.connections == 2  # the second request did not go to the closed connection
        async with RawServer(answering(b"HTTP/1.0 503 Service Unavailable\r\n\r\nbusy, try later",
                                       close_after=True)) as unframed:
            connection = Connection(unframed.endpoint)
            response = await connection.post(REQUEST, 5)
            connection.close()
            assert (response.status, response.body) == (503, b"busy, try later")

    run(scenario)


def test_interim_answers_are_skipped():
    answer = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok"

    async def scenario() -> None:
        async with RawServer(answering(answer)) as server:
            connection = Connection(server.endpoint)
            response = await connection.post(REQUEST, 5)
            connection.close()
            assert (response.status, response.body) == (202, b"ok")

    run(scenario)


def test_an_idle_connection_closed_by_the_server_is_replaced_without_an_error():
    async def scenario() -> None:
        async with RawServer(answering(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok",
                                       close_after=True)) as server:  # closes without saying so
            connection = Connection(server.endpoint)
            assert (await connection.post(REQUEST, 5)).status == 202
            await asyncio.sleep(0.05)  # the close arrives while idle
            assert (await connection.post(REQUEST, 5)).status == 202
            connection.close()
            assert server.connections == 2

    run(scenario)


def test_no_answer_times_out_then_a_fresh_connection_is_used():
    async def silent_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        if n == 0:
            await asyncio.sleep(1.0)
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
        return True

    async def scenario() -> None:
        async with RawServer(silent_first) as server:
            connection = Connection(server.endpoint)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                await connection.post(REQUEST, 0.2)
            assert 0.15 < loop.time() - started < 0.9
            assert (await connection.post(REQUEST, 5)).body == b"ok"  # not the late answer to the first one
            connection.close()
            assert server.connections == 2

    run(scenario)


def test_a_dropped_connection_and_garbage_are_errors():
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        return False

    async def scenario() -> None:
        async with RawServer(drop) as dropping:
            with pytest.raises(ConnectionClosed):
                await Connection(dropping.endpoint).post(REQUEST, 5)
        async with RawServer(answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")) as garbage:
            with pytest.raises(ProtocolError):
                await Connection(garbage.endpoint).post(REQUEST, 5)
        with pytest.raises(OSError):  # nothing listens on the discard port
            await Connection(Endpoint.parse("http://127.0.0.1:9/api/event")).post(REQUEST, 5)

    run(scenario)


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A TLS context for a test server on `localhost`, and a client context that trusts only its certificate."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    return server_tls, ssl.create_default_context(cafile=str(cert))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_checks_the_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server_tls, trusting = self_signed(tmp_path)
    for name in ("no_proxy", "NO_PROXY"):  # straight to the test server, whatever proxy this machine has
        monkeypatch.setenv(name, "localhost")

    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
        return True

    async def scenario() -> None:
        server = await asyncio.start_server(RawServer(ok)._serve, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        endpoint = Endpoint.parse(f"https://localhost:{port}/api/event")
        try:
            connection = Connection(endpoint, trusting)
            assert (await connection.post(REQUEST, 5)).body == b"ok"
            connection.close()
            with pytest.raises(ssl.SSLCertVerificationError):  # the system's CA store does not know this one
                await Connection(endpoint).post(REQUEST, 5)
        finally:
            server.close()

    run(scenario)


@pytest.mark.parametrize("url,host,port,target,host_header", [
    ("https://plausible.io/api/event", "plausible.io", 443, "/api/event", "plausible.io"),
    ("http://stats.example.com:8000/api/event?x=1", "stats.example.com", 8000, "/api/event?x=1",
     "stats.example.com:8000"),
    ("http://[2001:db8::1]/api/event", "2001:db8::1", 80, "/api/event", "[2001:db8::1]"),
    ("https://stats.example.com", "stats.example.com", 443, "/", "stats.example.com"),
])
def test_endpoints(url, host, port, target, host_header):
    endpoint = Endpoint.parse(url)
    assert (endpoint.host, endpoint.port, endpoint.target, endpoint.host_header) == (host, port, target, host_header)


def test_request_bytes_frame_the_body_and_keep_headers_on_one_line():
    now = datetime.now(timezone.utc)
    base = {c: None for c in EVENT_COLUMNS} | {"ts": now, "name": "pageview", "domain": "example.com",
                                               "file": "a.log", "line": 1, "offset": 0}
    rows = [
        base | {"url": "https://example.com/caf\u00e9", "user_agent": "Mozilla/5.0\r\nX-Injected: 1",
                "client_ip": "192.0.2.1"},
        base | {"url": "https://example.com/", "user_agent": None, "client_ip": "2001:db8::7"},
    ]
    frame = pl.DataFrame(rows, schema=EVENT_COLUMNS)
    endpoint = Endpoint.parse("https://plausible.io/api/event")
    first, second = frame.select(request_bytes(frame, endpoint)).to_series().to_list()
    body = '{"name":"pageview","url":"https://example.com/caf\u00e9","domain":"example.com"}'.encode()
    assert first == (b"POST /api/event HTTP/1.1\r\nHost: plausible.io\r\nUser-Agent: Mozilla/5.0  X-Injected: 1\r\n"
                     b"X-Forwarded-For: 192.0.2.1\r\nContent-Type: application/json\r\nAccept: */*\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert len(body) == 76  # 75 characters, and the é takes two bytes
    assert b"User-Agent" not in second and b"X-Forwarded-For: 2001:db8::7\r\n" in second


def test_a_status_that_arrived_is_the_answer_even_when_the_body_is_cut_or_late():
    """Retrying after a 202 whose body broke off would send the event twice."""
    head = b"HTTP/1.1 202 Accepted\r\ncontent-length: 10\r\n\r\nok"

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(head)
        await writer.drain()
        if n == 0:
            return False  # closes 8 bytes short
        await asyncio.sleep(1.0)  # the rest never comes in time
        return True

    async def scenario() -> None:
        async with RawServer(cut) as server:
            connection = Connection(server.endpoint)
            closed = await connection.post(REQUEST, 5)
            late = await connection.post(REQUEST, 0.2)
            connection.close()
            assert (closed.status, closed.body) == (202, b"ok")
            assert (late.status, late.body) == (202, b"ok")
            assert server.connections == 2

    run(scenario)


class ConnectProxy:
    """A CONNECT-only HTTP proxy on 127.0.0.1: records each tunnel's target and pipes bytes both ways."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.tunnels: list[str] = []
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        method, authority, _ = head.split("\r\n", 1)[0].split(" ")
        self.tunnels.append(f"{method} {authority}")
        if self.refuse or method != "CONNECT":
            writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            writer.close()
            return
        host, port = authority.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1" if host == "localhost" else host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def close(self) -> None:
        assert self.server is not None
        self.server.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_goes_through_the_https_proxy_unless_no_proxy_names_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_tls, trusting = self_signed(tmp_path)
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)

    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
        return True

    async def scenario() -> None:
        raw = RawServer(ok)
        server = await asyncio.start_server(raw._serve, "127.0.0.1", 0, ssl=server_tls)
        port = server.sockets[0].getsockname()[1]
        endpoint = Endpoint.parse(f"https://localhost:{port}/api/event")
        proxy, refusing = ConnectProxy(), ConnectProxy(refuse=True)
        try:
            monkeypatch.setenv("HTTPS_PROXY", await proxy.start())
            connection = Connection(endpoint, trusting)
            assert (await connection.post(REQUEST, 5)).body == b"ok"
            assert (await connection.post(REQUEST, 5)).body == b"ok"  # the tunnel is kept alive
            connection.close()
            assert proxy.tunnels == [f"CONNECT localhost:{port}"]
            assert raw.requests == [REQUEST, REQUEST]  # the server saw the request itself, through TLS

            monkeypatch.setenv("NO_PROXY", "localhost")
            assert (await Connection(endpoint, trusting).post(REQUEST, 5)).body == b"ok"
            assert proxy.tunnels == [f"CONNECT localhost:{port}"]  # straight to the server this time

            monkeypatch.delenv("NO_PROXY")
            monkeypatch.setenv("HTTPS_PROXY", await refusing.start())
            with pytest.raises(OSError, match="refused the tunnel"):
                await Connection(endpoint, trusting).post(REQUEST, 5)
        finally:
            server.close()
            proxy.close()
            refusing.close()

    run(scenario)
