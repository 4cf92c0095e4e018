"""A :class:`~..signer.Signer` for one existing KMS key (seed 001's ``AUDIT_SIGNING_KMS_KEY_ID``).

The key is resolved once with DescribeKey (an alias or ARN gives the same signer as the bare
KeyId): kid = ``aws-kms:<KeyId>``. Rotation is the operator's business (repoint the alias and
restart); the JWKS publishes this one key (none for HMAC).
"""

from __future__ import annotations

from typing import Any

from ..algorithms import Algorithm
from ..errors import BackendError, ConfigurationError, InvalidSignature, SigningFailed, UnsupportedAlgorithm
from ..jwk import public_key_to_jwk
from ..primitives import PublicKey, verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .aws_kms import KMS_ALGORITHMS, AwsKmsBackend, algorithm_for_key, call


class AwsKmsSigner:
    def __init__(self, backend: AwsKmsBackend, key: BackendKey, public_key: PublicKey | None) -> None:
        self._backend = backend
        self._key = key
        self._public_key = public_key

    @classmethod
    def open(cls, backend: AwsKmsBackend, key_id: str, alg: Algorithm | None = None) -> AwsKmsSigner:
        """Resolve ``key_id`` and check that it can do ``alg`` (default: the key's own algorithm)."""
        try:
            metadata = call("DescribeKey", lambda: backend.client.describe_key(KeyId=key_id))["KeyMetadata"]
        except BackendError as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_KMS_KEY_ID {key_id!r}: {exc}") from exc
        try:
            native = algorithm_for_key(metadata)
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_KMS_KEY_ID {key_id!r}: {exc}") from None
        chosen = alg or native
        wanted = KMS_ALGORITHMS[chosen]
        if (wanted.key_spec, wanted.key_usage) != (metadata.get("KeySpec"), metadata.get("KeyUsage")):
            raise ConfigurationError(
                f"AUDIT_SIGNING_ALG={chosen.value} needs a {wanted.key_spec}/{wanted.key_usage} KMS key; "
                f"{key_id!r} is {metadata.get('KeySpec')}/{metadata.get('KeyUsage')}"
            )
        key = BackendKey(kid=f"aws-kms:{metadata['KeyId']}", alg=chosen, ref=str(metadata["KeyId"]))
        return cls(backend, key, backend.public_key(key))

    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def alg(self) -> Algorithm:
        return self._key.alg

    @property
    def kid(self) -> str:
        return self._key.kid

    def sign_digest(self, digest: bytes) -> Signature:
        value = self._backend.sign(self._key, digest)
        if self._public_key is not None:
            try:
                verify_digest(self._key.alg, self._public_key, digest, value)
            except InvalidSignature:
                raise SigningFailed(f"AWS KMS returned a signature that does not verify under {self.kid}") from None
        return Signature(kid=self.kid, alg=self.alg, value=value)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        if signature.kid != self.kid or signature.alg is not self.alg:
            raise InvalidSignature(f"signature by {signature.kid}/{signature.alg.value} is not for {self.kid}")
        if self._public_key is not None:
            verify_digest(self.alg, self._public_key, digest, signature.value)
        else:
            self._backend.verify(self._key, digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        if self._public_key is None:
            return {"keys": []}
        jwk: dict[str, Any] = public_key_to_jwk(self._public_key)
        jwk.update({"kid": self.kid, "alg": self.alg.value, "use": "sig", "status": "active"})
        return {"keys": [jwk]}

    def close(self) -> None:
        self._backend.close()
