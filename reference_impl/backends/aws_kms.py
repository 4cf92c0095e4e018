"""AWS KMS (or an emulator: the ``aws-kms`` moto layer, LocalStack) as a :class:`~..signer.KeyBackend`.

* Algorithms: ``hmac-sha256`` via GenerateMac/VerifyMac ``HMAC_SHA_256`` (``HMAC_256`` keys);
  ``rsa-sha256`` / ``rsa-pss-sha256`` / ``ecdsa-p256-sha256`` via Sign/Verify with
  ``MessageType=DIGEST`` (``RSA_2048`` / ``ECC_NIST_P256`` keys); ``ed25519`` via
  ``ED25519_SHA_512`` with ``MessageType=RAW`` over the 32 digest bytes (``ECC_NIST_EDWARDS25519``);
  ``ml-dsa-44/65/87`` via ``ML_DSA_SHAKE_256`` with ``MessageType=RAW`` over the 32 digest bytes
  (``ML_DSA_44/65/87``: pure ML-DSA, empty context), or, with ``ml_dsa_message_type="EXTERNAL_MU"``,
  over the 64-byte mu of the digest computed here from the public key (the same signature, per AWS).
* Rotation: KMS cannot rotate asymmetric or HMAC keys, so each ring version is a new KMS key and
  the alias ``alias/<namespace>/<label>`` is repointed to the newest one. kid = ``<label>-v<N>``;
  the KMS KeyId is the :attr:`~..signer.BackendKey.ref`, so signing names the exact key, never the alias.
* Revocation (:meth:`AwsKmsBackend.disable`): ``DisableKey`` (KMS then answers ``DisabledException``),
  plus ``ScheduleKeyDeletion`` when ``deletion_window_days`` is set.
* Public keys come from ``GetPublicKey`` (DER SPKI) and are checked against the algorithm.

botocore errors are translated once, by :func:`translate`, into :class:`~..errors.BackendError`
(or :class:`~..errors.InvalidSignature` for a signature or MAC KMS rejects).

Over our ~400-line rule on purpose: one backend, the KMS call for each algorithm family side by
side (they differ in a line or two); split by family, a reader would compare across files.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pytest_kmsconform import kinds

from ..algorithms import Algorithm
from ..canonical import require_digest
from ..clock import Clock, utc_now
from ..errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KmsConformError,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from ..jwk import public_key_from_der_or_pem
from ..primitives import PublicKey, check_key_matches, ml_dsa_mu
from ..signer import BackendKey
from .aws_credentials import web_identity_configured, web_identity_credentials

if TYPE_CHECKING:
    from .aws_kms_signer import AwsKmsSigner

BACKEND_NAME = kinds.AWS_KMS
T = TypeVar("T")


@dataclass(frozen=True)
class KmsAlgorithm:
    """How one of our algorithms is done in KMS."""

    key_spec: str
    key_usage: str
    kms_name: str  # SigningAlgorithm or MacAlgorithm
    message_type: str | None  # None for MACs


KMS_ALGORITHMS: dict[Algorithm, KmsAlgorithm] = {
    Algorithm.ED25519: KmsAlgorithm("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "ED25519_SHA_512", "RAW"),
    Algorithm.RSA_SHA256: KmsAlgorithm("RSA_2048", "SIGN_VERIFY", "RSASSA_PKCS1_V1_5_SHA_256", "DIGEST"),
    Algorithm.RSA_PSS_SHA256: KmsAlgorithm("RSA_2048", "SIGN_VERIFY", "RSASSA_PSS_SHA_256", "DIGEST"),
    Algorithm.ECDSA_P256_SHA256: KmsAlgorithm("ECC_NIST_P256", "SIGN_VERIFY", "ECDSA_SHA_256", "DIGEST"),
    Algorithm.HMAC_SHA256: KmsAlgorithm("HMAC_256", "GENERATE_VERIFY_MAC", "HMAC_SHA_256", None),
    Algorithm.ML_DSA_44: KmsAlgorithm("ML_DSA_44", "SIGN_VERIFY", "ML_DSA_SHAKE_256", "RAW"),
    Algorithm.ML_DSA_65: KmsAlgorithm("ML_DSA_65", "SIGN_VERIFY", "ML_DSA_SHAKE_256", "RAW"),
    Algorithm.ML_DSA_87: KmsAlgorithm("ML_DSA_87", "SIGN_VERIFY", "ML_DSA_SHAKE_256", "RAW"),
}
ML_DSA_MESSAGE_TYPES = ("RAW", "EXTERNAL_MU")

# AWS error code -> our failure class. Anything else: INTERNAL for 5xx, INVALID_REQUEST for 4xx.
ERROR_CODES: dict[str, BackendErrorCode] = {
    "ThrottlingException": BackendErrorCode.THROTTLED,
    "LimitExceededException": BackendErrorCode.THROTTLED,
    "DisabledException": BackendErrorCode.DISABLED,
    "KMSInvalidStateException": BackendErrorCode.INVALID_STATE,
    "NotFoundException": BackendErrorCode.NOT_FOUND,
    "AccessDeniedException": BackendErrorCode.ACCESS_DENIED,
    "UnrecognizedClientException": BackendErrorCode.ACCESS_DENIED,
    "InvalidSignatureException": BackendErrorCode.ACCESS_DENIED,  # the request's SigV4 signature
    "ExpiredTokenException": BackendErrorCode.ACCESS_DENIED,
    "KMSInternalException": BackendErrorCode.INTERNAL,
    "InternalFailure": BackendErrorCode.INTERNAL,
    "DependencyTimeoutException": BackendErrorCode.TIMEOUT,
    "KeyUnavailableException": BackendErrorCode.UNAVAILABLE,
    "ServiceUnavailable": BackendErrorCode.UNAVAILABLE,
    "ValidationException": BackendErrorCode.INVALID_REQUEST,
    "InvalidKeyUsageException": BackendErrorCode.INVALID_REQUEST,
    "UnsupportedOperationException": BackendErrorCode.INVALID_REQUEST,
    "IncorrectKeyException": BackendErrorCode.INVALID_REQUEST,
}
SIGNATURE_REJECTED = frozenset({"KMSInvalidSignatureException", "KMSInvalidMacException"})


def translate(exc: Exception, operation: str) -> KmsConformError:
    """The typed error for a botocore failure of ``operation`` (ClientError, connection, timeout)."""
    from botocore import exceptions as bexc

    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in SIGNATURE_REJECTED:
            return InvalidSignature(f"AWS KMS {operation}: {code}")
        mapped = ERROR_CODES.get(code, BackendErrorCode.INTERNAL if status >= 500 else BackendErrorCode.INVALID_REQUEST)
        return BackendError(
            f"AWS KMS {operation} failed: {code}: {error.get('Message', '')}".rstrip(": "),
            code=mapped,
            backend=BACKEND_NAME,
            detail=code,
        )
    if isinstance(exc, bexc.ConnectTimeoutError | bexc.ReadTimeoutError):
        return BackendError(f"AWS KMS {operation} timed out", code=BackendErrorCode.TIMEOUT, backend=BACKEND_NAME)
    if isinstance(exc, bexc.EndpointConnectionError | bexc.ConnectionClosedError):
        return BackendError(
            f"AWS KMS {operation}: cannot connect: {exc}", code=BackendErrorCode.UNAVAILABLE, backend=BACKEND_NAME
        )
    if isinstance(exc, bexc.NoCredentialsError | bexc.PartialCredentialsError):
        return BackendError(
            f"AWS KMS {operation}: no usable AWS credentials", code=BackendErrorCode.ACCESS_DENIED, backend=BACKEND_NAME
        )
    if isinstance(exc, bexc.BotoCoreError):
        return BackendError(f"AWS KMS {operation}: {exc}", code=BackendErrorCode.INTERNAL, backend=BACKEND_NAME)
    raise exc


def call(operation: str, fn: Callable[[], T]) -> T:
    """Run one KMS call, translating its failure (the one place botocore errors are caught)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn()
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, operation) from exc


