"""Seed 002's ``GcpKmsSigner(project, location, key_ring, key, key_version)``: a
:class:`~..signer.Signer` on one existing Cloud KMS key version.

The version is read once (GetCryptoKeyVersion): it must be ENABLED and of an algorithm kmsconform
signs with (``AUDIT_SIGNING_ALG``, when given, must agree). kid = ``gcp-kms:<version name>``.
Rotation is the operator's business (a new version, then restart with ``A1_GCP_KEY_VERSION``);
the JWKS publishes this one key (none for HMAC). Signatures are checked against the public key
before they are handed out.
"""

from __future__ import annotations

from typing import Any

from ..algorithms import Algorithm
from ..errors import BackendError, ConfigurationError, InvalidSignature, SigningFailed
from ..jwk import public_key_to_jwk
from ..primitives import PublicKey, verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .gcp_kms import GcpKmsBackend
from .gcp_kms_client import NATIVE_ALGORITHMS, call


class GcpKmsSigner:
    """Signs with the version ``projects/<project>/locations/<location>/keyRings/<key_ring>/cryptoKeys/<key>``
    ``/cryptoKeyVersions/<key_version>``.

    :param client: a ``KeyManagementServiceClient``; default: :func:`.gcp_kms.client_from_env` of ``os.environ``.
    :param alg: the kmsconform algorithm; default: the one the version's algorithm is.
    """

    def __init__(
        self,
        project: str,
        location: str,
        key_ring: str,
        key: str,
        key_version: str,
        *,
        client: Any = None,
        alg: Algorithm | None = None,
    ) -> None:
        if client is None:
            import os

            from .gcp_kms_client import client_from_env

            client = client_from_env(os.environ)
        ring = f"projects/{project}/locations/{location}/keyRings/{key_ring}"
        self.version_name = f"{ring}/cryptoKeys/{key}/cryptoKeyVersions/{key_version}"
        self._backend = GcpKmsBackend(client, ring)
        try:
            version = call(
                "GetCryptoKeyVersion",
                lambda: client.get_crypto_key_version(
                    name=self.version_name, retry=None, timeout=self._backend.timeout
                ),
            )
        except BackendError as exc:
            raise ConfigurationError(f"Cloud KMS key version {self.version_name}: {exc}") from exc
        native = NATIVE_ALGORITHMS.get(version.algorithm.name)
        if native is None:
            raise ConfigurationError(
                f"{self.version_name} has algorithm {version.algorithm.name}; kmsconform signs with "
                f"{', '.join(sorted(NATIVE_ALGORITHMS))}"
            )
        if alg is not None and alg is not native:
            raise ConfigurationError(
                f"AUDIT_SIGNING_ALG={alg.value} but {self.version_name} is {version.algorithm.name}"
            )
        if version.state.name != "ENABLED":
            raise ConfigurationError(f"{self.version_name} is {version.state.name}, not ENABLED")
        self._key = BackendKey(kid=f"gcp-kms:{self.version_name}", alg=native, ref=self.version_name)
        self._public_key: PublicKey | None = self._backend.public_key(self._key)

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
                raise SigningFailed(f"Cloud KMS returned a signature that does not verify under {self.kid}") from None
        return Signature(kid=self.kid, alg=self.alg, value=value)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        if signature.kid != self.kid or signature.alg is not self.alg:
            raise InvalidSignature(f"signature by {signature.kid}/{signature.alg.value} is not for {self.kid}")
        self._backend.verify(self._key, digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        if self._public_key is None:
            return {"keys": []}
        jwk: dict[str, Any] = public_key_to_jwk(self._public_key)
        jwk.update({"kid": self.kid, "alg": self.alg.value, "use": "sig", "status": "active"})
        return {"keys": [jwk]}

    def close(self) -> None:
        self._backend.close()
