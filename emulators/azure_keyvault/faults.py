"""Fault injection at the emulator's own door (the loopback fault proxy speaks plain HTTP only,
and this emulator is HTTPS only): a :class:`~pytest_kmsconform.emulators.faults.FaultPlan` is
consulted for every request, by operation name (``keys/sign``, ``keys/create``...; see
:func:`.wire.operation_of`), with the same rule fields and seeded randomness as the proxy.

Errors are Key Vault's own: 429 ``Throttled`` (with ``Retry-After``), 500 ``InternalServerError``,
503 ``ServiceUnavailable``, 504 ``GatewayTimeout``, 403 ``Forbidden``/``KeyDisabled``. A plan that
names another backend's error (``ThrottlingException``) gets Key Vault's error of the same class.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

from pytest_kmsconform.emulators.faults.catalog import error_class
from pytest_kmsconform.emulators.faults.errors import FaultPlanError
from pytest_kmsconform.reference_impl.errors import BackendErrorCode

KIND = "azure-keyvault"
T = BackendErrorCode


@dataclass(frozen=True)
class AzureWireError:
    name: str
    code: BackendErrorCode
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def _error(name: str, code: BackendErrorCode, status: int, message: str, inner: str | None = None) -> AzureWireError:
    error: dict[str, object] = {"code": name if inner is None else "Forbidden", "message": message}
    if inner is not None:
        error["innerError"] = {"code": inner}
    headers = (("Retry-After", "1"),) if status == 429 else ()
    return AzureWireError(name, code, status, json.dumps({"error": error}).encode(), headers)


ERRORS: dict[str, AzureWireError] = {
    e.name: e
    for e in (
        _error(
            "Throttled",
            T.THROTTLED,
            429,
            "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached",
        ),
        _error("InternalServerError", T.INTERNAL, 500, "An unexpected error occurred."),
        _error("ServiceUnavailable", T.UNAVAILABLE, 503, "The service is temporarily unavailable."),
        _error("GatewayTimeout", T.TIMEOUT, 504, "The operation timed out."),
        _error("KeyDisabled", T.DISABLED, 403, "Operation sign is not allowed on a disabled key.", inner="KeyDisabled"),
        _error(
            "Forbidden",
            T.ACCESS_DENIED,
            403,
            "The user, group or application does not have keys sign permission on key vault.",
            inner="ForbiddenByPolicy",
        ),
    )
}
DEFAULT_FOR_CLASS = {e.code: e.name for e in ERRORS.values()}


def wire_error(name: str) -> AzureWireError:
    """Key Vault's error for a rule naming ``name`` (its own, or one of the same class)."""
    if name in ERRORS:
        return ERRORS[name]
    code = error_class(name)
    fallback = DEFAULT_FOR_CLASS.get(code, "InternalServerError")
    if fallback not in ERRORS:  # pragma: no cover - every class has a default above
        raise FaultPlanError(f"{KIND} has no error of class {code.value}")
    return ERRORS[fallback]


def flip_signature(body: bytes, choose: Callable[[int], int]) -> bytes | None:
    """A sign answer with one (seeded) bit of its base64url ``value`` flipped, or ``None``."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    value = doc.get("value") if isinstance(doc, dict) else None
    if not isinstance(value, str) or not value:
        return None
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    bit = choose(len(raw) * 8)
    raw[bit // 8] ^= 1 << (bit % 8)
    doc["value"] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return json.dumps(doc).encode()
