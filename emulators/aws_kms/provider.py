"""The ``aws-kms`` backend: moto 5.2.5 with the fidelity layer, over HTTP on 127.0.0.1.

Options: ``seed`` (any string: key material and key ids are derived from it), ``region`` and ``iam``
(``on``: the default account enforces IAM policies, the handle's credentials being its administrator;
default ``off``).
The handle carries :class:`AwsKmsDetails` (``client_factory``: a boto3 KMS client bound to the
emulator), for every backend of kind ``aws-kms``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle, missing_extra

OPTIONS = frozenset({"seed", "region", "iam"})


@dataclass(frozen=True)
class AwsKmsDetails:
    """In-process details of an ``aws-kms`` kind handle (moto here, LocalStack, real AWS).

    :param client_factory: makes a boto3 KMS client for this backend (``None`` behind a proxy:
        clients are then made from the handle's env lines, which point at the proxy).
    :param unsupported: algorithms this backend cannot do, with the reason (LocalStack: Ed25519).
    :param emulator: the running moto emulator, when it is one.
    :param region: its region, when known.
    """

    client_factory: Callable[[], Any] | None = None
    unsupported: Mapping[Algorithm, str] = field(default_factory=dict)
    emulator: Any = None
    region: str | None = None

    def behind_proxy(self) -> AwsKmsDetails:
        return replace(self, client_factory=None)


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
        return missing_extra("aws", "boto3", "moto")

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        options = dict(options or {})
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            known = ", ".join(sorted(OPTIONS))
            raise ConfigurationError(f"aws-kms: unknown option(s) {', '.join(unknown)}; known: {known}")
        seed = options["seed"].encode() if "seed" in options else None
        iam = options.get("iam", "off").lower()
        if iam not in ("on", "off"):
            raise ConfigurationError(f"aws-kms: option iam must be on or off, not {options['iam']!r}")
        from .defaults import DEFAULT_REGION
        from .server import KmsEmulator  # moto: imported when a run starts one

        region = options.get("region", DEFAULT_REGION)
        with KmsEmulator(port=port, seed=seed, region=region, iam=iam == "on") as emulator:
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=emulator.env(),
                version=moto_version(),
                namespace=namespace,
                url=emulator.url,
                details=(AwsKmsDetails(client_factory=emulator.client, emulator=emulator, region=emulator.region),),
            )


PROVIDER = AwsKmsProvider()
