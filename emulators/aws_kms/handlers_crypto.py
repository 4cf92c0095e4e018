"""Wire handlers for cryptographic operations and imported key material."""

from __future__ import annotations

import os
from typing import Any

from .errors import EmulatorGap, ValidationException
from .handlers import Params, b64, blob, dry_run, handler, no_recipient, timestamp
from .models import FidelityKmsBackend


# -- cryptography ----------------------------------------------------------------------------------
@handler("Sign")
def sign(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    arn, signature, algorithm = kms.sign(
        p["KeyId"], blob(p, "Message"), p["SigningAlgorithm"], p.get("MessageType") or "RAW"
    )
    dry_run(p)
    return {"KeyId": arn, "Signature": b64(signature), "SigningAlgorithm": algorithm}


@handler("Verify")
def verify(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    arn, valid, algorithm = kms.verify(
        p["KeyId"], blob(p, "Message"), blob(p, "Signature"), p["SigningAlgorithm"], p.get("MessageType") or "RAW"
    )
    dry_run(p)
    return {"KeyId": arn, "SignatureValid": valid, "SigningAlgorithm": algorithm}


@handler("GenerateMac")
def generate_mac(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    arn, mac, algorithm = kms.generate_mac_bytes(p["KeyId"], blob(p, "Message"), p["MacAlgorithm"])
    dry_run(p)
    return {"Mac": b64(mac), "MacAlgorithm": algorithm, "KeyId": arn}


@handler("VerifyMac")
def verify_mac(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    arn = kms.verify_mac_bytes(p["KeyId"], blob(p, "Message"), p["MacAlgorithm"], blob(p, "Mac"))
    dry_run(p)
    return {"KeyId": arn, "MacValid": True, "MacAlgorithm": p["MacAlgorithm"]}


@handler("GetPublicKey")
def get_public_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key, der = kms.get_public_key(p["KeyId"])
    body = {
        "KeyId": key.arn,
        "PublicKey": b64(der),
        "CustomerMasterKeySpec": key.key_spec,
        "KeySpec": key.key_spec,
        "KeyUsage": key.key_usage,
        "EncryptionAlgorithms": key.encryption_algorithms,
        "SigningAlgorithms": key.signing_algorithms,
        "KeyAgreementAlgorithms": key.key_agreement_algorithms,
    }
    return {k: v for k, v in body.items() if v is not None}


@handler("DeriveSharedSecret")
def derive_shared_secret(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    no_recipient(p)
    key, secret = kms.derive_shared_secret(p["KeyId"], p["KeyAgreementAlgorithm"], blob(p, "PublicKey"))
    dry_run(p)
    return {"KeyId": key.arn, "SharedSecret": b64(secret), "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": key.origin}


@handler("Encrypt")
def encrypt(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    sealed = kms.seal(
        p["KeyId"], blob(p, "Plaintext"), p.get("EncryptionContext"), p.get("EncryptionAlgorithm"), "Encrypt"
    )
    dry_run(p)
    return {"CiphertextBlob": b64(sealed.blob), "KeyId": sealed.key.arn, "EncryptionAlgorithm": sealed.algorithm}


@handler("Decrypt")
def decrypt(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    no_recipient(p)
    opened = kms.unseal(
        blob(p, "CiphertextBlob"), p.get("EncryptionContext"), p.get("KeyId"), p.get("EncryptionAlgorithm"), "Decrypt"
    )
    dry_run(p)
    body = {
        "KeyId": opened.key.arn,
        "Plaintext": b64(opened.plaintext),
        "EncryptionAlgorithm": opened.algorithm,
        "KeyMaterialId": opened.material_id,
    }
    return {k: v for k, v in body.items() if v is not None}


@handler("ReEncrypt")
def re_encrypt(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    opened = kms.unseal(
        blob(p, "CiphertextBlob"), p.get("SourceEncryptionContext"), p.get("SourceKeyId"),
        p.get("SourceEncryptionAlgorithm"), "ReEncrypt",
    )  # fmt: skip
    sealed = kms.seal(
        p["DestinationKeyId"], opened.plaintext, p.get("DestinationEncryptionContext"),
        p.get("DestinationEncryptionAlgorithm"), "ReEncrypt",
    )  # fmt: skip
    dry_run(p)
    body = {
        "CiphertextBlob": b64(sealed.blob),
        "SourceKeyId": opened.key.arn,
        "KeyId": sealed.key.arn,
        "SourceEncryptionAlgorithm": opened.algorithm,
        "DestinationEncryptionAlgorithm": sealed.algorithm,
        "SourceKeyMaterialId": opened.material_id,
        "DestinationKeyMaterialId": sealed.material_id,
    }
    return {k: v for k, v in body.items() if v is not None}


def _data_key(kms: FidelityKmsBackend, p: Params, operation: str) -> tuple[bytes, dict[str, Any]]:
    no_recipient(p)
    plaintext, sealed = kms.data_key(
        p["KeyId"], p.get("EncryptionContext"), p.get("NumberOfBytes"), p.get("KeySpec"), operation
    )
    dry_run(p)
    return plaintext, {"CiphertextBlob": b64(sealed.blob), "KeyId": sealed.key.arn, "KeyMaterialId": sealed.material_id}


@handler("GenerateDataKey")
def generate_data_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    plaintext, body = _data_key(kms, p, "GenerateDataKey")
    return {**body, "Plaintext": b64(plaintext)}


@handler("GenerateDataKeyWithoutPlaintext")
def generate_data_key_without_plaintext(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return _data_key(kms, p, "GenerateDataKeyWithoutPlaintext")[1]


def _data_key_pair(kms: FidelityKmsBackend, p: Params, operation: str, with_plaintext: bool) -> dict[str, Any]:
    no_recipient(p)
    pair, sealed = kms.data_key_pair(p["KeyId"], p.get("EncryptionContext"), p["KeyPairSpec"], operation)
    dry_run(p)
    body = {
        "PrivateKeyCiphertextBlob": b64(sealed.blob),
        "PublicKey": b64(pair.public_key_der()),
        "KeyId": sealed.key.arn,
        "KeyPairSpec": p["KeyPairSpec"],
        "KeyMaterialId": sealed.material_id,
    }
    if with_plaintext:
        body["PrivateKeyPlaintext"] = b64(pair.private_pkcs8())
    return body


@handler("GenerateDataKeyPair")
def generate_data_key_pair(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return _data_key_pair(kms, p, "GenerateDataKeyPair", True)


@handler("GenerateDataKeyPairWithoutPlaintext")
def generate_data_key_pair_without_plaintext(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return _data_key_pair(kms, p, "GenerateDataKeyPairWithoutPlaintext", False)


@handler("GenerateRandom")
def generate_random(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    no_recipient(p)
    if p.get("CustomKeyStoreId"):
        raise EmulatorGap("custom key stores are not emulated")
    if p.get("NumberOfBytes") is None:
        raise ValidationException("NumberOfBytes is required.")
    return {"Plaintext": b64(os.urandom(p["NumberOfBytes"]))}


# -- imported key material -------------------------------------------------------------------------
@handler("GetParametersForImport")
def get_parameters_for_import(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key, token, public, valid_to = kms.parameters_for_import(p["KeyId"], p["WrappingAlgorithm"], p["WrappingKeySpec"])
    return {"KeyId": key.arn, "ImportToken": b64(token), "PublicKey": b64(public), "ParametersValidTo": valid_to}


@handler("ImportKeyMaterial")
def import_key_material(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key, material_id = kms.import_material(
        p["KeyId"], blob(p, "ImportToken"), blob(p, "EncryptedKeyMaterial"), p.get("ExpirationModel"),
        timestamp(p.get("ValidTo")), p.get("ImportType"), p.get("KeyMaterialDescription"),
    )  # fmt: skip
    return {"KeyId": key.arn, "KeyMaterialId": material_id}


@handler("DeleteImportedKeyMaterial")
def delete_imported_key_material(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key, material_id = kms.delete_imported_material(p["KeyId"], p.get("KeyMaterialId"))
    return {k: v for k, v in {"KeyId": key.arn, "KeyMaterialId": material_id}.items() if v is not None}
