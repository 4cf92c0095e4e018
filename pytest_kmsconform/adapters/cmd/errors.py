"""Errors of the subprocess adapter: whose fault it was (the child's protocol, or its answer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_kmsconform.adapter import AdapterError
from pytest_kmsconform.reference_impl.delegation import ChainCode, DelegationError
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    CanonicalizationError,
    GuardError,
    InvalidSignature,
    KeyNotValidAtTime,
    KeyRevoked,
    KeyStateError,
    KmsConformError,
    MultisigError,
    SigningFailed,
    ThresholdNotMet,
    UnknownKey,
)


class ProtocolViolation(AdapterError):
    """The child broke the protocol (bad JSON, schema mismatch, wrong id, early exit, no answer in
    time). The child is stopped; every later request raises this again."""


class PolicyRefused(KmsConformError):
    """``POLICY_DENIED``: a policy gate in the child refused; ``code`` is the gate's wire code
    (``UNAUTHORIZED``, ``RATE_LIMITED``, ... of ``docs/policy.md``), as the policy suite compares."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ChildError(AdapterError):
    """A typed error answer that has no reference exception (``BAD_REQUEST``, ``UNSUPPORTED``, ...)."""

    def __init__(self, op: str, code: str, message: str) -> None:
        super().__init__(f"{op}: {code}: {message}")
        self.op, self.code = op, code


def error_from_answer(op: str, error: Mapping[str, Any]) -> Exception:
    """The exception for an ``{"ok": false, "error": {...}}`` answer (codes in ``docs/protocol.md``)."""
    code, message = str(error["code"]), f"{op}: {error['message']}"
    kid = str(error.get("kid", ""))
    simple: dict[str, type[KmsConformError]] = {
        "INVALID_SIGNATURE": InvalidSignature,
        "UNKNOWN_KEY": UnknownKey,
        "KEY_STATE": KeyStateError,
        "SIGNING_FAILED": SigningFailed,
        "CANONICALIZATION": CanonicalizationError,
        "GUARD_REFUSED": GuardError,
        "MULTISIG_ERROR": MultisigError,
    }
    exc: Exception
    if code in simple:
        exc = simple[code](message)
    elif code == "KEY_REVOKED":
        exc = KeyRevoked(message, kid)
    elif code == "THRESHOLD_NOT_MET":
        valid = tuple(str(k) for k in error.get("valid", ()))
        exc = ThresholdNotMet(message, valid=valid, threshold=int(error.get("threshold", 0)))
    elif code == "KEY_NOT_VALID_AT_TIME":
        exc = KeyNotValidAtTime(message, kid)
    elif code == "POLICY_DENIED":
        exc = PolicyRefused(message, str(error.get("policy_code", "")))
    elif code == "DELEGATION_REFUSED":
        index = error.get("index")
        chain_code = ChainCode(error.get("chain_code", ChainCode.FORMAT_ERROR.value))
        exc = DelegationError(message, chain_code, index if isinstance(index, int) else None)
    elif code == "BACKEND_ERROR":
        backend_code = BackendErrorCode(error.get("backend_code", "unavailable"))
        exc = BackendError(message, code=backend_code, backend="cmd")
    else:
        exc = ChildError(op, code, str(error["message"]))
    return exc
