"""Run verifiers with the network cut off.

* In process: :func:`network_blocked` patches socket connection and name resolution for the
  duration; every attempt is recorded in :class:`NetworkGuard` and refused with
  :class:`NetworkBlocked`, so a check fails on any attempt even if the implementation swallowed
  the error. Sockets that are only created (or listen) are not attempts.
* In a subprocess: :func:`offline_argv` prefixes ``unshare -n`` (a new, empty network namespace),
  or ``unshare -rn`` (inside a new user namespace, for non-root users where those are allowed)
  when only that works; :func:`unshare_unavailable_reason` says why neither can work here.
"""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class NetworkBlocked(OSError):
    """Raised in place of any connection or name lookup while the network is blocked."""


class NetworkGuard:
    """Records refused network attempts."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._lock = threading.Lock()

    def refuse(self, what: str) -> NetworkBlocked:
        with self._lock:
            self.attempts.append(what)
        return NetworkBlocked(f"network access blocked by kmsconform (air-gapped check): {what}")


_PATCHED_FUNCTIONS = (
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostbyaddr",
    "getnameinfo",
    "create_connection",
)
_PATCHED_METHODS = ("connect", "connect_ex", "sendto")


@contextmanager
def network_blocked() -> Iterator[NetworkGuard]:
    """Block connections and DNS in this process; yields the guard holding the attempts."""
    guard = NetworkGuard()
    saved_functions = {name: getattr(socket, name) for name in _PATCHED_FUNCTIONS}
    saved_methods = {name: getattr(socket.socket, name) for name in _PATCHED_METHODS}

    def blocked_function(name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise guard.refuse(f"socket.{name}{args!r}")

        return refuse

    def blocked_method(name: str) -> Callable[..., Any]:
        def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            raise guard.refuse(f"socket.socket.{name}{args!r}")

        return refuse

    try:
        for name in _PATCHED_FUNCTIONS:
            setattr(socket, name, blocked_function(name))
        for name in _PATCHED_METHODS:
            setattr(socket.socket, name, blocked_method(name))
        yield guard
    finally:
        for name, func in saved_functions.items():
            setattr(socket, name, func)
        for name, method in saved_methods.items():
            setattr(socket.socket, name, method)


UNSHARE_FLAGS = ("-n", "-rn")
"""Tried in order: a network namespace (root), then one inside a user namespace (unprivileged)."""


@functools.cache
def _unshare_probe() -> tuple[str | None, str | None]:
    """(the first flag of :data:`UNSHARE_FLAGS` that works here, or ``None``; why none works)."""
    exe = shutil.which("unshare")
    if exe is None:
        return None, "the unshare command is not installed"
    failures = []
    for flag in UNSHARE_FLAGS:
        try:
            probe = subprocess.run([exe, flag, "true"], capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            failures.append(f"unshare {flag} cannot run: {exc}")
            continue
        if probe.returncode == 0:
            return flag, None
        failures.append(f"unshare {flag}: {probe.stderr.decode(errors='replace').strip()}")
    return None, "unshare -n / -rn is not permitted here: " + "; ".join(failures)


def unshare_unavailable_reason() -> str | None:
    """``None`` when ``unshare -n`` (or ``-rn``) works here, else why not."""
    return _unshare_probe()[1]


def offline_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` run in a fresh network namespace with no interfaces up (``-n``, else ``-rn``)."""
    exe = shutil.which("unshare") or "unshare"
    return [exe, _unshare_probe()[0] or "-n", *argv]
