"""The fault proxy: a threaded HTTP reverse proxy on 127.0.0.1 in front of one backend URL.

Each request is named (:func:`.wire.classify`), the plan decides (:meth:`.plan.FaultPlan.decide`),
and the fault is applied here: sleep for latency; answer the backend's own error; reset the
connection (RST, no answer); hold it without answering (timeout); or forward and flip one bit of
the signature in the answer. With ``phase: response``, error/reset/timeout happen *after* the
backend executed the call, which is how a client ends up retrying an operation that succeeded.

Upstream is plain HTTP (most loopback emulators) or HTTPS (the Key Vault emulator: its SDK refuses
bearer tokens over http). In front of an HTTPS backend the proxy speaks HTTPS too, with a
certificate from a throw-away CA of its own (:attr:`FaultProxy.ca_file`, which clients trust
instead of the backend's), and verifies the backend against ``upstream_ca``. The client's ``Host``
header is forwarded as sent, so SigV4 signatures made for the proxy URL stay intact.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pytest_kmsconform import kinds

from ..signing_proxy.devcerts import make_dev_certs
from ..transport import Handler, LoopbackHTTPServer, ServerThread
from .catalog import wire_error
from .errors import FaultProxyError
from .plan import Decision, FaultKind, FaultPlan, Phase
from .upstream import UpstreamPool
from .wire import Call, classify, corrupt_signature

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)
MAX_BODY = 16 * 1024 * 1024
UPSTREAM_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ProxyEvent:
    """What the proxy did with one request (``fault`` is ``None`` when it only forwarded)."""

    kind: str | None
    operation: str
    fault: str | None
    status: int | None


class _Stop(Exception):
    """Raised inside a handler to drop the connection without an answer."""


class _Handler(Handler):
    server: _ProxyServer

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise _Stop
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.server.owner
        try:
            body = self._read_body()
        except (ValueError, _Stop):
            self.close_connection = True
            return
        headers = {k: v for k, v in self.headers.items()}
        call = classify(self.command, self.path, headers, body, proxy.kind)
        decision = proxy.plan.decide(call.kind, [call.operation])
        try:
            self._apply(proxy, call, decision, body, headers)
        except _Stop:
            self.close_connection = True

    def _apply(self, proxy: FaultProxy, call: Call, decision: Decision, body: bytes, headers: dict[str, str]) -> None:
        if decision.delay_s and proxy.stopping.wait(decision.delay_s):
            raise _Stop
        fault = decision.fault
        if fault is None:
            status, resp_headers, resp_body = proxy.forward(self.command, self.path, headers, body)
            proxy.record(call, None, status)
            self._answer(status, resp_headers, resp_body)
            return
        rule = fault.rule
        if rule.fault is FaultKind.CORRUPT_SIGNATURE:
            status, resp_headers, resp_body = proxy.forward(self.command, self.path, headers, body)
            flipped = corrupt_signature(call.kind, status, resp_body, proxy.plan.randrange)
            proxy.record(call, rule.fault.value if flipped is not None else None, status)
            self._answer(status, resp_headers, flipped if flipped is not None else resp_body)
            return
        if rule.phase is Phase.RESPONSE:
            proxy.forward(self.command, self.path, headers, body)
        if rule.fault is FaultKind.ERROR:
            assert rule.error is not None
            err = wire_error(call.kind or proxy.kind or kinds.SIGNING_PROXY, rule.error)
            proxy.record(call, f"error:{err.name}", err.status)
            self._answer(err.status, [("Content-Type", err.content_type), *err.headers], err.body)
        elif rule.fault is FaultKind.RESET:
            proxy.record(call, "reset", None)
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise _Stop
        elif rule.fault is FaultKind.TIMEOUT:
            proxy.record(call, "timeout", None)
            proxy.stopping.wait(fault.delay_s)
            raise _Stop

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _ProxyServer(LoopbackHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], owner: FaultProxy, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        super().__init__(address, _Handler, tls=tls, socket_timeout=UPSTREAM_TIMEOUT_S)


class FaultProxy:
    """A fault proxy in front of ``upstream`` (``http://`` or ``https://127.0.0.1:PORT``); a context manager.

    :param upstream: the backend's base URL.
    :param plan: the fault plan (shared, so its counters show what was injected).
    :param kind: the backend kind when requests alone do not tell (``signing-proxy``).
    :param host: bind address; loopback unless told otherwise.
    :param port: 0 picks a free port.
    :param upstream_ca: for an ``https://`` upstream, the CA bundle to verify it with (``None``: the
        system's trust store).
    """

    def __init__(
        self,
        upstream: str,
        plan: FaultPlan,
        *,
        kind: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_ca: str | Path | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise FaultProxyError(f"the fault proxy forwards to http:// or https:// URLs only, got {upstream!r}")
        if upstream_ca is not None and parsed.scheme != "https":
            raise FaultProxyError(f"upstream_ca is for an https:// upstream, got {upstream!r}")
        self.upstream = upstream
        self._up_host = parsed.hostname
        self._up_port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._up_prefix = parsed.path.rstrip("/")
        self._up_tls: ssl.SSLContext | None = None
        if parsed.scheme == "https":
            try:
                self._up_tls = ssl.create_default_context(cafile=None if upstream_ca is None else str(upstream_ca))
            except (OSError, ssl.SSLError) as exc:
                raise FaultProxyError(f"cannot load the upstream CA bundle {upstream_ca}: {exc}") from None
        self._upstream = UpstreamPool(self._up_host, self._up_port, tls=self._up_tls, timeout=UPSTREAM_TIMEOUT_S)
        self.ca_file: Path | None = None
        """In front of an HTTPS backend: the proxy's own CA certificate (PEM), which clients trust."""
        self._cert_dir: Path | None = None
        self.plan = plan
        self.kind = kind
        self.host = host
        self.port = port
        self.stopping = threading.Event()
        self.events: list[ProxyEvent] = []
        self._events_lock = threading.Lock()
        self._server: _ProxyServer | None = None
        self._thread: ServerThread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise FaultProxyError("the fault proxy is not running")
        host, port = self._server.server_address[:2]
        return f"{'https' if self._up_tls is not None else 'http'}://{host!s}:{port}"

    def _server_tls(self) -> ssl.SSLContext | None:
        """HTTPS in front of an HTTPS backend: a throw-away CA and a 127.0.0.1/localhost certificate."""
        if self._up_tls is None:
            return None
        self._cert_dir = Path(tempfile.mkdtemp(prefix="kmsconform-fault-proxy-"))
        certs = make_dev_certs(self._cert_dir)
        self.ca_file = certs.ca_cert
        return certs.server_context()

    def start(self) -> FaultProxy:
        tls = self._server_tls()
        try:
            self._server = _ProxyServer((self.host, self.port), self, tls)
        except OSError as exc:
            self._remove_certs()
            raise FaultProxyError(f"cannot bind the fault proxy to {self.host}:{self.port}: {exc.strerror}") from None
        self._thread = ServerThread(self._server, name="kmsconform-fault-proxy", poll_interval=0.05).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.stop(timeout=10)
        self._thread = None
        self._server = None
        self._upstream.close()
        self._remove_certs()

    def _remove_certs(self) -> None:
        if self._cert_dir is not None:
            shutil.rmtree(self._cert_dir, ignore_errors=True)
            self._cert_dir = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, call: Call, fault: str | None, status: int | None) -> None:
        with self._events_lock:
            if len(self.events) < 100_000:
                self.events.append(ProxyEvent(call.kind, call.operation, fault, status))

    def faults(self) -> list[ProxyEvent]:
        """Events where a fault was applied."""
        with self._events_lock:
            return [e for e in self.events if e.fault is not None]

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream; an unreachable upstream is answered 502 by the proxy itself."""
        out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
        out["Content-Length"] = str(len(body))
        pool = self._upstream
        conn, reused = pool.take()
        try:
            try:
                status, resp_headers, data = _exchange(conn, method, self._up_prefix + path, out, body, pool)
            except STALE_CONNECTION:
                if not reused:
                    raise
                # the backend closed a kept-alive connection as we reused it: nothing reached it yet
                conn.close()
                conn = pool.new()
                status, resp_headers, data = _exchange(conn, method, self._up_prefix + path, out, body, pool)
            return status, resp_headers, data
        except OSError as exc:  # ssl.SSLError included: an upstream that fails verification
            conn.close()
            text = f"fault proxy: upstream {self._up_host}:{self._up_port} unreachable: {exc}".encode()
            return 502, [("Content-Type", "text/plain; charset=utf-8")], text
        except http.client.HTTPException:
            conn.close()
            raise


STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
"""What a kept-alive connection the backend has just closed raises on reuse."""


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    pool: UpstreamPool,
) -> tuple[int, list[tuple[str, str]], bytes]:
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    pool.give_back(conn, resp)
    return resp.status, resp.getheaders(), data


@contextmanager
def fault_proxy(
    upstream: str, plan: FaultPlan, *, kind: str | None = None, port: int = 0, upstream_ca: str | Path | None = None
) -> Iterator[FaultProxy]:
    """Run a :class:`FaultProxy` for the duration of the ``with`` block."""
    proxy = FaultProxy(upstream, plan, kind=kind, port=port, upstream_ca=upstream_ca)
    with proxy:
        yield proxy
