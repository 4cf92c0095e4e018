"""The yubihsm-connector HTTP protocol on 127.0.0.1, on the shared loopback server (:mod:`...transport`).

* ``POST /connector/api``: raw request frame in, raw response frame out, ``application/octet-stream``,
  always HTTP 200 (device errors are ``7F 00 01 <code>`` frames); bodies shorter than 3 or longer than
  3139 bytes get 400, as from the Go connector;
* ``GET /connector/status``: ``status=OK``, ``serial=``, ``version=``, ``pid=``, ``address=``, ``port=``
  lines, as from the Go connector;
* other paths 404, other methods 405 with ``Allow``. Every reply carries ``X-Request-ID``;
* an exception from the device (a simulator defect) is answered with 500 and kept for :meth:`ConnectorServer.check`.
"""

from __future__ import annotations

import os
import uuid
from types import TracebackType

from ...transport import Handler, LoopbackHTTPServer, ServerThread
from ..errors import EmulatorBug, TransportError
from . import LockedDevice

API_PATH = "/connector/api"
STATUS_PATH = "/connector/status"
CONNECTOR_VERSION = "3.0.7"
MIN_BODY, MAX_BODY = 3, 3139


class _Handler(Handler):
    server: _Server

    def _reply(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", self.headers.get("X-Request-ID") or str(uuid.uuid4()))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        if self.path == STATUS_PATH:
            self._reply(200, self.server.status_text().encode(), "text/plain")
        elif self.path == API_PATH:
            self._reply(405, b"", "text/plain", {"Allow": "POST"})
        else:
            self._reply(404, b"", "text/plain")

    def do_POST(self) -> None:
        body = self._drain()
        if self.path == STATUS_PATH:
            self._reply(405, b"", "text/plain", {"Allow": "GET"})
        elif self.path != API_PATH:
            self._reply(404, b"", "text/plain")
        elif not MIN_BODY <= len(body) <= MAX_BODY:
            self._reply(400, b"", "text/plain")
        else:
            try:
                answer = self.server.device.transceive(body)
            except Exception as exc:  # a simulator defect: answer 500 and keep it for check()
                self.server.handler_errors.append(exc)
                self._reply(500, b"", "text/plain")
                return
            self._reply(200, answer, "application/octet-stream")


class _Server(LoopbackHTTPServer):
    device: LockedDevice
    handler_errors: list[Exception]

    def status_text(self) -> str:
        host, port = self.server_address[:2]
        serial = self.device.device.config.serial
        lines = [
            "status=OK",
            f"serial={serial}",
            f"version={CONNECTOR_VERSION}",
            f"pid={os.getpid()}",
            f"address={host!s}",
            f"port={port}",
        ]
        return "".join(f"{line}\n" for line in lines)


class ConnectorServer:
    """Serves one device at ``url`` until :meth:`stop` (or the ``with`` block ends)."""

    def __init__(self, device: LockedDevice, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise TransportError("the connector shim only listens on the loopback interface")
        self.device = device
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            raise TransportError(f"cannot listen on {host}:{port}: {exc}") from exc
        self._server.device = device
        self._server.handler_errors = []
        self._thread = ServerThread(self._server, name="yubihsm-connector")

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def handler_errors(self) -> list[Exception]:
        """Exceptions the device raised while serving (each answered with HTTP 500)."""
        return list(self._server.handler_errors)

    def check(self) -> None:
        """Raise :class:`EmulatorBug` if the device failed while serving a request."""
        if self._server.handler_errors:
            first = self._server.handler_errors[0]
            count = len(self._server.handler_errors)
            raise EmulatorBug(f"the simulator failed {count} request(s); first: {first!r}") from first

    def start(self) -> ConnectorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def __enter__(self) -> ConnectorServer:
        return self.start()

    def __exit__(self, typ: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
