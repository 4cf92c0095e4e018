"""Put a fault proxy in front of a running backend handle (used by ``kmsconform emulate --faults``
and by the fixtures): the returned handle's URL and every URL-valued env line point at the proxy.
In front of an HTTPS backend, every env line naming the backend's CA bundle names the proxy's CA."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from .errors import FaultPlanError
from .plan import FaultPlan
from .proxy import FaultProxy


@dataclass(frozen=True)
class FaultProxyDetails:
    """Details of a handle reached through a fault proxy.

    :param fault_proxy: the proxy (its ``events`` and its plan's ``stats()`` show what was injected).
    :param upstream_url: the backend's own URL.
    """

    fault_proxy: FaultProxy
    upstream_url: str


def behind_proxy(details: object) -> object | None:
    """What of ``details`` stays valid through a proxy (see ``BackendHandle.details``)."""
    method = getattr(details, "behind_proxy", None)
    return method() if callable(method) else details


def _netlocs(url: str) -> list[str]:
    parts = urllib.parse.urlsplit(url)
    if parts.port is None:
        return [parts.netloc]
    return [parts.netloc, f"127.0.0.1:{parts.port}", f"localhost:{parts.port}"]


def rewrite_env(env: dict[str, str], upstream: str, proxy_url: str) -> dict[str, str]:
    """``env`` with the upstream's ``host:port`` replaced by the proxy's in every URL-valued line."""
    target = urllib.parse.urlsplit(proxy_url).netloc
    out = {}
    for key, value in env.items():
        new = value
        if "://" in value:
            for netloc in _netlocs(upstream):
                new = new.replace(f"://{netloc}", f"://{target}")
        out[key] = new
    return out


@contextmanager
def faulted_handle(handle: BackendHandle, plan: FaultPlan, *, port: int = 0) -> Iterator[BackendHandle]:
    """A copy of ``handle`` reached through a :class:`FaultProxy` applying ``plan``.

    Its :class:`FaultProxyDetails` name the proxy and the backend's own URL; in-process shortcuts of
    the other details that would bypass the proxy (a bound client factory) are dropped.
    :raises FaultPlanError: for an in-process backend (no URL): wrap its ``KeyBackend`` in
        :class:`~.inprocess.FaultyKeyBackend` instead.
    """
    if handle.url is None:
        raise FaultPlanError(
            f"backend {handle.name} runs in-process (no URL); use FaultyKeyBackend for in-process fault injection"
        )
    upstream_ca = _upstream_ca(handle)
    with FaultProxy(handle.url, plan, kind=handle.kind, port=port, upstream_ca=upstream_ca) as proxy:
        env = rewrite_env(dict(handle.env), handle.url, proxy.url)
        if upstream_ca is not None and proxy.ca_file is not None:
            env = {k: str(proxy.ca_file) if v == upstream_ca else v for k, v in env.items()}
        kept = tuple(d for d in map(behind_proxy, handle.details) if d is not None)
        details = (*kept, FaultProxyDetails(proxy, handle.url))
        yield replace(handle, env=env, url=proxy.url, details=details)


def _upstream_ca(handle: BackendHandle) -> str | None:
    """The CA bundle an HTTPS backend's clients trust (the env line its kind names), else ``None``."""
    if urllib.parse.urlsplit(handle.url or "").scheme != "https":
        return None
    found = kinds.find(handle.kind)
    name = found.faults.ca_bundle_env if found is not None and found.faults is not None else None
    if name is None or not handle.env.get(name):
        raise FaultPlanError(
            f"backend {handle.name} is served over HTTPS and its kind names no CA bundle the fault proxy "
            "could verify it with (kinds.FaultSupport.ca_bundle_env)"
        )
    return handle.env[name]
