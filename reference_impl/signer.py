"""The two interfaces every backend is reached through.

* :class:`KeyBackend` is what a backend module implements: create a key (version), sign and verify
  a digest with it, give its public key, disable it. It knows nothing of rotation policy.
* :class:`Signer` is what the audit chain and the adapters use: sign with the current key, verify,
  publish the key set. :class:`~pytest_kmsconform.reference_impl.keyring.RingSigner` builds one
  from any :class:`KeyBackend`; a backend with keys it manages itself (a signing proxy) implements
  :class:`Signer` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .algorithms import Algorithm
from .canonical import parse_hash_hex
from .primitives import PublicKey
from .signature import Signature


@dataclass(frozen=True)
class BackendKey:
    """One key version held by a backend.

    :param kid: the key id published in the key set and carried in signatures.
    :param alg: the algorithm this key signs with.
    :param ref: the backend's own reference (KMS KeyId, ``name:v2`` for Vault, object id, ...).
    """

    kid: str
    alg: Algorithm
    ref: str


@runtime_checkable
class KeyBackend(Protocol):
    """A place where keys live and sign; implemented once per backend."""

    name: str

    def algorithms(self) -> frozenset[Algorithm]:
        """The algorithms this backend can create keys for."""
        ...

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        """Create a new key (or key version, when ``previous`` is given) for ``alg``."""
        ...

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        """Sign a 32-byte digest; raises :class:`~.errors.BackendError` on backend failure."""
        ...

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        """Verify with the backend itself (online); raises :class:`~.errors.InvalidSignature`."""
        ...

    def public_key(self, key: BackendKey) -> PublicKey | None:
        """The public key, or ``None`` for a symmetric (HMAC) key."""
        ...

    def disable(self, key: BackendKey) -> None:
        """Make the backend refuse to sign with ``key`` (revocation)."""
        ...

    def close(self) -> None:
        """Release connections; the keys stay where they are."""
        ...


@runtime_checkable
class Signer(Protocol):
    """Signs 32-byte audit digests with the current key and publishes the public key set."""

    @property
    def backend(self) -> str:
        """Backend name: ``local``, ``mock``, ``aws-kms``, ``vault``, ``yubihsm``, ``signing-proxy``."""
        ...

    @property
    def alg(self) -> Algorithm: ...

    @property
    def kid(self) -> str:
        """The key id new signatures are made with."""
        ...

    def sign_digest(self, digest: bytes) -> Signature:
        """Sign a 32-byte digest with the current key."""
        ...

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        """Verify through the signer (the backend may be asked); raises on a bad signature."""
        ...

    def jwks(self) -> dict[str, Any]:
        """The public key set (JWKS); symmetric keys never appear in it."""
        ...

    def close(self) -> None: ...


def sign_audit_digest(signer: Signer, digest_hex: str) -> Signature:
    """Sign a hex audit digest (seed 001's ``signAuditDigest``)."""
    return signer.sign_digest(parse_hash_hex(digest_hex, "digest"))


class DelegatingSigner:
    """A :class:`Signer` that forwards every call to ``self.inner``; wrappers (retries, adapters)
    subclass it and override only what they change."""

    def __init__(self, inner: Signer) -> None:
        self.inner = inner

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def alg(self) -> Algorithm:
        return self.inner.alg

    @property
    def kid(self) -> str:
        return self.inner.kid

    def sign_digest(self, digest: bytes) -> Signature:
        return self.inner.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.inner.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        return self.inner.jwks()

    def close(self) -> None:
        self.inner.close()
