"""The ``aws-kms`` backend: moto 5.2.5 with the fidelity layer, over HTTP on 127.0.0.1.

Options: ``seed`` (any string: key material and key ids are derived from it) and ``region``.
The handle's ``details`` carry ``client_factory`` (a boto3 KMS client bound to the emulator).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from .server import DEFAULT_REGION, KmsEmulator

OPTIONS = frozenset({"seed", "region"})


def moto_version() -> str:
    import moto

    return f"moto {moto.__version__} + kmsconform fidelity layer"


@dataclass(frozen=True)
class AwsKmsProvider:
    name: str = kinds.AWS_KMS
    kind: str = kinds.AWS_KMS
    description: str = "AWS KMS emulator: moto with kmsconform's fidelity fixes, HTTP on 127.0.0.1"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        try:
            import boto3  # noqa: F401
            import moto.server  # noqa: F401
        except ImportError as exc:
            return f"needs the aws extra (pip install 'pytest-kmsconform[aws]'): {exc}"
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        options = dict(options or {})
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ConfigurationError(f"aws-kms: unknown option(s) {unknown}; known: {sorted(OPTIONS)}")
        seed = options["seed"].encode() if "seed" in options else None
        with KmsEmulator(port=port, seed=seed, region=options.get("region", DEFAULT_REGION)) as emulator:
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=emulator.env(),
                version=moto_version(),
                namespace=namespace,
                url=emulator.url,
                details={"client_factory": emulator.client, "emulator": emulator, "region": emulator.region},
            )


PROVIDER = AwsKmsProvider()
