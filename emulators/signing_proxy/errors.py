"""Typed errors of the signing proxy: one wire error code per failure, each with its HTTP status.

The codes are the stable part of the API (clients and checks compare codes, never messages);
``docs/signing-proxy.md`` lists them.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.Enum):
    """Wire error codes; the value is the HTTP status."""

    BAD_REQUEST = ("BAD_REQUEST", 400)
    BAD_JSON = ("BAD_JSON", 400)
    MISSING_FIELD = ("MISSING_FIELD", 400)
    UNKNOWN_FIELD = ("UNKNOWN_FIELD", 400)
    BAD_FIELD = ("BAD_FIELD", 400)
    BAD_DIGEST = ("BAD_DIGEST", 400)
    WRONG_DIGEST_LENGTH = ("WRONG_DIGEST_LENGTH", 400)
    BAD_PREV_HASH = ("BAD_PREV_HASH", 400)
    NOT_CANONICAL = ("NOT_CANONICAL", 400)
    BAD_SIGNATURE = ("BAD_SIGNATURE", 400)
    UNAUTHORIZED = ("UNAUTHORIZED", 401)
    ENDPOINT_NOT_ALLOWED = ("ENDPOINT_NOT_ALLOWED", 403)
    TYPE_NOT_ALLOWED = ("TYPE_NOT_ALLOWED", 403)
    RULE_VIOLATION = ("RULE_VIOLATION", 403)
    KEY_NOT_ALLOWED = ("KEY_NOT_ALLOWED", 403)
    AMOUNT_INVALID = ("AMOUNT_INVALID", 403)
    CAP_EXCEEDED = ("CAP_EXCEEDED", 403)
    NOT_FOUND = ("NOT_FOUND", 404)
    UNKNOWN_KEY = ("UNKNOWN_KEY", 404)
    METHOD_NOT_ALLOWED = ("METHOD_NOT_ALLOWED", 405)
    KEY_REVOKED = ("KEY_REVOKED", 409)
    KEY_STATE = ("KEY_STATE", 409)
    NO_ACTIVE_KEY = ("NO_ACTIVE_KEY", 409)
    REPLAYED = ("REPLAYED", 409)
    LENGTH_REQUIRED = ("LENGTH_REQUIRED", 411)
    BODY_TOO_LARGE = ("BODY_TOO_LARGE", 413)
    URI_TOO_LONG = ("URI_TOO_LONG", 414)
    UNSUPPORTED_MEDIA_TYPE = ("UNSUPPORTED_MEDIA_TYPE", 415)
    KILL_SWITCH_ENGAGED = ("KILL_SWITCH_ENGAGED", 423)
    RATE_LIMITED = ("RATE_LIMITED", 429)
    DAILY_CAP_EXCEEDED = ("DAILY_CAP_EXCEEDED", 429)
    HEADERS_TOO_LARGE = ("HEADERS_TOO_LARGE", 431)
    INTERNAL = ("INTERNAL", 500)
    SIGNING_FAILED = ("SIGNING_FAILED", 502)
    SIGNER_UNAVAILABLE = ("SIGNER_UNAVAILABLE", 503)
    AUDIT_UNAVAILABLE = ("AUDIT_UNAVAILABLE", 503)

    def __init__(self, wire_name: str, status: int) -> None:
        self.wire_name = wire_name
        self.status = status


class SigningProxyError(Exception):
    """Base class of every error raised by the signing proxy package."""


class WireError(SigningProxyError):
    """A request the proxy refuses; becomes ``{"error": {"code", "message", ...}}`` with its status.

    :param extra: more members of the ``error`` object (JSON-safe values only).
    :param headers: response headers to add (``Allow``, ``WWW-Authenticate``, ``Retry-After``).
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})
        self.close = close
        """True when the connection must be closed (the request body was not read)."""


class AdminUnsupported(SigningProxyError):
    """The wrapped signer has no key ring, so rotation and revocation cannot be offered."""


class ProxyConfigError(SigningProxyError, ValueError):
    """The proxy cannot be built from the given options or environment."""
