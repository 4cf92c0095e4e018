"""SigningProxySigner against the reference proxy on loopback, and against misbehaving servers."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy
from pytest_kmsconform.emulators.signing_proxy.models import ProxyService
from pytest_kmsconform.emulators.signing_proxy.provider import PROVIDER, RunningProxy, run_proxy
from pytest_kmsconform.emulators.signing_proxy.responses import ProxyApp
from pytest_kmsconform.emulators.signing_proxy.server import SigningProxyServer
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.backends.signing_proxy import (
    SigningProxyAdmin,
    SigningProxySigner,
    signer_from_env,
)
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyRevoked,
    SigningFailed,
    UnknownKey,
)
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.signer import Signer

DIGEST = bytes(range(32))
API_KEY = "client-test-key"
ADMIN_KEY = "client-admin-key"


@pytest.fixture
def running() -> Iterator[RunningProxy]:
    with run_proxy({"api_key": API_KEY, "admin_key": ADMIN_KEY}) as proxy:
        yield proxy


@pytest.fixture
def signer(running: RunningProxy) -> SigningProxySigner:
    return signer_from_env(running.env)


@pytest.mark.parametrize(
    ("backend", "alg"),
    [
        ("local", "ed25519"),
        ("local", "ecdsa-p256-sha256"),
        ("local", "rsa-pss-sha256"),
        ("local", "rsa-sha256"),
        ("mock", "hmac-sha256"),
    ],
)
def test_round_trip(backend: str, alg: str) -> None:
    with run_proxy({"backend": backend, "alg": alg}) as proxy:
        signer = signer_from_env(proxy.env)
        assert isinstance(signer, Signer)
        assert (signer.backend, signer.alg.value, signer.kid) == ("signing-proxy", alg, "signing-proxy-v1")
        signature = signer.sign_digest(DIGEST)
        assert (signature.kid, signature.alg.value) == ("signing-proxy-v1", alg)
        signer.verify_signature(DIGEST, signature)
        with pytest.raises(InvalidSignature):
            signer.verify_signature(bytes(32), signature)
        keys = signer.jwks()["keys"]
        if alg == "hmac-sha256":
            assert keys == []
        else:
            [jwk] = keys
            verify_digest(Algorithm(alg), jwk_to_public_key(jwk), DIGEST, signature.value)


def test_sign_canonical_matches_the_seed_digest(signer: SigningProxySigner) -> None:
    canonical = canonicalize_payload({"b": 2, "a": [1, "x"]})
    for prev in (None, "9e" * 32):
        digest_hex, signature = signer.sign_canonical(canonical, prev)
        assert digest_hex == audit_digest(canonical, prev).hex()
        signer.verify_signature(bytes.fromhex(digest_hex), signature)


def test_tampered_signature_and_unknown_kid(signer: SigningProxySigner) -> None:
    signature = signer.sign_digest(DIGEST)
    flipped = bytearray(signature.value)
    flipped[-1] ^= 0x80
    with pytest.raises(InvalidSignature):
        signer.verify_signature(DIGEST, Signature(signature.kid, signature.alg, bytes(flipped)))
    with pytest.raises(UnknownKey):
        signer.verify_signature(DIGEST, Signature("ghost", signature.alg, signature.value))


def test_rotation_and_revocation_through_admin(signer: SigningProxySigner) -> None:
    old = signer.sign_digest(DIGEST)
    admin = SigningProxyAdmin(signer, ADMIN_KEY)
    assert admin.rotate()["kid"] == "signing-proxy-v2"
    new = signer.sign_digest(DIGEST)
    assert new.kid == "signing-proxy-v2"
    signer.verify_signature(DIGEST, old)
    admin.revoke(old.kid, "compromise")
    with pytest.raises(KeyRevoked) as info:
        signer.verify_signature(DIGEST, old)
    assert info.value.kid == old.kid
    assert {k["kid"]: k["status"] for k in signer.jwks()["keys"]}[old.kid] == "revoked"
    admin.revoke(new.kid)
    with pytest.raises(BackendError) as refused:
        signer.sign_digest(DIGEST)
    assert refused.value.code is BackendErrorCode.INVALID_STATE
    with pytest.raises(BackendError) as wrong:
        SigningProxyAdmin(signer, API_KEY).rotate()
    assert wrong.value.code is BackendErrorCode.ACCESS_DENIED


def test_wrong_api_key_is_access_denied(running: RunningProxy) -> None:
    signer = SigningProxySigner(running.server.url, "wrong")
    with pytest.raises(BackendError) as info:
        signer.sign_digest(DIGEST)
    assert (info.value.code, info.value.retryable, info.value.detail) == (
        BackendErrorCode.ACCESS_DENIED,
        False,
        "UNAUTHORIZED",
    )


def test_keys_pin(running: RunningProxy) -> None:
    env = dict(running.env)
    assert signer_from_env(env).jwks()["keys"][0]["kid"] == "signing-proxy-v1"
    env["SIGNING_PROXY_KEYS_PIN"] = "A" * 43
    pinned_wrong = signer_from_env(env)
    with pytest.raises(InvalidSignature, match="pinned"):
        pinned_wrong.jwks()
    with pytest.raises(SigningFailed):
        pinned_wrong.sign_digest(DIGEST)


def test_unreachable_proxy_is_unavailable_and_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    signer = SigningProxySigner(f"http://127.0.0.1:{port}", API_KEY, timeout=2)
    with pytest.raises(BackendError) as info:
        signer.sign_digest(DIGEST)
    assert (info.value.code, info.value.retryable) == (BackendErrorCode.UNAVAILABLE, True)


def test_silent_proxy_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        signer = SigningProxySigner(f"http://127.0.0.1:{sock.getsockname()[1]}", API_KEY, timeout=0.3)
        with pytest.raises(BackendError) as info:
            signer.sign_digest(DIGEST)
    assert info.value.code is BackendErrorCode.TIMEOUT


# -- proxies that misbehave ----------------------------------------------------------------------------


class Wrapping:
    """A Signer delegating to a RingSigner, with one behaviour changed by a subclass."""

    def __init__(self) -> None:
        ring = KeyRing(LocalKeyBackend(seed=b"client"), Algorithm.ED25519, "w")
        ring.rotate()
        self.inner = RingSigner(ring)
        self.backend, self.alg = "local", Algorithm.ED25519

    @property
    def kid(self) -> str:
        return self.inner.kid

    def sign_digest(self, digest: bytes) -> Signature:
        return self.inner.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.inner.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        return self.inner.jwks()

    def close(self) -> None:
        self.inner.close()


class Corrupting(Wrapping):
    def sign_digest(self, digest: bytes) -> Signature:
        good = self.inner.sign_digest(digest)
        return Signature(good.kid, good.alg, bytes([good.value[0] ^ 1]) + good.value[1:])


class Unpublished(Wrapping):
    def sign_digest(self, digest: bytes) -> Signature:
        good = self.inner.sign_digest(digest)
        return Signature("not-published", good.alg, good.value)


class Throttled(Wrapping):
    def sign_digest(self, digest: bytes) -> Signature:
        raise BackendError(
            "slow down", code=BackendErrorCode.THROTTLED, backend="aws-kms", detail="ThrottlingException"
        )


@contextmanager
def proxy_over(signer: Any) -> Iterator[SigningProxySigner]:
    app = ProxyApp(ProxyService(signer), AuthPolicy(api_key=API_KEY))
    with SigningProxyServer(app) as server:
        yield SigningProxySigner(server.url, API_KEY)


@pytest.mark.parametrize("kind", [Corrupting, Unpublished])
def test_a_bad_signature_from_the_proxy_is_never_returned(kind: type[Wrapping]) -> None:
    with proxy_over(kind()) as signer, pytest.raises(SigningFailed):
        signer.sign_digest(DIGEST)


def test_backend_errors_keep_their_code() -> None:
    with proxy_over(Throttled()) as signer, pytest.raises(BackendError) as info:
        signer.sign_digest(DIGEST)
    assert (info.value.code, info.value.retryable, info.value.detail) == (
        BackendErrorCode.THROTTLED,
        True,
        "ThrottlingException",
    )


@contextmanager
def fake_server(status: int, body: bytes, headers: dict[str, str], seen: list[dict[str, str]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(dict(self.headers.items()))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _any

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_redirects_are_not_followed_and_the_key_does_not_leak() -> None:
    target_seen: list[dict[str, str]] = []
    with (
        fake_server(200, b"{}", {}, target_seen) as target,
        fake_server(307, b"", {"Location": target + "/sign/hash"}, []) as redirecting,
        pytest.raises(BackendError),
    ):
        SigningProxySigner(redirecting, API_KEY).sign_digest(DIGEST)
    assert target_seen == []


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (200, b"not json", BackendErrorCode.CORRUPT_RESPONSE),
        (200, b'{"kid": "k"}', BackendErrorCode.CORRUPT_RESPONSE),
        (200, b'{"kid": "k", "alg": "ed25519", "signature": "@@"}', BackendErrorCode.CORRUPT_RESPONSE),
        (200, b'{"kid": "k", "alg": "md5", "signature": "AA"}', BackendErrorCode.CORRUPT_RESPONSE),
        (500, b"<html>oops</html>", BackendErrorCode.INTERNAL),
        (429, b"", BackendErrorCode.THROTTLED),
        (418, b"{}", BackendErrorCode.INVALID_REQUEST),
    ],
)
def test_odd_responses_are_typed(status: int, body: bytes, code: BackendErrorCode) -> None:
    with (
        fake_server(status, body, {"Content-Type": "application/json"}, []) as url,
        pytest.raises(BackendError) as info,
    ):
        SigningProxySigner(url, API_KEY).sign_digest(DIGEST)
    assert info.value.code is code


# -- configuration ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SIGNING_PROXY_URL": ""},
        {"SIGNING_PROXY_URL": "ftp://x"},
        {"SIGNING_PROXY_URL": "http://x", "SIGNING_PROXY_TIMEOUT": "soon"},
        {"SIGNING_PROXY_URL": "http://x", "SIGNING_PROXY_TIMEOUT": "0"},
        {"SIGNING_PROXY_URL": "https://x", "SIGNING_PROXY_CLIENT_CERT": "/c.pem"},
        {"SIGNING_PROXY_URL": "https://x", "SIGNING_PROXY_CA_FILE": "/nonexistent/ca.pem"},
    ],
)
def test_bad_env_is_a_configuration_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError):
        signer_from_env(env)


def test_signer_from_handle() -> None:
    with PROVIDER.start(namespace="client-test", options={"backend": "local"}) as handle:
        assert handle.kind == "signing-proxy"
        signer = signer_from_env(handle.env)
        signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))


def test_digest_must_be_32_bytes(signer: SigningProxySigner) -> None:
    from pytest_kmsconform.reference_impl.errors import InvalidDigest

    with pytest.raises(InvalidDigest):
        signer.sign_digest(b"short")
