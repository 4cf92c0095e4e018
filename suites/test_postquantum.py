"""Suite: post-quantum signatures (ML-DSA, FIPS 204). Every other suite runs with the ML-DSA
parameter sets too; these checks cover what is particular to them: the RFC 9964 form of the key in
the JWKS, judged here by an independent FIPS 204 verification, and a verifier that must bind the
parameter set to the ``alg`` the key set names (a key of a weaker set is never accepted for it)."""

from __future__ import annotations

import binascii

import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.primitives import ml_dsa_parameters
from pytest_kmsconform.reference_impl.signature import Signature, b64url_decode
from pytest_kmsconform.suites._support import PRIVATE_MEMBERS, ReferenceKey, digest, jwks_member

from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.asserts import assert_rejects
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import Memo

SIGN = Capability.SIGN
VERIFIER = Capability.VERIFIER
WEAKER: dict[Algorithm, Algorithm] = {
    Algorithm.ML_DSA_44: Algorithm.ML_DSA_65,
    Algorithm.ML_DSA_65: Algorithm.ML_DSA_44,
    Algorithm.ML_DSA_87: Algorithm.ML_DSA_44,
}
"""For a key labelled with the target's alg: the parameter set the key really is (the weakest other
one; for ml-dsa-44, ml-dsa-65, whose key a lax verifier would take for a 44 just the same)."""


def _alg(target: Target) -> Algorithm:
    assert target.alg is not None and target.alg.is_ml_dsa
    return target.alg


@pytest.mark.kmsconform_check(
    id="KC-PQ-001",
    title="An ML-DSA key is published as an RFC 9964 AKP member whose pub verifies the signer's signatures",
    source="RFC 9964 (AKP key type, pub); FIPS 204 sections 5.2-5.3 and table 2; docs/spec.md (ML-DSA)",
    requires=[SIGN],
    scope="backend",
    algs="ml-dsa",
    flags=["INTEROP"],
)
def test_ml_dsa_key_is_an_akp_member(kmsconform_target: Target, kmsconform_signer: ImplSigner) -> None:
    alg = _alg(kmsconform_target)
    params = ml_dsa_parameters(alg)
    sig = kmsconform_signer.sign_digest(digest("pq-1"))
    member = jwks_member(kmsconform_signer.jwks(), kmsconform_signer.kid)
    assert member is not None, f"kid {kmsconform_signer.kid!r} is not in the JWKS"
    assert member.get("kty") == "AKP", f"kty {member.get('kty')!r}: an ML-DSA key is an AKP member (RFC 9964)"
    assert member.get("alg") == alg.value, f"alg {member.get('alg')!r}: the contract name names the parameter set"
    leaked = sorted(name for name in PRIVATE_MEMBERS if name in member)
    assert not leaked, f"private members {leaked} published (priv/seed is the whole private key)"
    pub = member.get("pub")
    assert isinstance(pub, str), "no pub member"
    try:
        raw = b64url_decode(pub)
    except (ValueError, binascii.Error) as exc:
        raise AssertionError(f"pub is not base64url: {exc}") from None
    assert len(raw) == params.public_key_size, (
        f"pub is {len(raw)} bytes; an {alg.value} public key is the {params.public_key_size}-byte FIPS 204 "
        "encoding (not SPKI, not another parameter set)"
    )
    assert len(sig.value) == params.signature_size, (
        f"signature is {len(sig.value)} bytes, an {alg.value} signature {params.signature_size}"
    )
    try:  # independent of any kmsconform verifier: pyca's FIPS 204 verification, empty context
        params.public_key.from_public_bytes(raw).verify(sig.value, digest("pq-1"), b"")
    except CryptoInvalidSignature:
        raise AssertionError(
            f"the signature is not pure {alg.jose_alg} over the 32 digest bytes with an empty context "
            "(FIPS 204 Algorithm 3) under the published key"
        ) from None


@pytest.mark.kmsconform_check(
    id="KC-PQ-002",
    title="The implementation's verifier refuses a key whose parameter set is not the one its alg names",
    source="RFC 9964 (alg is required for AKP: it names the parameter set); FIPS 204 table 1; RFC 8725 section 3.1",
    requires=[VERIFIER],
    scope="alg",
    algs="ml-dsa",
    flags=["AUTH_BYPASS"],
)
def test_verifier_binds_parameter_set_to_alg(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    alg = _alg(kmsconform_target)
    actual = WEAKER[alg]
    key = kmsconform_memo.get(("reference-key", actual, "pq"), lambda: ReferenceKey.create(actual, "reference-pq"))
    real = key.signer.sign_digest(digest("pq-2"))
    jwks = key.signer.jwks()
    for member in jwks["keys"]:
        member["alg"] = alg.value  # the key is of `actual`'s size; the set claims `alg`
    relabelled = Signature(real.kid, alg, real.value)
    assert relabelled.kid in {m["kid"] for m in jwks["keys"]}
    assert_rejects(
        lambda: kmsconform_impl.verifier(jwks).verify_signature(digest("pq-2"), relabelled),
        f"an {actual.value} key and signature presented as {alg.value}",
    )
