"""Google Cloud KMS (or the ``gcp-kms`` emulator) as a :class:`~..signer.KeyBackend`.

* Algorithms: ``ed25519`` -> ``EC_SIGN_ED25519`` (PureEdDSA, the 32 digest bytes as ``data``);
  ``ecdsa-p256-sha256`` -> ``EC_SIGN_P256_SHA256``, ``rsa-sha256`` -> ``RSA_SIGN_PKCS1_2048_SHA256``,
  ``rsa-pss-sha256`` -> ``RSA_SIGN_PSS_2048_SHA256`` (the digest as ``digest.sha256``);
  ``hmac-sha256`` -> ``HMAC_SHA256`` (MacSign/MacVerify); ``ml-dsa-44/65/87`` ->
  ``PQ_SIGN_ML_DSA_44/65/87`` (pure ML-DSA, empty context, the 32 digest bytes as ``data``; public
  keys asked for as ``NIST_PQC``, the raw FIPS 204 encoding, since PEM is refused for PQC keys
  when no format is named). The ``*_EXTERNAL_MU`` algorithms are not used (they take a 64-byte mu).
* One crypto key per label in the key ring; rotation is a new version of that key (asymmetric keys
  have no primary: every call names the exact version), kid = ``<label>-v<N>``, ref = the version's
  resource name. New versions are polled until ENABLED (``PENDING_GENERATION`` first).
* Revocation: the version is DISABLED (and destroyed when ``destroy_on_revoke``).
* Integrity: every request carries the CRC32C of its input; an answer whose ``verified_*_crc32c``
  is false, whose ``*_crc32c`` does not match what it carries, or that names another version is
  refused (the client library checks none of this itself).

Algorithms, error translation, CRC32C checks and the client (:func:`client_from_env`) are
:mod:`.gcp_kms_client`. Configuration: ``KMS_EMULATOR_HOST`` (``host:port`` or a URL) sends the
client to an emulator over REST with anonymous credentials (``KMS_EMULATOR_TRANSPORT=grpc`` with
``KMS_EMULATOR_GRPC_HOST`` uses gRPC instead); otherwise the client uses Google's endpoint and
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``). google-api-core errors are
translated once, by :func:`translate`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..canonical import require_digest
from ..errors import BackendError, BackendErrorCode, ConfigurationError, InvalidSignature, KmsConformError
from ..jwk import ml_dsa_public_key_from_raw, public_key_from_der_or_pem
from ..primitives import PublicKey, check_key_matches, verify_digest
from ..signer import BackendKey
from .gcp_kms_client import (
    DEFAULT_LOCATION,
    GCP_ALGORITHMS,
    GcpAlgorithm,
    call,
    check_crc,
    client_from_env,
    corrupt,
    crc32c,
    key_id_for,
    key_ring_from_env,
    kms_types,
    status_name,
    translate,
)

if TYPE_CHECKING:
    from .gcp_kms_signer import GcpKmsSigner

BACKEND_NAME = kinds.GCP_KMS
CALL_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 120.0
T = TypeVar("T")


_VERSION = re.compile(r"/cryptoKeyVersions/(\d+)$")


class GcpKmsBackend:
    """Key versions as Cloud KMS crypto key versions in one key ring (see the module docstring).

    :param client: a ``KeyManagementServiceClient`` (real service or emulator).
    :param key_ring: ``projects/P/locations/L/keyRings/R``; it must exist.
    :param destroy_on_revoke: revocation also schedules the version's destruction.
    :param timeout: per-call timeout in seconds (the client's own retries are off).
    :param key_prefix: put before each label in crypto key ids (a namespace on a shared key ring).
    """

    name = BACKEND_NAME

    def __init__(
        self,
        client: Any,
        key_ring: str,
        *,
        destroy_on_revoke: bool = False,
        timeout: float = CALL_TIMEOUT_S,
        key_prefix: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.key_ring = key_ring
        self.key_prefix = key_prefix
        self.destroy_on_revoke = destroy_on_revoke
        self.timeout = timeout
        self._sleep = sleep
        self._kms = kms_types()
        self._public: dict[str, PublicKey] = {}
        self._lock = threading.Lock()

    def _opts(self) -> dict[str, Any]:
        return {"retry": None, "timeout": self.timeout}

    def algorithms(self) -> frozenset[Algorithm]:
        return frozenset(GCP_ALGORITHMS)

    def ensure_key_ring(self) -> None:
        """Create the key ring unless it exists (key rings can never be deleted)."""
        from google.api_core import exceptions as gexc

        try:
            self.client.get_key_ring(name=self.key_ring, **self._opts())
            return
        except gexc.NotFound:
            pass
        except gexc.GoogleAPICallError as exc:
            raise translate(exc, "GetKeyRing") from exc
        parent, _, ring_id = self.key_ring.rpartition("/keyRings/")
        try:
            self.client.create_key_ring(
                request={"parent": parent, "key_ring_id": ring_id, "key_ring": {}}, **self._opts()
            )
        except gexc.AlreadyExists:
            pass  # created meanwhile by another worker
        except gexc.GoogleAPICallError as exc:
            raise translate(exc, "CreateKeyRing") from exc

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        spec = GCP_ALGORITHMS[alg]
        key_name = f"{self.key_ring}/cryptoKeys/{key_id_for(self.key_prefix + label)}"
        with self._lock:
            if previous is None:
                created = self._create_crypto_key(key_name, spec)
                version_name = f"{key_name}/cryptoKeyVersions/1" if created else self._new_version(key_name)
            else:
                version_name = self._new_version(key_name)
        self.wait_until_enabled(version_name)
        match = _VERSION.search(version_name)
        number = match.group(1) if match else "1"
        return BackendKey(kid=f"{label}-v{number}", alg=alg, ref=version_name)

    def _create_crypto_key(self, key_name: str, spec: GcpAlgorithm) -> bool:
        """Create the crypto key with its first version; ``False`` if it already exists (same algorithm)."""
        from google.api_core import exceptions as gexc

        k = self._kms
        parent, _, key_id = key_name.rpartition("/cryptoKeys/")
        template = {
            "algorithm": k.CryptoKeyVersion.CryptoKeyVersionAlgorithm[spec.algorithm],
            "protection_level": k.ProtectionLevel.SOFTWARE,
        }
        request = {
            "parent": parent,
            "crypto_key_id": key_id,
            "crypto_key": {"purpose": k.CryptoKey.CryptoKeyPurpose[spec.purpose], "version_template": template},
        }
        try:
            self.client.create_crypto_key(request=request, **self._opts())
            return True
        except gexc.AlreadyExists:
            pass
        except gexc.GoogleAPICallError as exc:
            if status_name(exc) != "ALREADY_EXISTS":
                raise translate(exc, "CreateCryptoKey") from exc
        existing = call("GetCryptoKey", lambda: self.client.get_crypto_key(name=key_name, **self._opts()))
        if existing.version_template.algorithm.name != spec.algorithm:
            raise ConfigurationError(
                f"crypto key {key_name} exists with algorithm {existing.version_template.algorithm.name}, "
                f"not {spec.algorithm}"
            )
        return False

    def _new_version(self, key_name: str) -> str:
        version = call(
            "CreateCryptoKeyVersion",
            lambda: self.client.create_crypto_key_version(parent=key_name, crypto_key_version={}, **self._opts()),
        )
        return str(version.name)

    def wait_until_enabled(self, version_name: str, deadline_s: float = READY_TIMEOUT_S) -> None:
        """Poll until the version leaves PENDING_GENERATION (backoff 10 ms doubling to 1 s)."""
        states = self._kms.CryptoKeyVersion.CryptoKeyVersionState
        end = time.monotonic() + deadline_s
        pause = 0.01
        while True:
            version = call(
                "GetCryptoKeyVersion", lambda: self.client.get_crypto_key_version(name=version_name, **self._opts())
            )
            state = states(version.state)
            if state == states.ENABLED:
                return
            if state != states.PENDING_GENERATION:
                raise BackendError(
                    f"Cloud KMS version {version_name} is {state.name}, not ENABLED",
                    code=BackendErrorCode.INVALID_STATE,
                    backend=BACKEND_NAME,
                    detail=state.name,
                )
            if time.monotonic() + pause > end:
                raise BackendError(
                    f"Cloud KMS version {version_name} still PENDING_GENERATION after {deadline_s}s",
                    code=BackendErrorCode.TIMEOUT,
                    backend=BACKEND_NAME,
                )
            self._sleep(pause)
            pause = min(pause * 2, 1.0)

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        digest = require_digest(digest)
        if key.alg is Algorithm.HMAC_SHA256:
            response = call(
                "MacSign",
                lambda: self.client.mac_sign(
                    request={"name": key.ref, "data": digest, "data_crc32c": crc32c(digest)}, **self._opts()
                ),
            )
            self._check_answer("MacSign", key, response, "verified_data_crc32c")
            check_crc("MacSign", "mac_crc32c", bytes(response.mac), int(response.mac_crc32c))
            return bytes(response.mac)
        if key.alg is Algorithm.ED25519 or key.alg.is_ml_dsa:  # these sign the digest bytes as the message
            request = {"name": key.ref, "data": digest, "data_crc32c": crc32c(digest)}
            verified = "verified_data_crc32c"
        else:
            request = {"name": key.ref, "digest": {"sha256": digest}, "digest_crc32c": crc32c(digest)}
            verified = "verified_digest_crc32c"
        response = call("AsymmetricSign", lambda: self.client.asymmetric_sign(request=request, **self._opts()))
        self._check_answer("AsymmetricSign", key, response, verified)
        check_crc("AsymmetricSign", "signature_crc32c", bytes(response.signature), int(response.signature_crc32c))
        return bytes(response.signature)

    @staticmethod
    def _check_answer(operation: str, key: BackendKey, response: Any, verified: str) -> None:
        if response.name != key.ref:
            raise corrupt(operation, f"the answer names {response.name!r}, not {key.ref!r}")
        if not getattr(response, verified):
            raise corrupt(operation, f"{verified} is false: the request's checksum was not verified")

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        digest = require_digest(digest)
        if not signature:
            raise InvalidSignature(f"empty {key.alg.value} signature")
        if key.alg is not Algorithm.HMAC_SHA256:
            public = self.public_key(key)
            assert public is not None
            verify_digest(key.alg, public, digest, signature)  # Cloud KMS has no asymmetric verify RPC
            return
        request = {
            "name": key.ref,
            "data": digest,
            "data_crc32c": crc32c(digest),
            "mac": signature,
            "mac_crc32c": crc32c(signature),
        }
        response = call("MacVerify", lambda: self.client.mac_verify(request=request, **self._opts()))
        if response.name != key.ref or not (response.verified_data_crc32c and response.verified_mac_crc32c):
            raise corrupt("MacVerify", "the request's checksums were not verified or the answer names another key")
        if response.verified_success_integrity != response.success:
            raise corrupt("MacVerify", "verified_success_integrity contradicts success")
        if not response.success:
            raise InvalidSignature(f"Cloud KMS rejected the MAC of {key.kid}")

    def public_key(self, key: BackendKey) -> PublicKey | None:
        if key.alg.is_symmetric:
            return None
        cached = self._public.get(key.ref)
        if cached is not None:
            return cached
        request: dict[str, Any] = {"name": key.ref}
        if key.alg.is_ml_dsa:
            request["public_key_format"] = self._kms.PublicKey.PublicKeyFormat.NIST_PQC
        response = call("GetPublicKey", lambda: self.client.get_public_key(request=request, **self._opts()))
        if response.name != key.ref:
            raise corrupt("GetPublicKey", f"the answer names {response.name!r}, not {key.ref!r}")
        try:
            if key.alg.is_ml_dsa:
                raw = bytes(response.public_key.data)
                check_crc("GetPublicKey", "public_key.crc32c_checksum", raw, int(response.public_key.crc32c_checksum))
                public: PublicKey = ml_dsa_public_key_from_raw(key.alg, raw)
            else:
                pem = str(response.pem).encode("ascii")
                check_crc("GetPublicKey", "pem_crc32c", pem, int(response.pem_crc32c))
                public = public_key_from_der_or_pem(pem)
            check_key_matches(key.alg, public)
        except KmsConformError as exc:
            raise BackendError(
                f"Cloud KMS GetPublicKey returned no usable {key.alg.value} key: {exc}",
                code=BackendErrorCode.CORRUPT_RESPONSE,
                backend=BACKEND_NAME,
            ) from None
        self._public[key.ref] = public
        return public

    def disable(self, key: BackendKey) -> None:
        states = self._kms.CryptoKeyVersion.CryptoKeyVersionState
        call(
            "UpdateCryptoKeyVersion",
            lambda: self.client.update_crypto_key_version(
                request={
                    "crypto_key_version": {"name": key.ref, "state": states.DISABLED},
                    "update_mask": {"paths": ["state"]},
                },
                **self._opts(),
            ),
        )
        if self.destroy_on_revoke:
            call(
                "DestroyCryptoKeyVersion", lambda: self.client.destroy_crypto_key_version(name=key.ref, **self._opts())
            )

    def close(self) -> None:
        """Close the client's connections; the keys stay in Cloud KMS."""
        transport = getattr(self.client, "transport", None)
        closer = getattr(transport, "close", None)
        if closer is not None:
            closer()


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> GcpKmsBackend:
    """A :class:`GcpKmsBackend` from a handle's env lines alone: the client of :func:`client_from_env`
    (no credentials for an emulator), the key ring of :func:`key_ring_from_env` (created when
    missing). Crypto keys are named ``<namespace>-<label>`` unless the ring is the namespace's own,
    so runs sharing a key ring never collide. ``KMSCONFORM_GCP_DESTROY_ON_REVOKE=true`` also
    destroys revoked versions."""
    ring = key_ring_from_env(env, namespace)
    prefix = "" if ring.rsplit("/", 1)[1] == key_id_for(namespace) else f"{namespace}-"
    destroy = (env.get("KMSCONFORM_GCP_DESTROY_ON_REVOKE") or "").strip().lower() in ("1", "true", "yes")
    backend = GcpKmsBackend(client_from_env(env), ring, destroy_on_revoke=destroy, key_prefix=prefix)
    backend.ensure_key_ring()
    return backend


def signer_from_env(env: Mapping[str, str]) -> GcpKmsSigner:
    """Seed 002's Cloud KMS signer: ``A1_GCP_PROJECT``, ``A1_GCP_KEY_RING``, ``A1_GCP_KEY``,
    ``A1_GCP_KEY_VERSION`` (all required), ``A1_GCP_LOCATION`` (default ``global``),
    ``AUDIT_SIGNING_ALG`` (optional: default from the version's algorithm), and the client
    variables of :func:`client_from_env`."""
    from .gcp_kms_signer import GcpKmsSigner

    missing = [v for v in ("A1_GCP_PROJECT", "A1_GCP_KEY_RING", "A1_GCP_KEY", "A1_GCP_KEY_VERSION") if not env.get(v)]
    if missing:
        raise ConfigurationError(f"the Cloud KMS signer needs {', '.join(missing)}")
    alg = None
    if env.get("AUDIT_SIGNING_ALG"):
        try:
            alg = Algorithm.parse(env["AUDIT_SIGNING_ALG"].strip())
        except KmsConformError as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None
    return GcpKmsSigner(
        env["A1_GCP_PROJECT"],
        env.get("A1_GCP_LOCATION") or DEFAULT_LOCATION,
        env["A1_GCP_KEY_RING"],
        env["A1_GCP_KEY"],
        env["A1_GCP_KEY_VERSION"],
        client=client_from_env(env),
        alg=alg,
    )
