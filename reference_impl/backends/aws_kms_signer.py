"""A :class:`~..signer.Signer` for one existing KMS key (seed 001's ``AUDIT_SIGNING_KMS_KEY_ID``).

The key is resolved once, at start-up, with the calls a least-privilege policy allows (GetPublicKey,
or a GenerateMac probe for HMAC; never DescribeKey): an alias or ARN gives the same signer as the
bare KeyId, kid = ``aws-kms:<KeyId>``, and every call names the key's ARN. Rotation is the
operator's business (repoint the alias and restart); the JWKS publishes this one key (none for HMAC).
"""

from __future__ import annotations

from typing import Any

from ..algorithms import Algorithm
from ..errors import BackendError, ConfigurationError, InvalidSignature, SigningFailed, UnsupportedAlgorithm
from ..jwk import public_key_to_jwk
from ..primitives import PublicKey, verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .aws_kms import KMS_ALGORITHMS, AwsKmsBackend, algorithm_for_key, call, public_key_from_response

_HMAC = KMS_ALGORITHMS[Algorithm.HMAC_SHA256]
_PROBE = b"kmsconform start-up probe"
_NOT_A_SIGNING_KEY = frozenset({"UnsupportedOperationException", "InvalidKeyUsageException", "AccessDeniedException"})
"""GetPublicKey answers that leave an HMAC key possible (an HMAC-only policy refuses GetPublicKey)."""


def _bare_key_id(key_arn: str) -> str:
    return key_arn.rpartition(":key/")[2] or key_arn


def _configuration(key_id: str, alg: Algorithm | None, exc: BackendError) -> ConfigurationError:
    if alg is not None and exc.detail in ("UnsupportedOperationException", "InvalidKeyUsageException"):
        wanted = KMS_ALGORITHMS[alg]
        return ConfigurationError(
            f"AUDIT_SIGNING_ALG={alg.value} needs a {wanted.key_spec}/{wanted.key_usage} KMS key; {key_id!r}: {exc}"
        )
    return ConfigurationError(f"AUDIT_SIGNING_KMS_KEY_ID {key_id!r}: {exc}")


class AwsKmsSigner:
    def __init__(self, backend: AwsKmsBackend, key: BackendKey, public_key: PublicKey | None) -> None:
        self._backend = backend
        self._key = key
        self._public_key = public_key

    @classmethod
    def open(cls, backend: AwsKmsBackend, key_id: str, alg: Algorithm | None = None) -> AwsKmsSigner:
        """Resolve ``key_id`` and check that it can do ``alg`` (default: the key's own algorithm).

        Only calls the seeds' least-privilege policies allow (seed 001: ``kms:Sign``/``kms:Verify`` or
        ``kms:GenerateMac``/``kms:VerifyMac``; seed 002: ``kms:Sign``/``kms:GetPublicKey``):
        ``GetPublicKey`` for a signing key (its answer names the key, its spec and usage), a
        ``GenerateMac`` probe for an HMAC key. Never ``DescribeKey`` or ``ListKeys``.
        """
        refused: BackendError | None = None
        if alg is None or not alg.is_symmetric:
            try:
                response = call("GetPublicKey", lambda: backend.client.get_public_key(KeyId=key_id))
            except BackendError as exc:
                if alg is not None or exc.detail not in _NOT_A_SIGNING_KEY:
                    raise _configuration(key_id, alg, exc) from exc
                refused = exc
            else:
                return cls._asymmetric(backend, key_id, alg, response)
        try:
            probe = call(
                "GenerateMac",
                lambda: backend.client.generate_mac(KeyId=key_id, Message=_PROBE, MacAlgorithm=_HMAC.kms_name),
            )
        except BackendError as exc:
            if refused is not None and refused.detail == "AccessDeniedException":
                # neither call allowed: name both, the signing key's first (seed 001's policy lacks GetPublicKey)
                raise ConfigurationError(
                    f"AUDIT_SIGNING_KMS_KEY_ID {key_id!r}: the credentials allow neither kms:GetPublicKey (a "
                    f"signing key) nor kms:GenerateMac (an HMAC key): {refused}; {exc}"
                ) from exc
            raise _configuration(key_id, Algorithm.HMAC_SHA256, exc) from exc
        key_arn = str(probe["KeyId"])
        key = BackendKey(kid=f"aws-kms:{_bare_key_id(key_arn)}", alg=Algorithm.HMAC_SHA256, ref=key_arn)
        return cls(backend, key, None)

    @classmethod
    def _asymmetric(
        cls, backend: AwsKmsBackend, key_id: str, alg: Algorithm | None, response: dict[str, Any]
    ) -> AwsKmsSigner:
        try:
            native = algorithm_for_key(response)
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_KMS_KEY_ID {key_id!r}: {exc}") from None
        chosen = alg or native
        wanted = KMS_ALGORITHMS[chosen]
        if (wanted.key_spec, wanted.key_usage) != (response.get("KeySpec"), response.get("KeyUsage")):
            raise ConfigurationError(
                f"AUDIT_SIGNING_ALG={chosen.value} needs a {wanted.key_spec}/{wanted.key_usage} KMS key; "
                f"{key_id!r} is {response.get('KeySpec')}/{response.get('KeyUsage')}"
            )
        key_arn = str(response["KeyId"])
        key = BackendKey(kid=f"aws-kms:{_bare_key_id(key_arn)}", alg=chosen, ref=key_arn)
        return cls(backend, key, public_key_from_response(chosen, response))

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
