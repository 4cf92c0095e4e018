"""The client side of Google Cloud KMS for :mod:`.gcp_kms`: how our algorithms map onto Cloud KMS,
the translation of google-api-core errors (once, here), CRC32C integrity checks, and the client
itself from an environment mapping (an emulator over REST or gRPC, or Google's endpoint).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..errors import BackendError, BackendErrorCode, ConfigurationError, KmsConformError

BACKEND_NAME = kinds.GCP_KMS
EMULATOR_HOST = "KMS_EMULATOR_HOST"
EMULATOR_GRPC_HOST = "KMS_EMULATOR_GRPC_HOST"
EMULATOR_TRANSPORT = "KMS_EMULATOR_TRANSPORT"
DEFAULT_LOCATION = "global"
T = TypeVar("T")
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


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
    Algorithm.ML_DSA_44: GcpAlgorithm("ASYMMETRIC_SIGN", "PQ_SIGN_ML_DSA_44"),
    Algorithm.ML_DSA_65: GcpAlgorithm("ASYMMETRIC_SIGN", "PQ_SIGN_ML_DSA_65"),
    Algorithm.ML_DSA_87: GcpAlgorithm("ASYMMETRIC_SIGN", "PQ_SIGN_ML_DSA_87"),
}
NATIVE_ALGORITHMS: dict[str, Algorithm] = {
    "EC_SIGN_ED25519": Algorithm.ED25519,
    "EC_SIGN_P256_SHA256": Algorithm.ECDSA_P256_SHA256,
    **{f"RSA_SIGN_PKCS1_{n}_SHA256": Algorithm.RSA_SHA256 for n in (2048, 3072, 4096)},
    **{f"RSA_SIGN_PSS_{n}_SHA256": Algorithm.RSA_PSS_SHA256 for n in (2048, 3072, 4096)},
    "HMAC_SHA256": Algorithm.HMAC_SHA256,
    **{f"PQ_SIGN_ML_DSA_{n}": Algorithm.parse(f"ml-dsa-{n}") for n in (44, 65, 87)},
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
