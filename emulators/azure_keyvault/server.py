"""Transport: the Key Vault app behind the loopback HTTPS server (:mod:`..transport`), with a throw-away CA.

The Azure SDK refuses bearer tokens over plain http (``ChallengeAuthPolicy._enforce_tls``), so
there is no http mode. At start-up a CA and a server certificate for 127.0.0.1/localhost are made
in a private temporary directory (``signing_proxy.devcerts``); clients trust the CA file
(``connection_verify=`` or ``REQUESTS_CA_BUNDLE``). A background thread keeps a few RSA-2048 keys
ready (unseeded runs), so key creation rarely waits for RSA generation. Faults are injected by the
fault proxy in front of it (``kmsconform emulate azure-keyvault --faults PLAN``), which speaks
HTTPS to clients and to this server.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import tempfile
import urllib.parse
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_kmsconform.emulators.signing_proxy.devcerts import make_dev_certs
from pytest_kmsconform.reference_impl import rsa_supply

from ..transport import Handler, LoopbackHTTPServer, ServerThread
from .material import DEFAULT_RSA_SIZE, MaterialSource
from .models import KeyVault
from .wire import KeyVaultApp, Request

log = logging.getLogger("pytest_kmsconform.azure_keyvault")

SOCKET_TIMEOUT = 30.0
MAX_BODY = 1024 * 1024
DEV_TOKEN = "kmsconform-dev-token"  # any bearer token is accepted; this one is printed for clients


class _Handler(Handler):
    server: _Server
    server_version = "kmsconform-azure-keyvault"
    sys_version = ""
    timeout = SOCKET_TIMEOUT

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
        response = self.server.owner.app.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(LoopbackHTTPServer):
    allow_reuse_address = False

    def __init__(self, address: tuple[str, int], owner: KeyVaultEmulator, tls: ssl.SSLContext) -> None:
        self.owner = owner
        super().__init__(address, _Handler, tls=tls, socket_timeout=SOCKET_TIMEOUT)


class KeyVaultEmulator:
    """``with KeyVaultEmulator() as kv: KeyClient(kv.url, kv.credential(), **kv.client_kwargs())``.

    :param port: TCP port on 127.0.0.1; 0 picks a free one.
    :param seed: derive key material and version ids from this seed (reproducible, slower for RSA).
    :param rsa_pool: how many RSA-2048 keys to keep ready once started (0: none; ignored when seeded):
        it raises the target of the process's shared :mod:`~pytest_kmsconform.reference_impl.rsa_supply`
        (never lowers it) while the emulator runs; its background thread makes them for every
        emulator in the process.
    """

    def __init__(self, *, port: int = 0, seed: bytes | None = None, rsa_pool: int = 4) -> None:
        self.port = port
        if rsa_pool < 0:
            raise ValueError(f"rsa_pool must be >= 0, got {rsa_pool}")
        self.rsa_spares = rsa_pool if seed is None else 0
        self.vault = KeyVault(MaterialSource(seed=seed))
        self._spares_restore: int | None = None
        self.tenant_id = str(uuid.UUID(bytes=seed[:16].ljust(16, b"\0"))) if seed else str(uuid.uuid4())
        self.app = KeyVaultApp(self.vault, self.tenant_id)
        self._dir: Path | None = None
        self._httpd: _Server | None = None
        self._serving: ServerThread | None = None
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
    def start(self) -> KeyVaultEmulator:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._dir = Path(tempfile.mkdtemp(prefix="kmsconform-akv-"))
        certs = make_dev_certs(self._dir)
        self.ca_file = certs.ca_cert
        ctx = certs.server_context()
        self._httpd = _Server(("127.0.0.1", self.port), self, ctx)
        self._serving = ServerThread(self._httpd, name="kmsconform-akv", poll_interval=0.1).start()
        previous = rsa_supply.SUPPLY.target(DEFAULT_RSA_SIZE)
        if self.rsa_spares > previous:  # never fewer spares than the run (or another emulator) asked for
            rsa_supply.SUPPLY.keep_ready(DEFAULT_RSA_SIZE, self.rsa_spares)
            self._spares_restore = previous
        return self

    def stop(self) -> None:
        restore, self._spares_restore = self._spares_restore, None
        if restore is not None and rsa_supply.SUPPLY.target(DEFAULT_RSA_SIZE) == self.rsa_spares:
            rsa_supply.SUPPLY.keep_ready(DEFAULT_RSA_SIZE, restore)
        serving, self._serving, self._httpd = self._serving, None, None
        if serving is not None:
            serving.stop(timeout=10)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> KeyVaultEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
