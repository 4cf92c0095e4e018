"""Every cell of AWS's key-state table (``key_states.TABLE``), in process and over HTTP.

The test is generated from the table's data: for each operation, each state and each key origin
the table allows, a key of the kind the operation needs is put into that state through the API,
the operation is called, and the answer must be the cell's: success, or the footnote's error code
and message (with the key's ARN). :func:`test_table_matches_aws_cells` pins cells of AWS's
published table independently of the emulator, so a transcription error cannot hide.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_kmsconform.emulators.aws_kms import key_states

MSG = b"key-state table"
OTHER_REGION = "us-west-2"
PRINCIPAL = "arn:aws:iam::123456789012:root"
_EC = ec.generate_private_key(ec.SECP256R1())
EC_PKCS8 = _EC.private_bytes(
    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PEER_DER = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
)
_counter = itertools.count()


@dataclass
class Subject:
    """The key under test and what was made with it while it was Enabled."""

    key_id: str
    arn: str
    origin: str
    extra: dict[str, Any] = field(default_factory=dict)


# operation -> (KeySpec, KeyUsage, multi-Region) of the key it needs
KIND: dict[str, tuple[str, str, bool]] = {
    "Sign": ("ECC_NIST_P256", "SIGN_VERIFY", False),
    "Verify": ("ECC_NIST_P256", "SIGN_VERIFY", False),
    "GetPublicKey": ("ECC_NIST_P256", "SIGN_VERIFY", False),
    "DeriveSharedSecret": ("ECC_NIST_P256", "KEY_AGREEMENT", False),
    "GenerateMac": ("HMAC_256", "GENERATE_VERIFY_MAC", False),
    "VerifyMac": ("HMAC_256", "GENERATE_VERIFY_MAC", False),
    "ReplicateKey": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", True),
    "UpdatePrimaryRegion": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", True),
}


def _material(spec: str) -> bytes:
    return EC_PKCS8 if spec == "ECC_NIST_P256" else bytes(range(32))


def _unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def prepare(kms: Any, operation: str, origin: str, importer: Any) -> Subject:
    """An Enabled key for ``operation`` with the artefacts the call needs (signature, ciphertext, ...)."""
    spec, usage, multi = KIND.get(operation, ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", False))
    meta = kms.create_key(KeySpec=spec, KeyUsage=usage, Origin=origin, MultiRegion=multi)["KeyMetadata"]
    subject = Subject(meta["KeyId"], meta["Arn"], origin)
    key = subject.key_id
    if origin == "EXTERNAL":
        importer(kms, key, _material(spec))
    extra = subject.extra
    if operation == "Verify":
        extra["sig"] = kms.sign(KeyId=key, Message=MSG, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    elif operation == "VerifyMac":
        extra["mac"] = kms.generate_mac(KeyId=key, Message=MSG, MacAlgorithm="HMAC_SHA_256")["Mac"]
    elif operation in ("Decrypt", "ReEncrypt"):
        extra["blob"] = kms.encrypt(KeyId=key, Plaintext=MSG)["CiphertextBlob"]
    elif operation in ("RevokeGrant", "RetireGrant"):
        extra["grant"] = kms.create_grant(KeyId=key, GranteePrincipal=PRINCIPAL, Operations=["Decrypt"])["GrantId"]
    elif operation == "DeleteAlias":
        extra["alias"] = _unique("alias/delete")
        kms.create_alias(AliasName=extra["alias"], TargetKeyId=key)
    elif operation == "UpdateAlias":
        other = kms.create_key()["KeyMetadata"]["KeyId"]
        extra["alias"] = _unique("alias/update")
        kms.create_alias(AliasName=extra["alias"], TargetKeyId=other)
    elif operation == "UpdatePrimaryRegion":
        kms.replicate_key(KeyId=key, ReplicaRegion=OTHER_REGION)
    elif operation == "RotateKeyOnDemand" and origin == "EXTERNAL":  # imported keys rotate to pending material
        importer(kms, key, bytes(range(1, 33)), ImportType="NEW_KEY_MATERIAL")
    elif operation == "ImportKeyMaterial" and origin == "EXTERNAL":
        extra["params"] = kms.get_parameters_for_import(
            KeyId=key, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    elif operation == "CancelKeyDeletion":
        pass
    return subject


def put_in_state(kms: Any, subject: Subject, state: str) -> None:
    if state == "Disabled":
        kms.disable_key(KeyId=subject.key_id)
    elif state == "PendingDeletion":
        kms.schedule_key_deletion(KeyId=subject.key_id, PendingWindowInDays=7)
    elif state == "PendingImport":
        kms.delete_imported_key_material(KeyId=subject.key_id)
    assert kms.describe_key(KeyId=subject.key_id)["KeyMetadata"]["KeyState"] == state


def _import_again(kms: Any, s: Subject, wrapper: Any) -> Any:
    if s.origin == "AWS_KMS":  # refused before the token is looked at
        return kms.import_key_material(
            KeyId=s.key_id,
            ImportToken=b"t" * 32,
            EncryptedKeyMaterial=b"m" * 256,
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )
    params = s.extra["params"]
    return kms.import_key_material(
        KeyId=s.key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrapper(params["PublicKey"], _material("SYMMETRIC_DEFAULT"), "RSAES_OAEP_SHA_256"),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )


Call = Callable[[Any, Subject, Any], Any]
CALLS: dict[str, Call] = {
    "CancelKeyDeletion": lambda k, s, w: k.cancel_key_deletion(KeyId=s.key_id),
    "CreateAlias": lambda k, s, w: k.create_alias(AliasName=_unique("alias/create"), TargetKeyId=s.key_id),
    "CreateGrant": lambda k, s, w: k.create_grant(KeyId=s.key_id, GranteePrincipal=PRINCIPAL, Operations=["Decrypt"]),
    "Decrypt": lambda k, s, w: k.decrypt(KeyId=s.key_id, CiphertextBlob=s.extra["blob"]),
    "DeleteAlias": lambda k, s, w: k.delete_alias(AliasName=s.extra["alias"]),
    "DeleteImportedKeyMaterial": lambda k, s, w: k.delete_imported_key_material(KeyId=s.key_id),
    "DeriveSharedSecret": lambda k, s, w: k.derive_shared_secret(
        KeyId=s.key_id, KeyAgreementAlgorithm="ECDH", PublicKey=PEER_DER
    ),
    "DescribeKey": lambda k, s, w: k.describe_key(KeyId=s.key_id),
    "DisableKey": lambda k, s, w: k.disable_key(KeyId=s.key_id),
    "DisableKeyRotation": lambda k, s, w: k.disable_key_rotation(KeyId=s.key_id),
    "EnableKey": lambda k, s, w: k.enable_key(KeyId=s.key_id),
    "EnableKeyRotation": lambda k, s, w: k.enable_key_rotation(KeyId=s.key_id),
    "Encrypt": lambda k, s, w: k.encrypt(KeyId=s.key_id, Plaintext=MSG),
    "GenerateDataKey": lambda k, s, w: k.generate_data_key(KeyId=s.key_id, KeySpec="AES_256"),
    "GenerateDataKeyPair": lambda k, s, w: k.generate_data_key_pair(KeyId=s.key_id, KeyPairSpec="ECC_NIST_P256"),
    "GenerateDataKeyPairWithoutPlaintext": lambda k, s, w: k.generate_data_key_pair_without_plaintext(
        KeyId=s.key_id, KeyPairSpec="ECC_NIST_P256"
    ),
    "GenerateDataKeyWithoutPlaintext": lambda k, s, w: k.generate_data_key_without_plaintext(
        KeyId=s.key_id, KeySpec="AES_256"
    ),
    "GenerateMac": lambda k, s, w: k.generate_mac(KeyId=s.key_id, Message=MSG, MacAlgorithm="HMAC_SHA_256"),
    "GetKeyPolicy": lambda k, s, w: k.get_key_policy(KeyId=s.key_id, PolicyName="default"),
    "GetKeyRotationStatus": lambda k, s, w: k.get_key_rotation_status(KeyId=s.key_id),
    "GetParametersForImport": lambda k, s, w: k.get_parameters_for_import(
        KeyId=s.key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    ),
    "GetPublicKey": lambda k, s, w: k.get_public_key(KeyId=s.key_id),
    "ImportKeyMaterial": _import_again,
    "ListAliases": lambda k, s, w: k.list_aliases(KeyId=s.key_id),
    "ListGrants": lambda k, s, w: k.list_grants(KeyId=s.key_id),
    "ListKeyPolicies": lambda k, s, w: k.list_key_policies(KeyId=s.key_id),
    "ListKeyRotations": lambda k, s, w: k.list_key_rotations(KeyId=s.key_id),
    "ListResourceTags": lambda k, s, w: k.list_resource_tags(KeyId=s.key_id),
    "PutKeyPolicy": lambda k, s, w: k.put_key_policy(
        KeyId=s.key_id, PolicyName="default", Policy=k.get_key_policy(KeyId=s.key_id, PolicyName="default")["Policy"]
    ),
    "ReEncrypt": lambda k, s, w: k.re_encrypt(
        CiphertextBlob=s.extra["blob"], SourceKeyId=s.key_id, DestinationKeyId=s.key_id
    ),
    "ReplicateKey": lambda k, s, w: k.replicate_key(KeyId=s.key_id, ReplicaRegion=OTHER_REGION),
    "RetireGrant": lambda k, s, w: k.retire_grant(KeyId=s.key_id, GrantId=s.extra["grant"]),
    "RevokeGrant": lambda k, s, w: k.revoke_grant(KeyId=s.key_id, GrantId=s.extra["grant"]),
    "RotateKeyOnDemand": lambda k, s, w: k.rotate_key_on_demand(KeyId=s.key_id),
    "ScheduleKeyDeletion": lambda k, s, w: k.schedule_key_deletion(KeyId=s.key_id, PendingWindowInDays=7),
    "Sign": lambda k, s, w: k.sign(KeyId=s.key_id, Message=MSG, SigningAlgorithm="ECDSA_SHA_256"),
    "TagResource": lambda k, s, w: k.tag_resource(KeyId=s.key_id, Tags=[{"TagKey": "t", "TagValue": "v"}]),
    "UntagResource": lambda k, s, w: k.untag_resource(KeyId=s.key_id, TagKeys=["t"]),
    "UpdateAlias": lambda k, s, w: k.update_alias(AliasName=s.extra["alias"], TargetKeyId=s.key_id),
    "UpdateKeyDescription": lambda k, s, w: k.update_key_description(KeyId=s.key_id, Description="d"),
    "UpdatePrimaryRegion": lambda k, s, w: k.update_primary_region(KeyId=s.key_id, PrimaryRegion=OTHER_REGION),
    "Verify": lambda k, s, w: k.verify(
        KeyId=s.key_id, Message=MSG, Signature=s.extra["sig"], SigningAlgorithm="ECDSA_SHA_256"
    ),
    "VerifyMac": lambda k, s, w: k.verify_mac(
        KeyId=s.key_id, Message=MSG, Mac=s.extra["mac"], MacAlgorithm="HMAC_SHA_256"
    ),
}

CELLS = [
    (operation, state.value, origin.value, cell)
    for operation, row in sorted(key_states.TABLE.items())
    for (state, origin), cell in row.items()
    if cell != key_states.NOT_APPLICABLE
]


def test_every_table_operation_has_a_call() -> None:
    assert sorted(CALLS) == sorted(key_states.TABLE)


@pytest.mark.parametrize(("operation", "state", "origin", "cell"), CELLS, ids=[f"{o}-{s}-{g}" for o, s, g, _ in CELLS])
def test_key_state_cell(
    any_kms: Any, importer: Any, wrapper: Any, operation: str, state: str, origin: str, cell: int | None
) -> None:
    subject = prepare(any_kms, operation, origin, importer)
    put_in_state(any_kms, subject, state)
    if cell is None:
        CALLS[operation](any_kms, subject, wrapper)
        return
    footnote = key_states.FOOTNOTES[cell]
    with pytest.raises(ClientError) as exc:
        CALLS[operation](any_kms, subject, wrapper)
    error = exc.value.response["Error"]
    expected = footnote.template.format(arn=subject.arn, origin=origin)
    assert (error["Code"], error["Message"]) == (footnote.error.error_code, expected)


# cells of AWS's published table (doc_source/key-state.md), transcribed independently of TABLE_TEXT
AWS_CELLS = [
    ("CreateAlias", "PendingDeletion", "AWS_KMS", 3),
    ("EnableKey", "PendingDeletion", "AWS_KMS", 3),
    ("DisableKey", "PendingDeletion", "AWS_KMS", 3),
    ("TagResource", "PendingDeletion", "AWS_KMS", 3),
    ("UntagResource", "PendingDeletion", "AWS_KMS", 3),
    ("UpdateKeyDescription", "PendingDeletion", "AWS_KMS", 3),
    ("CreateGrant", "Disabled", "AWS_KMS", 1),
    ("CreateGrant", "PendingDeletion", "AWS_KMS", 3),
    ("DisableKeyRotation", "Disabled", "AWS_KMS", 1),
    ("ReplicateKey", "Disabled", "AWS_KMS", 1),
    ("ReplicateKey", "PendingDeletion", "AWS_KMS", 3),
    ("CancelKeyDeletion", "Enabled", "AWS_KMS", 4),
    ("CancelKeyDeletion", "Disabled", "AWS_KMS", 4),
    ("CancelKeyDeletion", "PendingDeletion", "AWS_KMS", None),
    ("Encrypt", "PendingImport", "EXTERNAL", 5),
    ("EnableKeyRotation", "PendingImport", "EXTERNAL", 6),
    ("GetParametersForImport", "Enabled", "AWS_KMS", 9),
    ("DeleteImportedKeyMaterial", "Enabled", "AWS_KMS", 9),
    ("DeleteImportedKeyMaterial", "PendingImport", "EXTERNAL", None),
    ("ScheduleKeyDeletion", "PendingImport", "EXTERNAL", None),
    ("DescribeKey", "PendingDeletion", "AWS_KMS", None),
    ("Sign", "Disabled", "AWS_KMS", 1),
    ("GenerateMac", "PendingDeletion", "AWS_KMS", 3),
]


@pytest.mark.parametrize(("operation", "state", "origin", "cell"), AWS_CELLS)
def test_table_matches_aws_cells(operation: str, state: str, origin: str, cell: int | None) -> None:
    assert key_states.outcome(operation, state, origin) == cell


def test_gate_refuses_an_impossible_state() -> None:
    with pytest.raises(AssertionError):
        key_states.check("Sign", state="PendingImport", origin="AWS_KMS", arn="arn")
