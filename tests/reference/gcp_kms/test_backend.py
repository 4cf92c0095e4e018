"""The reference Cloud KMS key backend and seed 002's GcpKmsSigner, on the gcp-kms emulator,
built from the handle's environment alone (REST by default, gRPC on request)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.gcp_kms.provider import GcpKmsDetails

pytest.importorskip("google.cloud.kms_v1", reason="needs the gcp extra (pip install 'pytest-kmsconform[gcp]')")

from google.cloud import kms_v1 as k
from pytest_kmsconform.emulators.faults import plan_from_dict
from pytest_kmsconform.emulators.gcp_kms.provider import PROVIDER
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends import gcp_kms
from pytest_kmsconform.reference_impl.backends.gcp_kms_signer import GcpKmsSigner
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
)
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.verifier import Verifier

from pytest_kmsconform.backend_api import BackendHandle

DIGEST = hashlib.sha256(b"audit record").digest()


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    with PROVIDER.start(namespace="kc-test-ref", options={"seed": "ref"}) as h:
        yield h
        assert h.check is not None
        h.check()


@pytest.fixture(params=["rest", "grpc"])
def backend(request: pytest.FixtureRequest, handle: BackendHandle) -> Iterator[gcp_kms.GcpKmsBackend]:
    env = dict(handle.env)
    if request.param == "grpc":
        env["KMS_EMULATOR_TRANSPORT"] = "grpc"
    b = gcp_kms.GcpKmsBackend(gcp_kms.client_from_env(env), gcp_kms.key_ring_from_env(env))
    yield b
    b.close()


@pytest.mark.parametrize("alg", list(Algorithm), ids=str)
def test_ring_signs_rotates_and_revokes(backend: gcp_kms.GcpKmsBackend, alg: Algorithm, request: Any) -> None:
    label = f"ring-{alg.value}-{request.node.callspec.id.split('-')[0]}"
    ring = KeyRing(backend, alg, label)
    first = ring.rotate()
    assert first.kid == f"{label}-v1" and first.key.ref.endswith("/cryptoKeyVersions/1")
    signer = RingSigner(ring)
    sig = signer.sign_digest(DIGEST)
    signer.verify_signature(DIGEST, sig)
    if not alg.is_symmetric:
        Verifier(signer.jwks()).verify_signature(DIGEST, sig)  # offline, from the key set alone
    second = ring.rotate()
    assert second.key.ref.endswith("/cryptoKeyVersions/2")  # rotation is a new version of the same key
    ring.revoke(first.kid, "test")
    with pytest.raises(BackendError) as info:
        backend.sign(first.key, DIGEST)
    assert info.value.code is BackendErrorCode.DISABLED
    signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))


def test_a_flipped_signature_bit_is_caught_by_the_crc(handle: BackendHandle) -> None:
    b = gcp_kms.key_backend_from_env(handle.env, handle.namespace)
    key = b.create_key(Algorithm.ED25519, "crc-check", None)
    emulator = handle.require_detail(GcpKmsDetails).emulator
    emulator.faults.plan = plan_from_dict(
        {"seed": 1, "rules": [{"operation": "AsymmetricSign", "fault": "corrupt_signature"}]}
    )
    try:
        with pytest.raises(BackendError) as info:
            b.sign(key, DIGEST)
        assert info.value.code is BackendErrorCode.CORRUPT_RESPONSE and "signature_crc32c" in str(info.value)
    finally:
        emulator.faults.plan = None
    b.sign(key, DIGEST)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("RESOURCE_EXHAUSTED", BackendErrorCode.THROTTLED),
        ("UNAVAILABLE", BackendErrorCode.UNAVAILABLE),
        ("ThrottlingException", BackendErrorCode.THROTTLED),  # another backend's name: by class
        ("PERMISSION_DENIED", BackendErrorCode.ACCESS_DENIED),
    ],
)
def test_service_errors_are_typed(handle: BackendHandle, error: str, code: BackendErrorCode) -> None:
    b = gcp_kms.key_backend_from_env(handle.env, handle.namespace)
    key = b.create_key(Algorithm.HMAC_SHA256, f"typed-{error}", None)
    emulator = handle.require_detail(GcpKmsDetails).emulator
    emulator.faults.plan = plan_from_dict({"rules": [{"operation": "MacSign", "fault": "error", "error": error}]})
    try:
        with pytest.raises(BackendError) as info:
            b.sign(key, DIGEST)
        assert info.value.code is code
    finally:
        emulator.faults.plan = None


def test_mac_verify_rejects_a_wrong_mac(handle: BackendHandle) -> None:
    b = gcp_kms.key_backend_from_env(handle.env, handle.namespace)
    key = b.create_key(Algorithm.HMAC_SHA256, "mac-verify", None)
    mac = b.sign(key, DIGEST)
    b.verify(key, DIGEST, mac)
    with pytest.raises(InvalidSignature):
        b.verify(key, DIGEST, mac[:-1] + bytes([mac[-1] ^ 1]))


def _version(handle: BackendHandle, key_id: str, alg: Any) -> str:
    client = handle.require_detail(GcpKmsDetails).emulator.rest_client()
    ring = gcp_kms.key_ring_from_env(handle.env)
    key = client.create_crypto_key(
        request={
            "parent": ring,
            "crypto_key_id": key_id,
            "crypto_key": {
                "purpose": k.CryptoKey.CryptoKeyPurpose.ASYMMETRIC_SIGN,
                "version_template": {"algorithm": alg},
            },
        }
    )
    gcp_kms.GcpKmsBackend(client, ring).wait_until_enabled(f"{key.name}/cryptoKeyVersions/1")
    return str(key.name)


def test_signer_from_env_seed_002(handle: BackendHandle) -> None:
    _version(handle, "a1-root", k.CryptoKeyVersion.CryptoKeyVersionAlgorithm.EC_SIGN_ED25519)
    env = {**handle.env, "A1_GCP_KEY": "a1-root", "A1_GCP_KEY_VERSION": "1"}
    signer = gcp_kms.signer_from_env(env)
    assert signer.alg is Algorithm.ED25519 and signer.kid.endswith("/cryptoKeys/a1-root/cryptoKeyVersions/1")
    sig = signer.sign_digest(DIGEST)
    Verifier(signer.jwks()).verify_signature(DIGEST, sig)
    signer.close()
    with pytest.raises(ConfigurationError, match="AUDIT_SIGNING_ALG=rsa-sha256"):
        gcp_kms.signer_from_env({**env, "AUDIT_SIGNING_ALG": "rsa-sha256"})
    with pytest.raises(ConfigurationError, match="A1_GCP_KEY_VERSION"):
        gcp_kms.signer_from_env({k_: v for k_, v in env.items() if k_ != "A1_GCP_KEY_VERSION"})
    with pytest.raises(ConfigurationError, match="not found"):
        gcp_kms.signer_from_env({**env, "A1_GCP_KEY_VERSION": "7"})


def test_signer_shape_of_seed_002(handle: BackendHandle) -> None:
    _version(handle, "passport-root", k.CryptoKeyVersion.CryptoKeyVersionAlgorithm.EC_SIGN_P256_SHA256)
    signer = GcpKmsSigner(
        project=handle.env["A1_GCP_PROJECT"],
        location=handle.env["A1_GCP_LOCATION"],
        key_ring=handle.env["A1_GCP_KEY_RING"],
        key="passport-root",
        key_version="1",
        client=handle.require_detail(GcpKmsDetails).emulator.grpc_client(),
    )
    assert signer.alg is Algorithm.ECDSA_P256_SHA256
    signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))
    signer.close()


def test_unsupported_native_algorithm_is_a_configuration_error(handle: BackendHandle) -> None:
    _version(handle, "p384", k.CryptoKeyVersion.CryptoKeyVersionAlgorithm.EC_SIGN_P384_SHA384)
    with pytest.raises(ConfigurationError, match="EC_SIGN_P384_SHA384"):
        gcp_kms.signer_from_env({**handle.env, "A1_GCP_KEY": "p384", "A1_GCP_KEY_VERSION": "1"})
