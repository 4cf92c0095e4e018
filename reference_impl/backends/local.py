"""The local-key fallback backend (seed 001, "Emergency Only"): keys held in process memory.

Keys are generated, or the first version is loaded from given material. With ``seed`` set, key
generation is deterministic for Ed25519, P-256, ML-DSA (from a derived 32-byte FIPS 204 seed) and
HMAC (reproducible runs; ML-DSA signatures stay randomized, as the KMSs make them); RSA keys are
always fresh (no deterministic RSA generation is offered by pyca/cryptography).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..errors import UnknownKey, UnsupportedAlgorithm, UnsupportedReason
from ..primitives import (
    PrivateKey,
    PublicKey,
    check_key_matches,
    generate_private_key,
    hmac_digest,
    ml_dsa_private_key_from_seed,
    verify_hmac,
)
from ..primitives import sign_digest as primitive_sign
from ..primitives import verify_digest as primitive_verify
from ..signer import BackendKey

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class LocalKeyBackend:
    """Keys in memory. ``initial`` is used for the first version created for its algorithm."""

    name = kinds.LOCAL

    def __init__(self, *, initial: PrivateKey | bytes | None = None, seed: bytes | None = None) -> None:
        self._initial = initial
        self._seed = seed
        self._keys: dict[str, PrivateKey | bytes] = {}
        self._disabled: set[str] = set()
        self._counter = 0
        self._lock = threading.Lock()

    def algorithms(self) -> frozenset[Algorithm]:
        return frozenset(Algorithm)

    def _derive(self, alg: Algorithm, label: str, n: int) -> bytes:
        assert self._seed is not None
        return hmac.new(self._seed, f"{alg.value}/{label}/{n}".encode(), hashlib.sha256).digest()

    def _new_material(self, alg: Algorithm, label: str, n: int) -> PrivateKey | bytes:
        if self._initial is not None:
            material, self._initial = self._initial, None
            if alg.is_symmetric:
                if not isinstance(material, bytes):
                    raise UnsupportedAlgorithm(
                        "hmac-sha256 needs a secret, not a private key", UnsupportedReason.KEY_TYPE_MISMATCH
                    )
            else:
                if isinstance(material, bytes):
                    raise UnsupportedAlgorithm(
                        f"{alg.value} needs a private key, not a secret", UnsupportedReason.KEY_TYPE_MISMATCH
                    )
                check_key_matches(alg, material)
            return material
        if self._seed is not None:
            derived = self._derive(alg, label, n)
            if alg is Algorithm.HMAC_SHA256:
                return derived
            if alg is Algorithm.ED25519:
                return ed25519.Ed25519PrivateKey.from_private_bytes(derived)
            if alg.is_ml_dsa:
                return ml_dsa_private_key_from_seed(alg, derived)
            if alg is Algorithm.ECDSA_P256_SHA256:
                scalar = int.from_bytes(derived, "big") % (P256_ORDER - 1) + 1
                return ec.derive_private_key(scalar, ec.SECP256R1())
        if alg is Algorithm.HMAC_SHA256:
            return secrets.token_bytes(32)
        return generate_private_key(alg)

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        with self._lock:
            self._counter += 1
            n = self._counter
            material = self._new_material(alg, label, n)
            kid = f"{label}-v{n}"
            self._keys[kid] = material
            return BackendKey(kid=kid, alg=alg, ref=kid)

    def _material(self, key: BackendKey) -> PrivateKey | bytes:
        try:
            return self._keys[key.ref]
        except KeyError:
            raise UnknownKey(f"local backend holds no key {key.ref!r}") from None

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        from ..errors import BackendError, BackendErrorCode

        if key.ref in self._disabled:
            raise BackendError(f"key {key.kid} is disabled", code=BackendErrorCode.DISABLED, backend=self.name)
        material = self._material(key)
        if isinstance(material, bytes):
            return hmac_digest(material, digest)
        return primitive_sign(key.alg, material, digest)

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        material = self._material(key)
        if isinstance(material, bytes):
            verify_hmac(material, digest, signature)
        else:
            primitive_verify(key.alg, material.public_key(), digest, signature)

    def public_key(self, key: BackendKey) -> PublicKey | None:
        material = self._material(key)
        return None if isinstance(material, bytes) else material.public_key()

    def hmac_secret(self, key: BackendKey) -> bytes:
        """The HMAC secret of a symmetric key (for verifiers given secrets explicitly)."""
        material = self._material(key)
        if not isinstance(material, bytes):
            raise UnsupportedAlgorithm(f"{key.kid} is not an HMAC key", UnsupportedReason.KEY_TYPE_MISMATCH)
        return material

    def disable(self, key: BackendKey) -> None:
        self._material(key)
        self._disabled.add(key.ref)

    def close(self) -> None:
        """Nothing to release: the keys live in this object."""


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> LocalKeyBackend:
    """A fresh in-memory backend for a ``local`` handle (its env lines select the kind, no more)."""
    return LocalKeyBackend()
