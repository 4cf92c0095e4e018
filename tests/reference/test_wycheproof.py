"""Wycheproof vectors through the reference verify primitives (``--wycheproof-root``).

Our contract signs a 32-byte SHA-256 digest. For the prehashed algorithms (RSA PKCS#1, RSA-PSS,
ECDSA) verifying ``SHA256(msg)`` with :func:`verify_digest` is the same check as verifying ``msg``.
Ed25519 and HMAC sign their input itself, so their vectors go through the verifier's own
:func:`verify_ed25519` (libsodium, used for archives) and :func:`verify_mac`, plus, for Ed25519,
the pyca key that :func:`verify_digest` uses. Choices, documented in ``docs/spec.md``:

* ``acceptable`` vectors (legacy encodings) must be rejected: the verifier is strict.
* HMAC groups with truncated tags (``tagSize`` < 256): the contract accepts only full 32-byte tags,
  so every vector of those groups must be rejected.
* ML-DSA (``mldsa_<n>_verify_test.json``): the public key goes through the contract's JWK form (an
  RFC 9964 AKP member, ``pub`` = the raw key) and, independently, through the SPKI DER of the group;
  the signature through :func:`verify_ml_dsa` with the vector's context. A vector signed with a
  non-empty context is also checked against the contract path (empty context), which must reject it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import InvalidSignature, KmsConformError
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key, public_key_from_der_or_pem
from pytest_kmsconform.reference_impl.primitives import (
    check_key_matches,
    verify_digest,
    verify_ed25519,
    verify_mac,
    verify_ml_dsa,
)
from pytest_kmsconform.reference_impl.signature import b64url_encode

FILES = {
    Algorithm.ED25519: "ed25519_test.json",
    Algorithm.ECDSA_P256_SHA256: "ecdsa_secp256r1_sha256_test.json",
    Algorithm.RSA_SHA256: "rsa_signature_2048_sha256_test.json",
    Algorithm.RSA_PSS_SHA256: "rsa_pss_2048_sha256_mgf1_32_test.json",
    Algorithm.HMAC_SHA256: "hmac_sha256_test.json",
    Algorithm.ML_DSA_44: "mldsa_44_verify_test.json",
    Algorithm.ML_DSA_65: "mldsa_65_verify_test.json",
    Algorithm.ML_DSA_87: "mldsa_87_verify_test.json",
}


@pytest.fixture(scope="module")
def wycheproof_root(request: pytest.FixtureRequest) -> Path:
    root = request.config.getoption("--wycheproof-root")
    if root is None:
        pytest.skip("Wycheproof vectors not given: pass --wycheproof-root=DIR (CI uses ../shared/wycheproof)")
    path = Path(root) / "testvectors_v1"
    if not path.is_dir():
        pytest.fail(f"--wycheproof-root={root} has no testvectors_v1/ directory")
    return path


def _load(root: Path, alg: Algorithm) -> dict[str, Any]:
    path = root / FILES[alg]
    if alg.is_ml_dsa and not path.exists():
        # Wycheproof has shipped ML-DSA vectors file by file; a copy may hold some of them only
        pytest.skip(f"{FILES[alg]} is not in this Wycheproof copy ({root})")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _accepts_ml_dsa(alg: Algorithm, group: dict[str, Any], test: dict[str, Any]) -> bool:
    """The verdict through the contract's JWK form, cross-checked with the group's SPKI DER."""
    msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
    context = bytes.fromhex(test.get("ctx", ""))
    member = {"kty": "AKP", "alg": alg.value, "pub": b64url_encode(bytes.fromhex(group["publicKey"]))}
    try:
        key = jwk_to_public_key(member)
    except KmsConformError:
        der_key = None
        try:
            der_key = public_key_from_der_or_pem(bytes.fromhex(group["publicKeyDer"]))
            check_key_matches(alg, der_key)
        except KmsConformError:
            return False
        raise AssertionError(f"tcId {test['tcId']}: the JWK form is refused, the SPKI form is not") from None
    verify_ml_dsa(alg, key, msg, sig, context)
    if context:
        # the contract signs with an empty context: a context signature must never pass for one
        try:
            verify_ml_dsa(alg, key, msg, sig)
        except InvalidSignature:
            pass
        else:
            raise AssertionError(f"tcId {test['tcId']}: accepted with the empty context, signed with another")
    elif len(msg) == 32:
        verify_digest(alg, key, msg, sig)  # the contract's own entry point agrees
    return True


def _accepts(alg: Algorithm, group: dict[str, Any], test: dict[str, Any]) -> bool:
    msg, sig = bytes.fromhex(test["msg"]), bytes.fromhex(test.get("sig", test.get("tag", "")))
    try:
        if alg is Algorithm.HMAC_SHA256:
            verify_mac(bytes.fromhex(test["key"]), msg, sig)
        elif alg.is_ml_dsa:
            return _accepts_ml_dsa(alg, group, test)
        elif alg is Algorithm.ED25519:
            public = bytes.fromhex(group["publicKey"]["pk"])
            verify_ed25519(public, msg, sig)
            # the pyca path (what verify_digest uses for 32-byte digests) must agree
            try:
                ed25519.Ed25519PublicKey.from_public_bytes(public).verify(sig, msg)
            except (CryptoInvalidSignature, ValueError):
                raise AssertionError(f"tcId {test['tcId']}: libsodium accepts, pyca rejects") from None
        else:
            key = public_key_from_der_or_pem(bytes.fromhex(group["publicKeyDer"]))
            verify_digest(alg, key, hashlib.sha256(msg).digest(), sig)
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize("alg", sorted(FILES, key=str), ids=str)
def test_wycheproof_verdicts(wycheproof_root: Path, alg: Algorithm) -> None:
    data = _load(wycheproof_root, alg)
    wrong: list[str] = []
    counted = 0
    for group in data["testGroups"]:
        truncated = alg is Algorithm.HMAC_SHA256 and group["tagSize"] != 256
        for test in group["tests"]:
            expected = test["result"] == "valid" and not truncated
            try:
                got = _accepts(alg, group, test)
            except KmsConformError as exc:  # any other typed error counts as a rejection
                got = False
                if expected:
                    wrong.append(f"tcId {test['tcId']}: {type(exc).__name__}: {exc}")
                    continue
            if got != expected:
                wrong.append(f"tcId {test['tcId']} ({test['result']}, {test['comment']}): got {got}")
            counted += 1
    assert counted > 0
    assert not wrong, f"{len(wrong)} wrong verdicts in {FILES[alg]}:\n" + "\n".join(wrong[:20])
    assert data["numberOfTests"] == sum(len(g["tests"]) for g in data["testGroups"])


def test_ed25519_pyca_agrees_with_libsodium_on_invalid(wycheproof_root: Path) -> None:
    """Both Ed25519 implementations reject every invalid vector (no malleability gap)."""
    data = _load(wycheproof_root, Algorithm.ED25519)
    for group in data["testGroups"]:
        key = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(group["publicKey"]["pk"]))
        for test in group["tests"]:
            if test["result"] != "invalid":
                continue
            with pytest.raises((CryptoInvalidSignature, ValueError)):
                key.verify(bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"]))
