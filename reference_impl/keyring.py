"""Key ring: key versions with ids, rotation and revocation (seed 000), over any KeyBackend.

Lifecycle (the table :data:`TRANSITIONS` is the whole state machine)::

    pending --activate--> active --retire--> retired
       |                    |                   |
       +------revoke--------+------revoke-------+--> revoked

* ``rotate()`` creates a new version in ``pending`` (published, so verifiers can trust it early);
  ``activate()`` makes it sign and retires the previous active key with ``not_after`` set to the
  activation time plus the cut-over grace: signatures dated inside a key's validity window keep
  verifying forever (archives stay verifiable), signatures dated after it do not.
* ``revoke()`` is immediate: the backend is told to refuse the key, the ring refuses it, and
  signatures dated at or after ``revoked_at`` are rejected. Every transition is reported to the
  ``event_sink`` (the audit log records it).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from .algorithms import Algorithm
from .canonical import require_digest
from .clock import Clock, format_time, utc_now
from .errors import InvalidSignature, KeyRevoked, KeyStateError, SigningFailed, UnknownKey
from .jwk import public_key_to_jwk
from .primitives import PublicKey, verify_digest
from .signature import Signature
from .signer import BackendKey, KeyBackend
from .signing_events import SigningTimer


class KeyStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    RETIRED = "retired"
    REVOKED = "revoked"


TRANSITIONS: dict[tuple[KeyStatus, str], KeyStatus] = {
    (KeyStatus.PENDING, "activate"): KeyStatus.ACTIVE,
    (KeyStatus.ACTIVE, "retire"): KeyStatus.RETIRED,
    (KeyStatus.PENDING, "revoke"): KeyStatus.REVOKED,
    (KeyStatus.ACTIVE, "revoke"): KeyStatus.REVOKED,
    (KeyStatus.RETIRED, "revoke"): KeyStatus.REVOKED,
}


def next_status(current: KeyStatus, action: str) -> KeyStatus:
    """Apply ``action`` to ``current``; an illegal transition raises :class:`KeyStateError`."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise KeyStateError(f"cannot {action} a key that is {current.value}") from None


@dataclass(frozen=True)
class KeyVersion:
    """One key version as the ring tracks it."""

    key: BackendKey
    status: KeyStatus
    created_at: datetime
    public_key: PublicKey | None
    not_before: datetime | None = None
    not_after: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def kid(self) -> str:
        return self.key.kid

    def to_jwk(self) -> dict[str, Any] | None:
        """The JWKS member for this version, or ``None`` for a symmetric key."""
        if self.public_key is None:
            return None
        jwk: dict[str, Any] = public_key_to_jwk(self.public_key)
        jwk.update({"kid": self.kid, "alg": self.key.alg.value, "use": "sig", "status": self.status.value})
        jwk["created_at"] = format_time(self.created_at)
        for name in ("not_before", "not_after", "revoked_at"):
            value = getattr(self, name)
            if value is not None:
                jwk[name] = format_time(value)
        return jwk


EventSink = Callable[[dict[str, Any]], None]


