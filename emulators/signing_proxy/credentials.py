"""Who may call the signing proxy: the API and admin keys it was given (:class:`AuthPolicy`), the
credential a request presents (``X-API-Key`` or ``Authorization: Bearer``) and its comparison in
constant time. The routes that need which key are :mod:`.responses`."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from .errors import ErrorCode, WireError
from .wire import RequestHead


@dataclass(frozen=True)
class AuthPolicy:
    """Credentials: ``api_key`` guards signing and verification (``None``: open, dev only);
    ``admin_key`` guards ``/admin/*`` (``None``: admin endpoints disabled)."""

    api_key: str | None = None
    admin_key: str | None = None


def _as_bytes(text: str) -> bytes:
    # http.server decodes header values as latin-1; this restores the bytes that were sent.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def presented_credential(head: RequestHead) -> str | None:
    """The key from ``X-API-Key`` or ``Authorization: Bearer``; two different keys are refused."""
    api_key = head.header("x-api-key")
    bearer: str | None = None
    authorization = head.header("authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise WireError(
                ErrorCode.UNAUTHORIZED,
                "Authorization must be 'Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
                close=True,
            )
        bearer = token.strip()
    if api_key is not None and bearer is not None and not hmac.compare_digest(_as_bytes(api_key), _as_bytes(bearer)):
        raise WireError(
            ErrorCode.UNAUTHORIZED,
            "X-API-Key and Authorization carry different keys",
            headers={"WWW-Authenticate": "Bearer"},
            close=True,
        )
    return api_key if api_key is not None else bearer


def check_credential(head: RequestHead, expected: str) -> None:
    presented = presented_credential(head)
    # compare_digest on bytes: constant time in the length of the expected key.
    if presented is None or not hmac.compare_digest(_as_bytes(presented), expected.encode("utf-8")):
        raise WireError(
            ErrorCode.UNAUTHORIZED,
            "missing or wrong API key" if presented is None else "wrong key",
            headers={"WWW-Authenticate": "Bearer"},
            close=True,
        )


def unauthorized(message: str) -> WireError:
    """A 401 that closes the connection and names the Bearer scheme."""
    return WireError(ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}, close=True)
