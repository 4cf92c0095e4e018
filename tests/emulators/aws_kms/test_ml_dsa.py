"""ML-DSA in the aws-kms layer (AWS KMS developer guide, "ML-DSA keys in AWS KMS"): key specs
ML_DSA_44/65/87 with ML_DSA_SHAKE_256; MessageType RAW (pure ML-DSA, empty context, up to 4096
bytes) or EXTERNAL_MU (the 64-byte FIPS 204 mu), never DIGEST. "The signatures produced by the
externally computed mu are the same as the RAW ones when using the same message and private key."

Checked with boto3 against the layer in process and over HTTP; plain moto 5.2.5 has no ML-DSA.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa
from pytest_kmsconform.emulators.aws_kms.models import FidelityKmsBackend, set_seed

Kms = Any
SIZES = {"ML_DSA_44": (1312, 2420, 1334), "ML_DSA_65": (1952, 3309, 1974), "ML_DSA_87": (2592, 4627, 2614)}
DIGEST = hashlib.sha256(b"kmsconform audit record").digest()


def _public(kms: Kms, key: str) -> mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey:
    der = bytes(kms.client.get_public_key(KeyId=key)["PublicKey"])
    public = serialization.load_der_public_key(der)
    assert isinstance(public, mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey)
    return public


def _mu(public: Any, message: bytes) -> bytes:
    hasher = mldsa.MLDSAMuHasher(public)
    hasher.update(message)
    return hasher.finalize()


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = exc.value.response["Error"]
    return str(error["Code"]), str(error.get("Message", ""))


@pytest.mark.parametrize("spec", sorted(SIZES))
def test_key_spec_describes_signs_and_publishes(fixed: Kms, spec: str) -> None:
    key = fixed.key(spec, "SIGN_VERIFY")
    metadata = fixed.client.describe_key(KeyId=key)["KeyMetadata"]
    assert metadata["KeySpec"] == spec and metadata["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
    response = fixed.client.get_public_key(KeyId=key)
    public_size, signature_size, spki_size = SIZES[spec]
    assert response["KeySpec"] == spec and response["SigningAlgorithms"] == ["ML_DSA_SHAKE_256"]
    assert len(response["PublicKey"]) == spki_size  # 1334 bytes for ML_DSA_44, as recorded from AWS (floci #3025)
    public = _public(fixed, key)
    assert len(public.public_bytes_raw()) == public_size
    signature = bytes(
        fixed.client.sign(KeyId=key, Message=DIGEST, MessageType="RAW", SigningAlgorithm="ML_DSA_SHAKE_256")[
            "Signature"
        ]
    )
    assert len(signature) == signature_size
    public.verify(signature, DIGEST)  # pure ML-DSA over the message, empty context
    with pytest.raises(InvalidSignature):
        public.verify(signature, DIGEST, b"kmsconform")  # not with a context


@pytest.mark.parametrize("spec", sorted(SIZES))
def test_external_mu_signature_verifies_as_the_raw_one(fixed: Kms, spec: str) -> None:
    key = fixed.key(spec, "SIGN_VERIFY")
    public = _public(fixed, key)
    mu = _mu(public, DIGEST)
    signature = bytes(
        fixed.client.sign(KeyId=key, Message=mu, MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")[
            "Signature"
        ]
    )
    public.verify(signature, DIGEST)  # the same as a RAW signature over the message
    # and KMS Verify takes it either way
    for message, mtype in ((DIGEST, "RAW"), (mu, "EXTERNAL_MU")):
        answer = fixed.client.verify(
            KeyId=key, Message=message, MessageType=mtype, Signature=signature, SigningAlgorithm="ML_DSA_SHAKE_256"
        )
        assert answer["SignatureValid"] is True
    raw = bytes(
        fixed.client.sign(KeyId=key, Message=DIGEST, MessageType="RAW", SigningAlgorithm="ML_DSA_SHAKE_256")[
            "Signature"
        ]
    )
    public.verify_mu(raw, mu)
    with pytest.raises(ClientError) as exc:
        fixed.client.verify(
            KeyId=key,
            Message=_mu(public, DIGEST[::-1]),
            MessageType="EXTERNAL_MU",
            Signature=raw,
            SigningAlgorithm="ML_DSA_SHAKE_256",
        )
    assert _error(exc)[0] == "KMSInvalidSignatureException"


def test_message_type_rules(fixed: Kms) -> None:
    key = fixed.key("ML_DSA_65", "SIGN_VERIFY")

    def sign(message: bytes, mtype: str, alg: str = "ML_DSA_SHAKE_256") -> tuple[str, str]:
        with pytest.raises(ClientError) as exc:
            fixed.client.sign(KeyId=key, Message=message, MessageType=mtype, SigningAlgorithm=alg)
        return _error(exc)

    # recorded from real AWS (floci #3025): DIGEST is refused for ML-DSA keys
    assert sign(DIGEST, "DIGEST") == (
        "ValidationException",
        "Message type DIGEST is incompatible with key spec ML_DSA_65.",
    )
    assert sign(b"\x01" * 63, "EXTERNAL_MU")[0] == "ValidationException"
    assert sign(b"\x01" * 65, "EXTERNAL_MU")[0] == "ValidationException"
    assert sign(b"\x01" * 4097, "RAW")[0] == "ValidationException"
    assert sign(DIGEST, "RAW", "ECDSA_SHA_256")[0] == "InvalidKeyUsageException"
    p256 = fixed.key("ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        fixed.client.sign(KeyId=p256, Message=b"\x01" * 64, MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256")
    assert _error(exc)[0] == "InvalidKeyUsageException"  # EXTERNAL_MU is for ML-DSA keys only
    with pytest.raises(ClientError) as exc:
        fixed.client.create_key(KeySpec="ML_DSA_65", KeyUsage="ENCRYPT_DECRYPT")
    assert _error(exc)[0] == "ValidationException"


def test_seeded_ml_dsa_keys_are_reproducible() -> None:
    def public() -> bytes:
        set_seed(b"reproducible")
        try:
            backend = FidelityKmsBackend("us-east-1", "123456789012")
            key = backend.create_key(None, "SIGN_VERIFY", "ML_DSA_44", "", None)
            return backend.get_public_key(key.id)[1]
        finally:
            set_seed(None)

    assert public() == public()
