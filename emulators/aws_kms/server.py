"""Transport: the fidelity layer behind moto's HTTP server on 127.0.0.1, for clients in any language.

``POST /moto-api/reset`` (moto's reset endpoint, which server-mode test suites call between tests)
also drops the emulator's KMS state: the state is *pinned* against moto's process-wide resets (see
:class:`~.models.FidelityBackendDict`), so the request is honoured here, in a small WSGI wrapper
around moto's application, before moto resets its other services.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from werkzeug.serving import make_server

from .front import KeepAliveHandler, KmsFastApp
from .install import install, uninstall
from .models import fidelity_kms_backends

DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "kmsconform", "AWS_SECRET_ACCESS_KEY": "kmsconform-dummy-secret"}


RESET_PATH = "/moto-api/reset"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def resetting(app: WsgiApp, reset: Callable[[], None]) -> WsgiApp:
    """WSGI wrapper: run ``reset`` on ``POST /moto-api/reset``, then let ``app`` answer as usual."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and environ.get("PATH_INFO") == RESET_PATH:
            reset()
        return app(environ, start_response)

    return wrapped


class _Server(ThreadedMotoServer):
    """moto's threaded server with the reset wrapper, behind the keep-alive front (:mod:`.front`)."""

    def _server_entry(self) -> None:
        app = resetting(KmsFastApp(), fidelity_kms_backends.drop_all)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=KeepAliveHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class KmsEmulator:
    """``with KmsEmulator() as emu: boto3.client("kms", endpoint_url=emu.url, ...)``.

    :param port: TCP port on 127.0.0.1; 0 picks a free one.
    :param seed: derive key material (and key ids) from this seed, for reproducible runs.
    """

    def __init__(self, *, port: int = 0, seed: bytes | None = None, region: str = DEFAULT_REGION) -> None:
        self.port = port
        self.seed = seed
        self.region = region
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("KmsEmulator is not running")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

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
        from pytest_kmsconform.reference_impl.backends.aws_kms import kms_client

        return kms_client(
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def reset(self) -> None:
        """Drop every key and alias (over HTTP: ``POST /moto-api/reset``)."""
        fidelity_kms_backends.drop_all()

    def __enter__(self) -> KmsEmulator:
        install(self.seed)
        fidelity_kms_backends.pin()
        try:
            self._server = _Server(ip_address="127.0.0.1", port=self.port, verbose=False)
            self._server.start()
        except BaseException:
            fidelity_kms_backends.unpin()
            uninstall()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        try:
            if self._server is not None:
                self._server.stop()
                self._server = None
        finally:
            fidelity_kms_backends.unpin()
            uninstall()
