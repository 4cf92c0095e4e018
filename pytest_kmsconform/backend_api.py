"""What a backend (emulator, server, container or real service) gives the rest of kmsconform.

A :class:`BackendProvider` says whether it can start here and starts the backend as a context
manager yielding a :class:`BackendHandle`. Handles are what fixtures pass to adapters, what
``kmsconform emulate NAME`` prints, and what reports name. Providers are registered by name in
:mod:`pytest_kmsconform.backend_registry`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class BackendHandle:
    """A running backend.

    :param name: the backend name selected by the user (``aws-kms``, ``vault``, ``localstack``...).
    :param kind: the protocol family: ``local``, ``mock``, ``aws-kms``, ``vault``, ``yubihsm``,
        ``signing-proxy``; adapters dispatch on it (``localstack`` and ``aws-kms`` share ``aws-kms``).
    :param env: the environment variables a client in any language needs (printed by
        ``kmsconform emulate``); secrets in it are dev-only values made for this run.
    :param version: the backend's version string for reports (``moto 5.2.5``, ``OpenBao 2.7.2``).
    :param namespace: a per-run, per-worker prefix for names created on the backend.
    :param url: the loopback URL, when the backend is reached over HTTP.
    :param details: in-process objects (clients, device models) for same-process adapters.
    """

    name: str
    kind: str
    env: Mapping[str, str]
    version: str
    namespace: str = "kmsconform"
    url: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class BackendProvider(Protocol):
    """Starts one named backend."""

    name: str
    kind: str
    description: str
    embedded: bool
    """True when it runs here with no Docker and no credentials (part of the default selection)."""

    def unavailable_reason(self) -> str | None:
        """``None`` when :meth:`start` can work here; otherwise why not (shown as a skip reason)."""
        ...

    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> AbstractContextManager[BackendHandle]:
        """Start the backend on 127.0.0.1 (``port`` 0 picks a free one) and stop it on exit."""
        ...


def iter_env_lines(handle: BackendHandle) -> Iterator[str]:
    """``NAME=value`` lines, sorted, as ``kmsconform emulate`` prints them."""
    for key in sorted(handle.env):
        yield f"{key}={handle.env[key]}"
