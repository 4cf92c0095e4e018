"""Imported key material and key agreement through boto3, in process and over HTTP.

Imports use a real wrapping key from GetParametersForImport; seed 002's path (an Ed25519 key whose
material is imported into KMS) is checked end to end: the KMS signature verifies under the original key.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pytest_kmsconform.emulators.aws_kms.models import fidelity_kms_backends

Kms = Any
MSG = b"imported material"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _pkcs8(private: Any) -> bytes:
    return bytes(
        private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _state(kms: Kms, key: str) -> str:
    return str(kms.client.describe_key(KeyId=key)["KeyMetadata"]["KeyState"])


def _external(kms: Kms, spec: str = "SYMMETRIC_DEFAULT", usage: str = "ENCRYPT_DECRYPT") -> str:
    meta = kms.client.create_key(KeySpec=spec, KeyUsage=usage, Origin="EXTERNAL")["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["Origin"]) == ("PendingImport", False, "EXTERNAL")
    return str(meta["KeyId"])


@pytest.mark.parametrize(
    "algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"]
)
def test_symmetric_import_round_trip(fixed: Kms, importer: Any, algorithm: str) -> None:
    key = _external(fixed)
    with pytest.raises(ClientError) as exc:
        fixed.client.encrypt(KeyId=key, Plaintext=MSG)
    assert _code(exc) == "KMSInvalidStateException" and exc.value.response["Error"]["Message"].endswith(
        "is pending import."
    )
    material = os.urandom(32)
    answer = importer(fixed.client, key, material, algorithm)
    assert answer["KeyId"].endswith(key) and len(answer["KeyMaterialId"]) == 64
    meta = fixed.client.describe_key(KeyId=key)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"], meta["CurrentKeyMaterialId"]) == (
        "Enabled",
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
        answer["KeyMaterialId"],
    )
    blob = fixed.client.encrypt(KeyId=key, Plaintext=MSG)["CiphertextBlob"]
    assert fixed.client.decrypt(CiphertextBlob=blob)["Plaintext"] == MSG
    fixed.client.delete_imported_key_material(KeyId=key)
    assert _state(fixed, key) == "PendingImport"
    with pytest.raises(ClientError) as exc:
        importer(fixed.client, key, os.urandom(32))  # different material
    assert _code(exc) == "IncorrectKeyMaterialException"
    importer(fixed.client, key, material)  # the same material restores the key and its ciphertexts
    assert fixed.client.decrypt(CiphertextBlob=blob)["Plaintext"] == MSG


def test_ed25519_import_signs_with_the_imported_key(fixed: Kms, importer: Any) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = _external(fixed, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    importer(fixed.client, key, _pkcs8(private), "RSA_AES_KEY_WRAP_SHA_256")
    public = fixed.client.get_public_key(KeyId=key)["PublicKey"]
    assert public == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = fixed.client.sign(KeyId=key, Message=MSG, SigningAlgorithm="ED25519_SHA_512")["Signature"]
    private.public_key().verify(signature, MSG)


def test_import_refuses_material_of_another_spec(fixed: Kms, importer: Any) -> None:
    key = _external(fixed, "ECC_NIST_P384", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        importer(fixed.client, key, _pkcs8(ec.generate_private_key(ec.SECP256R1())))
    assert _code(exc) == "IncorrectKeyMaterialException"
    assert _state(fixed, key) == "PendingImport"


def test_import_token_belongs_to_its_key(fixed: Kms, wrapper: Any) -> None:
    first, second = _external(fixed), _external(fixed)
    params = fixed.client.get_parameters_for_import(
        KeyId=first, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    with pytest.raises(ClientError) as exc:
        fixed.client.import_key_material(
            KeyId=second,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrapper(params["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_256"),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    assert _code(exc) == "InvalidImportTokenException"


def test_expiring_material_needs_valid_to_and_expires(fixed: Kms, importer: Any) -> None:
    key = _external(fixed)
    with pytest.raises(ClientError) as exc:
        importer(fixed.client, key, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert exc.value.response["Error"]["Message"] == (
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
    )
    backend = fidelity_kms_backends["123456789012"]["us-east-1"]  # moto's default account, both modes
    valid_to = backend.clock() + 3600
    importer(fixed.client, key, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    assert _state(fixed, key) == "Enabled"
    assert fixed.client.describe_key(KeyId=key)["KeyMetadata"]["ValidTo"].timestamp() == pytest.approx(valid_to)
    backend.clock = lambda: valid_to + 1  # type: ignore[method-assign]  # an hour later
    assert _state(fixed, key) == "PendingImport"
    with pytest.raises(ClientError) as exc:
        fixed.client.encrypt(KeyId=key, Plaintext=MSG)
    assert _code(exc) == "KMSInvalidStateException"


def test_imported_key_rotates_to_pending_material(fixed: Kms, importer: Any) -> None:
    key = _external(fixed)
    first = importer(fixed.client, key, os.urandom(32))["KeyMaterialId"]
    blob = fixed.client.encrypt(KeyId=key, Plaintext=MSG)["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        fixed.client.rotate_key_on_demand(KeyId=key)
    assert exc.value.response["Error"]["Message"].startswith("No available key material pending rotation")
    second = importer(fixed.client, key, os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert fixed.client.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == first
    fixed.client.rotate_key_on_demand(KeyId=key)
    assert fixed.client.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"] == second
    assert fixed.client.decrypt(CiphertextBlob=blob)["KeyMaterialId"] == first  # old ciphertexts still open


@pytest.mark.parametrize("operation", ["get_parameters_for_import", "delete_imported_key_material"])
def test_import_operations_refuse_aws_kms_keys(kms: Kms, operation: str) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    args: dict[str, str] = {"KeyId": key}
    if operation == "get_parameters_for_import":
        args.update(WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
    if kms.plain:  # moto has neither operation: NotImplementedError in process, HTTP 500 over its server
        with pytest.raises(NotImplementedError):
            getattr(kms.client, operation)(**args)
        return
    with pytest.raises(ClientError) as exc:
        getattr(kms.client, operation)(**args)
    arn = kms.client.describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    assert (_code(exc), exc.value.response["Error"]["Message"]) == (
        "UnsupportedOperationException",
        f"{arn} origin is AWS_KMS which is not valid for this operation.",
    )


@pytest.mark.parametrize(
    ("spec", "curve"),
    [("ECC_NIST_P256", ec.SECP256R1()), ("ECC_NIST_P384", ec.SECP384R1()), ("ECC_NIST_P521", ec.SECP521R1())],
)
def test_derive_shared_secret_matches_local_ecdh(kms: Kms, spec: str, curve: ec.EllipticCurve) -> None:
    if kms.plain:  # moto creates the key but has no DeriveSharedSecret
        with pytest.raises(NotImplementedError):
            kms.client.derive_shared_secret(
                KeyId=kms.key(spec, "KEY_AGREEMENT"), KeyAgreementAlgorithm="ECDH", PublicKey=b"x"
            )
        return
    key = kms.key(spec, "KEY_AGREEMENT")
    meta = kms.client.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["KeyAgreementAlgorithms"] == ["ECDH"] and "SigningAlgorithms" not in meta
    ours = ec.generate_private_key(curve)
    peer = serialization.load_der_public_key(kms.client.get_public_key(KeyId=key)["PublicKey"])
    assert isinstance(peer, ec.EllipticCurvePublicKey)
    answer = kms.client.derive_shared_secret(
        KeyId=key,
        KeyAgreementAlgorithm="ECDH",
        PublicKey=ours.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )
    assert answer["SharedSecret"] == ours.exchange(ec.ECDH(), peer)
    assert (answer["KeyAgreementAlgorithm"], answer["KeyOrigin"], answer["KeyId"]) == ("ECDH", "AWS_KMS", meta["Arn"])
    kms.client.disable_key(KeyId=key)
    with pytest.raises(ClientError) as exc:
        kms.client.derive_shared_secret(KeyId=key, KeyAgreementAlgorithm="ECDH", PublicKey=b"x")
    assert _code(exc) == "DisabledException"


def test_key_agreement_refuses_other_specs_and_usages(fixed: Kms) -> None:
    with pytest.raises(ClientError) as exc:
        fixed.key("RSA_2048", "KEY_AGREEMENT")
    assert exc.value.response["Error"]["Message"] == "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"
    signing = fixed.key("ECC_NIST_P256", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        fixed.client.derive_shared_secret(KeyId=signing, KeyAgreementAlgorithm="ECDH", PublicKey=b"x")
    assert _code(exc) == "InvalidKeyUsageException"
    agreement = fixed.key("ECC_NIST_P256", "KEY_AGREEMENT")
    with pytest.raises(ClientError) as exc:  # not a public key: AWS sends an empty ValidationException
        fixed.client.derive_shared_secret(KeyId=agreement, KeyAgreementAlgorithm="ECDH", PublicKey=b"InvalidPublicKey")
    assert (_code(exc), exc.value.response["Error"]["Message"]) == ("ValidationException", "")
