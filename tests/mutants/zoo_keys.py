"""Mutants of key rotation and revocation (seed 000). The key ring is replaced where the reference
adapter builds its signers (``reference_adapter:KeyRing``), so the suites' reference keys keep the
correct lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from pytest_kmsconform.mutation import mutant

RING = "pytest_kmsconform.reference_adapter:KeyRing"


@mutant(
    RING,
    bug="rotation: the new key is activated but the previous one is never retired (two active keys)",
    violates="seed 000 (Key rotation: retire old keys); docs/spec.md section 3 (active -> retired)",
    select="rotation",
)
def rotation_keeps_old_active(KeyRing: Any) -> Any:
    from pytest_kmsconform.reference_impl.keyring import KeyStatus

    class Mutant(KeyRing):  # type: ignore[misc,valid-type]
        def activate(self, kid: str) -> Any:
            with self._transition():
                version = self.get(kid)
                activated = replace(version, status=KeyStatus.ACTIVE, not_before=self._clock())
                self._replace(version, activated)
                self._emit("activated", activated)
                return activated

    return Mutant


@mutant(
    RING,
    bug="rotation: the previous key is retired without not_after",
    violates="docs/spec.md section 3 (not_after is required for retired)",
    select="rotation",
)
def retired_without_not_after(KeyRing: Any) -> Any:
    class Mutant(KeyRing):  # type: ignore[misc,valid-type]
        def _retire(self, version: Any, not_after: Any) -> Any:
            retired = super()._retire(version, not_after)
            unset = replace(retired, not_after=None)
            self._replace(retired, unset)
            return unset

    return Mutant


@mutant(
    RING,
    bug="rotation: the retired key's not_after is its own not_before (its signatures expire at once)",
    violates="seed 000 (continue accepting the prior key until a cutover time)",
    select="rotation",
)
def not_after_is_not_before(KeyRing: Any) -> Any:
    class Mutant(KeyRing):  # type: ignore[misc,valid-type]
        def _retire(self, version: Any, not_after: Any) -> Any:
            return super()._retire(version, version.not_before or not_after)

    return Mutant


@mutant(
    RING,
    bug="rotation: the key set lists only the active key (retired keys vanish)",
    violates="seed 000 (prior key verifies until the cutover); docs/spec.md section 3",
    select="rotation",
)
def jwks_drops_retired(KeyRing: Any) -> Any:
    class Mutant(KeyRing):  # type: ignore[misc,valid-type]
        def jwks(self) -> dict[str, Any]:
            keys = [m for m in super().jwks()["keys"] if m.get("status") != "retired"]
            return {"keys": keys}

    return Mutant


@mutant(
    "pytest_kmsconform.reference_adapter:RingAdapterSigner.rotate",
    bug="rotation: rotate() reports the previous kid",
    violates="seed 000 (Rotation steps 1-2: new approvals carry the new key id)",
    select="rotation",
)
def rotate_returns_old_kid(original: Any) -> Any:
    def rotate(self: Any) -> str:
        old = str(self.kid)
        original(self)
        return old

    return rotate


@mutant(
    "pytest_kmsconform.reference_adapter:RingSigner",
    bug="rotation: the signer caches the key version it first signed with",
    violates="seed 000 (Rotation: new approvals are signed with the new key)",
    select="rotation",
)
def signer_caches_version(RingSigner: Any) -> Any:
    from pytest_kmsconform.reference_impl.signature import Signature

    class Mutant(RingSigner):  # type: ignore[misc,valid-type]
        _cached: Any = None

        def sign_digest(self, digest: bytes) -> Any:
            if self._cached is None:
                self._cached = self.ring.active()
            value = self.ring.backend.sign(self._cached.key, digest)
            return Signature(kid=self._cached.kid, alg=self._cached.key.alg, value=value)

    return Mutant


@mutant(
    "pytest_kmsconform.reference_impl.keyring:KeyVersion.to_jwk",
    bug="revocation: the key set marks the key revoked but leaves out revoked_at",
    violates="docs/spec.md section 3 (revoked_at); seed 000 (Revocation)",
    select="revocation",
)
def jwks_without_revoked_at(original: Any) -> Any:
    def to_jwk(self: Any) -> Any:
        member = original(self)
        if member is not None:
            member.pop("revoked_at", None)
        return member

    return to_jwk


@mutant(
    "pytest_kmsconform.reference_impl.keyring:KeyVersion.to_jwk",
    bug="revocation: a revoked key is published as retired",
    violates="docs/spec.md section 3 (status revoked); seed 000 (Revocation)",
    select="revocation",
)
def revoked_published_retired(original: Any) -> Any:
    def to_jwk(self: Any) -> Any:
        member = original(self)
        if member is not None and member.get("status") == "revoked":
            member["status"] = "retired"
            member.setdefault("not_after", member.get("revoked_at"))
        return member

    return to_jwk


@mutant(
    RING,
    bug="revocation: revoked_at set at the end of a grace day instead of now",
    violates="seed 000 (Revoke compromised keys immediately)",
    select="revocation",
)
def revocation_with_grace(KeyRing: Any) -> Any:
    class Mutant(KeyRing):  # type: ignore[misc,valid-type]
        def revoke(self, kid: str, reason: str = "unspecified") -> Any:
            revoked = super().revoke(kid, reason)
            later = replace(revoked, revoked_at=revoked.revoked_at + timedelta(days=1))
            with self._lock:
                self._replace(revoked, later)
            return later

    return Mutant


@mutant(
    RING,
    bug="revocation: the ring revokes silently (no key.revoked event for the audit log)",
    violates="seed 000 (ensure audit logs document revocation events)",
    select="revocation_in_audit_trail",
)
def revocation_not_reported(KeyRing: Any) -> Any:
    class Mutant(KeyRing):  # type: ignore[misc,valid-type]
        def _emit(self, event: str, version: Any, **extra: Any) -> None:
            if event != "revoked":
                super()._emit(event, version, **extra)

    return Mutant
