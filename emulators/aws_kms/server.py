"""Transport: the fidelity layer behind moto's HTTP server on 127.0.0.1, for clients in any language.

``POST /moto-api/reset`` (moto's reset endpoint, which server-mode test suites call between tests)
also drops the emulator's KMS state: the state is *pinned* against moto's process-wide resets (see
:class:`~.models.FidelityBackendDict`), so the request is honoured here, in a small WSGI wrapper
around moto's application, before moto resets its other services. A second wrapper answers STS for
the IAM model (:mod:`.iam.sts_wire`); with ``iam=True`` the default account enforces IAM policies.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from ..ports import HOST, listen
from .defaults import DEFAULT_REGION as DEFAULT_REGION  # re-exported
from .front import KeepAliveHandler, KmsFastApp
from .iam.model import IAM, IamModel
from .iam.sts_wire import sts_layer
from .install import install, uninstall
from .models import fidelity_kms_backends

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "kmsconform", "AWS_SECRET_ACCESS_KEY": "kmsconform-dummy-secret"}
_DUMMY_KEY = (DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"], DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


RESET_PATH = "/moto-api/reset"
STOP_POLL_S = 0.05
"""How often the serving loop checks for a stop request (seconds)."""
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def resetting(app: WsgiApp, reset: Callable[[], None]) -> WsgiApp:
    """WSGI wrapper: run ``reset`` on ``POST /moto-api/reset``, then let ``app`` answer as usual."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == RESET_PATH:
            reset()
        return app(environ, start_response)

    return wrapped


class KmsEmulator:
    """``with KmsEmulator() as emu: boto3.client("kms", endpoint_url=emu.url, ...)``.

    :param port: TCP port on 127.0.0.1; 0 picks a free one. A port out of range or in use raises
        :class:`~pytest_kmsconform.emulators.ports.PortError` from ``__enter__``.
    :param seed: derive key material (and key ids) from this seed, for reproducible runs.
    :param iam: enforce IAM in the default account, the dummy credentials of :meth:`env` being its
        administrator (other credentials are then refused); off, only accounts created through
        :attr:`iam` are enforced (``docs/emulators/aws-kms.md``, IAM).
    """

    def __init__(
        self, *, port: int = 0, seed: bytes | None = None, region: str = DEFAULT_REGION, iam: bool = False
    ) -> None:
        self.port = port
        self.seed = seed
        self.region = region
        self.enforce_iam = iam
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._client: tuple[str, Any] | None = None
        self._client_lock = threading.Lock()

    @property
    def iam(self) -> IamModel:
        """The IAM model: accounts, users, roles, OIDC providers and sessions (:mod:`.iam.model`)."""
        return IAM

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("KmsEmulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def env(self) -> dict[str, str]:
        """What a client in any language needs to reach this emulator."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ENDPOINT_URL_KMS": self.url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def client(self) -> Any:
        """A boto3 KMS client for this emulator; one, shared (boto3 clients are thread-safe and
        stay usable after ``close()``; making one costs about 5 ms, a full run asked for 250)."""
        from pytest_kmsconform.reference_impl.backends.aws_kms import kms_client

        url = self.url
        with self._client_lock:
            if self._client is None or self._client[0] != url:
                self._client = (
                    url,
                    kms_client(
                        endpoint_url=url,
                        region_name=self.region,
                        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    ),
                )
            return self._client[1]

    def reset(self) -> None:
        """Drop every key, alias and IAM principal (over HTTP: ``POST /moto-api/reset``)."""
        fidelity_kms_backends.drop_all()
        enforced = IAM.default_enforced
        IAM.reset()  # principals go; the holds of iam=True emulators stay
        if enforced:
            IAM.enforce_default(*_DUMMY_KEY, hold=False)

    def __enter__(self) -> KmsEmulator:
        install(self.seed)
        fidelity_kms_backends.pin()
        if self.enforce_iam:
            IAM.enforce_default(*_DUMMY_KEY)
        try:
            # Bound here, in the caller's thread: moto's ThreadedMotoServer binds in its thread and,
            # when that fails, leaves start() waiting forever.
            with listen(self.port) as sock:
                app = resetting(sts_layer(KmsFastApp()), self.reset)
                port, fd = sock.getsockname()[1], sock.fileno()
                # the keep-alive front (:mod:`.front`): persistent connections, no request log
                self._server = make_server(HOST, port, app, threaded=True, request_handler=KeepAliveHandler, fd=fd)
            # socketserver notices shutdown() only when its select times out: 0.5 s by default, at
            # every stop (every run, every test that starts an emulator)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(STOP_POLL_S,), name="kmsconform-aws-kms", daemon=True
            )
            self._thread.start()
        except BaseException:
            self._stop_server()
            if self.enforce_iam:
                IAM.release_default()
            fidelity_kms_backends.unpin()
            uninstall()
            raise
        return self

    def _stop_server(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            server.shutdown()
            thread.join()
        if server is not None:
            server.server_close()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        try:
            self._stop_server()
        finally:
            if self.enforce_iam:
                IAM.release_default()
            fidelity_kms_backends.unpin()
            uninstall()
