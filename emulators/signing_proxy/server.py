"""Transport of the signing proxy: a threaded stdlib HTTP(S) server on 127.0.0.1 (by default).

Only framing lives here (read the head, hand the body reader to :class:`ProxyApp`, write the
response). TLS handshakes run in the connection's worker thread, not in the accept loop, so a
slow or hostile client cannot stall other clients; every connection has a socket timeout.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import ErrorCode, ProxyConfigError, WireError
from .responses import ProxyApp
from .wire import RequestHead, Response, error_response

log = logging.getLogger("pytest_kmsconform.signing_proxy")

SOCKET_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
SERVER_NAME = "kmsconform-signing-proxy"

# Errors http.server raises itself (malformed request line, oversized headers, unknown method).
_STDLIB_ERRORS = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    414: ErrorCode.URI_TOO_LONG,
    431: ErrorCode.HEADERS_TOO_LARGE,
    501: ErrorCode.METHOD_NOT_ALLOWED,
    505: ErrorCode.BAD_REQUEST,
}


@dataclass(frozen=True)
class TlsConfig:
    """Server certificate and key (PEM files); with ``client_ca`` set, clients must present a
    certificate issued by that CA (mutual TLS)."""

    cert_file: Path
    key_file: Path
    client_ca: Path | None = None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
            if self.client_ca is not None:
                ctx.load_verify_locations(cafile=str(self.client_ca))
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ProxyConfigError(f"cannot load TLS files: {exc}") from None
        return ctx


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyHTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; no 40 ms Nagle stall
    server_version = SERVER_NAME
    sys_version = ""
    timeout = SOCKET_TIMEOUT

    def _serve(self) -> None:
        head = RequestHead.from_pairs(self.command, self.path, self.headers.items())
        response = self.server.app.respond(head, self.rfile.read)
        self._write(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        if response.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, headers too large...) as JSON, like ours.
        error = WireError(_STDLIB_ERRORS.get(code, ErrorCode.BAD_REQUEST), message or "malformed request", close=True)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            # Unparsable request lines leave the 0.9 default, which would suppress the status line.
            self.request_version = "HTTP/1.0"
        with contextlib.suppress(OSError):
            self._write(error_response(error))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class _ProxyHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    # listen() backlog: the default 5 overflows when a pool of clients connects at once (the load
    # test saw 1 s SYN retransmits and connection resets with 16 clients).
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], app: ProxyApp, tls: ssl.SSLContext | None, max_connections: int
    ) -> None:
        self.app = app
        self.tls = tls
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Bounded threads: past the limit a connection is closed at once instead of queueing.
        if not self._slots.acquire(blocking=False):
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
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(SOCKET_TIMEOUT)
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


class SigningProxyServer:
    """Runs a :class:`ProxyApp` on ``host:port`` (port 0: a free one) in a background thread.

    Use as a context manager; :attr:`url` is set once started.
    """

    def __init__(
        self,
        app: ProxyApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsConfig | None = None,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.app = app
        self.max_connections = max_connections
        self.host = host
        self.port = port
        self.tls = tls
        self._httpd: _ProxyHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the signing proxy is not running")
        address = self._httpd.server_address
        host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
        scheme = "https" if self.tls is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{address[1]}"

    def start(self) -> str:
        if self._httpd is not None:
            raise RuntimeError("already started")
        ctx = self.tls.context() if self.tls is not None else None
        self._httpd = _ProxyHTTPServer((self.host, self.port), self.app, ctx, self.max_connections)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="signing-proxy", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SigningProxyServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
