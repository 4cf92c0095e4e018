"""The ``azure-keyvault`` backend: kmsconform's Key Vault emulator over HTTPS on 127.0.0.1.

Options: ``seed`` (key material, version ids and the tenant id derived from it) and ``rsa_pool``
(RSA keys kept ready, default 4; 0 turns the pool off). Faults come from the fault proxy in front of
it (``kmsconform emulate azure-keyvault --faults PLAN``). The handle's env lines are all a client needs
(``AZURE_KEYVAULT_URL``, the CA file, a dev token); :class:`AzureKeyVaultDetails` carries the
running :class:`~.server.KeyVaultEmulator` for same-process tests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from pytest_kmsconform.reference_impl.backends.azure_keyvault import UNSUPPORTED
from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform.backend_api import BackendHandle, missing_extra

from .server import KeyVaultEmulator
from .wire import LATEST_API_VERSION

OPTIONS = frozenset({"seed", "rsa_pool"})


@dataclass(frozen=True)
class AzureKeyVaultDetails:
    """In-process details of an ``azure-keyvault`` handle: the running emulator."""

    emulator: KeyVaultEmulator


VERSION = f"kmsconform Key Vault emulator (keys REST API {LATEST_API_VERSION})"
UNSUPPORTED_ALGORITHMS: dict[str, str] = {alg.value: why for alg, why in UNSUPPORTED.items()}


@dataclass(frozen=True)
class AzureKeyVaultProvider:
    name: str = "azure-keyvault"
    kind: str = "azure-keyvault"
    description: str = "Azure Key Vault emulator (keys), HTTPS with a throw-away CA on 127.0.0.1"
    embedded: bool = True
    unsupported_algorithms: Mapping[str, str] = field(default_factory=lambda: dict(UNSUPPORTED_ALGORITHMS))
    """Algorithms of the contract this backend cannot sign, with the reason (checks: not applicable)."""

    def unavailable_reason(self) -> str | None:
        return missing_extra("azure", "azure.keyvault.keys")

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        options = dict(options or {})
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ConfigurationError(f"azure-keyvault: unknown option(s) {unknown}; known: {sorted(OPTIONS)}")
        seed = options["seed"].encode() if "seed" in options else None
        try:
            pool = int(options.get("rsa_pool", "4"))
        except ValueError:
            pool = -1
        if pool < 0:
            raise ConfigurationError(f"azure-keyvault: rsa_pool must be an integer >= 0, got {options['rsa_pool']!r}")
        with KeyVaultEmulator(port=port, seed=seed, rsa_pool=pool) as emulator:
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=emulator.env(),
                version=VERSION,
                namespace=namespace,
                url=emulator.url,
                details=(AzureKeyVaultDetails(emulator),),
            )


PROVIDER = AzureKeyVaultProvider()
