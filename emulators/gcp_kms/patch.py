"""Send code that builds ``KeyManagementServiceClient()`` with no arguments to an emulator.

google-cloud-kms reads no endpoint variable (only ``GOOGLE_CLOUD_UNIVERSE_DOMAIN`` and the mTLS
switches; its endpoint is always TLS), so Google's samples and most applications cannot be
redirected by configuration. Inside :func:`emulated_default_client` (or after :func:`install`), a
client built without ``credentials``, ``transport`` and ``client_options.api_endpoint`` gets
``AnonymousCredentials()``, ``transport="rest"`` and the emulator's REST endpoint; clients that name
any of these are left alone. One line in a ``conftest.py`` or ``sitecustomize.py``::

    from pytest_kmsconform.emulators.gcp_kms.patch import install; install()  # honours KMS_EMULATOR_HOST
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

ENV = "KMS_EMULATOR_HOST"
_lock = threading.Lock()
_original: Any = None


def _client_class() -> Any:
    from google.cloud.kms_v1.services.key_management_service.client import KeyManagementServiceClient

    return KeyManagementServiceClient


def _endpoint_of(client_options: Any) -> str | None:
    if client_options is None:
        return None
    if isinstance(client_options, Mapping):
        return client_options.get("api_endpoint")
    return getattr(client_options, "api_endpoint", None)


def install(endpoint: str | None = None) -> bool:
    """Patch the client class for the rest of the process; ``endpoint`` defaults to ``$KMS_EMULATOR_HOST``.

    :returns: ``False`` (nothing patched) when no endpoint is given and the variable is unset.
    """
    global _original
    target = endpoint or os.environ.get(ENV)
    if not target:
        return False
    url = target if "://" in target else f"http://{target}"
    cls = _client_class()
    with _lock:
        original = _original if _original is not None else cls.__init__

        @functools.wraps(original)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            unset = kwargs.get("credentials") is None and kwargs.get("transport") is None
            if not args and unset and _endpoint_of(kwargs.get("client_options")) is None:
                from google.auth.credentials import AnonymousCredentials

                anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
                kwargs.update(credentials=anonymous, transport="rest", client_options={"api_endpoint": url})
            original(self, *args, **kwargs)

        _original = original
        cls.__init__ = __init__
    return True


def uninstall() -> None:
    """Undo :func:`install`."""
    global _original
    with _lock:
        if _original is not None:
            _client_class().__init__ = _original
            _original = None


@contextmanager
def emulated_default_client(endpoint: str) -> Iterator[None]:
    """Within the block, ``KeyManagementServiceClient()`` reaches the emulator at ``endpoint``
    (``http://127.0.0.1:P`` or ``127.0.0.1:P``)."""
    install(endpoint)
    try:
        yield
    finally:
        uninstall()
