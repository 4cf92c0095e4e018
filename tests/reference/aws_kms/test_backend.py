"""AwsKmsBackend + KeyRing + RingSigner against the aws-kms emulator, and the env signer."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.aws_kms import (
    AwsKmsBackend,
    signer_from_env,
    translate,
)
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyRevoked,
    KeyStateError,
    UnsupportedAlgorithm,
)
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest

from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.key_backends import aws_kms_from_handle, key_backend_for, kms_client_for

DIGEST = hashlib.sha256(b"audit record").digest()


@pytest.mark.parametrize("alg", list(Algorithm), ids=str)
def test_ring_rotates_signs_and_verifies(handle: BackendHandle, alg: Algorithm, supports: dict[Algorithm, str]) -> None:
    backend = key_backend_for(handle)
    if alg in supports:
        assert alg not in backend.algorithms()
        with pytest.raises(UnsupportedAlgorithm):
            KeyRing(backend, alg, "gap")
        pytest.skip(f"{handle.name} cannot do {alg.value}: {supports[alg]}")
    ring = KeyRing(backend, alg, f"ring-{alg.value}")
    first = ring.rotate()
    signer = RingSigner(ring)
    sig1 = signer.sign_digest(DIGEST)
    assert sig1.kid == first.kid == f"ring-{alg.value}-v1"
    second = ring.rotate()
    assert second.kid == f"ring-{alg.value}-v2" and second.key.ref != first.key.ref
    sig2 = signer.sign_digest(DIGEST)
    assert sig2.kid == second.kid
    for sig in (sig1, sig2):  # the old version keeps verifying, online and offline
        signer.verify_signature(DIGEST, sig)
        backend.verify(ring.get(sig.kid).key, DIGEST, sig.value)
    with pytest.raises(InvalidSignature):
        backend.verify(second.key, DIGEST, sig1.value)  # a signature does not verify under another key
    jwks = signer.jwks()["keys"]
    if alg.is_symmetric:
        assert jwks == []
    else:
        assert [k["kid"] for k in jwks] == [first.kid, second.kid]
        verify_digest(alg, jwk_to_public_key(jwks[1]), DIGEST, sig2.value)
    alias = f"alias/kmsconform-test/ring-{alg.value}"
    assert backend.client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == second.key.ref


@pytest.mark.parametrize("alg", [Algorithm.ML_DSA_44, Algorithm.ML_DSA_65, Algorithm.ML_DSA_87], ids=str)
def test_ml_dsa_external_mu_signs_what_raw_signs(
    handle: BackendHandle, alg: Algorithm, supports: dict[Algorithm, str]
) -> None:
    """MessageType=EXTERNAL_MU over the mu of the digest gives a signature that verifies as pure
    ML-DSA over the digest (AWS: "the same as the RAW ones"): the two modes are interchangeable."""
    if alg in supports:
        pytest.skip(f"{handle.name} cannot do {alg.value}: {supports[alg]}")
    raw = aws_kms_from_handle(handle)
    assert isinstance(raw, AwsKmsBackend)
    mu = AwsKmsBackend(raw.client, namespace=handle.namespace, ml_dsa_message_type="EXTERNAL_MU")
    key = raw.create_key(alg, f"mu-{alg.value}", None)
    public = raw.public_key(key)
    assert public is not None
    by_mu, by_raw = mu.sign(key, DIGEST), raw.sign(key, DIGEST)
    for signature in (by_mu, by_raw):
        verify_digest(alg, public, DIGEST, signature)  # the contract's offline verification
        raw.verify(key, DIGEST, signature)
        mu.verify(key, DIGEST, signature)
    with pytest.raises(InvalidSignature):
        mu.verify(key, hashlib.sha256(b"another record").digest(), by_mu)
    with pytest.raises(ConfigurationError):
        AwsKmsBackend(raw.client, ml_dsa_message_type="DIGEST")


def test_revocation_makes_kms_refuse(handle: BackendHandle) -> None:
    backend = key_backend_for(handle)
    ring = KeyRing(backend, Algorithm.ECDSA_P256_SHA256, "revoked")
    version = ring.rotate()
    signer = RingSigner(ring)
    before = signer.sign_digest(DIGEST)
    ring.revoke(version.kid, reason="test")
    with pytest.raises(BackendError) as exc:
        backend.sign(version.key, DIGEST)
    assert exc.value.code is BackendErrorCode.DISABLED and not exc.value.retryable
    with pytest.raises(KeyStateError):  # the ring has no active key left
        signer.sign_digest(DIGEST)
    with pytest.raises(KeyRevoked):
        signer.verify_signature(DIGEST, before)


def test_revocation_with_deletion_window(handle: BackendHandle) -> None:
    backend = AwsKmsBackend(kms_client_for(handle), namespace="del", deletion_window_days=7)
    key = backend.create_key(Algorithm.ECDSA_P256_SHA256, "doomed", None)
    backend.disable(key)
    with pytest.raises(BackendError) as exc:
        backend.sign(key, DIGEST)
    assert exc.value.code is BackendErrorCode.INVALID_STATE
    with pytest.raises(ConfigurationError):
        AwsKmsBackend(backend.client, deletion_window_days=3)


def test_tampered_signature_is_invalid(handle: BackendHandle) -> None:
    backend = key_backend_for(handle)
    for alg in (Algorithm.HMAC_SHA256, Algorithm.ECDSA_P256_SHA256):
        key = backend.create_key(alg, f"tamper-{alg.value}", None)
        value = bytearray(backend.sign(key, DIGEST))
        value[0] ^= 1
        with pytest.raises(InvalidSignature):
            backend.verify(key, DIGEST, bytes(value))


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Sign"
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ThrottlingException", BackendErrorCode.THROTTLED),
        ("DisabledException", BackendErrorCode.DISABLED),
        ("KMSInvalidStateException", BackendErrorCode.INVALID_STATE),
        ("NotFoundException", BackendErrorCode.NOT_FOUND),
        ("AccessDeniedException", BackendErrorCode.ACCESS_DENIED),
        ("KMSInternalException", BackendErrorCode.INTERNAL),
        ("DependencyTimeoutException", BackendErrorCode.TIMEOUT),
        ("ValidationException", BackendErrorCode.INVALID_REQUEST),
    ],
)
def test_translate_codes(code: str, expected: BackendErrorCode) -> None:
    error = translate(_client_error(code), "Sign")
    assert isinstance(error, BackendError)
    assert (error.code, error.detail, error.backend) == (expected, code, "aws-kms")


def test_translate_other_failures() -> None:
    assert isinstance(translate(_client_error("KMSInvalidSignatureException"), "Verify"), InvalidSignature)
    assert isinstance(translate(_client_error("KMSInvalidMacException"), "VerifyMac"), InvalidSignature)
    unknown5xx = translate(_client_error("SomethingNew", 503), "Sign")
    assert isinstance(unknown5xx, BackendError) and unknown5xx.code is BackendErrorCode.INTERNAL
    unreachable = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "Sign")
    assert isinstance(unreachable, BackendError) and unreachable.code is BackendErrorCode.UNAVAILABLE
    slow = translate(ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), "Sign")
    assert isinstance(slow, BackendError) and slow.code is BackendErrorCode.TIMEOUT and slow.retryable


def _env(handle: BackendHandle, **extra: str) -> dict[str, str]:
    return {**handle.env, **extra}


@pytest.mark.parametrize("form", ["key-id", "arn", "alias", "alias-arn"])
def test_signer_from_env_resolves_every_key_id_form(handle: BackendHandle, form: str) -> None:
    client: Any = kms_client_for(handle)
    meta = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    alias = f"alias/env-{form}"
    client.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    alias_arn = meta["Arn"].split(":key/")[0] + ":" + alias
    ref = {"key-id": meta["KeyId"], "arn": meta["Arn"], "alias": alias, "alias-arn": alias_arn}[form]
    signer = signer_from_env(_env(handle, AUDIT_SIGNING_KMS_KEY_ID=ref, AUDIT_SIGNING_ALG="rsa-sha256"))
    assert signer.kid == f"aws-kms:{meta['KeyId']}"
    signature = signer.sign_digest(DIGEST)
    signer.verify_signature(DIGEST, signature)
    (jwk,) = signer.jwks()["keys"]
    verify_digest(Algorithm.RSA_SHA256, jwk_to_public_key(jwk), DIGEST, signature.value)


def test_signer_from_env_defaults_and_checks_alg(handle: BackendHandle) -> None:
    client: Any = kms_client_for(handle)
    mac_key = client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    signer = signer_from_env(_env(handle, AUDIT_SIGNING_KMS_KEY_ID=mac_key))
    assert signer.alg is Algorithm.HMAC_SHA256 and signer.jwks() == {"keys": []}
    signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))
    with pytest.raises(ConfigurationError, match="needs a"):
        signer_from_env(_env(handle, AUDIT_SIGNING_KMS_KEY_ID=mac_key, AUDIT_SIGNING_ALG="ed25519"))


@pytest.mark.parametrize(
    ("drop", "extra", "message"),
    [
        ("AUDIT_SIGNING_KMS_KEY_ID", {}, "AUDIT_SIGNING_KMS_KEY_ID"),
        ("AWS_REGION", {"AWS_DEFAULT_REGION": ""}, "AWS_REGION"),
        (None, {"AUDIT_SIGNING_ALG": "rsa-sha1"}, "AUDIT_SIGNING_ALG"),
        (None, {"AUDIT_SIGNING_KMS_KEY_ID": "alias/does-not-exist"}, "NotFoundException"),
    ],
)
def test_signer_from_env_errors(handle: BackendHandle, drop: str | None, extra: dict[str, str], message: str) -> None:
    env = _env(handle, **{"AUDIT_SIGNING_KMS_KEY_ID": "alias/whatever", **extra})
    if drop:
        env.pop(drop)
    with pytest.raises(ConfigurationError, match=message):
        signer_from_env(env)


def test_signer_honours_default_region_and_endpoint(handle: BackendHandle) -> None:
    client: Any = kms_client_for(handle)
    key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    env = _env(handle, AUDIT_SIGNING_KMS_KEY_ID=key)
    env.pop("AWS_REGION")
    signer = signer_from_env(env)
    assert signer.alg is Algorithm.ECDSA_P256_SHA256
    signer.sign_digest(DIGEST)


def test_handle_of_other_kind_is_refused(handle: BackendHandle) -> None:
    other = BackendHandle(name="vault", kind="vault", env={}, version="x")
    with pytest.raises(ConfigurationError):
        aws_kms_from_handle(other)


def test_declared_gap_refuses_key_creation(handle: BackendHandle) -> None:
    backend = AwsKmsBackend(kms_client_for(handle), unsupported={Algorithm.ED25519: "no Ed25519"})
    assert Algorithm.ED25519 not in backend.algorithms()
    with pytest.raises(UnsupportedAlgorithm, match="no Ed25519"):
        backend.create_key(Algorithm.ED25519, "gap", None)
