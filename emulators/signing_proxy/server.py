"""Transport of the signing proxy: the shared loopback HTTP(S) server (:mod:`..transport`) on
127.0.0.1 (by default).

Only framing lives here (read the head, hand the body reader to :class:`ProxyApp`, write the
response). TLS handshakes run in the connection's worker thread, not in the accept loop, so a
slow or hostile client cannot stall other clients; every connection has a socket timeout.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..transport import Handler, LoopbackHTTPServer, ServerThread
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


class _Handler(Handler):
    server: _ProxyHTTPServer
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


class _ProxyHTTPServer(LoopbackHTTPServer):
    allow_reuse_address = False

    def __init__(
        self, address: tuple[str, int], app: ProxyApp, tls: ssl.SSLContext | None, max_connections: int
    ) -> None:
        self.app = app
        super().__init__(address, _Handler, tls=tls, max_connections=max_connections, socket_timeout=SOCKET_TIMEOUT)


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
        self._thread: ServerThread | None = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the signing proxy is not running")
        host, port = self._httpd.host_and_port
        scheme = "https" if self.tls is not None else "http"
        shown = f"[{host}]" if ":" in host else host
        return f"{scheme}://{shown}:{port}"

    def start(self) -> str:
        if self._httpd is not None:
            raise RuntimeError("already started")
        ctx = self.tls.context() if self.tls is not None else None
        self._httpd = _ProxyHTTPServer((self.host, self.port), self.app, ctx, self.max_connections)
        self._thread = ServerThread(self._httpd, name="signing-proxy", poll_interval=0.1).start()
        return self.url

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        if self._thread is not None:
            self._thread.stop(timeout=5)
            self._thread = None

    def __enter__(self) -> SigningProxyServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
