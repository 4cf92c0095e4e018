"""Wire handlers: one function per KMS operation, from a validated request dict to a response dict.

This module holds the registry and the helpers; the handlers are in :mod:`.handlers_keys` and
:mod:`.handlers_crypto`. Only parsing and serialising happens there (base64, member names, which
members AWS returns); every rule lives in the model. Operations of the AWS API we do not model are
listed in :data:`GAPS` and answer ``KmsConformEmulatorGap`` (HTTP 501), never a crash page.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .errors import (
    DryRunOperationException,
    EmulatorGap,
    InvalidMarkerException,
    SerializationException,
    ValidationException,
)
from .models import FidelityKmsBackend

Params = dict[str, Any]
Handler = Callable[[FidelityKmsBackend, Params], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}

GAPS = {
    "ConnectCustomKeyStore": "custom key stores are not emulated",
    "CreateCustomKeyStore": "custom key stores are not emulated",
    "DeleteCustomKeyStore": "custom key stores are not emulated",
    "DescribeCustomKeyStores": "custom key stores are not emulated",
    "DisconnectCustomKeyStore": "custom key stores are not emulated",
    "UpdateCustomKeyStore": "custom key stores are not emulated",
    "Encapsulate": "ML-KEM keys are not emulated",
    "Decapsulate": "ML-KEM keys are not emulated",
    "GetKeyLastUsage": "key last-usage tracking is not emulated",
}


def handler(operation: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[operation] = function
        return function

    return register


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def blob(params: Params, name: str) -> bytes:
    value = params.get(name)
    return b"" if value is None else base64.b64decode(value)


def required(params: Params, name: str) -> Any:
    """A member AWS requires although its service model does not mark it required."""
    if params.get(name) is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{name[:1].lower() + name[1:]}' failed to satisfy "
            "constraint: Member must not be null"
        )
    return params[name]


def timestamp(value: Any) -> float | None:
    """A JSON timestamp member (epoch seconds, as botocore sends it, or an ISO 8601 string)."""
    if value is None or isinstance(value, int | float):
        return value
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise SerializationException(f"{value!r} is not a timestamp") from None


def no_recipient(params: Params) -> None:
    if params.get("Recipient"):
        raise EmulatorGap("Recipient (Nitro Enclaves attestation) is not emulated")


def dry_run(params: Params) -> None:
    if params.get("DryRun"):
        raise DryRunOperationException()


def page(items: list[Any], params: Params, member: str) -> dict[str, Any]:
    """AWS-style pagination: Limit (default 100), an opaque Marker, NextMarker only when truncated."""
    marker = params.get("Marker")
    try:
        start = int(marker) if marker else 0
    except ValueError:
        raise InvalidMarkerException("Invalid marker") from None
    limit = params.get("Limit") or 100
    page = items[start : start + limit]
    body: dict[str, Any] = {member: page, "Truncated": start + limit < len(items)}
    if body["Truncated"]:
        body["NextMarker"] = str(start + limit)
    return body
