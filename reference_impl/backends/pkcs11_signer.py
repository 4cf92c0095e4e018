"""The PKCS#11 signer: :class:`Pkcs11Signer` signs with one existing token key that operators manage
(chosen by ``CKA_LABEL``, and ``CKA_ID`` when several share it); :func:`signer_from_env` builds it
from ``PKCS11_MODULE``, ``PKCS11_TOKEN_LABEL``, ``PKCS11_PIN`` and ``AUDIT_SIGNING_PKCS11_KEY_LABEL``.
The token plumbing is :mod:`.pkcs11`; the PIN is never printed or logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..algorithms import Algorithm
from ..clock import format_time, utc_now
from ..errors import ConfigurationError, InvalidSignature, SigningFailed, UnknownKey, UnsupportedAlgorithm
from ..jwk import public_key_to_jwk
from ..primitives import verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .pkcs11 import Pkcs11Backend, backend_from_env, required_variable


class Pkcs11Signer:
    """Signs with one existing token key (operators manage it); kid = ``<label>-<CKA_ID hex>``."""

    def __init__(self, backend: Pkcs11Backend, label: str, alg: Algorithm | None = None, key_id: bytes | None = None):
        self._backend = backend
        found, default = backend.find_key(label, key_id)
        self._alg = alg if alg is not None else default
        fits = default is self._alg or {default, self._alg} <= {Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256}
        if not fits:
            raise ConfigurationError(f"PKCS#11 key {found.kid} signs {default.value}, not {self._alg.value}")
        self._key = BackendKey(kid=found.kid, alg=self._alg, ref=found.ref)
        self._public = backend.public_key(self._key)
        self._created = utc_now()

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def alg(self) -> Algorithm:
        return self._alg

    @property
    def kid(self) -> str:
        return self._key.kid

    def sign_digest(self, digest: bytes) -> Signature:
        value = self._backend.sign(self._key, digest)
        if self._public is not None:
            try:
                verify_digest(self._alg, self._public, digest, value)
            except InvalidSignature:
                raise SigningFailed(f"the token returned a signature that does not verify under {self.kid}") from None
        return Signature(kid=self.kid, alg=self._alg, value=value)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        if signature.kid != self.kid:
            raise UnknownKey(f"signer holds {self.kid}, not {signature.kid}")
        if signature.alg is not self._alg:
            raise InvalidSignature(f"signature alg {signature.alg.value} does not match key {self.kid}")
        if self._public is None:
            self._backend.verify(self._key, digest, signature.value)
        else:
            verify_digest(self._alg, self._public, digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        if self._public is None:
            return {"keys": []}
        jwk: dict[str, Any] = public_key_to_jwk(self._public)
        jwk.update(
            {"kid": self.kid, "alg": self._alg.value, "use": "sig", "status": "active"}
            | {"created_at": format_time(self._created)}
        )
        return {"keys": [jwk]}

    def close(self) -> None:
        self._backend.close()


def signer_from_env(env: Mapping[str, str]) -> Pkcs11Signer:
    """A signer over an existing key: the token variables plus ``AUDIT_SIGNING_PKCS11_KEY_LABEL``
    (required), ``AUDIT_SIGNING_PKCS11_KEY_ID`` (hex ``CKA_ID``, when several keys share the label) and
    ``AUDIT_SIGNING_ALG`` (default: from the key type; RSA gives rsa-sha256)."""
    label = required_variable(env, "AUDIT_SIGNING_PKCS11_KEY_LABEL")
    key_id = None
    if env.get("AUDIT_SIGNING_PKCS11_KEY_ID"):
        try:
            key_id = bytes.fromhex(env["AUDIT_SIGNING_PKCS11_KEY_ID"])
        except ValueError:
            raise ConfigurationError("AUDIT_SIGNING_PKCS11_KEY_ID must be the key's CKA_ID in hex") from None
    alg = None
    if env.get("AUDIT_SIGNING_ALG"):
        try:
            alg = Algorithm.parse(env["AUDIT_SIGNING_ALG"])
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None
    backend = backend_from_env(env)
    try:
        return Pkcs11Signer(backend, label, alg, key_id)
    except Exception:
        backend.close()
        raise
