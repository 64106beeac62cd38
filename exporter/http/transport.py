"""Connections for every backend: one hard deadline per exchange, pools shared across targets.

A peer may answer slowly on purpose: trickle a TLS handshake or header bytes one at a time, so
that each read succeeds within any per-read timeout. Every socket operation of an exchange is
therefore given only the time left before the exchange's deadline, and a watchdog thread shuts
the exchange's sockets down shortly after it, should anything still block.

Building an SSL context costs ~20 ms and ~0.7 MB; targets that agree on their TLS settings share
one context, and those that also poll the same origin share one connection pool
(``SharedTransports``), ref-counted so that closing one target never closes a pool another
still uses.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpcore
import httpx

from exporter.http.tls import TlsSettings, ssl_context

WATCHDOG_MARGIN = 0.25  # seconds past the deadline before the watchdog shuts sockets down
KEEPALIVE_EXPIRY = 5.0
# Idle connections an origin's pool keeps: httpcore scans a pool's connections at every request
# and response, so many targets behind one origin (an ingress) keep only a few idle ones.
MAX_KEEPALIVE_CONNECTIONS = 16
# Bytes asked of the socket per read: 64 KiB (httpcore's) at first, four times more after each
# read that fills what was asked, up to 1 MiB. A 44 MB job list is then received in 0.06-0.08 s
# of CPU instead of 0.12-0.14 s (fewer reads, fewer copies through the HTTP/1.1 parser's
# buffer); a small answer does not cost a 1 MiB buffer, which with hundreds of polls in flight
# grew the allocator's arenas by as many MiB, kept after the burst (a read allocates what it
# asks before the socket says how much has arrived).
FIRST_READ_SIZE = 64 * 1024
READ_SIZE = 1024 * 1024


# --- the deadline of one exchange ------------------------------------------------------------


class Exchange:
    """One request/response exchange with its deadline (``time.monotonic``) and its sockets."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if sock not in self._sockets:
                self._sockets.append(sock)

    def finish(self) -> None:
        with self._lock:
            self.done, self._sockets = True, []

    def expire(self) -> None:
        """Shut the sockets down, unless finished: a read or write blocked on them returns."""
        with self._lock:
            if self.done:
                return
            for sock in self._sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One thread that expires exchanges still running ``WATCHDOG_MARGIN`` past their deadline."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Exchange]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, exchange: Exchange) -> None:
        with self._wake:
            heapq.heappush(
                self._heap, (exchange.deadline + WATCHDOG_MARGIN, next(self._order), exchange)
            )
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-watchdog", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                when, _, exchange = self._heap[0]
                delay = when - time.monotonic()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            exchange.expire()


WATCHDOG = Watchdog()
_current = threading.local()


@contextmanager
def deadline_scope(deadline: float) -> Iterator[Exchange]:
    """Run the HTTP exchanges of this thread inside the block under one hard ``deadline``.

    Nested scopes (a credential refresh made while signing a request) keep the earlier deadline.
    """
    outer: Exchange | None = getattr(_current, "exchange", None)
    exchange = Exchange(min(deadline, outer.deadline) if outer else deadline)
    _current.exchange = exchange
    WATCHDOG.watch(exchange)
    try:
        yield exchange
    finally:
        exchange.finish()
        _current.exchange = outer


