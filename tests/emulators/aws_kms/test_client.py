"""boto3 (unchanged) against plain moto and our layer: each fix fails on plain and passes on ours."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from moto import mock_aws
from moto.moto_api._internal import mock_random
from pytest_kmsconform.emulators.aws_kms import ed25519ph, fidelity_kms

Kms = Any  # the conftest fixture object (mode, client, plain, key())

MSG = b"kmsconform audit record"
DIGEST = hashlib.sha256(MSG).digest()


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _sign(kms: Kms, key: str, alg: str = "ECDSA_SHA_256", message: bytes = MSG, mtype: str = "RAW") -> bytes:
    return bytes(kms.client.sign(KeyId=key, Message=message, SigningAlgorithm=alg, MessageType=mtype)["Signature"])


def _ops(kms: Kms) -> dict[str, Callable[[str, str], Any]]:
    """Operation -> call(sign_key, mac_key); signatures/MACs are made while the keys are enabled."""
    return {
        "Sign": lambda s, m: kms.client.sign(KeyId=s, Message=MSG, SigningAlgorithm="ECDSA_SHA_256"),
        "Verify": lambda s, m: kms.client.verify(
            KeyId=s,
            Message=MSG,
            Signature=kms.good_sig,
            SigningAlgorithm="ECDSA_SHA_256",  # type: ignore[attr-defined]
        ),
        "GenerateMac": lambda s, m: kms.client.generate_mac(KeyId=m, Message=MSG, MacAlgorithm="HMAC_SHA_256"),
        "VerifyMac": lambda s, m: kms.client.verify_mac(
            KeyId=m,
            Message=MSG,
            MacAlgorithm="HMAC_SHA_256",
            Mac=kms.good_mac,  # type: ignore[attr-defined]
        ),
    }


def _keys_with_material(kms: Kms) -> tuple[str, str]:
    sign_key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    mac_key = kms.key("HMAC_256", "GENERATE_VERIFY_MAC")
    kms.good_sig = _sign(kms, sign_key)  # type: ignore[attr-defined]
    kms.good_mac = kms.client.generate_mac(KeyId=mac_key, Message=MSG, MacAlgorithm="HMAC_SHA_256")["Mac"]  # type: ignore[attr-defined]
    return sign_key, mac_key


@pytest.mark.parametrize("op", ["Sign", "Verify", "GenerateMac", "VerifyMac"])
def test_disabled_key_refuses_crypto(kms: Kms, op: str) -> None:
    sign_key, mac_key = _keys_with_material(kms)
    kms.client.disable_key(KeyId=sign_key)
    kms.client.disable_key(KeyId=mac_key)
    call = _ops(kms)[op]
    if kms.plain:
        call(sign_key, mac_key)  # moto 5.2.5 ignores the key state
        return
    with pytest.raises(ClientError) as exc:
        call(sign_key, mac_key)
    assert error_code(exc) == "DisabledException"


@pytest.mark.parametrize("op", ["Sign", "Verify", "GenerateMac", "VerifyMac"])
def test_pending_deletion_key_refuses_crypto(kms: Kms, op: str) -> None:
    sign_key, mac_key = _keys_with_material(kms)
    for key in (sign_key, mac_key):
        kms.client.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    call = _ops(kms)[op]
    if kms.plain:
        call(sign_key, mac_key)
        return
    with pytest.raises(ClientError) as exc:
        call(sign_key, mac_key)
    assert error_code(exc) == "KMSInvalidStateException"


def test_reenabled_key_signs_again(fixed: Kms) -> None:
    key = fixed.key("ECC_NIST_P256", "SIGN_VERIFY")
    fixed.client.disable_key(KeyId=key)
    fixed.client.enable_key(KeyId=key)
    assert _sign(fixed, key)


def _verify_local(der: bytes, alg: str, message: bytes, signature: bytes) -> None:
    public = serialization.load_der_public_key(der)
    algorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[-3:]]
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, message, ec.ECDSA(algorithm))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        pad: padding.AsymmetricPadding = (
            padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            if "PSS" in alg
            else padding.PKCS1v15()
        )
        public.verify(signature, message, pad, algorithm)


@pytest.mark.parametrize(
    ("spec", "alg"),
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
    ],
)
def test_digest_message_is_signed_as_given(kms: Kms, spec: str, alg: str) -> None:
    key = kms.key(spec, "SIGN_VERIFY")
    algorithm = {"256": hashlib.sha256, "512": hashlib.sha512}[alg[-3:]]
    signature = _sign(kms, key, alg, algorithm(MSG).digest(), "DIGEST")
    der = kms.client.get_public_key(KeyId=key)["PublicKey"]
    if kms.plain:
        with pytest.raises(InvalidSignature):  # moto hashed the digest again
            _verify_local(der, alg, MSG, signature)
        return
    _verify_local(der, alg, MSG, signature)
    # and KMS accepts it both ways: DIGEST verify of the digest, RAW verify of the message
    kms.client.verify(
        KeyId=key, Message=algorithm(MSG).digest(), MessageType="DIGEST", Signature=signature, SigningAlgorithm=alg
    )
    kms.client.verify(KeyId=key, Message=MSG, MessageType="RAW", Signature=signature, SigningAlgorithm=alg)


def test_digest_of_wrong_length_is_rejected(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    if kms.plain:
        assert _sign(kms, key, message=b"\x01" * 20, mtype="DIGEST")
        return
    with pytest.raises(ClientError) as exc:
        _sign(kms, key, message=b"\x01" * 20, mtype="DIGEST")
    assert error_code(exc) == "ValidationException"


def test_rsa_pss_salt_is_hash_length(kms: Kms) -> None:
    key = kms.key("RSA_2048", "SIGN_VERIFY")
    signature = _sign(kms, key, "RSASSA_PSS_SHA_256")
    der = kms.client.get_public_key(KeyId=key)["PublicKey"]
    if kms.plain:
        with pytest.raises(InvalidSignature):  # moto uses the maximum salt length
            _verify_local(der, "RSASSA_PSS_SHA_256", MSG, signature)
        return
    _verify_local(der, "RSASSA_PSS_SHA_256", MSG, signature)


def test_verify_bad_signature_raises(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    signature = _sign(kms, key)
    call = {"KeyId": key, "Message": MSG + b"!", "Signature": signature, "SigningAlgorithm": "ECDSA_SHA_256"}
    if kms.plain:
        assert kms.client.verify(**call)["SignatureValid"] is False
        return
    with pytest.raises(ClientError) as exc:
        kms.client.verify(**call)
    assert error_code(exc) == "KMSInvalidSignatureException"


@pytest.mark.parametrize(("spec", "usage"), [("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")])
def test_rotate_on_demand_only_symmetric(kms: Kms, spec: str, usage: str) -> None:
    key = kms.key(spec, usage)
    if kms.plain:
        kms.client.rotate_key_on_demand(KeyId=key)
        return
    with pytest.raises(ClientError) as exc:
        kms.client.rotate_key_on_demand(KeyId=key)
    assert error_code(exc) == "UnsupportedOperationException"
    symmetric = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    kms.client.rotate_key_on_demand(KeyId=symmetric)


def test_get_public_key_of_hmac_key(kms: Kms) -> None:
    key = kms.key("HMAC_256", "GENERATE_VERIFY_MAC")
    if kms.plain:
        assert kms.client.get_public_key(KeyId=key)["PublicKey"]  # moto invents an RSA key
        return
    with pytest.raises(ClientError) as exc:
        kms.client.get_public_key(KeyId=key)
    assert error_code(exc) == "UnsupportedOperationException"


def test_ed25519_key_spec(kms: Kms) -> None:
    if kms.plain:
        with pytest.raises(ClientError) as exc:
            kms.key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
        assert error_code(exc) == "ValidationException"
        return
    key = kms.key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    meta = kms.client.describe_key(KeyId=key)["KeyMetadata"]
    assert meta["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    response = kms.client.get_public_key(KeyId=key)
    der = bytes(response["PublicKey"])
    assert len(der) == 44
    assert der[:12] == bytes.fromhex("302a300506032b6570032100")  # SPKI with OID 1.3.101.112
    assert response["KeySpec"] == "ECC_NIST_EDWARDS25519"
    public = serialization.load_der_public_key(der)
    assert isinstance(public, ed25519.Ed25519PublicKey)
    signature = _sign(kms, key, "ED25519_SHA_512")
    assert len(signature) == 64
    public.verify(signature, MSG)  # pure Ed25519: any standard verifier accepts it
    assert _sign(kms, key, "ED25519_SHA_512") == signature  # deterministic
    kms.client.verify(KeyId=key, Message=MSG, Signature=signature, SigningAlgorithm="ED25519_SHA_512")


def test_ed25519_ph_takes_sha512_digest(fixed: Kms) -> None:
    key = fixed.key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    prehash = hashlib.sha512(MSG).digest()
    signature = _sign(fixed, key, "ED25519_PH_SHA_512", prehash, "DIGEST")
    raw = serialization.load_der_public_key(bytes(fixed.client.get_public_key(KeyId=key)["PublicKey"])).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert len(signature) == 64
    assert ed25519ph.verify(raw, prehash, signature)
    assert not ed25519ph.verify(raw, hashlib.sha512(MSG + b"!").digest(), signature)
    fixed.client.verify(
        KeyId=key, Message=prehash, MessageType="DIGEST", Signature=signature, SigningAlgorithm="ED25519_PH_SHA_512"
    )


@pytest.mark.parametrize(
    ("alg", "mtype", "message"),
    [
        ("ED25519_SHA_512", "DIGEST", hashlib.sha512(MSG).digest()),  # pure needs RAW
        ("ED25519_PH_SHA_512", "RAW", MSG),  # ph needs DIGEST
        ("ED25519_PH_SHA_512", "DIGEST", hashlib.sha256(MSG).digest()),  # ph digest is 64 bytes
        ("ED25519_SHA_512", "RAW", b"x" * 4097),  # RAW limit
        ("ECDSA_SHA_256", "RAW", MSG),  # not an Ed25519 algorithm
    ],
)
def test_ed25519_pairings_rejected(fixed: Kms, alg: str, mtype: str, message: bytes) -> None:
    key = fixed.key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        _sign(fixed, key, alg, message, mtype)
    expected = "InvalidKeyUsageException" if alg == "ECDSA_SHA_256" else "ValidationException"
    assert error_code(exc) == expected


def test_ed25519_raw_limit_is_inclusive(fixed: Kms) -> None:
    key = fixed.key("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    assert len(_sign(fixed, key, "ED25519_SHA_512", b"x" * 4096)) == 64


def test_sign_with_hmac_key_is_invalid_key_usage(kms: Kms) -> None:
    key = kms.key("HMAC_256", "GENERATE_VERIFY_MAC")
    with pytest.raises(ClientError) as exc:
        _sign(kms, key)
    assert error_code(exc) == ("ValidationException" if kms.plain else "InvalidKeyUsageException")


def test_mac_algorithm_must_match_key_spec(kms: Kms) -> None:
    key = kms.key("HMAC_256", "GENERATE_VERIFY_MAC")
    call = {"KeyId": key, "Message": MSG, "MacAlgorithm": "HMAC_SHA_512"}
    if kms.plain:
        assert len(kms.client.generate_mac(**call)["Mac"]) == 64
        return
    with pytest.raises(ClientError) as exc:
        kms.client.generate_mac(**call)
    assert error_code(exc) == "InvalidKeyUsageException"


def test_hmac_key_metadata_lists_mac_algorithms(kms: Kms) -> None:
    meta = kms.client.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    if kms.plain:
        assert "MacAlgorithms" not in meta
        return
    assert meta["MacAlgorithms"] == ["HMAC_SHA_256"]
    assert "SigningAlgorithms" not in meta


def test_get_public_key_reports_key_spec(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    response = kms.client.get_public_key(KeyId=key)
    assert response.get("KeySpec") == (None if kms.plain else "ECC_NIST_P256")


def test_schedule_deletion_window(kms: Kms) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    if kms.plain:
        kms.client.schedule_key_deletion(KeyId=key, PendingWindowInDays=6)
        return
    with pytest.raises(ClientError) as exc:
        kms.client.schedule_key_deletion(KeyId=key, PendingWindowInDays=6)
    assert error_code(exc) == "ValidationException"
    response = kms.client.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert response["KeyState"] == "PendingDeletion"


def test_enable_key_rotation_only_symmetric(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    if kms.plain:
        kms.client.enable_key_rotation(KeyId=key)
        return
    with pytest.raises(ClientError) as exc:
        kms.client.enable_key_rotation(KeyId=key)
    assert error_code(exc) == "UnsupportedOperationException"


def test_disabled_key_refuses_data_keys_and_decrypt(kms: Kms) -> None:
    key = kms.key("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")
    blob = kms.client.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"]
    kms.client.disable_key(KeyId=key)
    if kms.plain:
        kms.client.generate_data_key(KeyId=key, KeySpec="AES_256")
        kms.client.decrypt(CiphertextBlob=blob)
        return
    for call in (
        lambda: kms.client.generate_data_key(KeyId=key, KeySpec="AES_256"),
        lambda: kms.client.decrypt(CiphertextBlob=blob),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "DisabledException"


def test_unknown_key_is_not_found(fixed: Kms) -> None:
    with pytest.raises(ClientError) as exc:
        _sign(fixed, "11111111-2222-3333-4444-555555555555")
    assert error_code(exc) == "NotFoundException"


def test_emulator_gap_is_explicit(fixed: Kms) -> None:
    with pytest.raises(ClientError) as exc:
        fixed.key("SM2", "SIGN_VERIFY")
    assert error_code(exc) == "KmsConformEmulatorGap"


def test_alias_sign_and_repoint(fixed: Kms) -> None:
    first = fixed.key("ECC_NIST_P256", "SIGN_VERIFY")
    second = fixed.key("ECC_NIST_P256", "SIGN_VERIFY")
    fixed.client.create_alias(AliasName="alias/audit", TargetKeyId=first)
    response = fixed.client.sign(
        KeyId="alias/audit", Message=DIGEST, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )
    assert response["KeyId"].endswith(first)
    fixed.client.update_alias(AliasName="alias/audit", TargetKeyId=second)
    response = fixed.client.sign(
        KeyId="alias/audit", Message=DIGEST, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
    )
    assert response["KeyId"].endswith(second)


def test_dry_run_answers_dry_run_operation(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    if kms.plain:  # moto ignores DryRun and really signs
        assert kms.client.sign(KeyId=key, Message=MSG, SigningAlgorithm="ECDSA_SHA_256", DryRun=True)["Signature"]
        return
    with pytest.raises(ClientError) as exc:
        kms.client.sign(KeyId=key, Message=MSG, SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    assert error_code(exc) == "DryRunOperationException"
    assert exc.value.response["Error"]["Message"] == "The request would have succeeded, but the DryRun option is set."
    kms.client.disable_key(KeyId=key)
    with pytest.raises(ClientError) as exc:  # a dry run reports the error the call would meet
        kms.client.sign(KeyId=key, Message=MSG, SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    assert error_code(exc) == "DisabledException"


@pytest.mark.parametrize("mode", ["plain", "fixed"])
def test_seeded_runs_reproduce_key_material(mode: str) -> None:

    def one_run() -> tuple[str, bytes]:
        with mock_aws():
            mock_random.seed(42)  # what moto's /moto-api/seed does
            client = boto3.client("kms", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
            if mode == "plain":
                key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
                return key, bytes(client.get_public_key(KeyId=key)["PublicKey"])
            with fidelity_kms(seed=b"42"):
                key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
                return key, bytes(client.get_public_key(KeyId=key)["PublicKey"])

    (id1, pub1), (id2, pub2) = one_run(), one_run()
    assert id1 == id2  # both seed the ids
    if mode == "plain":
        assert pub1 != pub2  # moto's key material ignores the seed
    else:
        assert pub1 == pub2


def test_disable_and_enable_take_a_key_arn(kms: Kms) -> None:
    key = kms.key("ECC_NIST_P256", "SIGN_VERIFY")
    arn = kms.client.describe_key(KeyId=key)["KeyMetadata"]["Arn"]
    if kms.plain:  # moto 5.2.5 looks the ARN up as a key id: KeyError in process, HTTP 500 over its server
        with pytest.raises(KeyError):
            kms.client.disable_key(KeyId=arn)
        return
    kms.client.disable_key(KeyId=arn)
    assert kms.client.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.client.enable_key(KeyId=arn)
    assert kms.client.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
