"""Seed 002's ``AzureKeyVaultSigner(vault_url, key_name, credential)``: a :class:`~..signer.Signer`
for one existing Key Vault key (role "Key Vault Crypto User": get, sign, verify).

The key is resolved once: ``key_name`` is a name (its current version at start-up) or
``name/version``; kid = ``azure-keyvault:<name>/<version>``. The algorithm defaults to the key's
(RSA: ``rsa-sha256``, EC P-256: ``ecdsa-p256-sha256``). Rotation is the operator's business
(rotate in Key Vault, restart); the JWKS publishes this one key.
"""

from __future__ import annotations

from typing import Any

from ..algorithms import Algorithm
from ..errors import BackendError, ConfigurationError, InvalidSignature, SigningFailed
from ..jwk import public_key_to_jwk
from ..primitives import PublicKey, verify_digest
from ..signature import Signature
from ..signer import BackendKey
from .azure_keyvault import UNSUPPORTED, AzureKeyVaultBackend, call, public_key_from_jwk, text


def _native_algorithm(jwk: Any) -> Algorithm:
    kty = text(getattr(jwk, "kty", ""))
    if kty.startswith("RSA"):
        return Algorithm.RSA_SHA256
    if kty.startswith("EC") and text(jwk.crv) == "P-256":
        return Algorithm.ECDSA_P256_SHA256
    raise ConfigurationError(f"a Key Vault {kty} key ({text(getattr(jwk, 'crv', ''))}) has no kmsconform algorithm")


class AzureKeyVaultSigner:
    """Signs with one Key Vault key. :param client_kwargs: go to ``KeyClient``/``CryptographyClient``
    (``connection_verify=``, ``verify_challenge_resource=False`` for an emulator, ``api_version=``)."""

    def __init__(
        self, vault_url: str, key_name: str, credential: Any, *, alg: Algorithm | None = None, **client_kwargs: Any
    ) -> None:
        from azure.keyvault.keys import KeyClient

        client = KeyClient(vault_url, credential, **client_kwargs)
        self._setup(AzureKeyVaultBackend(client, credential, client_kwargs=client_kwargs), key_name, alg)

    @classmethod
    def open(cls, backend: AzureKeyVaultBackend, key_name: str, alg: Algorithm | None = None) -> AzureKeyVaultSigner:
        signer = cls.__new__(cls)
        signer._setup(backend, key_name, alg)
        return signer

    def _setup(self, backend: AzureKeyVaultBackend, key_name: str, alg: Algorithm | None) -> None:
        self._backend = backend
        name, _, version = key_name.strip().partition("/")
        try:
            key = call("GetKey", lambda: backend.client.get_key(name, version or None))
        except BackendError as exc:
            raise ConfigurationError(f"A1_AZURE_KEY {key_name!r}: {exc}") from exc
        native = _native_algorithm(key.key)
        chosen = alg or native
        if chosen in UNSUPPORTED:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG={chosen.value} on Azure Key Vault: {UNSUPPORTED[chosen]}")
        if (chosen is Algorithm.ECDSA_P256_SHA256) != (native is Algorithm.ECDSA_P256_SHA256):
            raise ConfigurationError(
                f"AUDIT_SIGNING_ALG={chosen.value} does not fit the {text(key.key_type)} key {key_name!r}"
            )
        ops = {text(op) for op in (key.key_operations or [])}
        if "sign" not in ops:
            raise ConfigurationError(f"Key Vault key {key_name!r} does not allow 'sign' (key_ops {sorted(ops)})")
        self._key = BackendKey(kid=f"azure-keyvault:{key.name}/{key.properties.version}", alg=chosen, ref=str(key.id))
        self._public_key: PublicKey = public_key_from_jwk(key.key)
        backend._keys[self._key.ref] = key  # the backend's cache: no second GET

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
        try:
            verify_digest(self._key.alg, self._public_key, digest, value)
        except InvalidSignature:
            raise SigningFailed(f"Azure Key Vault returned a signature that does not verify under {self.kid}") from None
        return Signature(kid=self.kid, alg=self.alg, value=value)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        if signature.kid != self.kid or signature.alg is not self.alg:
            raise InvalidSignature(f"signature by {signature.kid}/{signature.alg.value} is not for {self.kid}")
        verify_digest(self.alg, self._public_key, digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        jwk: dict[str, Any] = public_key_to_jwk(self._public_key)
        jwk.update({"kid": self.kid, "alg": self.alg.value, "use": "sig", "status": "active"})
        return {"keys": [jwk]}

    def close(self) -> None:
        self._backend.close()
