"""What a backend (emulator, server, container or real service) gives the rest of kmsconform.

A :class:`BackendProvider` says whether it can start here and starts the backend as a context
manager yielding a :class:`BackendHandle`. Handles are what fixtures pass to adapters, what
``kmsconform emulate NAME`` prints, and what reports name. Providers are registered by name in
:mod:`pytest_kmsconform.backend_registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

D = TypeVar("D")


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
    :param details: typed in-process objects for same-process adapters, one small frozen class per
        kind defined next to its provider (``AwsKmsDetails`` with a bound client factory,
        ``YubiHsmDetails`` with the device, ``FaultProxyDetails`` behind the fault proxy...); read
        them with :meth:`detail` / :meth:`require_detail`. A details class may define
        ``behind_proxy() -> Self | None``: what stays valid when the handle is reached through a
        proxy (in-process shortcuts that would bypass it are dropped).
    :param check: called when the pool stops the backend; raises server-side assertion errors.
    """

    name: str
    kind: str
    env: Mapping[str, str]
    version: str
    namespace: str = "kmsconform"
    url: str | None = None
    details: tuple[object, ...] = ()
    check: Callable[[], object] | None = None

    def detail(self, cls: type[D]) -> D | None:
        """The handle's details of class ``cls``, or ``None``."""
        for item in self.details:
            if isinstance(item, cls):
                return item
        return None

    def require_detail(self, cls: type[D]) -> D:
        """The handle's details of class ``cls``. :raises LookupError: it has none."""
        found = self.detail(cls)
        if found is None:
            raise LookupError(f"backend {self.name} (kind {self.kind}) carries no {cls.__name__}")
        return found


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


def missing_extra(extra: str, *modules: str) -> str | None:
    """Why a provider cannot start for want of ``modules`` (``None``: all installed), without
    importing them: the availability probe runs before any check, in every process of a run, and
    importing the client libraries there (moto, google-cloud-kms...) cost most of a second."""
    import importlib.util

    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package that is missing or broken
            found = False
        if not found:
            return f"needs the {extra} extra (pip install 'pytest-kmsconform[{extra}]'): no module named {module!r}"
    return None
