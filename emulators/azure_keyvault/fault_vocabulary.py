"""Azure Key Vault's fault vocabulary (the table of kinds names it; light imports only).

* errors: Key Vault's own, ``{"error": {"code", "message"[, "innerError"]}}``: 429 ``Throttled``
  (with ``Retry-After``), 500 ``InternalServerError``, 503 ``ServiceUnavailable``, 504
  ``GatewayTimeout``, 403 ``Forbidden`` with inner ``KeyDisabled`` or ``ForbiddenByPolicy``;
* operations: ``keys/sign``, ``keys/create``, ``keys/rotate``... (:func:`.operations.operation_of`),
  for requests to a proxy that fronts Key Vault (``/keys`` paths are too common to claim otherwise);
* signatures: a sign answer's base64url ``value``.

The emulator is HTTPS only, so the fault proxy terminates TLS in front of it with a CA of its own
(``ca_bundle_env`` in the table of kinds).
"""

from __future__ import annotations

import json
from typing import Any

from pytest_kmsconform.emulators.faults.vocabulary import (
    FaultVocabulary,
    FlipBit,
    Request,
    WireError,
    b64_flip,
    errors_by_name,
)
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode as T

from pytest_kmsconform import kinds

from .operations import operation_of


def _error(name: str, code: T, status: int, message: str, inner: str | None = None) -> WireError:
    error: dict[str, object] = {"code": name if inner is None else "Forbidden", "message": message}
    if inner is not None:
        error["innerError"] = {"code": inner}
    headers = (("Retry-After", "1"),) if status == 429 else ()
    body = json.dumps({"error": error}).encode()
    return WireError(name, code, status, "application/json; charset=utf-8", body, headers)


ERRORS = errors_by_name(
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


def _name(request: Request) -> str:
    return operation_of(request.method, request.path)


def _corrupt(doc: Any, choose: FlipBit) -> bool:
    value = doc.get("value")
    if isinstance(value, str) and value and (new := b64_flip(value, choose, standard=False)) is not None:
        doc["value"] = new
        return True
    return False


def _operation(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    return {
        "sign": "keys/sign",
        "verify": "keys/verify",
        "create_key": "keys/rotate" if rotating else "keys/create",
        "public_key": "keys/get",
        "disable": "keys/update",
    }.get(method)


VOCABULARY = FaultVocabulary(
    kind=kinds.AZURE_KEYVAULT,
    errors=ERRORS,
    default_for_class={e.code: e.name for e in ERRORS.values()},
    name_request=_name,
    corrupt_signature=_corrupt,
    key_backend_operation=_operation,
)
