"""Client of a signing proxy (seed 001, "Signing Proxy / HSM"): a :class:`~..signer.Signer` whose keys
live in the proxy.

Environment: ``SIGNING_PROXY_URL`` (required), ``SIGNING_PROXY_API_KEY`` (sent as
``Authorization: Bearer``), ``SIGNING_PROXY_KEYS_PIN`` (RFC 7638 thumbprint of the proxy's metadata
key; when set, ``/keys`` is only trusted if its JWS verifies under that key),
``SIGNING_PROXY_CA_FILE`` (CA bundle for the server certificate), ``SIGNING_PROXY_CLIENT_CERT`` /
``SIGNING_PROXY_CLIENT_KEY`` (mTLS), ``SIGNING_PROXY_TIMEOUT`` (seconds, default 10).

Every failure is typed: HTTP and JSON errors become :class:`BackendError` codes,
:class:`KeyRevoked`, :class:`UnknownKey` or :class:`InvalidSignature`; an asymmetric signature is
checked against the key set's public key before it is returned (:class:`SigningFailed` if not).
Redirects and ``*_PROXY`` environment proxies are never followed (the API key stays on this URL).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..canonical import parse_hash_hex, require_digest
from ..errors import (
    ArchiveFormatError,
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyFormatError,
    KeyRevoked,
    SigningFailed,
    UnknownKey,
)
from ..jwk import jwk_to_public_key
from ..jws import verify_compact, verify_pinned
from ..primitives import verify_digest
from ..signature import Signature, b64url_decode, b64url_encode
from ..signing_events import SigningTimer, correlation, current_correlation

NAME = kinds.SIGNING_PROXY
DEFAULT_TIMEOUT = 10.0

_STATUS_CODES = {
    400: BackendErrorCode.INVALID_REQUEST,
    401: BackendErrorCode.ACCESS_DENIED,
    403: BackendErrorCode.ACCESS_DENIED,
    404: BackendErrorCode.NOT_FOUND,
    405: BackendErrorCode.INVALID_REQUEST,
    409: BackendErrorCode.INVALID_STATE,
    411: BackendErrorCode.INVALID_REQUEST,
    413: BackendErrorCode.INVALID_REQUEST,
    415: BackendErrorCode.INVALID_REQUEST,
    429: BackendErrorCode.THROTTLED,
    502: BackendErrorCode.UNAVAILABLE,
    503: BackendErrorCode.UNAVAILABLE,
    504: BackendErrorCode.TIMEOUT,
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then surfaces as an HTTPError


def _backend_error(message: str, code: BackendErrorCode, detail: str = "") -> BackendError:
    return BackendError(message, code=code, backend=NAME, detail=detail)


class SigningProxySigner:
    """A :class:`~..signer.Signer` that signs through a signing proxy's HTTP API.

    :param url: base URL (``http://127.0.0.1:8081``, ``https://signer.internal``).
    :param api_key: sent as ``Authorization: Bearer <key>``; ``None`` sends none (mTLS-only proxies).
    :param keys_pin: RFC 7638 thumbprint of the proxy's metadata key (pins the ``/keys`` JWS).
    :param ssl_context: for ``https`` URLs (server CA, client certificate for mTLS).
    :param timeout: seconds per request.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        keys_pin: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"SIGNING_PROXY_URL must be an http(s) URL, got {url!r}")
        if timeout <= 0:
            raise ConfigurationError("SIGNING_PROXY_TIMEOUT must be positive")
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._pin = keys_pin
        self._timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({}), _NoRedirect()]
        if ssl_context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=ssl_context))
        self._opener = urllib.request.build_opener(*handlers)
        self._jwks_lock = threading.Lock()
        self._jwks: dict[str, Any] | None = None

    # -- HTTP ------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        request_id: str | None = None,
    ) -> Any:
        """Send one request; returns the decoded JSON body of a 2xx or raises a typed error."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Accept": "application/json"}
        if request_id is not None:
            headers["X-Request-Id"] = request_id
        if data is not None:
            headers["Content-Type"] = "application/json"
        credential = key if key is not None else self._api_key
        if credential is not None:
            headers["Authorization"] = f"Bearer {credential}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self._timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise self._http_error(path, exc.code, exc.read()) from None
        except TimeoutError:
            raise _backend_error(f"{path}: no answer within {self._timeout}s", BackendErrorCode.TIMEOUT) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ssl.SSLError):
                raise _backend_error(f"{path}: TLS failure: {reason}", BackendErrorCode.ACCESS_DENIED, "tls") from None
            if isinstance(reason, TimeoutError | socket.timeout):
                raise _backend_error(f"{path}: no answer within {self._timeout}s", BackendErrorCode.TIMEOUT) from None
            raise _backend_error(f"{path}: cannot reach {self.url}: {reason}", BackendErrorCode.UNAVAILABLE) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError) as exc:
            raise _backend_error(f"{path}: connection failed: {exc}", BackendErrorCode.UNAVAILABLE) from None
        except ssl.SSLError as exc:  # a TLS alert from the server: our certificate was refused
            raise _backend_error(f"{path}: TLS failure: {exc}", BackendErrorCode.ACCESS_DENIED, "tls") from None
        return self._decode(path, raw)

    @staticmethod
    def _decode(path: str, raw: bytes) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _backend_error(f"{path}: response is not JSON", BackendErrorCode.CORRUPT_RESPONSE) from None

    def _http_error(self, path: str, status: int, raw: bytes) -> Exception:
        code_name, message, error = "", f"HTTP {status}", {}
        try:
            parsed = json.loads(raw.decode("utf-8"))
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
                error = parsed["error"]
                code_name, message = str(error.get("code", "")), str(error.get("message", message))
        except (UnicodeDecodeError, ValueError):
            pass
        text = f"signing proxy {path}: {code_name or status}: {message}"
        if code_name == "KEY_REVOKED":
            return KeyRevoked(text, str(error.get("kid", "")))
        if code_name == "UNKNOWN_KEY":
            return UnknownKey(text)
        if code_name == "SIGNING_FAILED":
            return SigningFailed(text)
        if code_name == "SIGNER_UNAVAILABLE":
            try:
                code = BackendErrorCode(error.get("backend_code"))
            except ValueError:
                code = BackendErrorCode.UNAVAILABLE
            return _backend_error(text, code, str(error.get("detail", "")))
        default = BackendErrorCode.INTERNAL if status >= 500 else BackendErrorCode.INVALID_REQUEST
        return _backend_error(text, _STATUS_CODES.get(status, default), code_name or str(status))

    # -- Signer ----------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return NAME

    def health(self) -> dict[str, Any]:
        info = self.request("GET", "/health")
        if not isinstance(info, dict) or not isinstance(info.get("kid"), str) or not isinstance(info.get("alg"), str):
            raise _backend_error("/health: expected kid and alg", BackendErrorCode.CORRUPT_RESPONSE)
        return info

    @property
    def alg(self) -> Algorithm:
        try:
            return Algorithm(self.health()["alg"])
        except ValueError:
            raise _backend_error("/health: unknown alg", BackendErrorCode.CORRUPT_RESPONSE) from None

    @property
    def kid(self) -> str:
        kid: str = self.health()["kid"]
        return kid

    def sign_digest(self, digest: bytes) -> Signature:
        # The proxy's own event carries the same correlation id (sent as X-Request-Id).
        raw = digest if isinstance(digest, bytes) else b""
        with correlation(current_correlation()) as correlation_id, SigningTimer(self.backend, "", "", raw) as timer:
            digest = require_digest(digest)
            answer = self.request("POST", "/sign/hash", {"digest_hex": digest.hex()}, request_id=correlation_id)
            signature = self._checked(digest, answer)
            timer.kid, timer.alg = signature.kid, signature.alg.value
            return signature

    def sign_canonical(self, canonical: bytes, prev_hash: str | None = None) -> tuple[str, Signature]:
        """Have the proxy compute ``SHA256(canonical || prev_hash)`` and sign it; returns (digest hex, signature)."""
        body: dict[str, Any] = {"canonical": canonical.decode("utf-8")}
        if prev_hash is not None:
            parse_hash_hex(prev_hash, "prev_hash")
            body["prev_hash"] = prev_hash
        response = self.request("POST", "/sign/canonical", body)
        digest_hex = response.get("digest_hex") if isinstance(response, dict) else None
        if not isinstance(digest_hex, str):
            raise _backend_error("/sign/canonical: no digest_hex", BackendErrorCode.CORRUPT_RESPONSE)
        try:
            digest = parse_hash_hex(digest_hex, "digest_hex")
        except ValueError:
            raise _backend_error("/sign/canonical: bad digest_hex", BackendErrorCode.CORRUPT_RESPONSE) from None
        return digest_hex, self._checked(digest, response)

    def _checked(self, digest: bytes, response: Any) -> Signature:
        signature = self._parse_signature(response)
        if not signature.alg.is_symmetric:
            jwk = self._jwk(signature.kid)
            if jwk.get("alg") != signature.alg.value:
                raise SigningFailed(
                    f"proxy signed with {signature.alg.value} but key {signature.kid} is {jwk.get('alg')}"
                )
            if jwk.get("status") == "revoked":
                raise SigningFailed(f"proxy signed with revoked key {signature.kid}")
            try:
                verify_digest(signature.alg, jwk_to_public_key(jwk), digest, signature.value)
            except (InvalidSignature, KeyFormatError, ValueError):
                raise SigningFailed(f"proxy returned a signature that does not verify under {signature.kid}") from None
        return signature

    @staticmethod
    def _parse_signature(response: Any) -> Signature:
        if not isinstance(response, dict):
            raise _backend_error("sign: response is not an object", BackendErrorCode.CORRUPT_RESPONSE)
        kid, alg, value = response.get("kid"), response.get("alg"), response.get("signature")
        try:
            if not isinstance(kid, str) or not kid or not isinstance(alg, str) or not isinstance(value, str):
                raise ValueError("kid, alg and signature must be strings")
            return Signature(kid=kid, alg=Algorithm(alg), value=b64url_decode(value))
        except (ValueError, ArchiveFormatError) as exc:
            raise _backend_error(f"sign: malformed signature: {exc}", BackendErrorCode.CORRUPT_RESPONSE) from None

    def _jwk(self, kid: str) -> dict[str, Any]:
        for refresh in (False, True):
            try:
                jwks = self.jwks() if refresh or self._jwks is None else self._jwks
            except InvalidSignature as exc:
                raise SigningFailed(f"cannot check the proxy's signature: {exc}") from None
            for jwk in jwks.get("keys", []):
                if isinstance(jwk, dict) and jwk.get("kid") == kid:
                    return jwk
        raise SigningFailed(f"proxy signed with key {kid}, which its key set does not publish")

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        body = {
            "digest_hex": require_digest(digest).hex(),
            "signature": {
                "kid": signature.kid,
                "alg": signature.alg.value,
                "signature": b64url_encode(signature.value),
            },
        }
        result = self.request("POST", "/verify", body)
        if not isinstance(result, dict) or not isinstance(result.get("valid"), bool):
            raise _backend_error("/verify: expected {valid: boolean}", BackendErrorCode.CORRUPT_RESPONSE)
        if result["valid"]:
            return
        reason = result.get("reason")
        if reason == "UNKNOWN_KEY":
            raise UnknownKey(f"signing proxy holds no key {signature.kid!r}")
        raise InvalidSignature(f"signing proxy: signature does not verify under {signature.kid} ({reason})")

    def jwks(self) -> dict[str, Any]:
        """The key set from ``GET /keys``: the verified JWS payload (pinned when a pin is set)."""
        response = self.request("GET", "/keys")
        if not isinstance(response, dict) or not isinstance(response.get("jws"), str):
            raise _backend_error("/keys: expected jws", BackendErrorCode.CORRUPT_RESPONSE)
        metadata = response.get("metadata_key")
        try:
            if not isinstance(metadata, dict):
                raise KeyFormatError("metadata_key must be a JWK object")
            if self._pin is not None:
                _, payload = verify_pinned(response["jws"], metadata, self._pin)
            else:
                key = jwk_to_public_key(metadata)
                if not isinstance(key, ed25519.Ed25519PublicKey):
                    raise KeyFormatError("metadata key must be Ed25519")
                _, payload = verify_compact(response["jws"], key)
            jwks = json.loads(payload.decode("utf-8"))
        except (InvalidSignature, KeyFormatError, ValueError) as exc:
            raise InvalidSignature(f"signing proxy /keys: key set signature rejected: {exc}") from None
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise InvalidSignature("signing proxy /keys: signed payload is not a JWKS")
        if response.get("jwks") != jwks:
            raise InvalidSignature("signing proxy /keys: jwks differs from the signed payload")
        with self._jwks_lock:
            self._jwks = jwks
        return jwks

    def close(self) -> None:
        """Nothing to release: each request opens its own connection."""


class SigningProxyAdmin:
    """The optional admin endpoints (``/admin/rotate``, ``/admin/revoke``) with the admin key."""

    def __init__(self, signer: SigningProxySigner, admin_key: str) -> None:
        self._signer = signer
        self._key = admin_key

    def rotate(self) -> dict[str, Any]:
        result: dict[str, Any] = self._signer.request("POST", "/admin/rotate", {}, key=self._key)
        return result

    def revoke(self, kid: str, reason: str = "unspecified") -> dict[str, Any]:
        result: dict[str, Any] = self._signer.request(
            "POST", "/admin/revoke", {"kid": kid, "reason": reason}, key=self._key
        )
        return result


def ssl_context_from_env(env: Mapping[str, str]) -> ssl.SSLContext | None:
    """TLS settings from ``SIGNING_PROXY_CA_FILE`` / ``SIGNING_PROXY_CLIENT_CERT`` / ``SIGNING_PROXY_CLIENT_KEY``."""
    ca, cert, key = (env.get(f"SIGNING_PROXY_{n}") or None for n in ("CA_FILE", "CLIENT_CERT", "CLIENT_KEY"))
    if ca is None and cert is None and key is None:
        return None
    if (cert is None) != (key is None):
        raise ConfigurationError("set both SIGNING_PROXY_CLIENT_CERT and SIGNING_PROXY_CLIENT_KEY")
    try:
        ctx = ssl.create_default_context(cafile=ca)
        if cert is not None and key is not None:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load signing proxy TLS files: {exc}") from None
    return ctx


def signer_from_env(env: Mapping[str, str]) -> SigningProxySigner:
    """The seed's variables (module docstring); ``SIGNING_PROXY_URL`` is required."""
    url = env.get("SIGNING_PROXY_URL")
    if not url:
        raise ConfigurationError("SIGNING_PROXY_URL is not set")
    timeout_text = env.get("SIGNING_PROXY_TIMEOUT") or str(DEFAULT_TIMEOUT)
    try:
        timeout = float(timeout_text)
    except ValueError:
        raise ConfigurationError(f"SIGNING_PROXY_TIMEOUT must be a number, got {timeout_text!r}") from None
    return SigningProxySigner(
        url,
        env.get("SIGNING_PROXY_API_KEY") or None,
        keys_pin=env.get("SIGNING_PROXY_KEYS_PIN") or None,
        ssl_context=ssl_context_from_env(env),
        timeout=timeout,
    )
