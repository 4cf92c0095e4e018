"""Transport: the Key Vault app behind a threaded HTTPS server on 127.0.0.1, with a throw-away CA.

The Azure SDK refuses bearer tokens over plain http (``ChallengeAuthPolicy._enforce_tls``), so
there is no http mode. At start-up a CA and a server certificate for 127.0.0.1/localhost are made
in a private temporary directory (``signing_proxy.devcerts``); clients trust the CA file
(``connection_verify=`` or ``REQUESTS_CA_BUNDLE``). TLS handshakes run in each connection's worker
thread. A background thread keeps a few RSA-2048 keys ready (unseeded runs), so key creation
rarely waits for RSA generation.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import urllib.parse
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_kmsconform.emulators.faults.plan import FaultKind, FaultPlan, Phase
from pytest_kmsconform.emulators.signing_proxy.devcerts import make_dev_certs

from . import faults
from .material import MaterialSource, RsaPool
from .models import KeyVault
from .wire import KeyVaultApp, Request, operation_of

log = logging.getLogger("pytest_kmsconform.azure_keyvault")

SOCKET_TIMEOUT = 30.0
MAX_BODY = 1024 * 1024
DEV_TOKEN = "kmsconform-dev-token"  # any bearer token is accepted; this one is printed for clients


@dataclass(frozen=True)
class DoorEvent:
    """What the fault door did with one request (``fault`` is ``None`` when it only served it)."""

    operation: str
    fault: str | None
    status: int | None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; no 40 ms Nagle stall
    server_version = "kmsconform-azure-keyvault"
    sys_version = ""
    timeout = SOCKET_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        try:
            body = self._body()
        except ValueError:
            self.close_connection = True
            return
        split = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(split.query, keep_blank_values=True))
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = Request(
            self.command,
            split.path,
            query,
            {k.lower(): v for k, v in self.headers.items()},
            body,
            f"https://{host}",
        )
        self.server.owner.serve(self, request)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def write(self, status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def reset(self) -> None:
        """Drop the connection with RST (SO_LINGER 0), no answer."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: KeyVaultEmulator, tls: ssl.SSLContext) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
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


class KeyVaultEmulator:
    """``with KeyVaultEmulator() as kv: KeyClient(kv.url, kv.credential(), **kv.client_kwargs())``.

    :param port: TCP port on 127.0.0.1; 0 picks a free one.
    :param seed: derive key material and version ids from this seed (reproducible, slower for RSA).
    :param faults: a fault plan applied at the door (settable later through :attr:`plan`).
    :param rsa_pool: how many RSA-2048 keys to keep ready (0: none; ignored when seeded).
    """

    def __init__(
        self, *, port: int = 0, seed: bytes | None = None, faults: FaultPlan | None = None, rsa_pool: int = 4
    ) -> None:
        self.port = port
        self.pool = RsaPool(rsa_pool) if seed is None and rsa_pool > 0 else None
        self.vault = KeyVault(MaterialSource(seed=seed, pool=self.pool))
        self.tenant_id = str(uuid.UUID(bytes=seed[:16].ljust(16, b"\0"))) if seed else str(uuid.uuid4())
        self.app = KeyVaultApp(self.vault, self.tenant_id)
        self.plan = faults
        self.events: list[DoorEvent] = []
        self._events_lock = threading.Lock()
        self._stopping = threading.Event()
        self._dir: Path | None = None
        self._httpd: _Server | None = None
        self._threads: list[threading.Thread] = []
        self.ca_file: Path | None = None

    # -- addresses and what clients need -----------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the Key Vault emulator is not running")
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The environment a client needs (see ``docs/emulators/azure-keyvault.md``)."""
        ca = str(self.ca_file)
        return {
            "AZURE_KEYVAULT_URL": self.url,
            "AZURE_KEYVAULT_CA_BUNDLE": ca,
            "REQUESTS_CA_BUNDLE": ca,
            "NODE_EXTRA_CA_CERTS": ca,
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_KEYVAULT_ACCESS_TOKEN": DEV_TOKEN,
            "AZURE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        }

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``KeyClient``/``CryptographyClient`` on this emulator."""
        return {"connection_verify": str(self.ca_file), "verify_challenge_resource": False}

    def credential(self) -> Any:
        from pytest_kmsconform.reference_impl.backends.azure_keyvault import StaticTokenCredential

        return StaticTokenCredential(DEV_TOKEN)

    # -- serving -----------------------------------------------------------------------------------
    def record(self, operation: str, fault: str | None, status: int | None) -> None:
        with self._events_lock:
            if len(self.events) < 100_000:
                self.events.append(DoorEvent(operation, fault, status))

    def serve(self, handler: _Handler, request: Request) -> None:
        plan = self.plan
        operation = operation_of(request.method, request.path)
        decision = plan.decide(faults.KIND, [operation]) if plan is not None else None
        if decision is not None and decision.delay_s and self._stopping.wait(decision.delay_s):
            handler.reset()
            return
        fault = decision.fault if decision is not None else None
        if fault is None or plan is None:
            response = self.app.handle(request)
            self.record(response.operation, None, response.status)
            handler.write(response.status, response.headers, response.body)
            return
        rule = fault.rule
        if rule.fault is FaultKind.CORRUPT_SIGNATURE:
            response = self.app.handle(request)
            flipped = faults.flip_signature(response.body, plan.randrange) if response.status == 200 else None
            self.record(operation, rule.fault.value if flipped else None, response.status)
            handler.write(response.status, response.headers, flipped or response.body)
            return
        if rule.phase is Phase.RESPONSE:
            self.app.handle(request)
        if rule.fault is FaultKind.ERROR:
            assert rule.error is not None
            err = faults.wire_error(rule.error)
            self.record(operation, f"error:{err.name}", err.status)
            handler.write(err.status, (("Content-Type", "application/json; charset=utf-8"), *err.headers), err.body)
        elif rule.fault is FaultKind.RESET:
            self.record(operation, "reset", None)
            handler.reset()
        else:  # timeout: hold the connection, then drop it
            self.record(operation, "timeout", None)
            self._stopping.wait(fault.delay_s)
            handler.reset()

    def _fill_pool(self) -> None:
        assert self.pool is not None
        while not self._stopping.is_set():
            if not self.pool.wanted.wait(0.2):
                continue
            if not self._stopping.is_set():
                self.pool.fill_once()

    def start(self) -> KeyVaultEmulator:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._dir = Path(tempfile.mkdtemp(prefix="kmsconform-akv-"))
        certs = make_dev_certs(self._dir)
        self.ca_file = certs.ca_cert
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(certs.server_cert), str(certs.server_key))
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", self.port), self, ctx)
        serve = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="kmsconform-akv", daemon=True
        )
        self._threads = [serve]
        if self.pool is not None:
            self._threads.append(threading.Thread(target=self._fill_pool, name="kmsconform-akv-rsa", daemon=True))
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> KeyVaultEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
