"""Google Cloud KMS (or the ``gcp-kms`` emulator) as a :class:`~..signer.KeyBackend`.

* Algorithms: ``ed25519`` -> ``EC_SIGN_ED25519`` (PureEdDSA, the 32 digest bytes as ``data``);
  ``ecdsa-p256-sha256`` -> ``EC_SIGN_P256_SHA256``, ``rsa-sha256`` -> ``RSA_SIGN_PKCS1_2048_SHA256``,
  ``rsa-pss-sha256`` -> ``RSA_SIGN_PSS_2048_SHA256`` (the digest as ``digest.sha256``);
  ``hmac-sha256`` -> ``HMAC_SHA256`` (MacSign/MacVerify).
* One crypto key per label in the key ring; rotation is a new version of that key (asymmetric keys
  have no primary: every call names the exact version), kid = ``<label>-v<N>``, ref = the version's
  resource name. New versions are polled until ENABLED (``PENDING_GENERATION`` first).
* Revocation: the version is DISABLED (and destroyed when ``destroy_on_revoke``).
* Integrity: every request carries the CRC32C of its input; an answer whose ``verified_*_crc32c``
  is false, whose ``*_crc32c`` does not match what it carries, or that names another version is
  refused (the client library checks none of this itself).

Configuration (:func:`client_from_env`): ``KMS_EMULATOR_HOST`` (``host:port`` or a URL) sends the
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..canonical import require_digest
from ..errors import BackendError, BackendErrorCode, ConfigurationError, InvalidSignature, KmsConformError
from ..jwk import public_key_from_der_or_pem
from ..primitives import PublicKey, check_key_matches, verify_digest
from ..signer import BackendKey

if TYPE_CHECKING:
    from .gcp_kms_signer import GcpKmsSigner

BACKEND_NAME = kinds.GCP_KMS
EMULATOR_HOST = "KMS_EMULATOR_HOST"
EMULATOR_GRPC_HOST = "KMS_EMULATOR_GRPC_HOST"
EMULATOR_TRANSPORT = "KMS_EMULATOR_TRANSPORT"
DEFAULT_LOCATION = "global"
CALL_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 120.0
T = TypeVar("T")


@dataclass(frozen=True)
class GcpAlgorithm:
    """How one of our algorithms is done in Cloud KMS."""

    purpose: str  # CryptoKeyPurpose name
    algorithm: str  # CryptoKeyVersionAlgorithm name


GCP_ALGORITHMS: dict[Algorithm, GcpAlgorithm] = {
    Algorithm.ED25519: GcpAlgorithm("ASYMMETRIC_SIGN", "EC_SIGN_ED25519"),
    Algorithm.ECDSA_P256_SHA256: GcpAlgorithm("ASYMMETRIC_SIGN", "EC_SIGN_P256_SHA256"),
    Algorithm.RSA_SHA256: GcpAlgorithm("ASYMMETRIC_SIGN", "RSA_SIGN_PKCS1_2048_SHA256"),
    Algorithm.RSA_PSS_SHA256: GcpAlgorithm("ASYMMETRIC_SIGN", "RSA_SIGN_PSS_2048_SHA256"),
    Algorithm.HMAC_SHA256: GcpAlgorithm("MAC", "HMAC_SHA256"),
}
NATIVE_ALGORITHMS: dict[str, Algorithm] = {
    "EC_SIGN_ED25519": Algorithm.ED25519,
    "EC_SIGN_P256_SHA256": Algorithm.ECDSA_P256_SHA256,
    **{f"RSA_SIGN_PKCS1_{n}_SHA256": Algorithm.RSA_SHA256 for n in (2048, 3072, 4096)},
    **{f"RSA_SIGN_PSS_{n}_SHA256": Algorithm.RSA_PSS_SHA256 for n in (2048, 3072, 4096)},
    "HMAC_SHA256": Algorithm.HMAC_SHA256,
}
"""Cloud KMS algorithms an existing key may have, and the kmsconform algorithm each one is."""

_STATUS_CODES: dict[str, BackendErrorCode] = {
    "RESOURCE_EXHAUSTED": BackendErrorCode.THROTTLED,
    "UNAVAILABLE": BackendErrorCode.UNAVAILABLE,
    "DEADLINE_EXCEEDED": BackendErrorCode.TIMEOUT,
    "INTERNAL": BackendErrorCode.INTERNAL,
    "UNKNOWN": BackendErrorCode.INTERNAL,
    "NOT_FOUND": BackendErrorCode.NOT_FOUND,
    "PERMISSION_DENIED": BackendErrorCode.ACCESS_DENIED,
    "UNAUTHENTICATED": BackendErrorCode.ACCESS_DENIED,
    "FAILED_PRECONDITION": BackendErrorCode.INVALID_STATE,
    "INVALID_ARGUMENT": BackendErrorCode.INVALID_REQUEST,
    "ALREADY_EXISTS": BackendErrorCode.INVALID_REQUEST,
    "UNIMPLEMENTED": BackendErrorCode.INVALID_REQUEST,
}
_HTTP_STATUS_NAMES = {
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
    404: "NOT_FOUND",
    403: "PERMISSION_DENIED",
    401: "UNAUTHENTICATED",
    409: "ALREADY_EXISTS",
    501: "UNIMPLEMENTED",
}


def status_name(exc: Any) -> str:
    """The canonical status of a google-api-core error: gRPC code, else the REST body's ``status``."""
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return str(code.name)
    response = getattr(exc, "response", None)
    try:
        status = response.json()["error"]["status"] if response is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        status = None
    if isinstance(status, str):
        return status
    http = int(getattr(exc, "code", 0) or 0)
    return _HTTP_STATUS_NAMES.get(http, "INTERNAL" if http >= 500 else "INVALID_ARGUMENT")


