"""Backend providers by name. Built-in ones are imported lazily, so a missing extra (boto3,
hvac, yubihsm) only makes its own backend unavailable, with the reason."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from .backend_api import BackendProvider

# name -> "module:attribute" of a BackendProvider instance
BUILTIN: dict[str, str] = {
    "local": "pytest_kmsconform.emulators.local:PROVIDER",
    "mock": "pytest_kmsconform.emulators.local:MOCK_PROVIDER",
    "signing-proxy": "pytest_kmsconform.emulators.signing_proxy.provider:PROVIDER",
    "aws-kms": "pytest_kmsconform.emulators.aws_kms.provider:PROVIDER",
    "localstack": "pytest_kmsconform.emulators.aws_kms.localstack:PROVIDER",
    "aws": "pytest_kmsconform.emulators.aws_kms.real:PROVIDER",
    "vault": "pytest_kmsconform.emulators.vault:PROVIDER",
    "vault-container": "pytest_kmsconform.emulators.vault:CONTAINER_PROVIDER",
    "vault-external": "pytest_kmsconform.emulators.vault:EXTERNAL_PROVIDER",
    "yubihsm": "pytest_kmsconform.emulators.yubihsm.provider:PROVIDER",
    "yubihsm-connector": "pytest_kmsconform.emulators.yubihsm.provider:CONNECTOR_PROVIDER",
}

_registered: dict[str, BackendProvider] = {}


@dataclass(frozen=True)
class UnavailableProvider:
    """Stands in for a provider whose module cannot be imported here."""

    name: str
    reason: str
    kind: str = "unknown"
    description: str = "not importable here"
    embedded: bool = False

    def unavailable_reason(self) -> str | None:
        return self.reason

    def start(self, **_: object) -> object:
        raise RuntimeError(f"backend {self.name} cannot start: {self.reason}")


def register(provider: BackendProvider) -> None:
    """Register a third-party provider (overrides a built-in of the same name)."""
    _registered[provider.name] = provider


def names() -> list[str]:
    return sorted(set(BUILTIN) | set(_registered))


def get(name: str) -> BackendProvider:
    """The provider called ``name``; ``KeyError`` lists the known names."""
    if name in _registered:
        return _registered[name]
    if name not in BUILTIN:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(names())}")
    module_name, _, attr = BUILTIN[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return UnavailableProvider(name=name, reason=f"cannot import {module_name}: {exc}")  # type: ignore[return-value]
    provider: BackendProvider = getattr(module, attr)
    return provider


def embedded_names() -> list[str]:
    """Backends in the default selection (run here with no Docker and no credentials)."""
    return [n for n in names() if get(n).embedded]
