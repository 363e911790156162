"""A small HTTP/1.1 keep-alive client for one job: POST request bytes built elsewhere, read a short answer.

Why not aiohttp: measured on the 2-core machine against the local receiver, aiohttp spent ~280 µs of CPU per
request (URL objects, header multidicts, payload registry, per-request timers and tracing hooks), which alone
capped `send` below 3,000 events/s; this client spends ~90 µs. The Events API needs none of that machinery: the
whole request (request line, headers, body) is built for a batch at once in polars, one worker owns one
connection and sends one request at a time, and Plausible's answers are a few bytes.

What it does handle: http and https (the system's CA store, hostname checked), IPv6 literals, answers framed by
Content-Length, chunked transfer coding or the connection closing, `Connection: close`, interim 1xx answers, a
server that closed an idle keep-alive connection (the next request reconnects), and one deadline per request
that covers connecting too. An https endpoint is reached through HTTPS_PROXY (an HTTP CONNECT tunnel) unless
NO_PROXY names it.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024  # more than any Events API answer; a larger one is cut and the connection dropped
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it."""


class ConnectionClosed(Exception):
    """The connection closed before a whole answer arrived."""


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: connection details and the request line's target."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    host_header: str

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"'{url}' is not an http(s) URL")
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        host = parts.hostname
        named = f"[{host}]" if ":" in host else host
        host_header = named if port == _DEFAULT_PORTS[parts.scheme] else f"{named}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, target, host_header)

    def post_head(self) -> str:
        """The start of every POST to this endpoint: request line and Host header."""
        return f"POST {self.target} HTTP/1.1\r\nHost: {self.host_header}\r\n"


def https_proxy_for(host: str) -> tuple[str, int] | None:
    """The HTTPS_PROXY (host, port) to tunnel through for `host`, honouring NO_PROXY; None to connect directly."""
    proxy = urllib.request.getproxies_environment().get("https")
    if not proxy or urllib.request.proxy_bypass_environment(host):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"HTTPS_PROXY '{proxy}' is not an http://host:port proxy")
    return parts.hostname, parts.port or 80


