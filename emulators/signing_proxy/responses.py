"""Routes of the signing proxy: one handler per endpoint, turning wire values into model calls.

:meth:`ProxyApp.respond` is the single entry point the transport calls with a request head and a
body reader. Order of checks: route (404/405), credentials (401, :mod:`.credentials`), media type
(415), length (411/413), body (400), then the model; typed errors from the model are translated
here, once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
from .credentials import AuthPolicy, check_credential, presented_credential, unauthorized
from .errors import AdminUnsupported, ErrorCode, WireError
from .gate import PolicyGate
from .models import ProxyService
from .policy import PolicyDenied, SignRequest
from .policy_config import CANONICAL
from .wire import RequestHead, Response

log = logging.getLogger("pytest_kmsconform.signing_proxy")

BodyReader = Callable[[int], bytes]
Handler = Callable[["ProxyApp", RequestHead, dict[str, Any]], Response]

PUBLIC, API, ADMIN = "public", "api", "admin"
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class Route:
    handler: Handler
    auth: str
    fields: frozenset[str] = frozenset()
    """Members accepted in the JSON body; routes without fields take no body."""


class ProxyApp:
    """The HTTP application: pure except for the ``read_body`` callback the transport supplies.

    With a :class:`PolicyGate`, ``/sign/*`` pass its five gates (``docs/policy.md``): client tokens
    of the policy replace the API key, and the policy's admin token (if set) the admin key.
    """

    def __init__(
        self,
        service: ProxyService,
        auth: AuthPolicy,
        *,
        max_body: int = wire.DEFAULT_MAX_BODY,
        gate: PolicyGate | None = None,
    ) -> None:
        self.service = service
        self.auth = auth
        self.max_body = max_body
        self.gate = gate

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
        if self.gate is not None and head.path in GATED:
            return self._gated(head, read_body, route, request_id, self.gate)
        self._authenticate(head, route)
        body, request_id = self._body(head, read_body, route, request_id)
        with self._translated():
            return route.handler(self, head, body), request_id

    def _body(
        self, head: RequestHead, read_body: BodyReader, route: Route, request_id: str | None
    ) -> tuple[dict[str, Any], str | None]:
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
        return body, request_id

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Typed errors of the model become wire errors, here, once."""
        try:
            yield
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
        except KeyStateError as exc:  # handlers that mean another code catch it themselves
            raise WireError(ErrorCode.NO_ACTIVE_KEY, f"no key can sign: {exc}") from None

    def _authenticate(self, head: RequestHead, route: Route) -> None:
        gate = self.gate
        if route.auth == API and gate is not None:
            try:
                gate.authenticate(presented_credential(head))
            except PolicyDenied as exc:
                raise unauthorized(exc.message) from None
        elif route.auth == API and self.auth.api_key is not None:
            check_credential(head, self.auth.api_key)
        elif route.auth == ADMIN and gate is not None and gate.config.admin_token_sha256 is not None:
            if not gate.is_admin(presented_credential(head)):
                raise unauthorized("missing or wrong admin token")
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
        admin_key = self.auth.admin_key is not None
        if self.gate is not None:
            admin_key = admin_key or self.gate.config.admin_token_sha256 is not None
            engaged = self.gate.engine.kill_switch_engaged()
            info["policy"] = {"mode": self.gate.config.mode.value, "kill_switch": engaged}
        info["admin"] = bool(info["admin"]) and admin_key
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

    # -- the policy gate (docs/policy.md) ------------------------------------------------------------
    def _gated(
        self, head: RequestHead, read_body: BodyReader, route: Route, request_id: str | None, gate: PolicyGate
    ) -> tuple[Response, str | None]:
        """auth -> decode -> policy -> replay -> sign; every refusal is audited and counted."""
        client = None
        try:
            try:
                client = gate.authenticate(presented_credential(head))
            except PolicyDenied as exc:
                raise unauthorized(exc.message) from None
            body, request_id = self._body(head, read_body, route, request_id)
            if head.path == CANONICAL:
                canonical = wire.parse_canonical(wire.require(body, "canonical"))
                prev_hash = wire.parse_prev_hash(body.get("prev_hash"))
                request = SignRequest(
                    head.path, canonical + b"\x00" + (prev_hash or b""), json.loads(canonical), self._current_kid()
                )

                def sign_canonical() -> tuple[bytes, Any]:
                    return self.service.sign_canonical(canonical, prev_hash, request_id)

                with self._translated():
                    (digest, signature), replayed = gate.sign(
                        client, request, request_id, sign_canonical, lambda r: _described(r[1], r[0])
                    )
                answer: dict[str, Any] = {**wire.signature_json(signature), "digest_hex": digest.hex()}
            else:
                digest = wire.parse_digest_hex(wire.require(body, "digest_hex"))
                request = SignRequest(head.path, digest, None, self._current_kid())
                with self._translated():
                    signature, replayed = gate.sign(
                        client,
                        request,
                        request_id,
                        lambda: self.service.sign_hash(digest, request_id),
                        lambda r: _described(r, digest),
                    )
                answer = dict(wire.signature_json(signature))
        except PolicyDenied as exc:  # audited by the gate
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
            raise WireError(exc.code, exc.message, headers=headers) from None
        except WireError as exc:
            try:
                gate.refused(exc.code, exc.message, client, head.path, request_id)
            except PolicyDenied as audit:
                raise WireError(audit.code, audit.message) from None
            raise
        if replayed:
            answer["replayed"] = True
        return wire.json_response(200, answer), request_id

    def _current_kid(self) -> str:
        with self._translated():
            return self.service.signer.kid

    def _require_gate(self) -> PolicyGate:
        if self.gate is None:
            raise WireError(ErrorCode.NOT_FOUND, "no policy gate (start the proxy with a policy)")
        return self.gate

    def metrics(self, head: RequestHead, body: dict[str, Any]) -> Response:
        gate = self._require_gate()
        return Response(200, gate.metrics.render(), content_type=gate.metrics.content_type)

    def admin_kill_switch(self, head: RequestHead, body: dict[str, Any]) -> Response:
        gate = self._require_gate()
        engaged = wire.parse_bool(wire.require(body, "engaged"), "engaged")
        reason = wire.parse_string(body.get("reason", "admin request"), "reason")
        try:
            gate.set_kill_switch(engaged, reason, body["request_id"])
        except PolicyDenied as exc:
            raise WireError(exc.code, exc.message) from None
        return wire.json_response(200, {"engaged": gate.engine.kill_switch_engaged()})

    def admin_audit(self, head: RequestHead, body: dict[str, Any]) -> Response:
        gate = self._require_gate()
        return wire.json_response(200, {"records": gate.audit_records(), "jwks": gate.audit_jwks()})


def _described(signature: Any, digest: bytes) -> Mapping[str, Any]:
    return {"kid": signature.kid, "digest": digest.hex()}


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
    "/admin/kill-switch": {
        "POST": Route(_h(ProxyApp.admin_kill_switch), ADMIN, frozenset({"engaged", "reason", "request_id"}))
    },
    "/admin/audit": {"GET": Route(_h(ProxyApp.admin_audit), ADMIN)},
    "/metrics": {"GET": Route(_h(ProxyApp.metrics), PUBLIC)},
}

GATED = frozenset({"/sign/hash", CANONICAL})
"""Routes behind the policy gate when one is configured."""
