"""Suite 1, signing: signatures cross between the implementation and the reference in both
directions, tampered signatures are rejected, and no secret reaches the key set."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites._support import (
    OTHER_ALG,
    UNPUBLISHED_KID,
    ReferenceKey,
    digest,
    flip_bit,
    jwks_member,
    merged_jwks,
    reference_verifier,
    secret_members,
)

from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.asserts import assert_accepts, assert_rejects
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import Memo

SIGN = Capability.SIGN
VERIFIER = Capability.VERIFIER


def _alg(target: Target) -> Algorithm:
    assert target.alg is not None
    return target.alg


def reference_key(memo: Memo, alg: Algorithm, name: str = "a") -> ReferenceKey:
    return memo.get(("reference-key", alg, name), lambda: ReferenceKey.create(alg, f"reference-{name}"))


@pytest.mark.kmsconform_check(
    id="KC-SIG-001",
    title="The signer signs a 32-byte digest with its current kid and the requested algorithm",
    source="seed 001 (How to Sign); docs/spec.md",
    requires=[SIGN],
    scope="backend",
    flags=["BASIC"],
)
def test_sign_basic(kmsconform_target: Target, kmsconform_signer: ImplSigner) -> None:
    sig = kmsconform_signer.sign_digest(digest(1))
    assert isinstance(sig, Signature), f"sign_digest returned {type(sig).__name__}, not a Signature"
    assert sig.alg is _alg(kmsconform_target), f"signature alg {sig.alg} for a {_alg(kmsconform_target)} signer"
    assert sig.kid == kmsconform_signer.kid, f"signature kid {sig.kid!r} is not the signer's kid"
    assert sig.value, "empty signature"


@pytest.mark.kmsconform_check(
    id="KC-SIG-002",
    title="Signatures from the implementation verify with the reference verifier from the JWKS alone",
    source="seed 000 (Key Usage Patterns); seed 002 (Air-gap guarantee); RFC 7517",
    requires=[SIGN],
    scope="backend",
    algs="asymmetric",
    flags=["INTEROP"],
)
def test_impl_signature_verifies_with_reference(kmsconform_signer: ImplSigner) -> None:
    sig = kmsconform_signer.sign_digest(digest(2))
    verifier = reference_verifier(kmsconform_signer.jwks())
    assert_accepts(lambda: verifier.verify_signature(digest(2), sig), "reference verifier on the JWKS")


@pytest.mark.kmsconform_check(
    id="KC-SIG-003",
    title="The JWKS publishes the active kid with alg, use=sig, status=active and no private members",
    source="docs/spec.md (key set); RFC 7517 section 4",
    requires=[SIGN],
    scope="backend",
    algs="asymmetric",
)
def test_jwks_publishes_active_key(kmsconform_target: Target, kmsconform_signer: ImplSigner) -> None:
    jwks = kmsconform_signer.jwks()
    member = jwks_member(jwks, kmsconform_signer.kid)
    assert member is not None, f"kid {kmsconform_signer.kid!r} is not in the JWKS"
    assert member.get("alg") == _alg(kmsconform_target).value, f"JWKS alg {member.get('alg')!r}"
    assert member.get("use") == "sig", f"JWKS use {member.get('use')!r}"
    assert member.get("status") == "active", f"JWKS status {member.get('status')!r}"
    assert not secret_members(jwks), f"secret material in the JWKS: {secret_members(jwks)}"


@pytest.mark.kmsconform_check(
    id="KC-SIG-004",
    title="An HMAC key never appears in the JWKS, in any form",
    source="seed 001 (HMAC uses GenerateMac); docs/spec.md (HMAC keys never appear)",
    requires=[SIGN],
    scope="backend",
    algs="symmetric",
    flags=["SECRET_LEAK"],
)
def test_hmac_never_in_jwks(kmsconform_signer: ImplSigner) -> None:
    kmsconform_signer.sign_digest(digest(4))
    jwks = kmsconform_signer.jwks()
    assert jwks_member(jwks, kmsconform_signer.kid) is None, "the HMAC kid is published in the JWKS"
    assert not secret_members(jwks), f"secret material in the JWKS: {secret_members(jwks)}"


@pytest.mark.kmsconform_check(
    id="KC-SIG-005",
    title="The signer's own verification accepts its signature and rejects a changed digest or signature",
    source="seed 001 (Verification: verify signature via KMS or signing proxy)",
    requires=[SIGN],
    scope="backend",
    flags=["AUTH_BYPASS"],
)
def test_signer_verify_online(kmsconform_signer: ImplSigner) -> None:
    sig = kmsconform_signer.sign_digest(digest(5))
    assert_accepts(lambda: kmsconform_signer.verify_signature(digest(5), sig), "own signature")
    assert_rejects(lambda: kmsconform_signer.verify_signature(digest(55), sig), "changed digest")
    changed = Signature(sig.kid, sig.alg, flip_bit(sig.value, 5))
    assert_rejects(lambda: kmsconform_signer.verify_signature(digest(5), changed), "changed signature")


@pytest.mark.kmsconform_check(
    id="KC-SIG-006",
    title="Reference signatures verify with the implementation's verifier given the JWKS",
    source="seed 000 (Verifier only needs the public key); RFC 8032, RFC 8017, FIPS 186-5",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["BASIC", "INTEROP"],
)
def test_reference_signature_verifies_with_impl(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    key = reference_key(kmsconform_memo, _alg(kmsconform_target))
    sig = key.signer.sign_digest(digest(6))
    verifier = kmsconform_impl.verifier(key.signer.jwks())
    assert_accepts(lambda: verifier.verify_signature(digest(6), sig), "implementation verifier")


def _tamper_check(target: Target, impl: Implementation, memo: Memo, change: str) -> None:
    alg = _alg(target)
    key, other = reference_key(memo, alg), reference_key(memo, alg, "b")
    sig = key.signer.sign_digest(digest(7))
    verifier = impl.verifier(merged_jwks(key.signer.jwks(), other.signer.jwks()))
    if change == "digest":
        assert_rejects(lambda: verifier.verify_signature(digest(77), sig), "signature over another digest")
    elif change == "signature":
        bad = Signature(sig.kid, sig.alg, flip_bit(sig.value, 5))
        assert_rejects(lambda: verifier.verify_signature(digest(7), bad), "signature with a flipped bit")
    elif change == "kid":
        bad = Signature(other.signer.kid, sig.alg, sig.value)
        assert_rejects(lambda: verifier.verify_signature(digest(7), bad), "signature relabelled with another kid")
    else:
        bad = Signature(sig.kid, OTHER_ALG[alg], sig.value)
        assert_rejects(lambda: verifier.verify_signature(digest(7), bad), f"signature relabelled {OTHER_ALG[alg]}")


@pytest.mark.kmsconform_check(
    id="KC-SIG-007",
    title="The implementation's verifier rejects a signature over a changed digest",
    source="seed 001 (Verification); Wycheproof BASIC",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_changed_digest(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    _tamper_check(kmsconform_target, kmsconform_impl, kmsconform_memo, "digest")


@pytest.mark.kmsconform_check(
    id="KC-SIG-008",
    title="The implementation's verifier rejects a changed signature",
    source="seed 001 (Verification); Wycheproof (modified signatures)",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_changed_signature(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    _tamper_check(kmsconform_target, kmsconform_impl, kmsconform_memo, "signature")


@pytest.mark.kmsconform_check(
    id="KC-SIG-009",
    title="The implementation's verifier rejects a signature relabelled with another published kid",
    source="seed 000 (key-version identifier); http4k-connect #263",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_changed_kid(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    _tamper_check(kmsconform_target, kmsconform_impl, kmsconform_memo, "kid")


@pytest.mark.kmsconform_check(
    id="KC-SIG-010",
    title="The implementation's verifier rejects a signature whose alg is changed",
    source="seed 001 (Check algorithm match); RFC 8725 section 3.1",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_changed_alg(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    _tamper_check(kmsconform_target, kmsconform_impl, kmsconform_memo, "alg")


@pytest.mark.kmsconform_check(
    id="KC-SIG-011",
    title="Signatures from the implementation verify with its own verifier from the JWKS alone",
    source="seed 002 (zero KMS calls at verification time)",
    requires=[SIGN, VERIFIER],
    scope="backend",
    algs="asymmetric",
    flags=["INTEROP"],
)
def test_impl_signature_verifies_with_impl_verifier(
    kmsconform_impl: Implementation, kmsconform_signer: ImplSigner
) -> None:
    sig = kmsconform_signer.sign_digest(digest(11))
    verifier = kmsconform_impl.verifier(kmsconform_signer.jwks())
    assert_accepts(lambda: verifier.verify_signature(digest(11), sig), "implementation verifier")


@pytest.mark.kmsconform_check(
    id="KC-SIG-012",
    title="The signer refuses a digest that is not exactly 32 bytes",
    source="seed 001 (Digest formula: SHA256); docs/spec.md (what is signed)",
    requires=[SIGN],
    scope="backend",
    flags=["AUTH_BYPASS"],
)
def test_signer_refuses_wrong_digest_length(kmsconform_signer: ImplSigner) -> None:
    for size in (31, 33, 0):
        assert_rejects(functools.partial(kmsconform_signer.sign_digest, b"\x07" * size), f"a {size}-byte digest")


@pytest.mark.kmsconform_check(
    id="KC-SIG-013",
    title="The implementation's verifier rejects a signature by a kid that is not in the JWKS",
    source="seed 000 (Verifier only needs the public key); docs/spec.md (UNKNOWN_KEY)",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_unknown_kid(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    alg = _alg(kmsconform_target)
    key, stranger = reference_key(kmsconform_memo, alg), reference_key(kmsconform_memo, alg, "b")
    sig = stranger.signer.sign_digest(digest(13))
    verifier = kmsconform_impl.verifier(key.signer.jwks())
    assert_rejects(lambda: verifier.verify_signature(digest(13), sig), "a signature by a key outside the JWKS")


@pytest.mark.kmsconform_check(
    id="KC-SIG-014",
    title="The implementation's verifier rejects a valid signature relabelled with a kid that is not published",
    source="seed 000 (key-version identifier); docs/spec.md section 3 (an unknown kid is UNKNOWN_KEY)",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_unpublished_kid(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    key = reference_key(kmsconform_memo, _alg(kmsconform_target))
    sig = key.signer.sign_digest(digest(14))
    relabelled = Signature(UNPUBLISHED_KID, sig.alg, sig.value)
    verifier = kmsconform_impl.verifier(key.signer.jwks())
    assert_accepts(lambda: verifier.verify_signature(digest(14), sig), "the signature under its own kid")
    assert_rejects(
        lambda: verifier.verify_signature(digest(14), relabelled),
        f"a valid signature relabelled {UNPUBLISHED_KID!r} (a kid in no key set: the verifier searched the keys)",
    )


def truncations(value: bytes) -> list[tuple[str, bytes]]:
    """``value[:16]``, ``value[:1]`` and ``b""``: what a verifier that compares prefixes accepts."""
    return [("the first 16 bytes", value[:16]), ("the first byte", value[:1]), ("an empty value", b"")]


@pytest.mark.kmsconform_check(
    id="KC-SIG-015",
    title="The implementation's verifier rejects truncated and empty signatures",
    source="docs/spec.md (signature bytes; truncated tags never accepted); Wycheproof (truncated signatures)",
    requires=[VERIFIER],
    scope="alg",
    algs="asymmetric",
    flags=["AUTH_BYPASS"],
)
def test_verifier_rejects_truncated_signature(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_memo: Memo
) -> None:
    key = reference_key(kmsconform_memo, _alg(kmsconform_target))
    sig = key.signer.sign_digest(digest(15))
    verifier = kmsconform_impl.verifier(key.signer.jwks())
    for what, value in truncations(sig.value):
        bad = Signature(sig.kid, sig.alg, value)
        assert_rejects(functools.partial(verifier.verify_signature, digest(15), bad), f"signature cut to {what}")


@pytest.mark.kmsconform_check(
    id="KC-SIG-016",
    title="The signer's own verification rejects truncated and empty signatures and MAC tags",
    source="docs/spec.md (full 32-byte tag, truncated tags never accepted); RFC 2104 section 5; RFC 4231 case 5",
    requires=[SIGN],
    scope="backend",
    flags=["AUTH_BYPASS"],
)
def test_signer_verify_rejects_truncated(kmsconform_signer: ImplSigner) -> None:
    sig = kmsconform_signer.sign_digest(digest(16))
    assert_accepts(lambda: kmsconform_signer.verify_signature(digest(16), sig), "own signature")
    for what, value in truncations(sig.value):
        bad = Signature(sig.kid, sig.alg, value)
        assert_rejects(
            functools.partial(kmsconform_signer.verify_signature, digest(16), bad),
            f"{sig.alg.value} value cut to {what}",
        )


# -- signing audit events (seed 000: logged with correlation IDs, exported to a SIEM) ------------------------
EVENT_MEMBERS = ("correlation_id", "kid", "alg", "backend", "outcome", "latency_ms")
_SECRET_NAMES = ("KEY", "SECRET", "PASSWORD", "TOKEN")


def _secrets_of(handle_env: dict[str, str]) -> list[str]:
    """Values of the backend's secret variables (the local key, a Vault token): never in an event."""
    return [v for k, v in handle_env.items() if any(s in k for s in _SECRET_NAMES) and len(v) >= 8]