def translate(exc: Exception, operation: str) -> KmsConformError:
    """The typed error for a failed Cloud KMS call (API error, connection, timeout)."""
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.GoogleAPICallError):
        status = status_name(exc)
        code = _STATUS_CODES.get(status, BackendErrorCode.INTERNAL)
        if status == "FAILED_PRECONDITION" and "is not enabled" in str(exc.message):
            code = BackendErrorCode.DISABLED
        return BackendError(
            f"Cloud KMS {operation} failed: {status}: {exc.message}", code=code, backend=BACKEND_NAME, detail=status
        )
    if isinstance(exc, gexc.RetryError):
        return BackendError(f"Cloud KMS {operation}: {exc}", code=BackendErrorCode.UNAVAILABLE, backend=BACKEND_NAME)
    if isinstance(exc, auth_exc.GoogleAuthError):
        return BackendError(
            f"Cloud KMS {operation}: no usable Google credentials: {exc}",
            code=BackendErrorCode.ACCESS_DENIED,
            backend=BACKEND_NAME,
        )
    import requests

    if isinstance(exc, requests.Timeout):
        return BackendError(f"Cloud KMS {operation} timed out", code=BackendErrorCode.TIMEOUT, backend=BACKEND_NAME)
    if isinstance(exc, requests.RequestException):
        return BackendError(
            f"Cloud KMS {operation}: connection failed: {exc}", code=BackendErrorCode.UNAVAILABLE, backend=BACKEND_NAME
        )
    raise exc


def call(operation: str, fn: Callable[[], T]) -> T:
    """Run one Cloud KMS call, translating its failure (the one place client errors are caught)."""
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    try:
        return fn()
    except (gexc.GoogleAPICallError, gexc.RetryError, auth_exc.GoogleAuthError, requests.RequestException) as exc:
        raise translate(exc, operation) from exc


def crc32c(data: bytes) -> int:
    import google_crc32c

    return int(google_crc32c.value(data))


def corrupt(operation: str, what: str) -> BackendError:
    return BackendError(
        f"Cloud KMS {operation}: {what}; the answer was discarded",
        code=BackendErrorCode.CORRUPT_RESPONSE,
        backend=BACKEND_NAME,
    )


def check_crc(operation: str, field: str, value: bytes, given: int) -> None:
    if crc32c(value) != given:
        raise corrupt(operation, f"{field} does not match the data it protects (corrupted in transit)")


