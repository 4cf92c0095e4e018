"""The proxy's service state, without HTTP: signing, verification outcomes, the signed key set, admin."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.emulators.signing_proxy.errors import AdminUnsupported
from pytest_kmsconform.emulators.signing_proxy.models import ProxyService
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.backends.mock import MockBackend
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.errors import InvalidSignature, KeyRevoked, KeyStateError
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key
from pytest_kmsconform.reference_impl.jws import jwk_thumbprint, verify_compact, verify_pinned
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.signature import b64url_encode

DIGEST = bytes(range(32))
FIXED = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def service(alg: Algorithm = Algorithm.ED25519) -> ProxyService:
    backend = MockBackend(b"s") if alg is Algorithm.HMAC_SHA256 else LocalKeyBackend(seed=b"model")
    ring = KeyRing(backend, alg, "m")
    ring.rotate()
    return ProxyService(RingSigner(ring), clock=lambda: FIXED)


@pytest.mark.parametrize("alg", list(Algorithm))
def test_sign_then_verify_each_algorithm(alg: Algorithm) -> None:
    svc = service(alg)
    signature = svc.sign_hash(DIGEST)
    assert (signature.kid, signature.alg) == ("m-v1", alg)
    assert svc.verify(DIGEST, signature.value, signature.kid, signature.alg).valid
    assert svc.verify(DIGEST, signature.value, None, None).valid
    wrong = svc.verify(bytes(32), signature.value, signature.kid, signature.alg)
    assert (wrong.valid, wrong.reason) == (False, "BAD_SIGNATURE")


def test_unknown_kid_is_not_valid() -> None:
    svc = service()
    outcome = svc.verify(DIGEST, svc.sign_hash(DIGEST).value, "nobody", None)
    assert (outcome.valid, outcome.reason) == (False, "UNKNOWN_KEY")


def test_alg_mismatch_is_not_valid() -> None:
    svc = service()
    outcome = svc.verify(DIGEST, svc.sign_hash(DIGEST).value, "m-v1", Algorithm.RSA_SHA256)
    assert outcome.valid is False


def test_sign_canonical_uses_the_seed_digest() -> None:
    svc = service()
    canonical = canonicalize_payload({"event": "x", "n": 1})
    prev = "ab" * 32
    for prev_hash in (None, prev):
        digest, signature = svc.sign_canonical(canonical, None if prev_hash is None else bytes.fromhex(prev_hash))
        assert digest.hex() == audit_digest(canonical, prev_hash).hex()
        assert svc.verify(digest, signature.value, signature.kid, None).valid


def test_key_set_is_signed_by_the_pinned_metadata_key() -> None:
    metadata = ed25519.Ed25519PrivateKey.generate()
    svc = service()
    svc.metadata_key = metadata
    signed = svc.key_set()
    header, payload = verify_pinned(signed.jws, signed.metadata_key, svc.keys_pin)
    assert json.loads(payload) == signed.jwks == svc.signer.jwks()
    assert payload == canonicalize_payload(signed.jwks)
    assert header == {"alg": "EdDSA", "kid": svc.keys_pin, "typ": "jwk-set+json", "iat": int(FIXED.timestamp())}
    assert jwk_thumbprint(signed.metadata_key) == svc.keys_pin
    [jwk] = signed.jwks["keys"]
    verify_digest(Algorithm.ED25519, jwk_to_public_key(jwk), DIGEST, svc.sign_hash(DIGEST).value)


def test_tampered_key_set_fails() -> None:
    svc = service()
    signed = svc.key_set()
    head, _, sig = signed.jws.split(".")
    forged = dict(signed.jwks)
    forged["keys"] = []
    tampered = f"{head}.{b64url_encode(canonicalize_payload(forged))}.{sig}"
    with pytest.raises(InvalidSignature):
        verify_compact(tampered, svc.metadata_key.public_key())
    other = ed25519.Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidSignature):
        verify_compact(signed.jws, other)
    with pytest.raises(InvalidSignature):
        verify_pinned(signed.jws, signed.metadata_key, "A" * 43)


def test_hmac_key_set_is_empty_but_signed() -> None:
    signed = service(Algorithm.HMAC_SHA256).key_set()
    assert signed.jwks == {"keys": []}


def test_rotate_and_revoke() -> None:
    svc = service()
    old = svc.sign_hash(DIGEST)
    version, previous = svc.rotate()
    assert (version.kid, previous) == ("m-v2", "m-v1")
    assert svc.sign_hash(DIGEST).kid == "m-v2"
    assert svc.verify(DIGEST, old.value, old.kid, None).valid
    revoked = svc.revoke("m-v1", "test")
    assert revoked.revoked_at is not None
    with pytest.raises(KeyRevoked):
        svc.verify(DIGEST, old.value, old.kid, None)
    with pytest.raises(KeyStateError):
        svc.revoke("m-v1", "again")
    svc.revoke("m-v2", "compromise")
    with pytest.raises(KeyStateError):
        svc.sign_hash(DIGEST)
    statuses = {k["kid"]: k["status"] for k in svc.key_set().jwks["keys"]}
    assert statuses == {"m-v1": "revoked", "m-v2": "revoked"}


def test_admin_needs_a_key_ring() -> None:
    class Plain:
        """A Signer that is not a RingSigner."""

        def __init__(self, inner: RingSigner) -> None:
            self.inner = inner
            self.backend, self.alg, self.kid = inner.backend, inner.alg, inner.kid
            self.sign_digest, self.verify_signature = inner.sign_digest, inner.verify_signature
            self.jwks, self.close = inner.jwks, inner.close

    inner = service().signer
    assert isinstance(inner, RingSigner)
    svc = ProxyService(Plain(inner))
    assert svc.health()["admin"] is False
    assert svc.verify(DIGEST, svc.sign_hash(DIGEST).value, None, None).valid
    with pytest.raises(AdminUnsupported):
        svc.rotate()
    with pytest.raises(AdminUnsupported):
        svc.revoke("m-v1", "x")