@pytest.mark.kmsconform_check(
    id="KC-SIG-017",
    title="Each signing operation, refused ones included, emits one structured event without key material",
    source=(
        "seed 000 (Audit & Monitoring: signing operations logged with correlation IDs and request "
        "metadata; export signing audit events to SIEM); docs/operations.md (signing events)"
    ),
    requires=[SIGN, Capability.SIGNING_EVENTS],
    scope="backend",
    flags=["AUDIT_TRAIL", "SECRET_LEAK"],
)
def test_signing_events(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_signer: ImplSigner,
    kmsconform_backend_pool: Any,
) -> None:
    preimages = [f"kmsconform-preimage-{os.urandom(8).hex()}" for _ in range(3)]
    digests = [hashlib.sha256(p.encode()).digest() for p in preimages]
    with kmsconform_impl.signing_events() as captured:
        signatures = [kmsconform_signer.sign_digest(d) for d in digests]
        assert_rejects(functools.partial(kmsconform_signer.sign_digest, b"\x07" * 31), "a 31-byte digest")
        events = [dict(e) for e in captured]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        missing = [m for m in EVENT_MEMBERS if m not in event]
        assert not missing, f"signing event without {missing}: {event}"
        assert isinstance(event["correlation_id"], str) and event["correlation_id"], f"no correlation id: {event}"
        assert isinstance(event["latency_ms"], int | float) and event["latency_ms"] >= 0, event
        assert isinstance(event["backend"], str) and event["backend"], event
        by_id.setdefault(event["correlation_id"], []).append(event)
    assert len(by_id) == 4, f"4 signing operations (one refused) gave events under {len(by_id)} correlation ids"
    groups = list(by_id.values())
    for signature, group in zip(signatures, groups[:3], strict=True):
        assert all(e["outcome"] == "ok" for e in group), f"a signature was returned but its event says {group}"
        assert {e["kid"] for e in group} == {signature.kid} and {e["alg"] for e in group} == {signature.alg.value}
    assert all(e["outcome"] == "error" for e in groups[3]), f"the refused digest was logged as {groups[3]}"
    text = json.dumps(events)
    for preimage in preimages:
        assert preimage not in text, "a signing event carries the digest's preimage"
    handle = kmsconform_backend_pool.get(kmsconform_target.backend).handle
    leaked = [s for s in _secrets_of(dict(handle.env)) if s in text]
    assert not leaked, "a signing event carries the backend's secret (key material or credentials)"
