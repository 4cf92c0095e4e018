"""The reference ``KeyBackend`` for a running backend's handle, as the kinds table says.

Each kind names a builder from env lines alone (in the reference implementation), and optionally a
plugin-side bridge that uses the handle's typed in-process details as an accelerator (a client
bound to the emulator, an in-process device). The bridge answers ``None`` when the handle has no
such details (behind the fault proxy, for instance); the env builder is then used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.reference_impl.config import key_backend_from_env
from pytest_kmsconform.reference_impl.errors import ConfigurationError
from pytest_kmsconform.reference_impl.signer import KeyBackend

Bridge = Callable[[BackendHandle], KeyBackend | None]


def key_backend_for(handle: BackendHandle) -> KeyBackend:
    """The reference key backend serving ``handle``.

    :raises ConfigurationError: the kind is unknown, has no reference key backend, or cannot be
        loaded here (the message names the missing extra).
    """
    kind = kinds.find(handle.kind)
    if kind is None or kind.key_backend is None:
        raise ConfigurationError(f"the reference implementation has no key backend for kind {handle.kind!r}")
    if kind.key_backend.from_handle is not None:
        try:
            bridge = cast(Bridge, kinds.resolve(kind.key_backend.from_handle))
        except ImportError as exc:
            raise ConfigurationError(f"the {kind.name} key backend bridge cannot be loaded: {exc}") from None
        backend = bridge(handle)
        if backend is not None:
            return backend
    return key_backend_from_env(kind.name, handle.env, handle.namespace)
