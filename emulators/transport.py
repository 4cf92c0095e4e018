"""The one transport of the loopback HTTP emulators: a threaded stdlib HTTP server, run in a thread.

The signing proxy, the fault proxy and the YubiHSM connector shim keep their protocol layers
sans-I/O (or nearly: a request handler that only frames); sockets, threads, TLS and timeouts are
here, once:

* HTTP/1.1 with keep-alive and ``TCP_NODELAY`` on every connection (a reply's headers and body go
  out in separate writes; Nagle plus delayed ACK would add 40 ms to each round trip);
* a listen backlog of 128 (the default 5 overflows when a pool of clients connects at once: SYN
  retransmits and resets under load);
* one daemon thread per connection, optionally bounded: past ``max_connections`` a connection is
  closed at once instead of queueing;
* optional TLS, with the handshake in the connection's own thread (a slow or hostile client
  cannot stall the accept loop) under a socket timeout;
* :class:`ServerThread` runs ``serve_forever`` in the background and stops it cleanly;
* a stop that takes effect at once: socketserver notices ``shutdown()`` only when its ``select``
  times out (``poll_interval``), which a run that starts and stops a server per check paid hundreds
  of times; here ``shutdown()`` also wakes the loop through a socket pair.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

log = logging.getLogger("pytest_kmsconform.emulators.transport")

LISTEN_BACKLOG = 128


class Handler(BaseHTTPRequestHandler):
    """Base request handler: HTTP/1.1 keep-alive, ``TCP_NODELAY``, no request log on stderr."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines may carry key ids and tokens, and would flood test output."""


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server (see the module docstring).

    :param address: ``(host, port)``; port 0 picks a free one; an IPv6 host selects IPv6.
    :param handler: the request handler class.
    :param tls: a server-side TLS context, or ``None`` for plain HTTP.
    :param max_connections: concurrent connections served; ``None`` for no bound.
    :param socket_timeout: the timeout of the TLS handshake (handlers set their own idle timeout).
    """

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        tls: ssl.SSLContext | None = None,
        max_connections: int | None = None,
        socket_timeout: float | None = None,
    ) -> None:
        self.tls = tls
        self.max_connections = max_connections
        self.socket_timeout = socket_timeout
        self._slots = threading.BoundedSemaphore(max_connections) if max_connections is not None else None
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._wake_read, self._wake_write = socket.socketpair()
        self._stop_requested = False
        self._stopped = threading.Event()
        try:
            super().__init__(address, handler)
        except BaseException:
            self._close_wake()
            raise

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until :meth:`shutdown`: socketserver's loop, also woken by the stop request."""
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self._stop_requested:
                    ready = selector.select(poll_interval)
                    if self._stop_requested:
                        break
                    if any(key.fileobj is self for key, _ in ready):
                        self._handle_request_noblock()  # type: ignore[attr-defined]  # socketserver's, unstubbed
                    self.service_actions()
        finally:
            with contextlib.suppress(OSError):
                self._wake_read.setblocking(False)
                while self._wake_read.recv(64):
                    pass
            self._stop_requested = False
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop :meth:`serve_forever` and wait until it has returned (call it from another thread)."""
        self._stop_requested = True
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        self._close_wake()

    def _close_wake(self) -> None:
        self._wake_read.close()
        self._wake_write.close()

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots is not None and not self._slots.acquire(blocking=False):
            log.warning(
                "connection limit (%d) reached; closing connection from %s", self.max_connections, client_address
            )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            if self._slots is not None:
                self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(self.socket_timeout)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    @property
    def host_and_port(self) -> tuple[str, int]:
        address = self.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        return host, int(address[1])


class ServerThread:
    """Runs ``server.serve_forever`` in a daemon thread named ``name``; a context manager.

    :meth:`stop` shuts the loop down, closes the listening socket and joins the thread.
    """

    def __init__(self, server: LoopbackHTTPServer, *, name: str, poll_interval: float = 0.5) -> None:
        self.server = server
        self._name = name
        self._poll_interval = poll_interval
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.server.serve_forever, args=(self._poll_interval,), name=self._name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=timeout)
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