class _TunnelOpening(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT (its status line), before TLS takes the connection over."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end >= 0 and not self.answer.done():
            self.answer.set_result(self.buffer[:end].split(b"\r\n", 1)[0].decode("latin-1"))
        elif len(self.buffer) > MAX_HEAD_BYTES and not self.answer.done():
            self.answer.set_exception(ProtocolError("the proxy's answer to CONNECT is too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(ConnectionClosed("the proxy closed the connection before answering CONNECT"))


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


class _AnswerReader(asyncio.Protocol):
    """Parses answers as bytes arrive and hands each complete one to the waiting request."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.reusable = True
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.length: int | None = None  # the body's Content-Length; None: chunked or until close
        self.chunked = False
        self.until_close = False
        self.body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.head_done:  # the body ends here (framed by closing, or cut short: the status is the answer)
            self._complete_cut()
        elif self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionClosed("the server closed the connection without a whole answer"))

    def expire(self, waiter: asyncio.Future[Response]) -> None:
        """The deadline passed: an answer whose status arrived is kept (a slow body must not turn a 202 into a
        retry, which would send the event twice); without one, the request timed out."""
        if waiter is not self.waiter or waiter.done():
            return
        self.reusable = False
        if self.head_done:
            self._complete_cut()
        else:
            waiter.set_exception(asyncio.TimeoutError())

    def expect(self, waiter: asyncio.Future[Response]) -> None:
        self._reset()
        self.buffer.clear()
        self.waiter = waiter

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # nothing asked: an answer we no longer want
            self.reusable = False
            return
        self.buffer += data
        try:
            self._parse()
        except ProtocolError as exc:
            self.reusable = False
            if self.head_done:  # a garbled body after a status line: the status is still the answer
                self._complete_cut()
            else:
                self.waiter.set_exception(exc)
            if self.transport is not None:
                self.transport.abort()

    def _parse(self) -> None:
        while not self.head_done:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError("the answer's header is too large")
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            del self.buffer[: end + 4]
            self._read_head(head)
        if self.chunked:
            self._read_chunks()
        elif self.until_close:
            self.body += self.buffer
            self.buffer.clear()
            if len(self.body) > MAX_BODY_BYTES:
                self.reusable = False
                self._complete()
        elif self.length is not None and len(self.buffer) >= self.length:
            self.body += self.buffer[: self.length]
            if len(self.buffer) > self.length:  # bytes nobody asked for: do not trust this connection again
                self.reusable = False
            self.buffer.clear()
            self._complete()

    def _read_head(self, head: str) -> None:
        status_line, _, rest = head.partition("\r\n")
        version, _, status_text = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not status_text[:3].isdigit():
            raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        status = int(status_text[:3])
        headers: dict[str, str] = {}
        for line in rest.split("\r\n") if rest else ():
            name, colon, value = line.partition(":")
            if not colon:
                raise ProtocolError(f"malformed header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:  # interim answer (103 Early Hints...): the real one follows
            return
        self.status, self.headers, self.head_done = status, headers, True
        connection = headers.get("connection", "").lower()
        if "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
            self.reusable = False
        if status in (204, 304):
            self.length = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self.chunked = True
        elif "content-length" in headers:
            try:
                self.length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError("unreadable Content-Length") from None
            if self.length < 0:
                raise ProtocolError("negative Content-Length")
            if self.length > MAX_BODY_BYTES:
                raise ProtocolError("the answer's body is too large")
        else:
            self.until_close = True
            self.reusable = False

    def _read_chunks(self) -> None:
        while True:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            size_text = bytes(self.buffer[:end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("unreadable chunk size") from None
            if size == 0:
                if self.buffer[end + 2: end + 4] == b"\r\n":  # no trailers
                    del self.buffer[: end + 4]
                else:
                    trailers_end = self.buffer.find(b"\r\n\r\n", end)
                    if trailers_end < 0:
                        return
                    del self.buffer[: trailers_end + 4]
                if self.buffer:
                    self.reusable = False
                self._complete()
                return
            if len(self.buffer) < end + 2 + size + 2:
                return
            self.body += self.buffer[end + 2: end + 2 + size]
            del self.buffer[: end + 2 + size + 2]
            if len(self.body) > MAX_BODY_BYTES:
                raise ProtocolError("the answer's body is too large")

    def _complete_cut(self) -> None:
        """Hand over an answer whose body ended early, with what arrived of it."""
        if self.length is not None or self.until_close:
            self.body += self.buffer
            self.buffer.clear()
        self._complete()

    def _complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(self.status, self.headers, bytes(self.body)))


class Connection:
    """One keep-alive connection to the endpoint, used for one request at a time."""

    def __init__(self, endpoint: Endpoint, tls: ssl.SSLContext | None = None) -> None:
        """`tls` is shared by every connection to an https endpoint (loading the CA store once)."""
        self.endpoint = endpoint
        self.tls = None if endpoint.scheme == "http" else tls or ssl.create_default_context()
        self.reader: _AnswerReader | None = None

    async def post(self, request: bytes, timeout: float) -> Response:
        """Send `request` (complete HTTP/1.1 bytes) and return the answer.

        Raises asyncio.TimeoutError when no answer came within `timeout` seconds (connecting included),
        OSError (TLS errors too) or ConnectionClosed when the connection failed, ProtocolError for an unreadable
        answer. The connection is dropped after any of them: a late answer must not be read as the next one's.
        An answer whose status line arrived is returned even when its body is cut short or late: the server
        has the event, and retrying would send it twice.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        reader = self.reader
        if reader is None or reader.closed or not reader.reusable:
            self.close()
            reader = await self._connect(timeout)
        waiter: asyncio.Future[Response] = loop.create_future()
        reader.expect(waiter)
        assert reader.transport is not None
        reader.transport.write(request)
        timer = loop.call_at(deadline, reader.expire, waiter)
        try:
            response = await waiter
        except BaseException:
            self.close()
            raise
        finally:
            timer.cancel()
        if not reader.reusable:
            self.close()
        return response

    async def _connect(self, timeout: float) -> _AnswerReader:
        loop = asyncio.get_running_loop()
        if self.tls is not None and (proxy := https_proxy_for(self.endpoint.host)) is not None:
            reader = await asyncio.wait_for(self._tunnel(proxy), timeout)
        else:
            server_hostname = self.endpoint.host if self.tls is not None else None
            connect = loop.create_connection(_AnswerReader, self.endpoint.host, self.endpoint.port, ssl=self.tls,
                                             server_hostname=server_hostname)
            _, reader = await asyncio.wait_for(connect, timeout)
        self.reader = reader
        return reader

    async def _tunnel(self, proxy: tuple[str, int]) -> _AnswerReader:
        """TLS to the endpoint inside an HTTP CONNECT tunnel through the proxy (HTTPS_PROXY)."""
        loop = asyncio.get_running_loop()
        opening = _TunnelOpening()
        transport, _ = await loop.create_connection(lambda: opening, *proxy)
        named = f"[{self.endpoint.host}]" if ":" in self.endpoint.host else self.endpoint.host
        authority = f"{named}:{self.endpoint.port}"
        transport.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        try:
            status_line = await opening.answer
        except BaseException:
            transport.close()
            raise
        if status_line.split(" ", 2)[1:2] != ["200"]:
            transport.close()
            raise OSError(f"the proxy {proxy[0]}:{proxy[1]} refused the tunnel to {authority}: {status_line}")
        reader = _AnswerReader()
        assert self.tls is not None
        secured = await loop.start_tls(transport, reader, self.tls, server_hostname=self.endpoint.host)
        if secured is None:
            raise ConnectionClosed("the proxy closed the tunnel during the TLS handshake")
        reader.connection_made(secured)
        return reader

    def close(self) -> None:
        if self.reader is not None:
            transport = self.reader.transport
            if transport is not None and not transport.is_closing():
                transport.close()
            self.reader = None
