"""A :class:`~..signer.Signer` for one existing YubiHSM 2 key (seed 001's ``AUDIT_SIGNING_YUBIHSM_KEY_ID``)."""

from __future__ import annotations

from typing import Any

from ..algorithms import Algorithm
from ..clock import format_time, utc_now
from ..errors import ConfigurationError, InvalidSignature, SigningFailed, UnknownKey
from ..jwk import public_key_to_jwk
from ..primitives import verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .yubihsm import YubiHsmBackend


def _alg_for_object(algorithm_name: str) -> Algorithm:
    defaults = {
        "EC_ED25519": Algorithm.ED25519,
        "EC_P256": Algorithm.ECDSA_P256_SHA256,
        "RSA_2048": Algorithm.RSA_SHA256,
        "RSA_3072": Algorithm.RSA_SHA256,
        "RSA_4096": Algorithm.RSA_SHA256,
        "HMAC_SHA256": Algorithm.HMAC_SHA256,
    }
    try:
        return defaults[algorithm_name]
    except KeyError:
        raise ConfigurationError(f"a YubiHSM {algorithm_name} key cannot sign audit digests") from None


def _fits(alg: Algorithm, algorithm_name: str) -> bool:
    if alg in (Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256):
        return algorithm_name.startswith("RSA_")
    return _alg_for_object(algorithm_name) is alg


class YubiHsmSigner:
    """Signs with one existing device key (operators manage it); kid = ``<label>-0x<id>``."""

    def __init__(self, backend: YubiHsmBackend, object_id: int, alg: Algorithm | None = None) -> None:
        self._backend = backend
        info = backend.object_info(object_id, None if alg is None else alg is Algorithm.HMAC_SHA256)
        algorithm_name = info.algorithm.name
        self._alg = alg if alg is not None else _alg_for_object(algorithm_name)
        if not _fits(self._alg, algorithm_name):
            raise ConfigurationError(f"YubiHSM object {object_id:#06x} is {algorithm_name}; it cannot sign {self._alg}")
        label = info.label if isinstance(info.label, str) else info.label.hex()
        self._key = BackendKey(kid=f"{label}-0x{object_id:04x}", alg=self._alg, ref=f"{object_id:#06x}")
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
                raise SigningFailed(f"the YubiHSM returned a signature that does not verify under {self.kid}") from None
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
            {
                "kid": self.kid,
                "alg": self._alg.value,
                "use": "sig",
                "status": "active",
                "created_at": format_time(self._created),
            }
        )
        return {"keys": [jwk]}

    def close(self) -> None:
        self._backend.close()
