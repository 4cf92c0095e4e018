"""Azure Key Vault (or its emulator) as a :class:`~..signer.KeyBackend`, through azure-keyvault-keys.

* Algorithms: ``rsa-sha256`` (RS256), ``rsa-pss-sha256`` (PS256) on RSA-2048 keys and
  ``ecdsa-p256-sha256`` (ES256) on P-256 keys, each signing the 32-byte digest. ``ed25519`` and
  ``hmac-sha256`` are unsupported, with the reasons in :data:`UNSUPPORTED`.
* Rotation uses Key Vault's own versions: one key name per label (``<namespace>-<label>``), the
  first ring version is ``create_*_key``, later ones ``rotate_key``. kid = ``<label>-v<N>``; the
  versioned Key Vault key id is the :attr:`~..signer.BackendKey.ref`, so signing names the version.
* Revocation (:meth:`AzureKeyVaultBackend.disable`): ``enabled=false`` on that version (Key Vault
  then answers 403 ``KeyDisabled`` to sign).
* ECDSA: Key Vault signs as raw ``r || s``; signatures are turned into DER (``docs/spec.md``) here.
* Verification online: ``POST {kid}/verify`` (``CryptographyClient.verify`` would verify locally).

Everything is built from an environment mapping (:func:`client_from_env`), so a handle's env lines
are enough. SDK retries are off: the reference signer retries through :class:`~..retry.Retrier`.
Azure errors are translated once, by :func:`translate`.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from ..algorithms import Algorithm
from ..canonical import require_digest
from ..errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KmsConformError,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from ..primitives import PublicKey, check_key_matches
from ..signer import BackendKey
from .azure_keyvault_client import (
    BACKEND_NAME,
    StaticTokenCredential,
    call,
    client_from_env,
    client_kwargs_from_env,
    credential_from_env,
    translate,
)

P256_BYTES = 32
__all__ = [
    "AZURE_ALGORITHMS",
    "UNSUPPORTED",
    "AzureKeyVaultBackend",
    "StaticTokenCredential",
    "call",
    "client_from_env",
    "client_kwargs_from_env",
    "credential_from_env",
    "key_backend_from_env",
    "signer_from_env",
    "translate",
]


@dataclass(frozen=True)
class AzureAlgorithm:
    """How one of our algorithms is done in Key Vault."""

    kty: str
    size: int | None
    curve: str | None
    jws: str  # the SignatureAlgorithm name


AZURE_ALGORITHMS: dict[Algorithm, AzureAlgorithm] = {
    Algorithm.RSA_SHA256: AzureAlgorithm("RSA", 2048, None, "RS256"),
    Algorithm.RSA_PSS_SHA256: AzureAlgorithm("RSA", 2048, None, "PS256"),
    Algorithm.ECDSA_P256_SHA256: AzureAlgorithm("EC", None, "P-256", "ES256"),
}
UNSUPPORTED: dict[Algorithm, str] = {
    Algorithm.ED25519: (
        "azure-keyvault-keys has no OKP key type and no EdDSA algorithm (CryptographyClient raises "
        "'Unsupported key type \"OKP\"'); Key Vault offered Ed25519 only on Managed HSM, in a preview"
    ),
    Algorithm.HMAC_SHA256: "Azure Key Vault has no HMAC keys (oct keys and HS256 are Managed HSM only)",
}


# -- key material helpers --------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^0-9A-Za-z-]+")
_VERSION = re.compile(r"-v(\d+)$")


def key_name(namespace: str, label: str) -> str:
    """``<namespace>-<label>`` in Key Vault's alphabet (letters, digits, ``-``; at most 127)."""
    name = _UNSAFE.sub("-", f"{namespace}-{label}").strip("-") or "kmsconform"
    if len(name) > 127:
        name = f"{name[:114]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return name


def text(value: Any) -> str:
    """An SDK enum member (``JsonWebKeyType.EC``) or string as its wire string (``EC``)."""
    return str(getattr(value, "value", value) or "")


