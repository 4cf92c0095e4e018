"""Service state of the signing proxy: a reference :class:`Signer`, its key ring and the metadata key.

No HTTP here: methods take bytes and typed values and raise the reference implementation's typed
errors (:class:`InvalidSignature`, :class:`KeyRevoked`, :class:`UnknownKey`, :class:`BackendError`,
...), which ``responses`` translates once into wire errors.

Gaps (by design): rotation and revocation are only offered when the wrapped signer is a
:class:`RingSigner` (the proxy then owns the key ring); a signer built from a backend's own
environment (``env:<module>``) gets no admin operations.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload, require_digest
from pytest_kmsconform.reference_impl.clock import Clock, utc_now
from pytest_kmsconform.reference_impl.errors import InvalidSignature, UnknownKey, UnsupportedAlgorithm
from pytest_kmsconform.reference_impl.jwk import public_key_to_jwk
from pytest_kmsconform.reference_impl.jws import ed25519_thumbprint, sign_compact
from pytest_kmsconform.reference_impl.keyring import KeyRing, KeyStatus, KeyVersion, RingSigner
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.signer import Signer
from pytest_kmsconform.reference_impl.signing_events import correlation

from .errors import AdminUnsupported

log = logging.getLogger("pytest_kmsconform.signing_proxy")

KEYS_JWS_TYPE = "jwk-set+json"


@dataclass(frozen=True)
class SignedKeySet:
    """What ``GET /keys`` serves: the JWKS, a compact JWS over its canonical JSON, and the metadata key."""

    jwks: dict[str, Any]
    jws: str
    metadata_key: dict[str, Any]


@dataclass(frozen=True)
class VerifyOutcome:
    """The result of ``/verify``: ``reason`` says why a signature is not valid."""

    valid: bool
    reason: str | None = None


class ProxyService:
    """The proxy's state: signs and verifies with ``signer``, publishes its key set signed by ``metadata_key``.

    :param signer: any reference signer (a :class:`RingSigner` enables rotation and revocation).
    :param metadata_key: the Ed25519 key that signs the published key set; verifiers pin its
        RFC 7638 thumbprint (:attr:`keys_pin`). A fresh one is made when not given.
    :param clock: injectable clock (the ``iat`` of the key set JWS).
    """

    def __init__(
        self,
        signer: Signer,
        *,
        metadata_key: ed25519.Ed25519PrivateKey | None = None,
        clock: Clock = utc_now,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.signer = signer
        self.metadata_key = metadata_key if metadata_key is not None else ed25519.Ed25519PrivateKey.generate()
        self._clock = clock
        self._on_close = on_close
        self._lock = threading.Lock()

    @property
    def ring(self) -> KeyRing | None:
        return self.signer.ring if isinstance(self.signer, RingSigner) else None

    @property
    def keys_pin(self) -> str:
        """RFC 7638 thumbprint of the metadata key: the value verifiers pin (``SIGNING_PROXY_KEYS_PIN``)."""
        return ed25519_thumbprint(self.metadata_key.public_key())

    # -- signing ------------------------------------------------------------------------------
    def sign_hash(self, digest: bytes, request_id: str | None = None) -> Signature:
        with correlation(request_id):  # the signer's audit event carries the request's id
            signature = self.signer.sign_digest(require_digest(digest))
        log.info("sign kid=%s alg=%s request_id=%s", signature.kid, signature.alg.value, request_id)
        return signature

    def sign_canonical(
        self, canonical: bytes, prev_hash: bytes | None, request_id: str | None = None
    ) -> tuple[bytes, Signature]:
        """Sign the seed's audit digest ``SHA256(canonical || prev_hash)``; returns (digest, signature)."""
        digest = audit_digest(canonical, prev_hash)
        return digest, self.sign_hash(digest, request_id)

    def verify(self, digest: bytes, value: bytes, kid: str | None, alg: Algorithm | None) -> VerifyOutcome:
        """Verify through the signer. A revoked key raises :class:`KeyRevoked` (a state, not a verdict)."""
        kid = kid if kid is not None else self.signer.kid
        if alg is None:
            alg = self._alg_of(kid)
        try:
            self.signer.verify_signature(require_digest(digest), Signature(kid=kid, alg=alg, value=value))
        except UnknownKey:
            return VerifyOutcome(False, "UNKNOWN_KEY")
        except (InvalidSignature, UnsupportedAlgorithm):  # the alg does not fit the key
            return VerifyOutcome(False, "BAD_SIGNATURE")
        return VerifyOutcome(True)

    def _alg_of(self, kid: str) -> Algorithm:
        ring = self.ring
        if ring is not None:
            try:
                return ring.get(kid).key.alg
            except UnknownKey:
                return self.signer.alg
        return self.signer.alg

    # -- key set ------------------------------------------------------------------------------
    def key_set(self) -> SignedKeySet:
        """The JWKS, signed now: the JWS payload is the RFC 8785 canonical JSON of the JWKS."""
        jwks = self.signer.jwks()
        payload = canonicalize_payload(jwks)
        header = {"typ": KEYS_JWS_TYPE, "iat": int(self._clock().timestamp())}
        jws = sign_compact(payload, self.metadata_key, header)
        metadata = public_key_to_jwk(self.metadata_key.public_key())
        metadata.update({"kid": self.keys_pin, "alg": "EdDSA", "use": "sig"})
        return SignedKeySet(jwks=json.loads(payload), jws=jws, metadata_key=metadata)

    def health(self) -> dict[str, Any]:
        """Backend, algorithm and current kid; raises if no key can sign (the caller reports 503/409)."""
        return {
            "status": "ok",
            "backend": self.signer.backend,
            "alg": self.signer.alg.value,
            "kid": self.signer.kid,
            "admin": self.ring is not None,
        }

    # -- admin --------------------------------------------------------------------------------
    def _require_ring(self) -> KeyRing:
        ring = self.ring
        if ring is None:
            raise AdminUnsupported(f"signer {self.signer.backend} has no key ring: rotation/revocation unavailable")
        return ring

    def rotate(self) -> tuple[KeyVersion, str | None]:
        """Create and activate a new key version; returns it and the previous active kid."""
        ring = self._require_ring()
        with self._lock:
            previous = self.signer.kid if any(v.status is KeyStatus.ACTIVE for v in ring.versions()) else None
            version = ring.rotate(activate=True)
        log.info("rotate new_kid=%s previous_kid=%s", version.kid, previous)
        return version, previous

    def revoke(self, kid: str, reason: str) -> KeyVersion:
        ring = self._require_ring()
        with self._lock:
            version = ring.revoke(kid, reason)
        log.warning("revoke kid=%s reason=%s", kid, reason)
        return version

    def close(self) -> None:
        try:
            self.signer.close()
        finally:
            if self._on_close is not None:
                self._on_close()
