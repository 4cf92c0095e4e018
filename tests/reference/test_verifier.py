"""The verifier's key set parsing and signature lifecycle rules."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import (
    InvalidSignature,
    KeyFormatError,
    KeyNotValidAtTime,
    KeyRevoked,
    UnknownKey,
)
from pytest_kmsconform.reference_impl.keyring import RingSigner
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.verifier import Finding, FindingCode, KeySet, Verifier

DIGEST = hashlib.sha256(b"approval").digest()


def test_finding_json() -> None:
    assert Finding(FindingCode.TRUNCATED, 3, "m").to_json() == {"code": "TRUNCATED", "index": 3, "message": "m"}


@pytest.mark.parametrize("alg", [a for a in Algorithm if not a.is_symmetric], ids=str)
def test_signatures_verify_from_jwks_alone(make_signer: Callable[..., RingSigner], clock: Any, alg: Algorithm) -> None:
    signer = make_signer(alg)
    clock.advance()
    sig = signer.sign_digest(DIGEST)
    verifier = Verifier(signer.jwks())
    verifier.verify_signature(DIGEST, sig, at=clock())
    with pytest.raises(InvalidSignature):
        verifier.verify_signature(hashlib.sha256(b"other").digest(), sig, at=clock())
    with pytest.raises(InvalidSignature):
        verifier.verify_signature(DIGEST, Signature(sig.kid, sig.alg, bytes(len(sig.value))), at=clock())


def test_alg_must_match_the_key(signer: RingSigner, clock: Any) -> None:
    sig = signer.sign_digest(DIGEST)
    with pytest.raises(InvalidSignature, match="does not match"):
        Verifier(signer.jwks()).verify_signature(
            DIGEST, Signature(sig.kid, Algorithm.RSA_SHA256, sig.value), at=clock()
        )


def test_unknown_kid(signer: RingSigner, clock: Any) -> None:
    sig = signer.sign_digest(DIGEST)
    with pytest.raises(UnknownKey):
        Verifier(signer.jwks()).verify_signature(DIGEST, Signature("nobody-v1", sig.alg, sig.value), at=clock())


def test_rotation_retired_key_valid_only_inside_its_window(signer: RingSigner, clock: Any) -> None:
    clock.advance()
    old_sig, old_time = signer.sign_digest(DIGEST), clock()
    clock.advance()
    rotated_at = clock()
    signer.ring.rotate()
    new_sig = signer.sign_digest(DIGEST)
    assert new_sig.kid != old_sig.kid
    verifier = Verifier(signer.jwks())
    verifier.verify_signature(DIGEST, old_sig, at=old_time)  # archives stay verifiable
    verifier.verify_signature(DIGEST, old_sig, at=rotated_at)  # not_after is inclusive
    with pytest.raises(KeyNotValidAtTime):
        verifier.verify_signature(DIGEST, old_sig, at=rotated_at + timedelta(microseconds=1))
    with pytest.raises(KeyNotValidAtTime):
        verifier.verify_signature(DIGEST, new_sig, at=rotated_at - timedelta(seconds=1))
    verifier.verify_signature(DIGEST, new_sig, at=rotated_at)


def test_cutover_grace(make_signer: Callable[..., RingSigner], clock: Any) -> None:
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.keyring import KeyRing

    ring = KeyRing(LocalKeyBackend(seed=b"s"), Algorithm.ED25519, "k", clock=clock, cutover=timedelta(minutes=5))
    ring.rotate()
    signer = RingSigner(ring)
    old_sig = signer.sign_digest(DIGEST)
    ring.rotate()
    verifier = Verifier(signer.jwks())
    verifier.verify_signature(DIGEST, old_sig, at=clock() + timedelta(minutes=4))
    with pytest.raises(KeyNotValidAtTime):
        verifier.verify_signature(DIGEST, old_sig, at=clock() + timedelta(minutes=6))


def test_revocation_rejects_at_and_after_revoked_at_only(signer: RingSigner, clock: Any) -> None:
    clock.advance()
    before = clock()
    sig = signer.sign_digest(DIGEST)
    clock.advance()
    signer.ring.rotate()
    clock.advance()
    signer.ring.revoke(sig.kid)
    revoked_at = clock()
    verifier = Verifier(signer.jwks())
    verifier.verify_signature(DIGEST, sig, at=before)
    with pytest.raises(KeyRevoked):
        verifier.verify_signature(DIGEST, sig, at=revoked_at)
    with pytest.raises(KeyRevoked):
        verifier.verify_signature(DIGEST, sig)  # default: now


def test_revoked_without_revoked_at_is_refused_always(signer: RingSigner, clock: Any) -> None:
    sig = signer.sign_digest(DIGEST)
    jwks = signer.jwks()
    jwks["keys"][0]["status"] = "revoked"
    with pytest.raises(KeyRevoked):
        Verifier(jwks).verify_signature(DIGEST, sig, at=clock())


def test_pending_key_verifies_from_created_at(make_signer: Callable[..., RingSigner], clock: Any) -> None:
    signer = make_signer()
    clock.advance()
    pending = signer.ring.rotate(activate=False)
    verifier = Verifier(signer.jwks())
    assert {k.kid: k.status.value for k in verifier.keys} == {signer.kid: "active", pending.kid: "pending"}
    signer.ring.activate(pending.kid)
    sig = signer.sign_digest(DIGEST)
    verifier.verify_signature(DIGEST, sig, at=clock())  # a lagging JWKS still says pending
    with pytest.raises(KeyNotValidAtTime):
        verifier.verify_signature(DIGEST, sig, at=clock() - timedelta(seconds=1))


def test_naive_time_refused(signer: RingSigner) -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="timezone"):
        Verifier(signer.jwks()).verify_signature(DIGEST, signer.sign_digest(DIGEST), at=datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda k: k.update(d="AAAA"), "private"),
        (lambda k: k.update(kty="oct", k="AAAA"), "symmetric"),
        (lambda k: k.update(alg="hmac-sha256"), "symmetric"),
        (lambda k: k.update(alg="EdDSA"), "unknown alg"),
        (lambda k: k.update(alg="rsa-sha256"), "cannot be used"),
        (lambda k: k.update(status="compromised"), "unknown status"),
        (lambda k: k.update(status="retired"), "not_after"),
        (lambda k: k.update(not_before="yesterday"), "not_before"),
        (lambda k: k.pop("kid"), "kid"),
        (lambda k: k.update(x="!!"), "x"),
    ],
    ids=[
        "private-d",
        "oct",
        "hmac-alg",
        "jose-alg",
        "wrong-key-type",
        "status",
        "retired-no-end",
        "time",
        "no-kid",
        "x",
    ],
)
def test_bad_jwks_members_are_typed_errors(
    signer: RingSigner, mutate: Callable[[dict[str, Any]], Any], match: str
) -> None:
    jwks = signer.jwks()
    mutate(jwks["keys"][0])
    with pytest.raises(KeyFormatError, match=match):
        KeySet.from_jwks(jwks)


def test_jwks_shape_and_duplicates(signer: RingSigner) -> None:
    for bad in ({}, {"keys": {}}, [], {"keys": ["x"]}):
        with pytest.raises(KeyFormatError):
            KeySet.from_jwks(bad)  # type: ignore[arg-type]
    member = signer.jwks()["keys"][0]
    with pytest.raises(KeyFormatError, match="duplicate"):
        KeySet.from_jwks({"keys": [member, member]})
    keys = KeySet.from_jwks({"keys": [member]})
    assert keys.get(member["kid"]).alg is Algorithm.ED25519
    with pytest.raises(UnknownKey):
        keys.get("nope")


def test_hmac_secret_checks(signer: RingSigner) -> None:
    with pytest.raises(KeyFormatError):
        Verifier({"keys": []}, hmac_secrets={"k": b""})
    with pytest.raises(KeyFormatError, match="both"):
        Verifier(signer.jwks(), hmac_secrets={signer.kid: b"s"})


def test_verifier_makes_no_network_call(
    signer: RingSigner, clock: Any, archive: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the verifier touched the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    verifier = Verifier(signer.jwks())
    assert verifier.verify_archive(archive) == []
    verifier.verify_signature(DIGEST, signer.sign_digest(DIGEST), at=clock())
