"""ML-DSA in the reference implementation: what is signed (pure ML-DSA over the digest, empty
context), mu for external-mu signers, the RFC 9964 AKP form in the key set, and parameter sets that
never pass for one another (docs/spec.md sections 1 and 3)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import serialization
from pytest_kmsconform.reference_impl.algorithms import CLASSIC, ML_DSA, Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.errors import InvalidSignature, KeyFormatError, UnsupportedAlgorithm
from pytest_kmsconform.reference_impl.jwk import (
    jwk_to_public_key,
    private_key_from_pem_or_der,
    private_key_pem,
    public_key_from_der_or_pem,
    public_key_to_jwk,
)
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import (
    ML_DSA_PARAMETERS,
    generate_private_key,
    ml_dsa_mu,
    ml_dsa_private_key_from_seed,
    sign_digest,
    verify_digest,
    verify_ml_dsa,
)
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.verifier import Verifier

DIGEST = hashlib.sha256(b"kmsconform audit record").digest()
ALGS = sorted(ML_DSA, key=lambda a: a.value)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_algorithm_table() -> None:
    assert {a.value for a in ML_DSA} == {"ml-dsa-44", "ml-dsa-65", "ml-dsa-87"}
    assert CLASSIC.isdisjoint(ML_DSA) and frozenset(Algorithm) == CLASSIC | ML_DSA
    for alg in ML_DSA:
        assert alg.is_ml_dsa and not alg.is_symmetric and not alg.signs_prehashed
        assert alg.jose_alg == alg.value.upper()  # RFC 9964's names
    sizes = {a.value: (p.public_key_size, p.signature_size) for a, p in ML_DSA_PARAMETERS.items()}
    assert sizes == {
        "ml-dsa-44": (1312, 2420),
        "ml-dsa-65": (1952, 3309),
        "ml-dsa-87": (2592, 4627),
    }  # FIPS 204 table 2


@pytest.mark.parametrize("alg", ALGS, ids=str)
def test_pure_ml_dsa_over_the_digest_with_an_empty_context(alg: Algorithm) -> None:
    key = generate_private_key(alg)
    signature = sign_digest(alg, key, DIGEST)
    assert len(signature) == ML_DSA_PARAMETERS[alg].signature_size
    public: Any = key.public_key()
    public.verify(signature, DIGEST)  # pyca's pure ML-DSA, no context
    public.verify(signature, DIGEST, b"")
    with pytest.raises(CryptoInvalidSignature):
        public.verify(signature, DIGEST, b"audit")
    verify_digest(alg, public, DIGEST, signature)
    with pytest.raises(InvalidSignature):
        verify_digest(alg, public, hashlib.sha256(b"other").digest(), signature)
    with pytest.raises(InvalidSignature):
        verify_ml_dsa(alg, public, DIGEST, signature, b"audit")  # a context the signature was not made with
    with pytest.raises(InvalidSignature):
        verify_ml_dsa(alg, public, DIGEST, signature[:-1])


@pytest.mark.parametrize("alg", ALGS, ids=str)
def test_external_mu_signatures_are_pure_signatures(alg: Algorithm) -> None:
    key: Any = generate_private_key(alg)
    public = key.public_key()
    mu = ml_dsa_mu(public, DIGEST)
    # FIPS 204 Algorithm 7 line 6 by hand: tr = H(pk, 64); mu = H(tr || 0x00 || len(ctx) || ctx || M, 64)
    tr = hashlib.shake_256(public.public_bytes_raw()).digest(64)
    assert mu == hashlib.shake_256(tr + b"\x00\x00" + DIGEST).digest(64)
    verify_digest(alg, public, DIGEST, key.sign_mu(mu))
    assert ml_dsa_mu(public, DIGEST, b"ctx") != mu


def test_parameter_sets_never_pass_for_one_another() -> None:
    keys = {alg: generate_private_key(alg) for alg in ALGS}
    for alg in ALGS:
        for other in ALGS:
            if other is alg:
                continue
            with pytest.raises(UnsupportedAlgorithm):
                sign_digest(other, keys[alg], DIGEST)
            with pytest.raises(UnsupportedAlgorithm):
                verify_digest(other, keys[alg].public_key(), DIGEST, sign_digest(alg, keys[alg], DIGEST))
    with pytest.raises(UnsupportedAlgorithm):
        sign_digest(Algorithm.ED25519, keys[Algorithm.ML_DSA_65], DIGEST)


@pytest.mark.parametrize("alg", ALGS, ids=str)
def test_akp_member_round_trip(alg: Algorithm) -> None:
    public: Any = generate_private_key(alg).public_key()
    member = public_key_to_jwk(public)
    assert member == {"kty": "AKP", "pub": _b64url(public.public_bytes_raw())}
    parsed: Any = jwk_to_public_key({**member, "alg": alg.value})
    assert parsed.public_bytes_raw() == public.public_bytes_raw()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public_key_from_der_or_pem(der) == public


def _refused(member: dict[str, Any]) -> str:
    with pytest.raises(KeyFormatError) as exc:
        jwk_to_public_key(member)
    return str(exc.value)


def test_akp_members_that_are_refused() -> None:
    public: Any = generate_private_key(Algorithm.ML_DSA_65).public_key()
    good = {**public_key_to_jwk(public), "alg": "ml-dsa-65"}
    private: Any = ml_dsa_private_key_from_seed(Algorithm.ML_DSA_65, bytes(32))
    assert "private" in _refused({**good, "priv": _b64url(private.private_bytes_raw())})
    assert "private" in _refused({**good, "seed": _b64url(bytes(32))})
    assert "must be 1952 bytes" in _refused({**good, "alg": "ml-dsa-65", "pub": good["pub"][:-4]})
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "must be 1952 bytes, got 1974" in _refused({**good, "pub": _b64url(spki)})
    assert "must be 1312 bytes" in _refused({**good, "alg": "ml-dsa-44"})  # a 65 key is no 44 key
    assert "not an ML-DSA algorithm" in _refused({**good, "alg": "ML-DSA-65"})  # the JOSE name is not ours
    assert "not an ML-DSA algorithm" in _refused({"kty": "AKP", "pub": good["pub"]})


def test_verifier_binds_the_parameter_set_to_alg() -> None:
    ring = KeyRing(LocalKeyBackend(), Algorithm.ML_DSA_44, "pq")
    ring.rotate()
    signer = RingSigner(ring)
    signature = signer.sign_digest(DIGEST)
    jwks = signer.jwks()
    Verifier(jwks).verify_signature(DIGEST, signature)
    with pytest.raises(InvalidSignature, match="does not match key"):
        Verifier(jwks).verify_signature(DIGEST, Signature(signature.kid, Algorithm.ML_DSA_65, signature.value))
    jwks["keys"][0]["alg"] = "ml-dsa-65"  # a 44 key published as a 65 key: refused, never verified as 44
    with pytest.raises(KeyFormatError):
        Verifier(jwks)


@pytest.mark.parametrize("alg", ALGS, ids=str)
def test_private_keys_round_trip_pkcs8_and_seeded_keys_repeat(alg: Algorithm) -> None:
    key: Any = generate_private_key(alg)
    again: Any = private_key_from_pem_or_der(private_key_pem(key))
    assert again.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()

    def seeded_public() -> bytes:
        backend = LocalKeyBackend(seed=b"reproducible")
        created = backend.create_key(alg, "pq", None)
        public: Any = backend.public_key(created)
        raw: bytes = public.public_bytes_raw()
        return raw

    assert seeded_public() == seeded_public()
    with pytest.raises(ValueError):
        ml_dsa_private_key_from_seed(alg, bytes(31))


def test_akp_thumbprint_is_rfc_9964s() -> None:
    import json

    from pytest_kmsconform.reference_impl.jws import jwk_thumbprint

    public: Any = generate_private_key(Algorithm.ML_DSA_65).public_key()
    member = {**public_key_to_jwk(public), "alg": "ml-dsa-65", "kid": "k", "use": "sig"}
    # RFC 7638 over RFC 9964's required members, alg as its JOSE name, in lexicographic order
    text = json.dumps({"alg": "ML-DSA-65", "kty": "AKP", "pub": member["pub"]}, separators=(",", ":"))
    expected = _b64url(hashlib.sha256(text.encode()).digest())
    assert jwk_thumbprint(member) == expected == jwk_thumbprint({**member, "alg": "ML-DSA-65"})
    other: Any = generate_private_key(Algorithm.ML_DSA_65).public_key()
    assert jwk_thumbprint({**public_key_to_jwk(other), "alg": "ml-dsa-65"}) != expected