_ALIAS_UNSAFE = re.compile(r"[^A-Za-z0-9/_-]")
_VERSION = re.compile(r"-v(\d+)$")


def alias_name(namespace: str, label: str) -> str:
    """``alias/<namespace>/<label>`` with characters KMS refuses replaced by ``-``."""
    name = f"alias/{_ALIAS_UNSAFE.sub('-', namespace)}/{_ALIAS_UNSAFE.sub('-', label)}"
    if name.startswith("alias/aws/"):
        raise ConfigurationError("alias names under alias/aws/ are reserved by AWS")
    return name


def public_key_from_response(alg: Algorithm, response: Mapping[str, Any]) -> PublicKey:
    """The public key of a GetPublicKey answer, checked against ``alg``."""
    try:
        key = public_key_from_der_or_pem(bytes(response["PublicKey"]))
        check_key_matches(alg, key)
    except (KeyError, KmsConformError) as exc:
        raise BackendError(
            f"AWS KMS GetPublicKey returned no usable {alg.value} public key: {exc}",
            code=BackendErrorCode.CORRUPT_RESPONSE,
            backend=BACKEND_NAME,
        ) from None
    return key


def algorithm_for_key(metadata: Mapping[str, Any]) -> Algorithm:
    """Our algorithm for a key's DescribeKey metadata (RSA keys default to ``rsa-sha256``)."""
    spec, usage = metadata.get("KeySpec"), metadata.get("KeyUsage")
    for alg in (
        Algorithm.RSA_SHA256,
        Algorithm.ECDSA_P256_SHA256,
        Algorithm.ED25519,
        Algorithm.HMAC_SHA256,
        Algorithm.ML_DSA_44,
        Algorithm.ML_DSA_65,
        Algorithm.ML_DSA_87,
    ):
        wanted = KMS_ALGORITHMS[alg]
        if (wanted.key_spec, wanted.key_usage) == (spec, usage):
            return alg
    raise UnsupportedAlgorithm(
        f"KMS key spec {spec}/{usage} has no kmsconform algorithm", UnsupportedReason.KEY_TYPE_MISMATCH
    )


