"""Answers shaped like AWS's (members, ARNs, absent members), and the validation and usage errors of
issue 15, through boto3 against plain moto (the bug) and our layer (AWS's answer)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

Kms = Any
MSG = b"shapes"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _arn(kms: Kms, key: str) -> str:
    return str(kms.client.describe_key(KeyId=key)["KeyMetadata"]["Arn"])


def test_key_id_is_the_arn_where_aws_returns_it(kms: Kms) -> None:
    sym = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    mac = kms.key("HMAC_256", "GENERATE_VERIFY_MAC")
    answers = {
        "GenerateMac": kms.client.generate_mac(KeyId=mac, Message=MSG, MacAlgorithm="HMAC_SHA_256"),
        "RotateKeyOnDemand": kms.client.rotate_key_on_demand(KeyId=sym),
        "ScheduleKeyDeletion": kms.client.schedule_key_deletion(KeyId=sym, PendingWindowInDays=7),
        "CancelKeyDeletion": kms.client.cancel_key_deletion(KeyId=sym),
    }
    answers["VerifyMac"] = kms.client.verify_mac(
        KeyId=mac, Message=MSG, MacAlgorithm="HMAC_SHA_256", Mac=answers["GenerateMac"]["Mac"]
    )
    arns = {name: answer["KeyId"] for name, answer in answers.items()}
    expected = {name: _arn(kms, mac if "Mac" in name else sym) for name in answers}
    if kms.plain:  # moto echoes the id it was given
        assert arns != expected
    else:
        assert arns == expected


def test_errors_without_text_have_no_message_member(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    signature = kms.client.sign(KeyId=key, Message=MSG, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    if kms.plain:
        assert (
            kms.client.verify(KeyId=key, Message=b"other", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")[
                "SignatureValid"
            ]
            is False
        )
        return
    with pytest.raises(ClientError) as exc:
        kms.client.verify(KeyId=key, Message=b"other", Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
    assert _code(exc) == "KMSInvalidSignatureException"
    assert "message" not in exc.value.response  # AWS sends {"__type": ...} only


def test_key_metadata_has_multi_region_and_current_material(kms: Kms) -> None:
    meta = kms.client.create_key()["KeyMetadata"]
    mrk = kms.client.create_key(MultiRegion=True)["KeyMetadata"]
    if kms.plain:  # moto: MultiRegion null when not asked for, no CurrentKeyMaterialId, mrk- plus a dashed UUID
        assert "CurrentKeyMaterialId" not in meta
        return
    assert meta["MultiRegion"] is False and len(meta["CurrentKeyMaterialId"]) == 64
    assert mrk["MultiRegion"] is True and len(mrk["KeyId"]) == 36 and mrk["KeyId"].startswith("mrk-")
    assert mrk["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    hmac_meta = kms.client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert "CurrentKeyMaterialId" not in hmac_meta and "EncryptionAlgorithms" not in hmac_meta


def test_encrypt_and_decrypt_name_the_algorithm(kms: Kms) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    encrypted = kms.client.encrypt(KeyId=key, Plaintext=MSG)
    decrypted = kms.client.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    if kms.plain:
        assert "EncryptionAlgorithm" not in encrypted
        return
    assert encrypted["EncryptionAlgorithm"] == decrypted["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert decrypted["KeyMaterialId"] == kms.client.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]


def test_rsa_encryption(fixed: Kms) -> None:
    key = fixed.key("RSA_2048", "ENCRYPT_DECRYPT")
    blob = fixed.client.encrypt(KeyId=key, Plaintext=MSG, EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    answer = fixed.client.decrypt(KeyId=key, CiphertextBlob=blob, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert answer["Plaintext"] == MSG and "KeyMaterialId" not in answer
    with pytest.raises(ClientError) as exc:
        fixed.client.encrypt(KeyId=key, Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert exc.value.response["Error"]["Message"] == (
        "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than 190 bytes."
    )


def test_rotation_status_and_list(kms: Kms) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    kms.client.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
    status = kms.client.get_key_rotation_status(KeyId=key)
    before = kms.client.describe_key(KeyId=key)["KeyMetadata"].get("CurrentKeyMaterialId")
    kms.client.rotate_key_on_demand(KeyId=key)
    rotations = kms.client.list_key_rotations(KeyId=key)["Rotations"]
    if kms.plain:  # moto: no KeyId, period or next date; rotation makes no new material
        assert "RotationPeriodInDays" not in status
        return
    assert (status["KeyId"], status["RotationPeriodInDays"]) == (_arn(kms, key), 90)
    assert status["NextRotationDate"]
    after = kms.client.describe_key(KeyId=key)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert before != after
    assert [(r["KeyMaterialId"], r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [
        (after, "ON_DEMAND", "CURRENT")
    ]


def test_rotate_on_demand_limit(fixed: Kms) -> None:
    key = fixed.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    for _ in range(25):  # AWS API reference: at most 25 on-demand rotations per key
        fixed.client.rotate_key_on_demand(KeyId=key)
    with pytest.raises(ClientError) as exc:
        fixed.client.rotate_key_on_demand(KeyId=key)
    assert _code(exc) == "LimitExceededException"


def test_rotate_on_demand_checks_state_before_key_spec(kms: Kms) -> None:
    key = kms.key("RSA_4096", "ENCRYPT_DECRYPT")
    kms.client.disable_key(KeyId=key)
    if kms.plain:
        kms.client.rotate_key_on_demand(KeyId=key)  # moto rotates a disabled asymmetric key
        return
    with pytest.raises(ClientError) as exc:
        kms.client.rotate_key_on_demand(KeyId=key)
    assert (_code(exc), exc.value.response["Error"]["Message"]) == (
        "DisabledException",
        f"{_arn(kms, key)} is disabled.",
    )


def test_verify_with_an_empty_signature_is_a_validation_error(fixed: Kms) -> None:
    key = fixed.key("ECC_NIST_P256", "SIGN_VERIFY")
    meta = fixed.client.meta
    raw = boto3.client(
        "kms",
        region_name=meta.region_name,
        endpoint_url=meta.endpoint_url if fixed.mode == "fixed-http" else None,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False),
    )
    with pytest.raises(ClientError) as exc:
        raw.verify(KeyId=key, Message=MSG, Signature=b"", SigningAlgorithm="ECDSA_SHA_256")
    assert _code(exc) == "ValidationException"


def test_decrypt_with_a_key_of_another_kind_is_incorrect_key(kms: Kms) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    mac = kms.key("HMAC_224", "GENERATE_VERIFY_MAC")
    blob = kms.client.encrypt(KeyId=key, Plaintext=MSG)["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        kms.client.decrypt(CiphertextBlob=blob, KeyId=mac)
    assert _code(exc) == ("AccessDeniedException" if kms.plain else "IncorrectKeyException")


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}], "Duplicate tag keys"),
        ([{"TagKey": "aws:x", "TagValue": "1"}], "Tags beginning with aws: are reserved"),
        ([{"TagKey": f"k{i}", "TagValue": "v"} for i in range(51)], "Too many tags"),
    ],
)
def test_tag_validation(kms: Kms, tags: list[dict[str, str]], message: str) -> None:
    if kms.plain:  # moto accepts them all
        kms.client.create_key(Tags=tags)
        return
    with pytest.raises(ClientError) as exc:
        kms.client.create_key(Tags=tags)
    assert (_code(exc), exc.value.response["Error"]["Message"]) == ("TagException", message)
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as exc:
        kms.client.tag_resource(KeyId=key, Tags=tags)
    assert _code(exc) == "TagException"


def test_generate_data_key_pair(kms: Kms) -> None:
    from cryptography.hazmat.primitives import serialization

    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    if kms.plain:  # moto: not implemented
        with pytest.raises(NotImplementedError):
            kms.client.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256")
        return
    pair = kms.client.generate_data_key_pair(KeyId=key, KeyPairSpec="ECC_NIST_P256", EncryptionContext={"a": "b"})
    assert (pair["KeyId"], pair["KeyPairSpec"]) == (_arn(kms, key), "ECC_NIST_P256")
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    assert (
        private.public_key().public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == pair["PublicKey"]
    )
    opened = kms.client.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext={"a": "b"})
    assert opened["Plaintext"] == pair["PrivateKeyPlaintext"]
    bare = kms.client.generate_data_key_pair_without_plaintext(KeyId=key, KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in bare and bare["PublicKey"]


def test_generate_random_without_length(fixed: Kms) -> None:
    meta = fixed.client.meta
    raw = boto3.client(
        "kms",
        region_name=meta.region_name,
        endpoint_url=meta.endpoint_url if fixed.mode == "fixed-http" else None,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False),
    )
    with pytest.raises(ClientError) as exc:
        raw.generate_random()
    assert exc.value.response["Error"]["Message"] == "NumberOfBytes is required."


@pytest.mark.parametrize("operation", ["create_grant", "list_grants"])
def test_grants_on_an_unknown_key_are_not_found(fixed: Kms, operation: str) -> None:
    args: dict[str, Any] = {"KeyId": "11111111-2222-3333-4444-555555555555"}
    if operation == "create_grant":
        args.update(GranteePrincipal="arn:aws:iam::123456789012:root", Operations=["Decrypt"])
    with pytest.raises(ClientError) as exc:
        getattr(fixed.client, operation)(**args)
    assert _code(exc) == "NotFoundException"


def test_cancel_key_deletion_by_arn(kms: Kms) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    arn = _arn(kms, key)
    kms.client.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    if kms.plain:  # KeyError in process, HTTP 500 over moto's server
        with pytest.raises(KeyError):
            kms.client.cancel_key_deletion(KeyId=arn)
        return
    assert kms.client.cancel_key_deletion(KeyId=arn)["KeyId"] == arn
    assert kms.client.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
