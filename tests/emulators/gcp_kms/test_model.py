"""The model alone (no sockets, an injected clock): names, state machine, signing and integrity rules."""

from __future__ import annotations

import hashlib
from typing import Any

import google_crc32c
import pytest
from cryptography.hazmat.primitives import serialization
from google.cloud import kms_v1 as k
from pytest_kmsconform.emulators.gcp_kms import operations
from pytest_kmsconform.emulators.gcp_kms.errors import Code, KmsApiError
from pytest_kmsconform.emulators.gcp_kms.models import KmsModel

Alg = k.CryptoKeyVersion.CryptoKeyVersionAlgorithm
Purpose = k.CryptoKey.CryptoKeyPurpose
State = k.CryptoKeyVersion.CryptoKeyVersionState
LOC = "projects/p/locations/global"
RING = f"{LOC}/keyRings/r"
DIGEST = hashlib.sha256(b"m").digest()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def make(pending: float = 0.0, seed: bytes | None = None) -> tuple[KmsModel, Clock]:
    clock = Clock()
    model = KmsModel(seed=seed, pending_generation_s=pending, clock=clock)
    model.create_key_ring(LOC, "r")
    return model, clock


def key(model: KmsModel, key_id: str, alg: Alg, purpose: Purpose = Purpose.ASYMMETRIC_SIGN) -> str:
    template = k.CryptoKey(purpose=purpose, version_template={"algorithm": alg})
    return str(model.create_crypto_key(RING, key_id, template, skip_initial=False).name)


def code(exc: pytest.ExceptionInfo[KmsApiError]) -> Code:
    return exc.value.code


def test_names_ids_and_duplicates() -> None:
    model, _ = make()
    with pytest.raises(KmsApiError) as info:
        model.create_key_ring(LOC, "bad id")
    assert code(info) is Code.INVALID_ARGUMENT
    with pytest.raises(KmsApiError) as info:
        model.create_key_ring(LOC, "x" * 64)
    assert code(info) is Code.INVALID_ARGUMENT
    model.create_key_ring(LOC, "x" * 63)
    with pytest.raises(KmsApiError) as info:
        model.create_key_ring(LOC, "r")
    assert code(info) is Code.ALREADY_EXISTS and info.value.http_status == 409
    with pytest.raises(KmsApiError) as info:
        model.get_crypto_key(f"{RING}/cryptoKeys/missing")
    assert code(info) is Code.NOT_FOUND
    with pytest.raises(KmsApiError) as info:
        model.get_version(f"{RING}/cryptoKeys/k/cryptoKeyVersions/0")
    assert code(info) is Code.INVALID_ARGUMENT


def test_pending_generation_until_the_clock_passes() -> None:
    model, clock = make(pending=5.0)
    name = key(model, "k", Alg.EC_SIGN_P256_SHA256) + "/cryptoKeyVersions/1"
    assert model.get_version(name).state == State.PENDING_GENERATION
    with pytest.raises(KmsApiError) as info:
        operations.public_key(model, k.GetPublicKeyRequest(name=name))
    assert code(info) is Code.FAILED_PRECONDITION
    assert info.value.message == f"{name} is not enabled, current state is: PENDING_GENERATION."
    assert info.value.violations[0].type == "KEY_PENDING_GENERATION"
    clock.now += 5.0
    version = model.get_version(name)
    assert version.state == State.ENABLED and version.generate_time.timestamp() == clock.now


def test_symmetric_and_mac_keys_are_ready_at_once() -> None:
    model, _ = make(pending=5.0)
    assert (
        model.get_version(key(model, "m", Alg.HMAC_SHA256, Purpose.MAC) + "/cryptoKeyVersions/1").state == State.ENABLED
    )


def test_versions_are_sequential_and_asymmetric_keys_have_no_primary() -> None:
    model, _ = make()
    name = key(model, "k", Alg.EC_SIGN_ED25519)
    second = model.create_version(name)
    assert second.name == f"{name}/cryptoKeyVersions/2"
    assert not k.CryptoKey.pb(model.get_crypto_key(name)).HasField("primary")
    with pytest.raises(KmsApiError) as info:
        model.update_primary_version(name, "2")
    assert code(info) is Code.FAILED_PRECONDITION


