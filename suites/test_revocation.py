"""Suite 3, revocation (seed 000): after revoke, the signer refuses the key, verifiers reject
signatures dated after the revocation, and the revocation is in the audit trail. Eventually
consistent backends get a bounded retry window (``--kmsconform-revocation-window``), never a sleep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites._support import digest, jwks_member, later, member_time, now, reference_verifier

from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.asserts import assert_rejects, eventually, poll_until
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import Memo, SignerFactory, implementation_calls
from pytest_kmsconform.options import get_config

SIGN, REVOCATION, ROTATION = Capability.SIGN, Capability.REVOCATION, Capability.ROTATION
VERIFIER, AUDIT_LOG = Capability.VERIFIER, Capability.AUDIT_LOG


@dataclass(frozen=True)
class Revocation:
    signer: ImplSigner
    kid: str
    sig: Signature
    signed_at: datetime
    revoked_after: datetime


@pytest.fixture
def revocation(
    kmsconform_target: Target, kmsconform_new_signer: SignerFactory, kmsconform_module_memo: Memo
) -> Revocation:
    """The active key revoked once per backend x algorithm, shared by the revocation checks."""

    def build() -> Revocation:
        signer = kmsconform_new_signer(owned_by=kmsconform_module_memo)
        with implementation_calls("sign, revoke"):
            kid = signer.kid
            signed_at = now()
            sig = signer.sign_digest(digest("rev"))
            signer.revoke(kid, "key compromise (kmsconform check)")
            return Revocation(signer, kid, sig, signed_at, now())

    return kmsconform_module_memo.get(("revocation", kmsconform_target), build)


def _refuses(signer: ImplSigner, kid: str) -> bool:
    try:
        sig = signer.sign_digest(digest("after-revoke"))
    except Exception:  # refusal is what the check waits for
        return True
    return sig.kid != kid


def _revoked_jwks(request: pytest.FixtureRequest, revocation: Revocation) -> dict[str, Any]:
    """The signer's JWKS once it shows the revocation (polled within the retry window), else the last one."""
    window = get_config(request.config).revocation_window_s
    seen: list[dict[str, Any]] = []

    def shows_revocation() -> bool:
        seen.append(revocation.signer.jwks())
        member = jwks_member(seen[-1], revocation.kid)
        return member is None or member.get("status") == "revoked"

    poll_until(shows_revocation, window)  # the caller judges the last key set seen
    return seen[-1]


def _revoked_member(request: pytest.FixtureRequest, revocation: Revocation) -> dict[str, Any]:
    member = jwks_member(_revoked_jwks(request, revocation), revocation.kid)
    assert member is not None, "the revoked key left the JWKS: verifiers cannot tell it was revoked"
    return member


@pytest.mark.kmsconform_check(
    id="KC-REV-001",
    title="After revocation the signer refuses to sign with the revoked key (within the retry window)",
    source="seed 000 (Revoke compromised keys immediately)",
    requires=[SIGN, REVOCATION],
    scope="backend",
    flags=["BASIC", "KEY_LIFECYCLE"],
)
def test_signer_refuses_revoked_key(request: pytest.FixtureRequest, revocation: Revocation) -> None:
    window = get_config(request.config).revocation_window_s
    eventually(lambda: _refuses(revocation.signer, revocation.kid), window, f"signer refuses revoked {revocation.kid}")


@pytest.mark.kmsconform_check(
    id="KC-REV-002",
    title="The JWKS marks the revoked key revoked, with revoked_at",
    source="seed 000 (Revocation); docs/spec.md (status, revoked_at)",
    requires=[SIGN, REVOCATION],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE"],
)
def test_jwks_marks_revoked(request: pytest.FixtureRequest, revocation: Revocation) -> None:
    member = _revoked_member(request, revocation)
    assert member.get("status") == "revoked", f"status {member.get('status')!r}, expected revoked"
    revoked_at = member_time(member, "revoked_at")
    assert revoked_at is not None, "no revoked_at"
    assert revoked_at <= later(revocation.revoked_after, 5), "revoked_at lies in the future"


@pytest.mark.kmsconform_check(
    id="KC-REV-003",
    title="The reference verifier rejects a revoked-key signature dated after revoked_at",
    source="seed 000 (Revocation)",
    requires=[SIGN, REVOCATION],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE", "AUTH_BYPASS"],
)
def test_reference_rejects_after_revocation(request: pytest.FixtureRequest, revocation: Revocation) -> None:
    jwks = _revoked_jwks(request, revocation)
    member = jwks_member(jwks, revocation.kid)
    assert member is not None, "the revoked key left the JWKS: verifiers cannot tell it was revoked"
    when = later(member_time(member, "revoked_at") or revocation.revoked_after)
    verifier = reference_verifier(jwks)
    assert_rejects(lambda: verifier.verify_signature(digest("rev"), revocation.sig, at=when), "revoked key")


@pytest.mark.kmsconform_check(
    id="KC-REV-004",
    title="The implementation's verifier rejects a revoked-key signature dated after revoked_at",
    source="seed 000 (Revocation); seed 002 (verification is purely local)",
    requires=[SIGN, REVOCATION, VERIFIER],
    scope="backend",
    algs="asymmetric",
    flags=["KEY_LIFECYCLE", "AUTH_BYPASS"],
)
def test_impl_verifier_rejects_after_revocation(
    request: pytest.FixtureRequest, kmsconform_impl: Implementation, revocation: Revocation
) -> None:
    jwks = _revoked_jwks(request, revocation)
    member = jwks_member(jwks, revocation.kid)
    assert member is not None, "the revoked key left the JWKS: verifiers cannot tell it was revoked"
    when = later(member_time(member, "revoked_at") or revocation.revoked_after)
    verifier = kmsconform_impl.verifier(jwks)
    assert_rejects(lambda: verifier.verify_signature(digest("rev"), revocation.sig, at=when), "revoked key")


@pytest.mark.kmsconform_check(
    id="KC-REV-005",
    title="A revocation appears in the audit trail as a signed record naming the kid",
    source="seed 000 (ensure audit logs document revocation events)",
    requires=[SIGN, ROTATION, REVOCATION, AUDIT_LOG],
    scope="backend",
    flags=["KEY_LIFECYCLE"],
)
def test_revocation_in_audit_trail(
    kmsconform_impl: Implementation, kmsconform_new_signer: SignerFactory, tmp_path: Path
) -> None:
    signer = kmsconform_new_signer()
    log = kmsconform_impl.audit_log(signer, tmp_path / "audit.db")
    try:
        log.append({"type": "approval", "n": 0})
        old = signer.kid
        signer.rotate()
        signer.revoke(old, "key compromise (kmsconform check)")
        events = [r.get("payload") for r in log.records()]
    finally:
        log.close()
    revoked = [
        e for e in events if isinstance(e, dict) and "revok" in str(e.get("type", "")).lower() and e.get("kid") == old
    ]
    assert revoked, (
        f"no record of the revocation of {old!r} in {[e.get('type') for e in events if isinstance(e, dict)]}"
    )
