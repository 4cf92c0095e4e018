"""Transport: the HTTP front of the AWS KMS emulator (persistent connections, no request log).

moto's server (werkzeug's development server) closes the connection after every answer, routes
each request through a scan of moto's service modules and a Flask application, and logs a line
per request: about 70 % of an HTTP sign went there. This front answers exactly as that server
does (the same status line, headers and body; ``tests/emulators/aws_kms/test_front.py`` compares
them request by request), but:

* keeps HTTP/1.1 connections open (each answer carries its ``Content-Length``; the request body is
  read in full first, so the next request line is never mistaken for body), with ``TCP_NODELAY``;
* serves each connection in its own thread (werkzeug's threaded server), so requests are not
  serialised;
* sends a request that moto routes to KMS (a SigV4 credential scope naming ``kms``, path ``/``)
  straight to the fidelity layer's dispatch, :meth:`~.responses.FidelityKmsResponse.dispatch`,
  skipping the module scan and Flask, and everything else (``/moto-api/...``, other services,
  unsigned requests, CORS requests with an ``Origin``) to moto's application, as before;
* logs nothing per request (errors still go to werkzeug's logger).

The service is decided exactly as moto's ``DomainDispatcherApplication`` decides it, with its
result memoised per inferred host (a pure function of the host name).
"""

from __future__ import annotations

import io
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError
from moto.core.request import Request
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.settings import DISABLE_GLOBAL_CORS
from werkzeug.exceptions import InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from .responses import FidelityKmsResponse

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
KMS = "kms"
_NOT_ROUTED_HERE = ("/moto-api", "/favicon.ico", "/latest/meta-data/", "/latest/api/")


class _ServerRequest(Request):
    """moto's normalised request, as its server hands it over (``from_wsgi_server``)."""

    from_wsgi_server = True


class KmsFastApp:
    """WSGI application: KMS requests to the fidelity layer, everything else to moto's application."""

    def __init__(self, fallback: WsgiApp | None = None) -> None:
        self.dispatcher = DomainDispatcherApplication(create_backend_app)
        self.fallback: WsgiApp = fallback if fallback is not None else self.dispatcher
        self._backends: dict[str, Any] = {}

    def _is_kms(self, environ: dict[str, Any]) -> bool:
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "POST" or path != "/" or "HTTP_ORIGIN" in environ:
            return False
        if not environ.get("HTTP_AUTHORIZATION"):
            return False  # unsigned: moto reads the body and its tables; leave it to moto
        host = self.dispatcher.infer_service_region_host(environ, path)
        if host is None:
            return False
        if host not in self._backends:
            with self.dispatcher.lock:
                self._backends[host] = self.dispatcher.get_backend_for_host(host)
        return bool(self._backends[host] == KMS)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self._is_kms(environ):
            return self.fallback(environ, start_response)
        from moto.moto_api import recorder

        request = _ServerRequest(environ)
        recorder._record_request(request)
        try:
            status, headers, body = FidelityKmsResponse.dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as exc:  # as moto's Flask view does
            status, headers, body = 400, {}, exc.response["Error"]["Message"]
        data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        # the headers moto's Flask response carries, in its order
        out = [(str(k), str(v)) for k, v in headers.items() if k.lower() != "content-length"]
        out.append(("Content-Length", str(len(data))))
        if not DISABLE_GLOBAL_CORS:
            out.append(("Access-Control-Allow-Origin", "*"))
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}", out)
        return [data]


class KeepAliveHandler(MotoRequestHandler):
    """moto's request handler (its WSGI environ, header rules and server string), with persistent
    HTTP/1.1 connections, ``TCP_NODELAY`` and no per-request log line."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Quiet: a line per request floods test and benchmark output."""

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        # the whole body first: whatever the application reads, the next request starts clean
        if environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read()
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started[:] = [status, headers]
            return lambda data: None  # no application of ours writes through it

        app: WsgiApp = self.server.app
        try:
            chunks = app(environ, start_response)
            try:
                data = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception:  # werkzeug's answer to an application that raised
            self.server.log("error", f"Error on request:\n{traceback.format_exc()}")
            data = b"".join(InternalServerError()(environ, start_response))
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        length_sent = False
        for key, value in headers:
            name = key.lower()
            if name in ("transfer-encoding", "connection"):
                continue
            length_sent = length_sent or name == "content-length"
            self.send_header(key, value)
        if not length_sent:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if environ["REQUEST_METHOD"] != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()