class AwsKmsBackend:
    """Key versions as KMS keys behind one alias per label (see the module docstring).

    :param client: a boto3 KMS client (real AWS or an emulator's ``endpoint_url``).
    :param namespace: first alias component; keeps runs and xdist workers apart.
    :param deletion_window_days: when set (7..30), revocation also schedules the key's deletion.
    :param unsupported: algorithms this KMS cannot do, with the reason (from the handle's
        ``AwsKmsDetails.unsupported``, algorithm -> reason).
    :param ml_dsa_message_type: how ML-DSA digests are sent: ``"RAW"`` (the 32 bytes) or
        ``"EXTERNAL_MU"`` (their FIPS 204 mu, computed here; AWS's answer is the same signature).
    """

    name = BACKEND_NAME

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "kmsconform",
        deletion_window_days: int | None = None,
        unsupported: Mapping[Algorithm, str] | None = None,
        ml_dsa_message_type: str = "RAW",
    ) -> None:
        if deletion_window_days is not None and not 7 <= deletion_window_days <= 30:
            raise ConfigurationError("deletion_window_days must be between 7 and 30 (AWS KMS's window)")
        if ml_dsa_message_type not in ML_DSA_MESSAGE_TYPES:
            raise ConfigurationError(f"ml_dsa_message_type must be one of {ML_DSA_MESSAGE_TYPES}")
        self.ml_dsa_message_type = ml_dsa_message_type
        self._public_keys: dict[str, PublicKey] = {}
        self.client = client
        self.namespace = namespace
        self.deletion_window_days = deletion_window_days
        self.unsupported: dict[Algorithm, str] = dict(unsupported or {})
        self._lock = threading.Lock()

    def algorithms(self) -> frozenset[Algorithm]:
        """Every algorithm of :data:`KMS_ALGORITHMS`, less what this KMS declares it cannot do
        (LocalStack: no Ed25519, no ML-DSA)."""
        return frozenset(KMS_ALGORITHMS) - set(self.unsupported)

    def _spec(self, key: BackendKey) -> KmsAlgorithm:
        return KMS_ALGORITHMS[key.alg]

    def _message(self, key: BackendKey, digest: bytes) -> tuple[bytes, str]:
        """What Sign/Verify are given for ``digest``: the message and its MessageType."""
        spec = self._spec(key)
        assert spec.message_type is not None
        if key.alg.is_ml_dsa and self.ml_dsa_message_type == "EXTERNAL_MU":
            public = self.public_key(key)
            assert public is not None
            return ml_dsa_mu(public, digest), "EXTERNAL_MU"
        return digest, spec.message_type

    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        if alg in self.unsupported:
            raise UnsupportedAlgorithm(
                f"{alg.value} on this KMS: {self.unsupported[alg]}", UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM
            )
        spec = KMS_ALGORITHMS[alg]
        version = 1
        if previous is not None:
            match = _VERSION.search(previous.kid)
            version = int(match.group(1)) + 1 if match else 2
        alias = alias_name(self.namespace, label)
        with self._lock:
            created = call(
                "CreateKey",
                lambda: self.client.create_key(
                    KeySpec=spec.key_spec,
                    KeyUsage=spec.key_usage,
                    Description=f"kmsconform {label} v{version} ({alg.value})",
                    Tags=[
                        {"TagKey": "kmsconform:namespace", "TagValue": self.namespace[:256]},
                        {"TagKey": "kmsconform:label", "TagValue": label[:256]},
                        {"TagKey": "kmsconform:version", "TagValue": str(version)},
                    ],
                ),
            )
            key_id = str(created["KeyMetadata"]["KeyId"])
            if previous is None and not self._alias_exists(alias):
                call("CreateAlias", lambda: self.client.create_alias(AliasName=alias, TargetKeyId=key_id))
            else:
                call("UpdateAlias", lambda: self.client.update_alias(AliasName=alias, TargetKeyId=key_id))
        return BackendKey(kid=f"{label}-v{version}", alg=alg, ref=key_id)

    def _alias_exists(self, alias: str) -> bool:
        try:
            call("DescribeKey", lambda: self.client.describe_key(KeyId=alias))
        except BackendError as exc:
            if exc.code is BackendErrorCode.NOT_FOUND:
                return False
            raise
        return True

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        digest = require_digest(digest)
        spec = self._spec(key)
        if spec.message_type is None:
            response = call(
                "GenerateMac",
                lambda: self.client.generate_mac(KeyId=key.ref, Message=digest, MacAlgorithm=spec.kms_name),
            )
            return bytes(response["Mac"])
        message, message_type = self._message(key, digest)
        response = call(
            "Sign",
            lambda: self.client.sign(
                KeyId=key.ref, Message=message, MessageType=message_type, SigningAlgorithm=spec.kms_name
            ),
        )
        return bytes(response["Signature"])

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        digest = require_digest(digest)
        if not signature:
            raise InvalidSignature(f"empty {key.alg.value} signature")
        spec = self._spec(key)
        if spec.message_type is None:
            response = call(
                "VerifyMac",
                lambda: self.client.verify_mac(
                    KeyId=key.ref, Message=digest, MacAlgorithm=spec.kms_name, Mac=signature
                ),
            )
            valid = response.get("MacValid")
        else:
            message, message_type = self._message(key, digest)
            response = call(
                "Verify",
                lambda: self.client.verify(
                    KeyId=key.ref,
                    Message=message,
                    MessageType=message_type,
                    Signature=signature,
                    SigningAlgorithm=spec.kms_name,
                ),
            )
            valid = response.get("SignatureValid")
        if valid is not True:  # real KMS raises instead; an emulator may answer False
            raise InvalidSignature(f"AWS KMS rejected the {key.alg.value} signature of {key.kid}")

    def public_key(self, key: BackendKey) -> PublicKey | None:
        if key.alg.is_symmetric:
            return None
        cached = self._public_keys.get(key.ref)
        if cached is None:
            cached = public_key_from_response(
                key.alg, call("GetPublicKey", lambda: self.client.get_public_key(KeyId=key.ref))
            )
            self._public_keys[key.ref] = cached  # a KMS key's public key never changes
        return cached

    def disable(self, key: BackendKey) -> None:
        call("DisableKey", lambda: self.client.disable_key(KeyId=key.ref))
        if self.deletion_window_days is not None:
            days = self.deletion_window_days
            call(
                "ScheduleKeyDeletion",
                lambda: self.client.schedule_key_deletion(KeyId=key.ref, PendingWindowInDays=days),
            )

    def close(self) -> None:
        """Close the HTTP connections; the keys stay in KMS."""
        closer = getattr(self.client, "close", None)
        if closer is not None:
            closer()