def test_state_machine_destroy_restore() -> None:
    model, clock = make()
    name = key(model, "k", Alg.EC_SIGN_P256_SHA256) + "/cryptoKeyVersions/1"
    with pytest.raises(KmsApiError) as info:
        model.update_version_state(name, State.DESTROYED)
    assert code(info) is Code.INVALID_ARGUMENT
    scheduled = model.destroy_version(name)
    assert scheduled.state == State.DESTROY_SCHEDULED
    assert scheduled.destroy_time.timestamp() == clock.now + 30 * 86400
    for action in (model.destroy_version, lambda n: model.update_version_state(n, State.ENABLED)):
        with pytest.raises(KmsApiError) as info:
            action(name)
        assert code(info) is Code.FAILED_PRECONDITION
    assert model.restore_version(name).state == State.DISABLED  # never straight back to ENABLED
    model.destroy_version(name)
    clock.now += 30 * 86400
    destroyed = model.get_version(name)
    assert destroyed.state == State.DESTROYED and destroyed.destroy_event_time
    assert model.version(name).material is None
    with pytest.raises(KmsApiError) as info:
        model.restore_version(name)
    assert code(info) is Code.FAILED_PRECONDITION


def sign(model: KmsModel, **request: Any) -> k.AsymmetricSignResponse:
    return operations.asymmetric_sign(model, k.AsymmetricSignRequest(**request))


@pytest.mark.parametrize(
    ("alg", "request_fields", "fragment"),
    [
        (Alg.EC_SIGN_ED25519, {"digest": {"sha256": DIGEST}}, "requires data"),
        (Alg.EC_SIGN_P256_SHA256, {"digest": {"sha384": hashlib.sha384(b"m").digest()}}, "requires digest.sha256"),
        (Alg.EC_SIGN_P256_SHA256, {"digest": {"sha256": DIGEST[:31]}}, "is 31 bytes"),
        (Alg.EC_SIGN_P256_SHA256, {"digest": {"sha256": DIGEST}, "data": b"m"}, "Only one of digest or data"),
        (Alg.EC_SIGN_P256_SHA256, {}, "One of digest or data"),
        (Alg.EC_SIGN_P256_SHA256, {"digest": {"sha256": DIGEST}, "digest_crc32c": 1}, "digest_crc32c"),
        (Alg.EC_SIGN_ED25519, {"data": b"m", "data_crc32c": 1}, "data_crc32c"),
        (Alg.PQ_SIGN_ML_DSA_44_EXTERNAL_MU, {"data": b"m"}, "requires digest.external_mu"),
        (Alg.PQ_SIGN_ML_DSA_44, {"digest": {"external_mu": bytes(64)}}, "requires data"),
        (Alg.RSA_SIGN_RAW_PKCS1_2048, {"data": bytes(300)}, "cannot be signed"),
    ],
)
def test_sign_input_rules(alg: Alg, request_fields: dict[str, Any], fragment: str) -> None:
    model, _ = make()
    name = key(model, "k", alg) + "/cryptoKeyVersions/1"
    with pytest.raises(KmsApiError) as info:
        sign(model, name=name, **request_fields)
    assert code(info) is Code.INVALID_ARGUMENT
    assert fragment in info.value.message


def test_crc32c_fields_are_checked_and_echoed() -> None:
    model, _ = make()
    name = key(model, "k", Alg.EC_SIGN_P256_SHA256) + "/cryptoKeyVersions/1"
    unchecked = sign(model, name=name, digest={"sha256": DIGEST})
    assert not unchecked.verified_digest_crc32c
    checked = sign(model, name=name, digest={"sha256": DIGEST}, digest_crc32c=google_crc32c.value(DIGEST))
    assert checked.verified_digest_crc32c and not checked.verified_data_crc32c
    assert checked.signature_crc32c == google_crc32c.value(checked.signature)
    # a checksum of 0 is a value (present), not "unset": it must be checked
    zero_crc = next(bytes([i]) * 32 for i in range(256) if google_crc32c.value(bytes([i]) * 32) != 0)
    with pytest.raises(KmsApiError):
        sign(model, name=name, digest={"sha256": zero_crc}, digest_crc32c=0)


def test_wrong_purpose_and_disabled_are_preconditions() -> None:
    model, _ = make()
    mac = key(model, "m", Alg.HMAC_SHA256, Purpose.MAC) + "/cryptoKeyVersions/1"
    with pytest.raises(KmsApiError) as info:
        sign(model, name=mac, data=b"m")
    assert code(info) is Code.FAILED_PRECONDITION
    name = key(model, "k", Alg.EC_SIGN_P256_SHA256) + "/cryptoKeyVersions/1"
    model.update_version_state(name, State.DISABLED)
    with pytest.raises(KmsApiError) as info:
        sign(model, name=name, digest={"sha256": DIGEST})
    assert info.value.message == f"{name} is not enabled, current state is: DISABLED."


