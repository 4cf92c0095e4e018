"""Transport: the REST and gRPC fronts on 127.0.0.1 over one model, as a context manager."""

from __future__ import annotations

import threading
import types
from typing import Any

import grpc

from .faults import FaultHook
from .grpc_front import start_grpc
from .models import KmsModel
from .rest_front import RestServer
from .service import KmsService

DEFAULT_PROJECT = "kmsconform"
DEFAULT_LOCATION = "global"
DEFAULT_PENDING_GENERATION_S = 0.02
"""Small on purpose: long enough that a client that does not poll sees PENDING_GENERATION."""


class GcpKmsEmulator:
    """``with GcpKmsEmulator() as emu: emu.rest_client().create_key_ring(...)``.

    :param port: REST port on 127.0.0.1 (0: a free one).
    :param grpc_port: gRPC port on 127.0.0.1 (0: a free one).
    :param seed: derive key material from this seed (reproducible public keys).
    :param pending_generation_s: how long new asymmetric versions stay PENDING_GENERATION.
    :param project: the project the env lines name (any project is served).
    :param location: the location the env lines name (any location is served).
    :param model: share an existing model (two fronts, or a restart, over the same state).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        grpc_port: int = 0,
        seed: bytes | None = None,
        pending_generation_s: float = DEFAULT_PENDING_GENERATION_S,
        project: str = DEFAULT_PROJECT,
        location: str = DEFAULT_LOCATION,
        model: KmsModel | None = None,
    ) -> None:
        self.model = model if model is not None else KmsModel(seed=seed, pending_generation_s=pending_generation_s)
        self.faults = FaultHook()
        self.service = KmsService(self.model, self.faults)
        self.project = project
        self.location = location
        self._port = port
        self._grpc_port = grpc_port
        self._rest: RestServer | None = None
        self._rest_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self.grpc_port = 0
        self.errors: list[Exception] = []
        """Unexpected exceptions inside either front (emulator bugs); :meth:`check` raises the first."""

    @property
    def url(self) -> str:
        """The REST endpoint (``http://127.0.0.1:P``), what ``client_options.api_endpoint`` takes."""
        if self._rest is None:
            raise RuntimeError("GcpKmsEmulator is not running")
        return f"http://127.0.0.1:{self._rest.server_address[1]}"

    @property
    def rest_host(self) -> str:
        return self.url.removeprefix("http://")

    @property
    def grpc_host(self) -> str:
        if self._grpc is None:
            raise RuntimeError("GcpKmsEmulator is not running")
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def location_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def env(self) -> dict[str, str]:
        """What a client needs: the REST endpoint (``KMS_EMULATOR_HOST``, a URL: proxies rewrite it), the
        gRPC ``host:port``, the project and location."""
        return {
            "KMS_EMULATOR_HOST": self.url,
            "KMS_EMULATOR_GRPC_HOST": self.grpc_host,
            "GOOGLE_CLOUD_PROJECT": self.project,
            "A1_GCP_PROJECT": self.project,
            "A1_GCP_LOCATION": self.location,
        }

    def rest_client(self) -> Any:
        from pytest_kmsconform.reference_impl.backends.gcp_kms_client import rest_client

        return rest_client(self.url)

    def grpc_client(self) -> Any:
        from pytest_kmsconform.reference_impl.backends.gcp_kms_client import grpc_client

        return grpc_client(self.grpc_host)

    def check(self) -> None:
        """Raise the first emulator bug seen by a front (the pool calls this at the end of a run)."""
        if self.errors:
            raise AssertionError(f"gcp-kms emulator failed inside a request: {self.errors[0]!r}") from self.errors[0]

    def start(self) -> GcpKmsEmulator:
        self._rest = RestServer(("127.0.0.1", self._port), self.service)
        self._rest.errors = self.errors
        self._rest_thread = threading.Thread(
            target=self._rest.serve_forever, args=(0.05,), name="kmsconform-gcp-rest", daemon=True
        )
        self._rest_thread.start()
        try:
            self._grpc, self.grpc_port = start_grpc(self.service, self.errors, port=self._grpc_port)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(0).wait(5)
            self._grpc = None
        if self._rest is not None:
            self._rest.shutdown()
            self._rest.server_close()
            self._rest = None
        if self._rest_thread is not None:
            self._rest_thread.join(timeout=5)
            self._rest_thread = None

    def __enter__(self) -> GcpKmsEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.stop()