def public_key_from_jwk(jwk: Any) -> PublicKey:
    """The public key of an SDK ``JsonWebKey`` (RSA ``n``/``e``, EC ``crv``/``x``/``y``)."""
    kty = text(getattr(jwk, "kty", ""))
    if kty.startswith("RSA") and jwk.n and jwk.e:
        return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()
    if kty.startswith("EC") and text(jwk.crv) == "P-256" and jwk.x and jwk.y:
        x, y = int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    raise BackendError(
        f"Azure Key Vault returned a key this backend cannot use ({kty} {text(getattr(jwk, 'crv', ''))})",
        code=BackendErrorCode.CORRUPT_RESPONSE,
        backend=BACKEND_NAME,
    )


def raw_to_der(signature: bytes) -> bytes:
    if len(signature) != 2 * P256_BYTES:
        raise BackendError(
            f"Azure Key Vault returned a {len(signature)}-byte ES256 signature (expected 64, r || s)",
            code=BackendErrorCode.CORRUPT_RESPONSE,
            backend=BACKEND_NAME,
        )
    return utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))


def der_to_raw(signature: bytes) -> bytes:
    try:
        r, s = utils.decode_dss_signature(signature)
        return r.to_bytes(P256_BYTES, "big") + s.to_bytes(P256_BYTES, "big")
    except (ValueError, OverflowError):
        raise InvalidSignature("ecdsa-p256-sha256 signature is not a valid DER Ecdsa-Sig-Value") from None


def _split_kid(kid: str) -> tuple[str, str]:
    """``(name, version)`` of a versioned key id ``https://vault/keys/NAME/VERSION``."""
    parts = kid.rstrip("/").split("/")
    if len(parts) < 6 or parts[-3] != "keys":
        raise ConfigurationError(f"not a versioned Key Vault key id: {kid}")
    return parts[-2], parts[-1]


