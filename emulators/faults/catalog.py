"""The realistic errors each backend answers with, by name.

Every name resolves to an error *class* (a :class:`BackendErrorCode` value: throttled, internal,
unavailable, timeout, ...). A rule names an error in one backend's vocabulary; when it hits a
request of another backend, that backend's own error of the same class is answered instead, so
one plan can be pointed at any backend.

Wire shapes (what the fault proxy sends):

* AWS KMS: AWS JSON 1.1 error, ``{"__type": "ThrottlingException", "message": "..."}`` with the
  HTTP status real KMS uses (400 throttling, 500 internal, 503 dependency timeout).
* Vault / OpenBao: ``{"errors": ["..."]}`` with 500, 503 (sealed) or 429 (rate limit quota).
* YubiHSM connector: a device error frame ``7F 00 01 <code>`` in an HTTP 200 (what the device
  answers), or a connector-level HTTP error (500/503, plain text).
* Signing proxy: ``{"error": {"code": "SIGNER_UNAVAILABLE", "message": "...", "backend_code": ...}}``
  (the reference proxy's shape) with 500/502/503/504 or 429.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pytest_kmsconform.reference_impl.errors import BackendErrorCode

from .errors import FaultPlanError

AWS_KMS = "aws-kms"
VAULT = "vault"
YUBIHSM = "yubihsm"
SIGNING_PROXY = "signing-proxy"
KINDS = (AWS_KMS, VAULT, YUBIHSM, SIGNING_PROXY)

# YubiHSM device error codes (Yubico defs.py ERROR); only these may be sent to a client.
YUBIHSM_DEVICE_ERRORS: dict[str, int] = {
    "INVALID_COMMAND": 0x01,
    "INVALID_DATA": 0x02,
    "INVALID_SESSION": 0x03,
    "AUTHENTICATION_FAILED": 0x04,
    "SESSIONS_FULL": 0x05,
    "SESSION_FAILED": 0x06,
    "STORAGE_FAILED": 0x07,
    "WRONG_LENGTH": 0x08,
    "INSUFFICIENT_PERMISSIONS": 0x09,
    "LOG_FULL": 0x0A,
    "OBJECT_NOT_FOUND": 0x0B,
    "INVALID_ID": 0x0C,
    "COMMAND_UNEXECUTED": 0xFF,
}


@dataclass(frozen=True)
class WireError:
    """One error as a backend sends it.

    :param name: the name a plan uses (``ThrottlingException``, ``sealed``, ``SESSIONS_FULL``).
    :param code: its error class, also what an in-process :class:`BackendError` carries.
    :param status: HTTP status.
    :param content_type: response content type.
    :param body: response body.
    """

    name: str
    code: BackendErrorCode
    status: int
    content_type: str
    body: bytes


def _kms(name: str, code: BackendErrorCode, status: int, message: str) -> WireError:
    body = json.dumps({"__type": name, "message": message}).encode()
    return WireError(name, code, status, "application/x-amz-json-1.1", body)


def _vault(name: str, code: BackendErrorCode, status: int, message: str) -> WireError:
    return WireError(name, code, status, "application/json", json.dumps({"errors": [message]}).encode())


def _yubihsm_frame(name: str, code: BackendErrorCode) -> WireError:
    frame = bytes([0x7F, 0x00, 0x01, YUBIHSM_DEVICE_ERRORS[name]])
    return WireError(name, code, 200, "application/octet-stream", frame)


def _http_text(name: str, code: BackendErrorCode, status: int, text: str) -> WireError:
    return WireError(name, code, status, "text/plain; charset=utf-8", text.encode())


def _proxy(name: str, code: BackendErrorCode, status: int, wire_code: str, message: str) -> WireError:
    error: dict[str, str] = {"code": wire_code, "message": message}
    if wire_code == "SIGNER_UNAVAILABLE":
        error["backend_code"] = code.value
    return WireError(name, code, status, "application/json", json.dumps({"error": error}).encode())


T = BackendErrorCode
CATALOG: dict[str, dict[str, WireError]] = {
    AWS_KMS: {
        e.name: e
        for e in (
            _kms("ThrottlingException", T.THROTTLED, 400, "Rate exceeded"),
            _kms("KMSInternalException", T.INTERNAL, 500, "An internal error occurred."),
            _kms(
                "DependencyTimeoutException",
                T.TIMEOUT,
                503,
                "The system timed out while trying to fulfill the request. You can retry the request.",
            ),
            _kms("DisabledException", T.DISABLED, 400, "The request was rejected because the key is disabled."),
            _kms("AccessDeniedException", T.ACCESS_DENIED, 400, "User is not authorized to perform this operation."),
        )
    },
    VAULT: {
        e.name: e
        for e in (
            _vault("500", T.INTERNAL, 500, "1 error occurred:\n\t* internal error\n\n"),
            _vault("sealed", T.UNAVAILABLE, 503, "Vault is sealed"),
            _vault("503", T.UNAVAILABLE, 503, "Vault is sealed"),
            _vault("429", T.THROTTLED, 429, "request path: rate limit quota exceeded"),
            _vault("timeout", T.TIMEOUT, 504, "context deadline exceeded"),
            _vault("403", T.ACCESS_DENIED, 403, "1 error occurred:\n\t* permission denied\n\n"),
        )
    },
    YUBIHSM: {
        e.name: e
        for e in (
            _yubihsm_frame("SESSIONS_FULL", T.UNAVAILABLE),
            _yubihsm_frame("COMMAND_UNEXECUTED", T.INTERNAL),
            _yubihsm_frame("STORAGE_FAILED", T.INTERNAL),
            _yubihsm_frame("INSUFFICIENT_PERMISSIONS", T.ACCESS_DENIED),
            _http_text("500", T.INTERNAL, 500, "Internal Server Error"),
            _http_text("503", T.UNAVAILABLE, 503, "Service Unavailable: device busy"),
            _http_text("504", T.TIMEOUT, 504, "Gateway Timeout"),
        )
    },
    SIGNING_PROXY: {
        e.name: e
        for e in (
            _proxy("500", T.INTERNAL, 500, "INTERNAL", "internal error"),
            _proxy("502", T.UNAVAILABLE, 502, "BAD_GATEWAY", "bad gateway: signing backend unreachable"),
            _proxy("503", T.UNAVAILABLE, 503, "SIGNER_UNAVAILABLE", "signing backend unavailable"),
            _proxy("504", T.TIMEOUT, 504, "SIGNER_UNAVAILABLE", "signing backend timed out"),
            _proxy("429", T.THROTTLED, 429, "THROTTLED", "too many requests"),
        )
    },
}

# The error each backend answers for a class when the plan names another backend's error.
DEFAULT_FOR_CLASS: dict[str, dict[BackendErrorCode, str]] = {
    AWS_KMS: {
        T.THROTTLED: "ThrottlingException",
        T.INTERNAL: "KMSInternalException",
        T.UNAVAILABLE: "DependencyTimeoutException",
        T.TIMEOUT: "DependencyTimeoutException",
        T.DISABLED: "DisabledException",
        T.ACCESS_DENIED: "AccessDeniedException",
    },
    VAULT: {
        T.THROTTLED: "429",
        T.INTERNAL: "500",
        T.UNAVAILABLE: "sealed",
        T.TIMEOUT: "timeout",
        T.ACCESS_DENIED: "403",
    },
    YUBIHSM: {
        T.THROTTLED: "SESSIONS_FULL",
        T.INTERNAL: "COMMAND_UNEXECUTED",
        T.UNAVAILABLE: "503",
        T.TIMEOUT: "504",
        T.ACCESS_DENIED: "INSUFFICIENT_PERMISSIONS",
    },
    SIGNING_PROXY: {
        T.THROTTLED: "429",
        T.INTERNAL: "500",
        T.UNAVAILABLE: "503",
        T.TIMEOUT: "504",
    },
}


def error_class(name: str, backend: str | None = None) -> BackendErrorCode:
    """The error class of ``name`` (looked up in ``backend``'s catalogue, or in any)."""
    kinds = (backend,) if backend is not None else KINDS
    for kind in kinds:
        entry = CATALOG.get(kind, {}).get(name)
        if entry is not None:
            return entry.code
    where = f"backend {backend}" if backend is not None else "any backend"
    known = sorted({n for k in kinds for n in CATALOG.get(k, {})})
    raise FaultPlanError(f"unknown error {name!r} for {where}; known: {', '.join(known)}")


def wire_error(kind: str, name: str) -> WireError:
    """The error ``kind`` answers for a rule naming ``name`` (translated by class if needed)."""
    own = CATALOG.get(kind, {})
    if name in own:
        return own[name]
    code = error_class(name)
    fallback = DEFAULT_FOR_CLASS.get(kind, {}).get(code) or DEFAULT_FOR_CLASS.get(kind, {}).get(T.INTERNAL)
    if fallback is None:
        raise FaultPlanError(f"backend {kind} has no error of class {code.value}")
    return own[fallback]
