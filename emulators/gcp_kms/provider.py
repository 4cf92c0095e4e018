"""The ``gcp-kms`` backend: the Cloud KMS emulator, REST and gRPC on 127.0.0.1.

Options: ``seed`` (any string: key material derived from it), ``pending_ms`` (how long new
asymmetric versions stay PENDING_GENERATION; default 20), ``project``, ``location``,
``key_ring`` (created at start; default: the namespace), ``destroy_on_revoke`` (``true``:
revocation also destroys the version), ``grpc_port`` (default: a free one; ``port`` is REST's).
The handle's env alone reaches it (REST endpoint, project, location, key ring; no credentials);
:class:`GcpKmsDetails` add in-process objects, and the handle's ``check`` raises what the emulator
met while serving.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle, missing_extra

if TYPE_CHECKING:
    from .server import GcpKmsEmulator

OPTIONS = frozenset({"seed", "pending_ms", "project", "location", "key_ring", "destroy_on_revoke", "grpc_port"})


@dataclass(frozen=True)
class GcpKmsDetails:
    """In-process details of a ``gcp-kms`` handle: the running emulator and its gRPC ``host:port``."""

    emulator: GcpKmsEmulator
    grpc_host: str


def emulator_version() -> str:
    from importlib.metadata import version

    return f"kmsconform Cloud KMS emulator (google-cloud-kms {version('google-cloud-kms')} messages)"


def _pending_s(options: Mapping[str, str]) -> float:
    from .server import DEFAULT_PENDING_GENERATION_S

    if "pending_ms" not in options:
        return DEFAULT_PENDING_GENERATION_S
    try:
        value = float(options["pending_ms"])
    except ValueError:
        raise ConfigurationError(f"gcp-kms: pending_ms must be a number, got {options['pending_ms']!r}") from None
    if value < 0:
        raise ConfigurationError("gcp-kms: pending_ms must not be negative")
    return value / 1000.0


@dataclass(frozen=True)
class GcpKmsProvider:
    name: str = kinds.GCP_KMS
    kind: str = kinds.GCP_KMS
    description: str = "Google Cloud KMS emulator: REST and gRPC fronts over one model, on 127.0.0.1"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        return missing_extra("gcp", "google.cloud.kms_v1", "google_crc32c", "grpc")

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        from .server import DEFAULT_LOCATION, DEFAULT_PROJECT, GcpKmsEmulator

        options = dict(options or {})
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ConfigurationError(f"gcp-kms: unknown option(s) {unknown}; known: {sorted(OPTIONS)}")
        ring_id = options.get("key_ring") or re.sub(r"[^a-zA-Z0-9_-]", "-", namespace)[:63]
        seed = options["seed"].encode() if "seed" in options else None
        try:
            grpc_port = int(options.get("grpc_port", "0"))
        except ValueError:
            raise ConfigurationError(f"gcp-kms: grpc_port must be an integer, got {options['grpc_port']!r}") from None
        emulator = GcpKmsEmulator(
            port=port,
            grpc_port=grpc_port,
            seed=seed,
            pending_generation_s=_pending_s(options),
            project=options.get("project", DEFAULT_PROJECT),
            location=options.get("location", DEFAULT_LOCATION),
        )
        with emulator:
            emulator.model.create_key_ring(emulator.location_name, ring_id)
            env = {**emulator.env(), "A1_GCP_KEY_RING": ring_id}
            if options.get("destroy_on_revoke", "").lower() in ("1", "true", "yes"):
                env["KMSCONFORM_GCP_DESTROY_ON_REVOKE"] = "true"
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=env,
                version=emulator_version(),
                namespace=namespace,
                url=emulator.url,
                details=(GcpKmsDetails(emulator, emulator.grpc_host),),
                check=emulator.check,
            )


PROVIDER = GcpKmsProvider()