def test_algorithm_must_fit_purpose_and_protection_level() -> None:
    model, _ = make()
    with pytest.raises(KmsApiError) as info:
        key(model, "k", Alg.HMAC_SHA256, Purpose.ASYMMETRIC_SIGN)
    assert code(info) is Code.INVALID_ARGUMENT
    with pytest.raises(KmsApiError) as info:
        key(model, "s", Alg.EC_SIGN_SECP256K1_SHA256)  # HSM only
    assert code(info) is Code.INVALID_ARGUMENT
    with pytest.raises(KmsApiError) as info:
        model.create_crypto_key(RING, "u", k.CryptoKey(purpose=Purpose.ASYMMETRIC_SIGN), skip_initial=False)
    assert code(info) is Code.INVALID_ARGUMENT
    with pytest.raises(KmsApiError) as info:
        key(model, "kem", Alg.ML_KEM_768, Purpose.KEY_ENCAPSULATION)
    assert code(info) is Code.UNIMPLEMENTED  # an emulator gap says so, never a silent approximation


def test_rotation_schedule_only_for_symmetric_keys() -> None:
    from datetime import timedelta

    model, _ = make()
    template = k.CryptoKey(
        purpose=Purpose.ASYMMETRIC_SIGN,
        version_template={"algorithm": Alg.EC_SIGN_ED25519},
        rotation_period=timedelta(days=30),
    )
    with pytest.raises(KmsApiError):
        model.create_crypto_key(RING, "k", template, skip_initial=False)
    sym = model.create_crypto_key(
        RING, "s", k.CryptoKey(purpose=Purpose.ENCRYPT_DECRYPT, rotation_period=timedelta(days=30)), skip_initial=False
    )
    assert sym.rotation_period == timedelta(days=30)
    with pytest.raises(KmsApiError):
        model.update_crypto_key(k.CryptoKey(name=sym.name, rotation_period=timedelta(hours=1)), ["rotation_period"])


def test_seeded_material_is_reproducible() -> None:
    def pem(seed: bytes) -> bytes:
        model, _ = make(seed=seed)
        name = key(model, "k", Alg.RSA_SIGN_PSS_2048_SHA256) + "/cryptoKeyVersions/1"
        assert model.version(name).material is not None
        return operations.public_key(model, k.GetPublicKeyRequest(name=name)).pem.encode()

    first = pem(b"seed-1")
    assert first == pem(b"seed-1")
    assert first != pem(b"seed-2")
    assert serialization.load_pem_public_key(first).key_size == 2048  # type: ignore[union-attr]


def test_mac_verify_integrity_field_agrees_with_success() -> None:
    model, _ = make()
    name = key(model, "m", Alg.HMAC_SHA256, Purpose.MAC) + "/cryptoKeyVersions/1"
    mac = operations.mac_sign(model, k.MacSignRequest(name=name, data=b"x")).mac
    for given, expected in ((mac, True), (mac[:-1] + bytes([mac[-1] ^ 1]), False)):
        r = operations.mac_verify(model, k.MacVerifyRequest(name=name, data=b"x", mac=given))
        assert r.success is expected and r.verified_success_integrity is expected


def test_ciphertext_is_bound_to_its_key() -> None:
    model, _ = make()
    a = model.create_crypto_key(RING, "a", k.CryptoKey(purpose=Purpose.ENCRYPT_DECRYPT), skip_initial=False).name
    b = model.create_crypto_key(RING, "b", k.CryptoKey(purpose=Purpose.ENCRYPT_DECRYPT), skip_initial=False).name
    ct = operations.encrypt(model, k.EncryptRequest(name=a, plaintext=b"secret")).ciphertext
    assert operations.decrypt(model, k.DecryptRequest(name=a, ciphertext=ct)).plaintext == b"secret"
    with pytest.raises(KmsApiError) as info:
        operations.decrypt(model, k.DecryptRequest(name=b, ciphertext=ct))
    assert code(info) is Code.INVALID_ARGUMENT


def test_list_filter_and_order() -> None:
    from pytest_kmsconform.emulators.gcp_kms import listing

    model, _ = make()
    name = key(model, "k", Alg.EC_SIGN_ED25519)
    model.create_version(name)
    model.update_version_state(f"{name}/cryptoKeyVersions/1", State.DISABLED)
    versions = model.list_versions(name)
    assert [v.name[-1] for v in listing.apply_filter(versions, "state = ENABLED")] == ["2"]
    assert [v.name[-1] for v in listing.apply_filter(versions, "state != DESTROYED AND state != ENABLED")] == ["1"]
    assert [v.name[-1] for v in listing.apply_order(versions, "name desc")] == ["2", "1"]
    with pytest.raises(KmsApiError):
        listing.apply_filter(versions, "state = ENABLED OR state = DISABLED")