class AzureKeyVaultBackend:
    """Key versions as Key Vault key versions, one key name per label (see the module docstring).

    :param client: an ``azure.keyvault.keys.KeyClient``.
    :param credential: the credential ``CryptographyClient`` objects are built with.
    :param client_kwargs: transport options shared with them (CA file, challenge flag, retries).
    :param namespace: prefix of key names; keeps runs and xdist workers apart.
    """

    name = BACKEND_NAME

    def __init__(
        self,
        client: Any,
        credential: Any,
        *,
        client_kwargs: Mapping[str, Any] | None = None,
        namespace: str = "kmsconform",
    ) -> None:
        self.client = client
        self.credential = credential
        self.client_kwargs = dict(client_kwargs or {})
        self.namespace = namespace
        self._keys: dict[str, Any] = {}  # ref -> KeyVaultKey
        self._crypto: dict[str, Any] = {}  # ref -> CryptographyClient
        self._lock = threading.Lock()

    def algorithms(self) -> frozenset[Algorithm]:
        return frozenset(AZURE_ALGORITHMS)

    def _spec(self, alg: Algorithm) -> AzureAlgorithm:
        if alg in UNSUPPORTED:
            raise UnsupportedAlgorithm(
                f"{alg.value} on Azure Key Vault: {UNSUPPORTED[alg]}", UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM
            )
        return AZURE_ALGORITHMS[alg]

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        spec = self._spec(alg)
        name = key_name(self.namespace, label)
        version = 1
        if previous is not None:
            match = _VERSION.search(previous.kid)
            version = int(match.group(1)) + 1 if match else 2
            key = call("RotateKey", lambda: self.client.rotate_key(name))
        elif spec.kty == "RSA":
            key = call(
                "CreateKey", lambda: self.client.create_rsa_key(name, size=spec.size, key_operations=["sign", "verify"])
            )
        else:
            key = call(
                "CreateKey",
                lambda: self.client.create_ec_key(name, curve=spec.curve, key_operations=["sign", "verify"]),
            )
        with self._lock:
            self._keys[key.id] = key
        return BackendKey(kid=f"{label}-v{version}", alg=alg, ref=str(key.id))

    def _key(self, ref: str) -> Any:
        with self._lock:
            key = self._keys.get(ref)
        if key is None:
            name, version = _split_kid(ref)
            key = call("GetKey", lambda: self.client.get_key(name, version))
            with self._lock:
                self._keys[ref] = key
        return key

    def _crypto_client(self, ref: str) -> Any:
        with self._lock:
            client = self._crypto.get(ref)
        if client is None:
            from azure.keyvault.keys.crypto import CryptographyClient

            client = CryptographyClient(self._key(ref), self.credential, **self.client_kwargs)
            with self._lock:
                client = self._crypto.setdefault(ref, client)
        return client

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        digest = require_digest(digest)
        spec = self._spec(key.alg)
        client = self._crypto_client(key.ref)
        signature = bytes(call("Sign", lambda: client.sign(spec.jws, digest)).signature)
        return raw_to_der(signature) if spec.kty == "EC" else signature

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        from azure.core.rest import HttpRequest

        digest = require_digest(digest)
        if not signature:
            raise InvalidSignature(f"empty {key.alg.value} signature")
        spec = self._spec(key.alg)
        wire = der_to_raw(signature) if spec.kty == "EC" else signature
        name, version = _split_kid(key.ref)
        body = {"alg": spec.jws, "digest": _b64url(digest), "value": _b64url(wire)}
        request = HttpRequest("POST", f"/keys/{name}/{version}/verify", json=body)

        def send() -> Any:
            response = self.client.send_request(request)
            response.raise_for_status()
            return response.json()

        if call("Verify", send).get("value") is not True:
            raise InvalidSignature(f"Azure Key Vault rejected the {key.alg.value} signature of {key.kid}")

    def public_key(self, key: BackendKey) -> PublicKey | None:
        public = public_key_from_jwk(self._key(key.ref).key)
        try:
            check_key_matches(key.alg, public)
        except KmsConformError as exc:
            raise BackendError(
                f"Azure Key Vault key {key.ref} cannot do {key.alg.value}: {exc}",
                code=BackendErrorCode.CORRUPT_RESPONSE,
                backend=BACKEND_NAME,
            ) from None
        return public

    def disable(self, key: BackendKey) -> None:
        name, version = _split_kid(key.ref)
        call("UpdateKey", lambda: self.client.update_key_properties(name, version, enabled=False))

    def close(self) -> None:
        """Close the HTTP sessions; the keys stay in the vault."""
        with self._lock:
            clients, self._crypto = list(self._crypto.values()), {}
        for client in clients:
            client.close()
        self.client.close()


def _b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_backend_from_env(env: Mapping[str, str], namespace: str = "kmsconform") -> AzureKeyVaultBackend:
    """An :class:`AzureKeyVaultBackend` from environment variables (see :func:`client_from_env`)."""
    client, credential, kwargs = client_from_env(env)
    return AzureKeyVaultBackend(client, credential, client_kwargs=kwargs, namespace=namespace)


def signer_from_env(env: Mapping[str, str]) -> Any:
    """Seed 002's signer: ``AZURE_KEYVAULT_URL`` + ``A1_AZURE_KEY`` (a key name, optionally
    ``name/version``), ``AUDIT_SIGNING_ALG`` (optional; default from the key type), the credential
    and transport variables of :func:`credential_from_env` and :func:`client_kwargs_from_env`."""
    from .azure_keyvault_signer import AzureKeyVaultSigner

    key = env.get("A1_AZURE_KEY", "").strip()
    if not key:
        raise ConfigurationError("the Azure Key Vault signer needs A1_AZURE_KEY (the key name)")
    alg = None
    if env.get("AUDIT_SIGNING_ALG", "").strip():
        try:
            alg = Algorithm.parse(env["AUDIT_SIGNING_ALG"].strip())
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None
    client, credential, kwargs = client_from_env(env)
    return AzureKeyVaultSigner.open(AzureKeyVaultBackend(client, credential, client_kwargs=kwargs), key, alg)