_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_VERSION = re.compile(r"/cryptoKeyVersions/(\d+)$")


def key_id_for(label: str) -> str:
    """A crypto key id for ``label`` (``[a-zA-Z0-9_-]{1,63}``; a long label is cut and hashed)."""
    clean = _UNSAFE.sub("-", label) or "key"
    if len(clean) <= 63:
        return clean
    import hashlib

    return f"{clean[:50]}-{hashlib.sha256(label.encode()).hexdigest()[:12]}"


def kms_types() -> Any:
    try:
        from google.cloud import kms_v1
    except ImportError as exc:
        raise ConfigurationError(
            f"the Cloud KMS signer needs google-cloud-kms (pip install 'pytest-kmsconform[gcp]'): {exc}"
        ) from None
    return kms_v1


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
        if key.alg is Algorithm.ED25519:
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
        response = call("GetPublicKey", lambda: self.client.get_public_key(name=key.ref, **self._opts()))
        if response.name != key.ref:
            raise corrupt("GetPublicKey", f"the answer names {response.name!r}, not {key.ref!r}")
        pem = str(response.pem).encode("ascii")
        check_crc("GetPublicKey", "pem_crc32c", pem, int(response.pem_crc32c))
        try:
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


# -- clients ---------------------------------------------------------------------------------------
def rest_client(endpoint: str) -> Any:
    """The unmodified client on an emulator's REST endpoint (``http://127.0.0.1:P``), no credentials."""
    k = kms_types()
    from google.auth.credentials import AnonymousCredentials

    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    return k.KeyManagementServiceClient(
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options={"api_endpoint": url},
    )


def grpc_client(host: str) -> Any:
    """The unmodified client on an emulator's gRPC port (an injected plaintext channel)."""
    k = kms_types()
    import grpc
    from google.cloud.kms_v1.services.key_management_service.transports import KeyManagementServiceGrpcTransport

    target = host.split("://", 1)[-1]
    return k.KeyManagementServiceClient(
        transport=KeyManagementServiceGrpcTransport(channel=grpc.insecure_channel(target))
    )


def client_from_env(env: Mapping[str, str]) -> Any:
    """A client from an environment mapping: the emulator of ``KMS_EMULATOR_HOST`` (REST) or
    ``KMS_EMULATOR_GRPC_HOST`` (with ``KMS_EMULATOR_TRANSPORT=grpc``); else Google's endpoint with
    Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``)."""
    transport = (env.get(EMULATOR_TRANSPORT) or "rest").strip().lower()
    if transport not in ("rest", "grpc"):
        raise ConfigurationError(f"{EMULATOR_TRANSPORT} must be rest or grpc, got {transport!r}")
    if transport == "grpc":
        host = env.get(EMULATOR_GRPC_HOST)
        if not host:
            raise ConfigurationError(f"{EMULATOR_TRANSPORT}=grpc needs {EMULATOR_GRPC_HOST}")
        return grpc_client(host)
    host = env.get(EMULATOR_HOST)
    if host:
        return rest_client(host)
    k = kms_types()
    credentials_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if credentials_file:
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_file(credentials_file)  # type: ignore[no-untyped-call]
        return call("client", lambda: k.KeyManagementServiceClient(credentials=credentials))
    return call("client", lambda: k.KeyManagementServiceClient())


def key_ring_from_env(env: Mapping[str, str], namespace: str | None = None) -> str:
    """``projects/P/locations/L/keyRings/R`` from ``A1_GCP_PROJECT``, ``A1_GCP_LOCATION`` (default
    ``global``) and ``A1_GCP_KEY_RING`` (default: ``namespace``, made a valid id)."""
    project = env.get("A1_GCP_PROJECT")
    ring = env.get("A1_GCP_KEY_RING") or (key_id_for(namespace) if namespace else None)
    if not project or not ring:
        raise ConfigurationError("the Cloud KMS backend needs A1_GCP_PROJECT and A1_GCP_KEY_RING")
    location = env.get("A1_GCP_LOCATION") or DEFAULT_LOCATION
    return f"projects/{project}/locations/{location}/keyRings/{ring}"


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
