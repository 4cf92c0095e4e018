"""YubiHSM connector: a device error frame ``7F 00 01 <code>`` in an HTTP 200 (what the device
answers), or a connector-level HTTP error (500/503, plain text). Operations are the outer command of
the frame posted to ``/connector/api`` (``SESSION_MESSAGE``, ``CREATE_SESSION``, ...) and
``connector/status``; inner commands are encrypted (SCP03), so name them through the in-process
hook. A signature travels encrypted and MACed inside ``SESSION_MESSAGE``: it cannot be flipped on
the wire without breaking the MAC, so ``corrupt_signature`` is left to the in-process hook."""

from __future__ import annotations

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import BackendErrorCode as T

from pytest_kmsconform import kinds

from ..vocabulary import FaultVocabulary, Request, WireError, errors_by_name

# YubiHSM device error codes (Yubico defs.py ERROR); only these may be sent to a client.
DEVICE_ERRORS: dict[str, int] = {
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
PLAIN_COMMANDS = {
    0x01: "ECHO",
    0x03: "CREATE_SESSION",
    0x04: "AUTHENTICATE_SESSION",
    0x05: "SESSION_MESSAGE",
    0x06: "DEVICE_INFO",
    0x0A: "GET_DEVICE_PUBLIC_KEY",
    0x40: "CLOSE_SESSION",
}
_SIGN = {
    Algorithm.ED25519: "SIGN_EDDSA",
    Algorithm.ECDSA_P256_SHA256: "SIGN_ECDSA",
    Algorithm.RSA_SHA256: "SIGN_PKCS1",
    Algorithm.RSA_PSS_SHA256: "SIGN_PSS",
    Algorithm.HMAC_SHA256: "SIGN_HMAC",
}


def _frame(name: str, code: T) -> WireError:
    frame = bytes([0x7F, 0x00, 0x01, DEVICE_ERRORS[name]])
    return WireError(name, code, 200, "application/octet-stream", frame)


def _http_text(name: str, code: T, status: int, text: str) -> WireError:
    return WireError(name, code, status, "text/plain; charset=utf-8", text.encode())


def _recognise(request: Request) -> str | None:
    if not request.path.startswith("/connector/"):
        return None
    if request.path == "/connector/api" and request.body:
        return PLAIN_COMMANDS.get(request.body[0], f"0x{request.body[0]:02X}")
    return request.path.lstrip("/")


def _operation(method: str, alg: Algorithm | None, rotating: bool) -> str | None:
    if method == "sign":
        return _SIGN.get(alg) if alg is not None else None
    hmac = alg is Algorithm.HMAC_SHA256
    return {
        "verify": "VERIFY_HMAC",
        "create_key": "GENERATE_HMAC_KEY" if hmac else "GENERATE_ASYMMETRIC_KEY",
        "public_key": "GET_PUBLIC_KEY",
        "disable": "DELETE_OBJECT",
    }.get(method)


VOCABULARY = FaultVocabulary(
    kind=kinds.YUBIHSM,
    errors=errors_by_name(
        _frame("SESSIONS_FULL", T.UNAVAILABLE),
        _frame("COMMAND_UNEXECUTED", T.INTERNAL),
        _frame("STORAGE_FAILED", T.INTERNAL),
        _frame("INSUFFICIENT_PERMISSIONS", T.ACCESS_DENIED),
        _http_text("500", T.INTERNAL, 500, "Internal Server Error"),
        _http_text("503", T.UNAVAILABLE, 503, "Service Unavailable: device busy"),
        _http_text("504", T.TIMEOUT, 504, "Gateway Timeout"),
    ),
    default_for_class={
        T.THROTTLED: "SESSIONS_FULL",
        T.INTERNAL: "COMMAND_UNEXECUTED",
        T.UNAVAILABLE: "503",
        T.TIMEOUT: "504",
        T.ACCESS_DENIED: "INSUFFICIENT_PERMISSIONS",
    },
    recognise=_recognise,
    key_backend_operation=_operation,
)
