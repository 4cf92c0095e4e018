"""Typed errors of the Key Vault model, one per service error: HTTP status, ``error.code``, and the
``innererror.code`` the service adds for some of them.

The wire layer serialises every one the same way, as the service does::

    {"error": {"code": "Forbidden", "message": "...", "innererror": {"code": "KeyDisabled"}}}

Messages copy the service's where a recorded answer or a live report gives them (named in
``docs/emulators/azure-keyvault.md``); checks compare status and codes, never messages.
"""

from __future__ import annotations

from typing import ClassVar


class KeyVaultError(Exception):
    """Base class: a failure the service reports to the client."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "InternalServerError"

    def __init__(self, message: str, *, inner: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.inner = inner


class BadParameter(KeyVaultError):
    """400: a request the service refuses to parse or to apply (bad name, algorithm, digest...)."""

    status = 400
    code = "BadParameter"


class Unauthorized(KeyVaultError):
    """401: no bearer token (the challenge that starts the SDK's authentication)."""

    status = 401
    code = "Unauthorized"


class Forbidden(KeyVaultError):
    """403: the key may not do this now (disabled, outside nbf/exp, operation not in key_ops)."""

    status = 403
    code = "Forbidden"


class KeyNotFound(KeyVaultError):
    """404: no such key, key version or deleted key."""

    status = 404
    code = "KeyNotFound"


class NotFound(KeyVaultError):
    """404: no such route."""

    status = 404
    code = "NotFound"


class MethodNotAllowed(KeyVaultError):
    status = 405
    code = "MethodNotAllowed"


class Conflict(KeyVaultError):
    """409: the name is held by a deleted key, or a delete/recover is already under way."""

    status = 409
    code = "Conflict"


class EmulatorGap(KeyVaultError):
    """501: a real Key Vault feature this emulator does not model (listed in the docs)."""

    status = 501
    code = "NotImplemented"


def not_found(name: str, version: str | None = None) -> KeyNotFound:
    what = name if not version else f"{name}/{version}"
    return KeyNotFound(
        f"A key with (name/id) {what} was not found in this key vault. If you recently deleted this key "
        "you may be able to recover it using the correct recovery command. For help resolving this issue, "
        "please see https://go.microsoft.com/fwlink/?linkid=2125182"
    )