class KeyRing:
    """Key versions of one logical signing key on one backend.

    :param backend: where the keys live.
    :param alg: the algorithm of every version.
    :param label: a name for the logical key; kids are chosen by the backend from it.
    :param clock: injectable clock.
    :param cutover: grace during which the previous active key still verifies new-dated signatures.
    """

    def __init__(
        self,
        backend: KeyBackend,
        alg: Algorithm,
        label: str,
        *,
        clock: Clock = utc_now,
        cutover: timedelta = timedelta(0),
        event_sink: EventSink | None = None,
    ) -> None:
        if alg not in backend.algorithms():
            from .errors import UnsupportedAlgorithm, UnsupportedReason

            raise UnsupportedAlgorithm(
                f"backend {backend.name} cannot create {alg.value} keys",
                UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM,
            )
        self.backend = backend
        self.alg = alg
        self.label = label
        self._clock = clock
        self._cutover = cutover
        self._versions: list[KeyVersion] = []
        self._lock = threading.RLock()
        self._depth = 0
        self._queued: list[dict[str, Any]] = []
        self.event_sink = event_sink

    # -- queries ---------------------------------------------------------------------------
    def versions(self) -> Iterator[KeyVersion]:
        with self._lock:
            return iter(list(self._versions))

    def get(self, kid: str) -> KeyVersion:
        with self._lock:
            for version in self._versions:
                if version.kid == kid:
                    return version
        raise UnknownKey(f"no key version {kid!r} in ring {self.label!r}")

    def active(self) -> KeyVersion:
        with self._lock:
            for version in reversed(self._versions):
                if version.status is KeyStatus.ACTIVE:
                    return version
        raise KeyStateError(f"ring {self.label!r} has no active key; rotate() and activate() first")

    def jwks(self) -> dict[str, Any]:
        """JWKS of every version ever published (symmetric keys excluded)."""
        keys = [jwk for v in self.versions() if (jwk := v.to_jwk()) is not None]
        return {"keys": keys}

    # -- transitions -----------------------------------------------------------------------
    @contextmanager
    def _transition(self) -> Iterator[None]:
        """Hold the lock for a transition; its events reach the sink only once it is complete and
        the lock is released (a sink that signs, such as an audit log, then sees the new state)."""
        with self._lock:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                events, self._queued = (self._queued, []) if self._depth == 0 else ([], self._queued)
        if self.event_sink is not None:
            for event in events:
                self.event_sink(event)

    def _emit(self, event: str, version: KeyVersion, **extra: Any) -> None:
        self._queued.append(
            {
                "type": f"key.{event}",
                "kid": version.kid,
                "alg": version.key.alg.value,
                "backend": self.backend.name,
                "at": format_time(self._clock()),
                **extra,
            }
        )

    def _replace(self, old: KeyVersion, new: KeyVersion) -> None:
        self._versions[self._versions.index(old)] = new

    def rotate(self, *, activate: bool = True) -> KeyVersion:
        """Create a new version (pending); with ``activate`` (default) make it the signing key."""
        with self._transition():
            previous = self._versions[-1].key if self._versions else None
            key = self.backend.create_key(self.alg, self.label, previous)
            if any(v.kid == key.kid for v in self._versions):
                raise KeyStateError(f"backend {self.backend.name} reused kid {key.kid!r}")
            version = KeyVersion(
                key=key, status=KeyStatus.PENDING, created_at=self._clock(), public_key=self.backend.public_key(key)
            )
            self._versions.append(version)
            self._emit("created", version)
            return self.activate(key.kid) if activate else version

    def activate(self, kid: str) -> KeyVersion:
        """Make a pending version the signing key; the previous active one is retired."""
        with self._transition():
            version = self.get(kid)
            now = self._clock()
            activated = replace(version, status=next_status(version.status, "activate"), not_before=now)
            for other in list(self._versions):
                if other.status is KeyStatus.ACTIVE:
                    self._retire(other, now + self._cutover)
            self._replace(self.get(kid), activated)
            self._emit("activated", activated)
            return activated

    def _retire(self, version: KeyVersion, not_after: datetime) -> KeyVersion:
        retired = replace(version, status=next_status(version.status, "retire"), not_after=not_after)
        self._replace(version, retired)
        self._emit("retired", retired, not_after=format_time(not_after))
        return retired

    def retire(self, kid: str) -> KeyVersion:
        """Retire an active version now (no key signs until another is activated)."""
        with self._transition():
            return self._retire(self.get(kid), self._clock())

    def revoke(self, kid: str, reason: str = "unspecified") -> KeyVersion:
        """Revoke immediately: the backend refuses the key and so does the ring."""
        with self._transition():
            version = self.get(kid)
            now = self._clock()
            revoked = replace(version, status=next_status(version.status, "revoke"), revoked_at=now)
            self.backend.disable(version.key)
            self._replace(version, revoked)
            self._emit("revoked", revoked, reason=reason, revoked_at=format_time(now))
            return revoked


class RingSigner:
    """A :class:`~.signer.Signer` over a :class:`KeyRing`.

    Asymmetric signatures are checked against the public key before they are returned, so a
    corrupted signature from a backend is never committed (it raises :class:`SigningFailed`).
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    @property
    def backend(self) -> str:
        return self.ring.backend.name

    @property
    def alg(self) -> Algorithm:
        return self.ring.alg

    @property
    def kid(self) -> str:
        return self.ring.active().kid

    def sign_digest(self, digest: bytes) -> Signature:
        # One signing audit event per call, refusals included (seed 000; signing_events).
        with SigningTimer(self.backend, self.ring.alg.value, "", digest if isinstance(digest, bytes) else b"") as t:
            digest = require_digest(digest)  # before any backend sees it: not every backend checks
            version = self.ring.active()
            t.kid = version.kid
            if version.status is KeyStatus.REVOKED:
                raise KeyRevoked(f"key {version.kid} is revoked", version.kid)
            value = self.ring.backend.sign(version.key, digest)
            if version.public_key is not None:
                try:
                    verify_digest(version.key.alg, version.public_key, digest, value)
                except InvalidSignature:
                    raise SigningFailed(
                        f"backend {self.backend} returned a signature that does not verify under {version.kid}"
                    ) from None
            return Signature(kid=version.kid, alg=version.key.alg, value=value)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        digest = require_digest(digest)
        version = self.ring.get(signature.kid)
        if signature.alg is not version.key.alg:
            raise InvalidSignature(f"signature alg {signature.alg.value} does not match key {version.kid}")
        if version.status is KeyStatus.REVOKED:
            raise KeyRevoked(f"key {version.kid} is revoked", version.kid)
        if version.public_key is not None:
            verify_digest(version.key.alg, version.public_key, digest, signature.value)
        else:
            self.ring.backend.verify(version.key, digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        return self.ring.jwks()

    def close(self) -> None:
        self.ring.backend.close()
