"""A verifier's key set: public keys by kid, parsed once from a JWKS, with their lifecycle.

Key validity at time ``at`` (a record's ``ts``, or now), for a JWKS member:

* ``revoked_at`` set and ``at >= revoked_at``: :class:`KeyRevoked` (a revoked key without
  ``revoked_at`` is refused at every time);
* ``at`` before ``not_before`` or after ``not_after``: :class:`KeyNotValidAtTime` (a retired key
  is thus valid only inside ``[not_before, not_after]``; a ``retired`` member must carry
  ``not_after``);
* ``pending`` keys are accepted from ``created_at`` on (a verifier's JWKS may lag behind the
  activation); a member without ``status`` is treated as ``active``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .algorithms import Algorithm
from .clock import parse_time
from .errors import KeyFormatError, KeyNotValidAtTime, KeyRevoked, UnknownKey, UnsupportedAlgorithm
from .jwk import jwk_to_public_key
from .keyring import KeyStatus
from .primitives import PublicKey, check_key_matches, verify_digest, verify_ed25519


def _time(member: Mapping[str, Any], name: str) -> datetime | None:
    value = member.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise KeyFormatError(f"JWKS member {member.get('kid')!r}: {name}: {exc}") from None


@dataclass(frozen=True)
class KeyEntry:
    """One public key of a :class:`KeySet`, with its lifecycle."""

    kid: str
    alg: Algorithm
    status: KeyStatus
    public_key: PublicKey
    created_at: datetime | None
    not_before: datetime | None
    not_after: datetime | None
    revoked_at: datetime | None
    ed25519_raw: bytes | None

    def check_time(self, at: datetime) -> None:
        """Raise :class:`KeyRevoked` or :class:`KeyNotValidAtTime` unless the key is valid at ``at``."""
        if self.revoked_at is not None and at >= self.revoked_at:
            raise KeyRevoked(f"key {self.kid} was revoked at {self.revoked_at.isoformat()}", self.kid)
        if self.status is KeyStatus.REVOKED and self.revoked_at is None:
            raise KeyRevoked(f"key {self.kid} is revoked", self.kid)
        if self.not_before is not None and at < self.not_before:
            raise KeyNotValidAtTime(f"key {self.kid} is not valid before {self.not_before.isoformat()}", self.kid)
        if self.not_after is not None and at > self.not_after:
            raise KeyNotValidAtTime(f"key {self.kid} is not valid after {self.not_after.isoformat()}", self.kid)
        if self.status is KeyStatus.PENDING and self.created_at is not None and at < self.created_at:
            raise KeyNotValidAtTime(f"key {self.kid} did not exist before {self.created_at.isoformat()}", self.kid)

    def verify(self, digest: bytes, signature: bytes) -> None:
        if self.ed25519_raw is not None:
            verify_ed25519(self.ed25519_raw, digest, signature)
        else:
            verify_digest(self.alg, self.public_key, digest, signature)


class KeySet:
    """Public keys by kid, parsed once from a JWKS."""

    def __init__(self, entries: Mapping[str, KeyEntry]) -> None:
        self._entries = dict(entries)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Parse ``{"keys": [...]}``; raises :class:`KeyFormatError` on any defect, on private or
        symmetric members, and on duplicate kids."""
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise KeyFormatError('a JWKS must be an object with a "keys" array')
        entries: dict[str, KeyEntry] = {}
        for member in jwks["keys"]:
            entry = parse_member(member)
            if entry.kid in entries:
                raise KeyFormatError(f"duplicate kid {entry.kid!r} in JWKS")
            entries[entry.kid] = entry
        return cls(entries)

    def get(self, kid: str) -> KeyEntry:
        try:
            return self._entries[kid]
        except KeyError:
            raise UnknownKey(f"no key {kid!r} in the key set") from None

    def __contains__(self, kid: object) -> bool:
        return kid in self._entries

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def parse_member(member: Any) -> KeyEntry:
    """One JWKS member as a :class:`KeyEntry`; raises :class:`KeyFormatError` on any defect."""
    if not isinstance(member, dict):
        raise KeyFormatError("each JWKS member must be an object")
    kid = member.get("kid")
    if not isinstance(kid, str) or not kid:
        raise KeyFormatError("JWKS member without a kid")
    if member.get("kty") == "oct":
        raise KeyFormatError(f"JWKS member {kid!r} is a symmetric key; HMAC secrets never go in a key set")
    try:
        alg = Algorithm(str(member.get("alg")))
    except ValueError:
        raise KeyFormatError(f"JWKS member {kid!r}: unknown alg {member.get('alg')!r}") from None
    if alg.is_symmetric:
        raise KeyFormatError(f"JWKS member {kid!r} names a symmetric algorithm")
    public_key = jwk_to_public_key(member)
    try:
        check_key_matches(alg, public_key)
    except UnsupportedAlgorithm as exc:
        raise KeyFormatError(f"JWKS member {kid!r}: {exc}") from None
    try:
        status = KeyStatus(member.get("status", "active"))
    except ValueError:
        raise KeyFormatError(f"JWKS member {kid!r}: unknown status {member.get('status')!r}") from None
    not_after = _time(member, "not_after")
    if status is KeyStatus.RETIRED and not_after is None:
        raise KeyFormatError(f"JWKS member {kid!r} is retired but has no not_after")
    raw = None
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyEntry(
        kid=kid,
        alg=alg,
        status=status,
        public_key=public_key,
        created_at=_time(member, "created_at"),
        not_before=_time(member, "not_before"),
        not_after=not_after,
        revoked_at=_time(member, "revoked_at"),
        ed25519_raw=raw,
    )
