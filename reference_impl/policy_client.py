"""A client of the signing proxy's policy gate (``docs/policy.md``): signing with a client token, the
kill switch and the audit log with the admin token, and ``/metrics``.

A refusal is :class:`PolicyDenied` carrying the wire ``code`` (``RATE_LIMITED``, ``REPLAYED``...)
and HTTP status; the suites compare codes, never messages.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from .algorithms import Algorithm
from .errors import BackendError, BackendErrorCode, KmsConformError
from .signature import Signature, b64url_decode

DEFAULT_TIMEOUT = 30.0


class PolicyDenied(KmsConformError):
    """The gate refused a request (any 4xx): ``code`` is its wire code, ``status`` the HTTP status."""

    def __init__(self, message: str, *, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class PolicyClient:
    """Talks to one proxy at ``url``; every call names the token it presents."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None, token: str | None) -> bytes:
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self._timeout) as resp:
                raw: bytes = resp.read()
                return raw
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._error(path, exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise BackendError(
                f"{path}: cannot reach {self.url}: {exc}", code=BackendErrorCode.UNAVAILABLE, backend="policy-gate"
            ) from None

    @staticmethod
    def _error(path: str, status: int, raw: bytes) -> KmsConformError:
        code, message = str(status), f"HTTP {status}"
        try:
            error = json.loads(raw.decode("utf-8")).get("error", {})
            code, message = str(error.get("code", code)), str(error.get("message", message))
        except (UnicodeDecodeError, ValueError, AttributeError):
            pass
        text = f"{path}: {code}: {message}"
        if 400 <= status < 500:
            return PolicyDenied(text, code=code, status=status)
        return BackendError(text, code=BackendErrorCode.UNAVAILABLE, backend="policy-gate", detail=code)

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None, token: str | None) -> dict[str, Any]:
        raw = self._request(method, path, body, token)
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BackendError(
                f"{path}: response is not JSON", code=BackendErrorCode.CORRUPT_RESPONSE, backend="policy-gate"
            ) from None
        if not isinstance(obj, dict):
            raise BackendError(
                f"{path}: response is not an object", code=BackendErrorCode.CORRUPT_RESPONSE, backend="policy-gate"
            )
        return obj

    @staticmethod
    def _signature(answer: Mapping[str, Any]) -> Signature:
        try:
            return Signature(str(answer["kid"]), Algorithm(answer["alg"]), b64url_decode(str(answer["signature"])))
        except (KeyError, ValueError) as exc:
            raise BackendError(
                f"malformed signature answer: {exc}", code=BackendErrorCode.CORRUPT_RESPONSE, backend="policy-gate"
            ) from None

    # -- API --------------------------------------------------------------------------------------
    def sign_hash(self, token: str | None, digest: bytes) -> Signature:
        return self._signature(self._json("POST", "/sign/hash", {"digest_hex": digest.hex()}, token))

    def sign_canonical(self, token: str | None, canonical: bytes, prev_hash: str | None = None) -> Signature:
        body: dict[str, Any] = {"canonical": canonical.decode("utf-8")}
        if prev_hash is not None:
            body["prev_hash"] = prev_hash
        return self._signature(self._json("POST", "/sign/canonical", body, token))

    def set_kill_switch(self, admin_token: str | None, engaged: bool, reason: str = "kill switch") -> bool:
        answer = self._json("POST", "/admin/kill-switch", {"engaged": engaged, "reason": reason}, admin_token)
        return answer.get("engaged") is True

    def audit(self, admin_token: str | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """(records, key set of the audit key)."""
        answer = self._json("GET", "/admin/audit", None, admin_token)
        return list(answer.get("records", [])), dict(answer.get("jwks", {}))

    def metrics(self) -> str:
        return self._request("GET", "/metrics", None, None).decode("utf-8")

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health", None, None)