def kms_client(credentials: Any = None, **kwargs: Any) -> Any:
    """A boto3 KMS client with the SDK's own retries off: the reference signer retries through
    :class:`~..retry.Retrier` (one bounded policy; stacked, the two made 25 attempts per call).
    ``credentials``: botocore credentials (refreshable ones, from :mod:`.aws_credentials`)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigurationError(
            f"the AWS KMS signer needs boto3 (pip install 'pytest-kmsconform[aws]'): {exc}"
        ) from None
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    if credentials is not None:
        from .aws_credentials import client_with_credentials

        return client_with_credentials("kms", credentials, config=config, **kwargs)
    return boto3.client("kms", config=config, **kwargs)


def client_from_env(env: Mapping[str, str], *, clock: Clock = utc_now) -> Any:
    """A boto3 KMS client from an environment mapping (not ``os.environ``).

    ``AWS_REGION`` or ``AWS_DEFAULT_REGION`` is required; ``AWS_ENDPOINT_URL_KMS`` /
    ``AWS_ENDPOINT_URL`` select an emulator; credentials come from ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` when set, else from ``AWS_ROLE_ARN`` +
    ``AWS_WEB_IDENTITY_TOKEN_FILE`` (short-lived, refreshed before they expire on ``clock``:
    :mod:`.aws_credentials`), else boto3's default chain.
    """
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError("AWS KMS signer needs AWS_REGION or AWS_DEFAULT_REGION")
    kwargs: dict[str, Any] = {"region_name": region}
    endpoint = env.get("AWS_ENDPOINT_URL_KMS") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_SECRET_ACCESS_KEY"):
        if not (env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY")):
            raise ConfigurationError("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither")
        kwargs["aws_access_key_id"] = env["AWS_ACCESS_KEY_ID"]
        kwargs["aws_secret_access_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            kwargs["aws_session_token"] = env["AWS_SESSION_TOKEN"]
    elif web_identity_configured(env):
        return kms_client(web_identity_credentials(env, region=region, clock=clock), **kwargs)
    return kms_client(**kwargs)


def key_backend_from_env(env: Mapping[str, str], namespace: str) -> AwsKmsBackend:
    """An :class:`AwsKmsBackend` from the client variables of :func:`client_from_env`; aliases under ``namespace``."""
    return AwsKmsBackend(client_from_env(env), namespace=namespace)


def signer_from_env(env: Mapping[str, str], *, clock: Clock = utc_now) -> AwsKmsSigner:
    """The seed's AWS KMS signer: ``AUDIT_SIGNING_KMS_KEY_ID`` (KeyId, key ARN, alias name or alias
    ARN; required), ``AUDIT_SIGNING_ALG`` (optional: default from the key's spec), the region,
    endpoint and credential variables of :func:`client_from_env` (``clock``: when web identity
    credentials are refreshed)."""
    from .aws_kms_signer import AwsKmsSigner

    key_id = env.get("AUDIT_SIGNING_KMS_KEY_ID")
    if not key_id:
        raise ConfigurationError("AWS KMS signer needs AUDIT_SIGNING_KMS_KEY_ID")
    alg = None
    if env.get("AUDIT_SIGNING_ALG"):
        try:
            alg = Algorithm.parse(env["AUDIT_SIGNING_ALG"])
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None
    return AwsKmsSigner.open(AwsKmsBackend(client_from_env(env, clock=clock)), key_id, alg)
