"""A :class:`~..signer.Signer` over an existing Transit key that operators manage in Vault
(``signer_from_env``): it signs with the key's latest version, found at start or on :meth:`refresh`.

The key set holds every public key ever seen for the key, also after Vault archived the version
(``min_decryption_version`` raised), so verification stays air-gapped for old signatures.
"""

from __future__ import annotations

import threading
from typing import Any

from ..algorithms import Algorithm
from ..clock import format_time
from ..errors import ConfigurationError, InvalidSignature, SigningFailed, UnknownKey
from ..jwk import public_key_to_jwk
from ..primitives import PublicKey, verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .vault import VaultTransitBackend
from .vault_transit import KeyInfo, KeyRef, algorithm_fits_key_type, default_algorithm


class VaultTransitSigner:
    """Signs with the latest version of Transit key ``name``; kid = ``<name>:v<N>``.

    :param alg: the algorithm; ``None`` takes the key type's default (RSA: ``rsa-sha256``).
    """

    def __init__(self, backend: VaultTransitBackend, name: str, alg: Algorithm | None = None) -> None:
        self._backend = backend
        self.name = name
        self._lock = threading.Lock()
        info = backend.read_key(name)
        try:
            self._alg = alg if alg is not None else default_algorithm(info.type)
        except ValueError as exc:
            raise ConfigurationError(f"Transit key {name!r}: {exc}") from None
        if not algorithm_fits_key_type(self._alg, info.type):
            raise ConfigurationError(f"Transit key {name!r} is {info.type}; it cannot sign {self._alg.value}")
        self._info = info

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def alg(self) -> Algorithm:
        return self._alg

    @property
    def kid(self) -> str:
        return str(self._current())

    def _current(self) -> KeyRef:
        with self._lock:
            return KeyRef(self.name, self._info.latest_version)

    def refresh(self) -> KeyInfo:
        """Re-read the key (after an operator rotated it): new signatures use its latest version."""
        info = self._backend.read_key(self.name)
        with self._lock:
            self._info = info
        return info

    def _key(self, ref: KeyRef) -> BackendKey:
        return BackendKey(kid=str(ref), alg=self._alg, ref=str(ref))

    def sign_digest(self, digest: bytes) -> Signature:
        key = self._key(self._current())
        value = self._backend.sign(key, digest)
        public = self._backend.public_key(key)
        if public is not None:
            try:
                verify_digest(self._alg, public, digest, value)
            except InvalidSignature:
                raise SigningFailed(f"Vault returned a signature that does not verify under {key.kid}") from None
        return Signature(kid=key.kid, alg=self._alg, value=value)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        """Asymmetric: against the pinned public key, offline. HMAC: Vault's ``/verify``."""
        try:
            ref = KeyRef.parse(signature.kid)
        except ValueError:
            raise UnknownKey(f"{signature.kid!r} is not a kid of Transit key {self.name!r}") from None
        if ref.name != self.name:
            raise UnknownKey(f"{signature.kid!r} is not a kid of Transit key {self.name!r}")
        if signature.alg is not self._alg:
            raise InvalidSignature(f"signature alg {signature.alg.value} does not match {self._alg.value}")
        key = self._key(ref)
        public = self._backend.public_key(key)
        if public is None:
            self._backend.verify(key, digest, signature.value)
        else:
            verify_digest(self._alg, public, digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        """Every pinned version (Vault is read first, so newer versions appear as ``pending`` until
        :meth:`refresh`); HMAC keys publish nothing."""
        if self._alg.is_symmetric:
            return {"keys": []}
        self._backend.read_key(self.name)  # pins versions created since; does not change the signing version
        current = self._current().version
        keys = []
        for version, public in sorted(self._backend.pinned_versions(self.name).items()):
            keys.append(self._jwk(KeyRef(self.name, version), public, current))
        return {"keys": keys}

    def _jwk(self, ref: KeyRef, public: PublicKey, current: int) -> dict[str, Any]:
        jwk: dict[str, Any] = public_key_to_jwk(public)
        status = "active" if ref.version == current else "retired" if ref.version < current else "pending"
        jwk.update({"kid": str(ref), "alg": self._alg.value, "use": "sig", "status": status})
        created = self._backend.created_at(ref)
        if created is not None:
            jwk["created_at"] = format_time(created)
        return jwk

    def close(self) -> None:
        self._backend.close()
