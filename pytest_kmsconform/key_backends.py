"""The reference ``KeyBackend`` for a running backend's handle, as the kinds table says.

Each kind names a builder from env lines alone (in the reference implementation), and optionally a
plugin-side bridge that uses the handle's typed in-process details as an accelerator (a client
bound to the emulator, an in-process device). The bridge answers ``None`` when the handle has no
such details (behind the fault proxy, for instance); the env builder is then used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

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


# -- the bridges named in the table of kinds (in-process accelerators) ----------------------------
def aws_kms_from_handle(handle: BackendHandle) -> KeyBackend | None:
    """An ``AwsKmsBackend`` through the handle's bound client factory, without the algorithms the
    backend declares it cannot do (LocalStack: Ed25519); ``None`` without :class:`AwsKmsDetails`."""
    _check_kind(handle, kinds.AWS_KMS)
    from pytest_kmsconform.emulators.aws_kms.provider import AwsKmsDetails
    from pytest_kmsconform.reference_impl.backends.aws_kms import AwsKmsBackend

    details = handle.detail(AwsKmsDetails)
    if details is None:
        return None
    return AwsKmsBackend(kms_client_for(handle), namespace=handle.namespace, unsupported=dict(details.unsupported))


def kms_client_for(handle: BackendHandle) -> Any:
    """A boto3 KMS client for an ``aws-kms`` kind handle: its bound factory, else from its env lines."""
    _check_kind(handle, kinds.AWS_KMS)
    from pytest_kmsconform.emulators.aws_kms.provider import AwsKmsDetails
    from pytest_kmsconform.reference_impl.backends.aws_kms import client_from_env

    details = handle.detail(AwsKmsDetails)
    if details is not None and details.client_factory is not None:
        return details.client_factory()
    return client_from_env(handle.env)


def yubihsm_from_handle(handle: BackendHandle) -> KeyBackend | None:
    """A ``YubiHsmBackend`` on the simulator in this process (no HTTP); ``None`` without one."""
    _check_kind(handle, kinds.YUBIHSM)
    from pytest_kmsconform.emulators.yubihsm.provider import YubiHsmDetails
    from pytest_kmsconform.reference_impl.backends.yubihsm import backend_over

    details = handle.detail(YubiHsmDetails)
    if details is None or details.backend_factory is None:
        return None
    return backend_over(details.backend_factory, handle.env)


def _check_kind(handle: BackendHandle, kind: str) -> None:
    if handle.kind != kind:
        raise ConfigurationError(f"handle {handle.name!r} is a {handle.kind} backend, not {kind}")
