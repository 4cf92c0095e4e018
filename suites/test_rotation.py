"""Suite 2, rotation (seed 000): new approvals carry the new kid, the previous key verifies until its
cut-over and not after, and the JWKS shows the transition. One rotation per backend x algorithm is
made once and shared by the checks, which each assert one fact about it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites._support import digest, jwks_member, later, member_time, now, reference_verifier

from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.asserts import assert_accepts, assert_rejects
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import Memo, SignerFactory, implementation_calls

SIGN, ROTATION, VERIFIER = Capability.SIGN, Capability.ROTATION, Capability.VERIFIER


@dataclass(frozen=True)
class Rotation:
    signer: ImplSigner
    old_kid: str
    old_sig: Signature
    signed_at: datetime
    returned_kid: str
    new_sig: Signature
    jwks: dict[str, Any]


@pytest.fixture
def rotation(kmsconform_target: Target, kmsconform_new_signer: SignerFactory, kmsconform_module_memo: Memo) -> Rotation:
    """One rotation on the current backend x algorithm, shared by the rotation checks."""

    def build() -> Rotation:
        signer = kmsconform_new_signer(owned_by=kmsconform_module_memo)
        with implementation_calls("sign, rotate, sign"):
            old_kid = signer.kid
            signed_at = now()
            old_sig = signer.sign_digest(digest("rot-old"))
            returned = signer.rotate()
            new_sig = signer.sign_digest(digest("rot-new"))
            return Rotation(signer, old_kid, old_sig, signed_at, returned, new_sig, signer.jwks())

    return kmsconform_module_memo.get(("rotation", kmsconform_target), build)


@pytest.mark.kmsconform_check(
    id="KC-ROT-001",
    title="After rotation new signatures carry the new kid, different from the previous one",
    source="seed 000 (Rotation steps 1-2)",
    requires=[SIGN, ROTATION],
    scope="backend",
    flags=["BASIC", "KEY_LIFECYCLE"],
)
def test_new_kid_after_rotation(rotation: Rotation) -> None:
    assert rotation.returned_kid != rotation.old_kid, "rotate() returned the old kid"
    assert rotation.signer.kid == rotation.returned_kid, "signer.kid is not the kid rotate() returned"
    assert rotation.new_sig.kid == rotation.returned_kid, f"new signature carries {rotation.new_sig.kid!r}"
    assert rotation.old_sig.kid == rotation.old_kid


@pytest.mark.kmsconform_check(
    id="KC-ROT-002",
    title="A signature made under the previous key still verifies after rotation",
    source="seed 000 (continue accepting prior key for verification until a cutover time)",
    requires=[SIGN, ROTATION],
    scope="backend",
    flags=["KEY_LIFECYCLE"],
)
def test_previous_signature_still_verifies(rotation: Rotation) -> None:
    if rotation.old_sig.alg.is_symmetric:
        assert_accepts(
            lambda: rotation.signer.verify_signature(digest("rot-old"), rotation.old_sig), "signer verify (HMAC)"
        )
        return
    verifier = reference_verifier(rotation.jwks)
    assert_accepts(
        lambda: verifier.verify_signature(digest("rot-old"), rotation.old_sig, at=rotation.signed_at),
        "reference verifier on the post-rotation JWKS",
    )


@pytest.mark.kmsconform_check(
    id="KC-ROT-003",
    title="The JWKS shows the transition: previous key retired with not_after, new key active",
    source="seed 000 (pending -> active -> retired); docs/spec.md (key set members)",
    requires=[SIGN, ROTATION],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE"],
)
def test_jwks_shows_transition(rotation: Rotation) -> None:
    old, new = jwks_member(rotation.jwks, rotation.old_kid), jwks_member(rotation.jwks, rotation.returned_kid)
    assert old is not None, "the previous key left the JWKS: archived signatures could no longer be verified"
    assert new is not None, "the new key is not in the JWKS"
    assert old.get("status") == "retired", f"previous key status {old.get('status')!r}, expected retired"
    assert member_time(old, "not_after") is not None, "retired key has no not_after"
    assert new.get("status") == "active", f"new key status {new.get('status')!r}, expected active"


@pytest.mark.kmsconform_check(
    id="KC-ROT-004",
    title="A previous-key signature dated after its not_after is rejected by the reference verifier",
    source="seed 000 (retire old keys after expiration)",
    requires=[SIGN, ROTATION],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE", "AUTH_BYPASS"],
)
def test_previous_key_expires(rotation: Rotation) -> None:
    member = jwks_member(rotation.jwks, rotation.old_kid)
    assert member is not None, "the previous key left the JWKS"
    not_after = member_time(member, "not_after")
    assert not_after is not None, "retired key has no not_after"
    verifier = reference_verifier(rotation.jwks)
    assert_rejects(
        lambda: verifier.verify_signature(digest("rot-old"), rotation.old_sig, at=later(not_after)),
        "previous-key signature dated after not_after",
    )


@pytest.mark.kmsconform_check(
    id="KC-ROT-005",
    title="The implementation's verifier accepts both sides of a rotation from the new JWKS",
    source="seed 000 (Update OpenClaw to trust the new public key)",
    requires=[SIGN, ROTATION, VERIFIER],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE", "INTEROP"],
)
def test_impl_verifier_across_rotation(kmsconform_impl: Implementation, rotation: Rotation) -> None:
    verifier = kmsconform_impl.verifier(rotation.jwks)
    assert_accepts(
        lambda: verifier.verify_signature(digest("rot-old"), rotation.old_sig, at=rotation.signed_at),
        "previous-key signature at its signing time",
    )
    assert_accepts(lambda: verifier.verify_signature(digest("rot-new"), rotation.new_sig), "new-key signature")


@pytest.mark.kmsconform_check(
    id="KC-ROT-006",
    title="The implementation's verifier rejects a previous-key signature dated after its not_after",
    source="seed 000 (retire old keys after expiration)",
    requires=[SIGN, ROTATION, VERIFIER],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE", "AUTH_BYPASS"],
)
def test_impl_verifier_rejects_expired(kmsconform_impl: Implementation, rotation: Rotation) -> None:
    member = jwks_member(rotation.jwks, rotation.old_kid)
    assert member is not None and member_time(member, "not_after") is not None, "retired key has no not_after"
    not_after = member_time(member, "not_after")
    assert not_after is not None
    verifier = kmsconform_impl.verifier(rotation.jwks)
    assert_rejects(
        lambda: verifier.verify_signature(digest("rot-old"), rotation.old_sig, at=later(not_after)),
        "previous-key signature dated after not_after",
    )
