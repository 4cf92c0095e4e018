"""Routes of the signing proxy: one handler per endpoint, turning wire values into model calls.

:meth:`ProxyApp.respond` is the single entry point the transport calls with a request head and a
body reader. Order of checks: route (404/405), credentials (401), media type (415), length
(411/413), body (400), then the model; typed errors from the model are translated here, once.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_kmsconform.reference_impl.clock import format_time
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    KeyRevoked,
    KeyStateError,
    SigningFailed,
    UnknownKey,
)

from . import wire
from .errors import AdminUnsupported, ErrorCode, WireError
from .models import ProxyService
from .wire import RequestHead, Response

log = logging.getLogger("pytest_kmsconform.signing_proxy")

BodyReader = Callable[[int], bytes]
Handler = Callable[["ProxyApp", RequestHead, dict[str, Any]], Response]

PUBLIC, API, ADMIN = "public", "api", "admin"
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class AuthPolicy:
    """Credentials: ``api_key`` guards signing and verification (``None``: open, dev only);
    ``admin_key`` guards ``/admin/*`` (``None``: admin endpoints disabled)."""

    api_key: str | None = None
    admin_key: str | None = None


@dataclass(frozen=True)
class Route:
    handler: Handler
    auth: str
    fields: frozenset[str] = frozenset()
    """Members accepted in the JSON body; routes without fields take no body."""


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


class ProxyApp:
    """The HTTP application: pure except for the ``read_body`` callback the transport supplies."""

    def __init__(self, service: ProxyService, auth: AuthPolicy, *, max_body: int = wire.DEFAULT_MAX_BODY) -> None:
        self.service = service
        self.auth = auth
        self.max_body = max_body

    # -- entry point ---------------------------------------------------------------------------
    def respond(self, head: RequestHead, read_body: BodyReader) -> Response:
        request_id: str | None = None
        try:
            request_id = self._request_id(head)
            response, request_id = self._dispatch(head, read_body, request_id)
        except WireError as exc:
            response = wire.error_response(exc)
        except Exception as exc:  # a bug, not bad input: logged, reported without internals
            log.exception("internal error on %s %s", head.method, head.path)
            response = wire.error_response(WireError(ErrorCode.INTERNAL, f"internal error ({type(exc).__name__})"))
        extra = [("Cache-Control", "no-store")]
        if request_id is not None:
            extra.append(("X-Request-Id", request_id))
        return Response(
            response.status, response.body, response.headers + tuple(extra), response.content_type, response.close
        )

    @staticmethod
    def _request_id(head: RequestHead) -> str | None:
        value = head.header("x-request-id")
        if value is None:
            return None
        if not value or len(value) > MAX_REQUEST_ID or not all(33 <= ord(c) < 127 for c in value):
            raise WireError(ErrorCode.BAD_REQUEST, f"X-Request-Id must be 1-{MAX_REQUEST_ID} visible ASCII characters")
        return value

    def _dispatch(
        self, head: RequestHead, read_body: BodyReader, request_id: str | None
    ) -> tuple[Response, str | None]:
        wire.check_single_headers(head)
        methods = ROUTES.get(head.path)
        if methods is None:
            raise WireError(ErrorCode.NOT_FOUND, f"no endpoint {head.path!r}", close=True)
        route = methods.get(head.method)
        if route is None:
            allow = ", ".join(sorted(methods))
            raise WireError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{head.path} accepts {allow}, not {head.method}",
                headers={"Allow": allow},
                close=True,
            )
        self._authenticate(head, route)
        body: dict[str, Any] = {}
        if route.fields:
            wire.check_content_type(head)
            length = wire.body_length(head, self.max_body)
            raw = read_body(length)
            if len(raw) != length:
                raise WireError(ErrorCode.BAD_REQUEST, "request body shorter than Content-Length", close=True)
            body = wire.parse_json_object(raw, route.fields)
            if "request_id" in body:
                request_id = wire.parse_string(body["request_id"], "request_id", max_length=MAX_REQUEST_ID)
        elif head.header("content-length") not in (None, "0") or head.header("transfer-encoding") is not None:
            raise WireError(ErrorCode.BAD_REQUEST, f"{head.method} {head.path} takes no body", close=True)
        body["request_id"] = request_id
        try:
            return route.handler(self, head, body), request_id
        except KeyRevoked as exc:
            raise WireError(ErrorCode.KEY_REVOKED, str(exc), extra={"kid": exc.kid}) from None
        except UnknownKey as exc:
            raise WireError(ErrorCode.UNKNOWN_KEY, str(exc)) from None
        except AdminUnsupported as exc:
            raise WireError(ErrorCode.NOT_FOUND, str(exc)) from None
        except SigningFailed as exc:
            raise WireError(ErrorCode.SIGNING_FAILED, str(exc)) from None
        except BackendError as exc:
            headers = {"Retry-After": "1"} if exc.retryable else {}
            raise WireError(
                ErrorCode.SIGNER_UNAVAILABLE,
                f"signing backend {exc.backend} failed: {exc}",
                extra={"backend_code": exc.code.value, "retryable": exc.retryable, "detail": exc.detail},
                headers=headers,
            ) from None

    def _authenticate(self, head: RequestHead, route: Route) -> None:
        if route.auth == API and self.auth.api_key is not None:
            check_credential(head, self.auth.api_key)
        elif route.auth == ADMIN:
            if self.auth.admin_key is None:
                raise WireError(
                    ErrorCode.NOT_FOUND, "admin endpoints are disabled (no SIGNING_PROXY_ADMIN_KEY)", close=True
                )
            check_credential(head, self.auth.admin_key)

    # -- handlers --------------------------------------------------------------------------------
    def health(self, head: RequestHead, body: dict[str, Any]) -> Response:
        try:
            info = self.service.health()
        except KeyStateError as exc:
            raise WireError(ErrorCode.NO_ACTIVE_KEY, f"no key can sign: {exc}") from None
        info["admin"] = bool(info["admin"]) and self.auth.admin_key is not None
        return wire.json_response(200, info)

    def keys(self, head: RequestHead, body: dict[str, Any]) -> Response:
        signed = self.service.key_set()
        return wire.json_response(200, {"jwks": signed.jwks, "jws": signed.jws, "metadata_key": signed.metadata_key})

    def _sign(self, digest: bytes, request_id: str | None) -> Any:
        try:
            return self.service.sign_hash(digest, request_id)
        except KeyStateError as exc:
            raise WireError(ErrorCode.NO_ACTIVE_KEY, f"no key can sign: {exc}") from None

    def sign_hash(self, head: RequestHead, body: dict[str, Any]) -> Response:
        digest = wire.parse_digest_hex(wire.require(body, "digest_hex"))
        signature = self._sign(digest, body["request_id"])
        return wire.json_response(200, wire.signature_json(signature))

    def sign_canonical(self, head: RequestHead, body: dict[str, Any]) -> Response:
        canonical = wire.parse_canonical(wire.require(body, "canonical"))
        prev_hash = wire.parse_prev_hash(body.get("prev_hash"))
        try:
            digest, signature = self.service.sign_canonical(canonical, prev_hash, body["request_id"])
        except KeyStateError as exc:
            raise WireError(ErrorCode.NO_ACTIVE_KEY, f"no key can sign: {exc}") from None
        return wire.json_response(200, {**wire.signature_json(signature), "digest_hex": digest.hex()})

    def verify(self, head: RequestHead, body: dict[str, Any]) -> Response:
        digest = wire.parse_digest_hex(wire.require(body, "digest_hex"))
        ref = wire.parse_signature(wire.require(body, "signature"), body.get("kid"), body.get("alg"))
        try:
            outcome = self.service.verify(digest, ref.value, ref.kid, ref.alg)
        except KeyStateError as exc:
            raise WireError(ErrorCode.NO_ACTIVE_KEY, f"no kid given and no current key: {exc}") from None
        result: dict[str, Any] = {"valid": outcome.valid}
        if outcome.reason is not None:
            result["reason"] = outcome.reason
        return wire.json_response(200, result)

    def admin_rotate(self, head: RequestHead, body: dict[str, Any]) -> Response:
        try:
            version, previous = self.service.rotate()
        except KeyStateError as exc:
            raise WireError(ErrorCode.KEY_STATE, str(exc)) from None
        return wire.json_response(
            200,
            {
                "kid": version.kid,
                "alg": version.key.alg.value,
                "status": version.status.value,
                "previous_kid": previous,
            },
        )

    def admin_revoke(self, head: RequestHead, body: dict[str, Any]) -> Response:
        kid = wire.parse_string(wire.require(body, "kid"), "kid")
        reason = wire.parse_string(body.get("reason", "unspecified"), "reason")
        try:
            version = self.service.revoke(kid, reason)
        except KeyStateError as exc:
            raise WireError(ErrorCode.KEY_STATE, str(exc)) from None
        assert version.revoked_at is not None
        return wire.json_response(
            200, {"kid": version.kid, "status": version.status.value, "revoked_at": format_time(version.revoked_at)}
        )


def _h(method: Callable[..., Response]) -> Handler:
    return method


ROUTES: dict[str, dict[str, Route]] = {
    "/health": {"GET": Route(_h(ProxyApp.health), PUBLIC)},
    "/keys": {"GET": Route(_h(ProxyApp.keys), PUBLIC)},
    "/sign/hash": {"POST": Route(_h(ProxyApp.sign_hash), API, frozenset({"digest_hex", "request_id"}))},
    "/sign/canonical": {
        "POST": Route(_h(ProxyApp.sign_canonical), API, frozenset({"canonical", "prev_hash", "request_id"}))
    },
    "/verify": {
        "POST": Route(_h(ProxyApp.verify), API, frozenset({"digest_hex", "signature", "kid", "alg", "request_id"}))
    },
    "/admin/rotate": {"POST": Route(_h(ProxyApp.admin_rotate), ADMIN, frozenset({"request_id"}))},
    "/admin/revoke": {"POST": Route(_h(ProxyApp.admin_revoke), ADMIN, frozenset({"kid", "reason", "request_id"}))},
}
