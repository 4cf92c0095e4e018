"""Backend providers by name, from the table of kinds (:mod:`pytest_kmsconform.kinds`).

Providers are imported lazily, so a missing extra (boto3, hvac, yubihsm) only makes its own
backend unavailable, with the reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from . import kinds
from .backend_api import BackendProvider

_registered: dict[str, BackendProvider] = {}
_loaded: dict[str, BackendProvider] = {}
_lock = threading.Lock()


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
    """Register a provider object at run time (overrides a backend of the same name).

    Its ``kind`` should be a registered kind (:mod:`pytest_kmsconform.kinds`); packages normally
    register through the ``pytest_kmsconform.backends`` entry point group instead.
    """
    _registered[provider.name] = provider


def names() -> list[str]:
    return sorted(set(kinds.backends()) | set(_registered))


def get(name: str) -> BackendProvider:
    """The provider called ``name``; ``KeyError`` lists the known names."""
    if name in _registered:
        return _registered[name]
    with _lock:
        if name in _loaded:
            return _loaded[name]
    table = kinds.backends()
    if name not in table:
        raise KeyError(f"unknown backend {name!r}; known: {', '.join(names())}")
    backend, kind = table[name]
    try:
        loaded = kinds.resolve(backend.provider)
    except ImportError as exc:
        module_name = backend.provider.partition(":")[0]
        return UnavailableProvider(name=name, reason=f"cannot import {module_name}: {exc}", kind=kind)  # type: ignore[return-value]
    if not isinstance(loaded, BackendProvider):
        raise kinds.KindError(f"backend {name}: {backend.provider} is a {type(loaded).__name__}, not a BackendProvider")
    if loaded.name != name or loaded.kind != kind:
        raise kinds.KindError(
            f"backend {name} (kind {kind}): its provider says name={loaded.name!r}, kind={loaded.kind!r}"
        )
    with _lock:
        _loaded[name] = loaded
    return loaded


def embedded_names() -> list[str]:
    """Backends that run here with no Docker and no credentials."""
    return [n for n in names() if get(n).embedded]


def default_selection() -> list[str]:
    """What runs when no backend is named: every embedded backend, plus every backend whose module
    cannot be imported here (a missing extra), since whether it is embedded is unknown and dropping
    it silently would hide it. Only this selection may leave an unavailable backend out (skipped,
    with the reason); a backend the user names and that cannot start is an error."""
    return [n for n in names() if isinstance(get(n), UnavailableProvider) or get(n).embedded]