def _bounded(timeout: float | None, sock: socket.socket | None, error: type[Exception]) -> Any:
    """``timeout`` capped by the current exchange's time left; raises ``error`` when none is."""
    exchange: Exchange | None = getattr(_current, "exchange", None)
    if exchange is None:
        return timeout
    if sock is not None:
        exchange.attach(sock)
    remaining = exchange.remaining()
    if remaining <= 0:
        raise error("the exchange's deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the current exchange's deadline; reads
    ask for more as an answer proves large (``READ_SIZE``; the HTTP/1.1 parser keeps what
    follows a response for the next one on the connection)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")
        self._ask = FIRST_READ_SIZE

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        bounded = _bounded(timeout, self._sock, httpcore.ReadTimeout)
        ask = max(max_bytes, self._ask)
        data = self._inner.read(ask, bounded)
        if len(data) == ask:
            self._ask = min(ask * 4, READ_SIZE)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._ask = FIRST_READ_SIZE  # a request: its answer starts small until it proves large
        self._inner.write(buffer, _bounded(timeout, self._sock, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # CPython bounds the whole handshake by the socket timeout, not each read of it.
        bounded = _bounded(timeout, self._sock, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking sockets, each operation bounded by the current exchange's deadline.

    Name resolution is not: ``getaddrinfo`` cannot be interrupted.
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, None, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, bounded, local_address, socket_options)
        return DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, None, httpcore.ConnectTimeout)
        return DeadlineStream(self._inner.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


# --- pools shared by TLS settings and origin -------------------------------------------------


class _PoolTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose sockets obey the exchange deadline."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(verify=context)  # a context given is used as is, not rebuilt
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=None,
            max_keepalive_connections=MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY,
            network_backend=DeadlineBackend(),
        )


Origin = tuple[str, str, int | None]  # scheme, host, port


class TransportHandle(httpx.BaseTransport):
    """One user's hold on the shared pools: the pool of each origin it sends to, taken at its
    first request there; closing the handle lets go of its holds only."""

    def __init__(self, registry: SharedTransports, settings: TlsSettings) -> None:
        self._registry = registry
        self._settings = settings
        self._transports: dict[Origin, httpx.BaseTransport] = {}
        self._closed = False
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port)
        with self._lock:
            if self._closed:
                raise httpx.TransportError("transport closed")
            transport = self._transports.get(origin)
            if transport is None:
                try:
                    transport = self._registry.acquire(self._settings, origin)
                except (OSError, ValueError) as err:  # a TLS file gone bad since the config
                    raise httpx.ConnectError(f"unusable TLS settings: {err}") from err
                self._transports[origin] = transport
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            held, self._transports, self._closed = list(self._transports), {}, True
        for origin in held:
            self._registry.release(self._settings, origin)


class SharedTransports:
    """One SSL context per distinct ``TlsSettings``, and one connection pool per such setting
    and origin, each ref-counted by the handles that hold it.

    A pool per origin, not one for all: httpcore's pool scans its connections under one lock at
    every request and every response closed, and sizes its idle connections by a list built per
    connection scanned, so one pool shared by 10,000 targets costs work quadratic in its
    connections at each exchange (docs/performance.md#many-targets). An origin's pool holds
    only the connections of the targets polling that origin.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[TlsSettings, list[Any]] = {}  # settings -> [context, pools]
        self._pools: dict[tuple[TlsSettings, Origin], list[Any]] = {}  # -> [transport, users]

    def handle(self, settings: TlsSettings) -> TransportHandle:
        return TransportHandle(self, settings)

    def acquire(self, settings: TlsSettings, origin: Origin) -> httpx.BaseTransport:
        with self._lock:
            entry = self._pools.get((settings, origin))
            if entry is None:
                context = self._contexts.get(settings)
                if context is None:
                    context = self._contexts[settings] = [ssl_context(settings), 0]
                context[1] += 1
                entry = self._pools[settings, origin] = [_PoolTransport(context[0]), 0]
            entry[1] += 1
            return entry[0]

    def release(self, settings: TlsSettings, origin: Origin) -> None:
        with self._lock:
            entry = self._pools[settings, origin]
            entry[1] -= 1
            if entry[1]:
                return
            del self._pools[settings, origin]
            context = self._contexts[settings]
            context[1] -= 1
            if not context[1]:
                del self._contexts[settings]
        entry[0].close()

    def users(self, settings: TlsSettings) -> int:
        """How many holds the pools for ``settings`` have, over all origins (0: none)."""
        with self._lock:
            return sum(n for (held, _), (_, n) in self._pools.items() if held == settings)

    def pools(self, settings: TlsSettings) -> int:
        """How many pools (origins) ``settings`` has, all sharing its one SSL context."""
        with self._lock:
            return sum(held == settings for held, _ in self._pools)


TRANSPORTS = SharedTransports()
