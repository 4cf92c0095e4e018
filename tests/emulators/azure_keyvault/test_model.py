"""The Key Vault model alone: versions, the enabled/nbf/exp split, key_ops, soft delete, rotation
and rotation policies, signatures checked with pyca/cryptography, seeded reproducibility."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pytest_kmsconform.emulators.azure_keyvault import material
from pytest_kmsconform.emulators.azure_keyvault.errors import BadParameter, Conflict, Forbidden, KeyNotFound
from pytest_kmsconform.emulators.azure_keyvault.material import (
    Curve,
    KeyOperation,
    KeyType,
    MaterialSource,
    SignatureAlgorithm,
)
from pytest_kmsconform.emulators.azure_keyvault.models import KeyVault
from pytest_kmsconform.emulators.azure_keyvault.policy import (
    DAY,
    ActionType,
    parse_duration,
    policy_from_json,
)
from pytest_kmsconform.emulators.azure_keyvault.records import CreateSpec, Update
from pytest_kmsconform.reference_impl import rsa_supply

T0 = 1_800_000_000
EC = CreateSpec(KeyType.EC, curve=Curve.P256)
RSA = CreateSpec(KeyType.RSA, size=2048)
D256 = hashlib.sha256(b"m").digest()


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def vault(clock: Clock) -> KeyVault:
    return KeyVault(MaterialSource(), clock=clock)  # unseeded: seeded RSA is pure Python and slow


def test_create_again_adds_a_version_and_get_without_version_is_the_latest(vault: KeyVault) -> None:
    first = vault.create_key("k", EC)
    second = vault.create_key("k", EC)
    assert len(first.version) == 32 and int(first.version, 16) >= 0
    assert first.version != second.version
    assert vault.get_key("k").version == second.version
    assert vault.get_key("k", first.version) is first
    assert [v.version for v in vault.list_versions("k")] == [first.version, second.version]


def test_names_are_case_insensitive_and_checked(vault: KeyVault) -> None:
    created = vault.create_key("MyKey", EC)
    assert vault.get_key("mykey") is created
    with pytest.raises(BadParameter, match="invalid name"):
        vault.create_key("bad_name", EC)
    with pytest.raises(BadParameter):
        vault.create_key("x" * 128, EC)


@pytest.mark.parametrize(
    ("curve", "alg", "hash_cls", "size"),
    [
        (Curve.P256, SignatureAlgorithm.ES256, hashes.SHA256, 32),
        (Curve.P256K, SignatureAlgorithm.ES256K, hashes.SHA256, 32),
        (Curve.P384, SignatureAlgorithm.ES384, hashes.SHA384, 48),
        (Curve.P521, SignatureAlgorithm.ES512, hashes.SHA512, 66),
    ],
)
def test_ecdsa_is_raw_r_s_over_the_digest(
    vault: KeyVault, curve: Curve, alg: SignatureAlgorithm, hash_cls: type[hashes.HashAlgorithm], size: int
) -> None:
    version = vault.create_key("ec", CreateSpec(KeyType.EC, curve=curve))
    digest = hashlib.new(hash_cls.name, b"message").digest()
    _, signature = vault.sign("ec", None, alg, digest)
    assert len(signature) == 2 * size
    der = utils.encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
    public = version.private.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(der, digest, ec.ECDSA(utils.Prehashed(hash_cls())))
    assert vault.verify("ec", version.version, alg, digest, signature)
    assert not vault.verify("ec", version.version, alg, digest, signature[:-1] + bytes([signature[-1] ^ 1]))


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
def test_rsa_signatures_verify_with_pyca(vault: KeyVault, alg: str) -> None:
    version = vault.create_key("rsa", RSA)
    algorithm = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[alg[2:]]
    digest = hashlib.new(algorithm.name, b"message").digest()
    _, signature = vault.sign("rsa", version.version, SignatureAlgorithm(alg), digest)
    public = version.private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    pad: padding.AsymmetricPadding = (
        padding.PSS(padding.MGF1(algorithm), algorithm.digest_size) if alg.startswith("PS") else padding.PKCS1v15()
    )
    public.verify(signature, digest, pad, utils.Prehashed(algorithm))


def test_digest_length_and_algorithm_must_fit_the_key(vault: KeyVault) -> None:
    vault.create_key("ec", EC)
    vault.create_key("rsa", RSA)
    with pytest.raises(BadParameter, match="digest"):
        vault.sign("ec", None, SignatureAlgorithm.ES256, D256[:31])
    with pytest.raises(BadParameter, match="digest"):
        vault.sign("rsa", None, SignatureAlgorithm.RS384, D256)
    with pytest.raises(BadParameter, match="not supported"):
        vault.sign("ec", None, SignatureAlgorithm.ES384, hashlib.sha384(b"m").digest())
    with pytest.raises(BadParameter, match="not supported"):
        vault.sign("rsa", None, SignatureAlgorithm.ES256, D256)


def test_key_sizes_curves_and_defaults(vault: KeyVault) -> None:
    assert isinstance(vault.create_key("d", CreateSpec(KeyType.EC)).private.curve, ec.SECP256R1)  # type: ignore[union-attr]
    assert vault.create_key("r", CreateSpec(KeyType.RSA)).private.key_size == 2048
    assert vault.get_key("r").key_ops == material.DEFAULT_OPS[True]
    assert vault.get_key("d").key_ops == (KeyOperation.SIGN, KeyOperation.VERIFY)
    with pytest.raises(BadParameter, match="size"):
        vault.create_key("r", CreateSpec(KeyType.RSA, size=1024))
    with pytest.raises(BadParameter, match="exponent"):
        vault.create_key("r", CreateSpec(KeyType.RSA, public_exponent=3))
    with pytest.raises(BadParameter):
        vault.create_key("r", CreateSpec(KeyType.RSA, curve=Curve.P256))


def test_disabled_refuses_sign_but_not_verify_or_get(vault: KeyVault) -> None:
    version = vault.create_key("k", EC)
    _, signature = vault.sign("k", None, SignatureAlgorithm.ES256, D256)
    vault.update_key("k", version.version, Update(enabled=False))
    with pytest.raises(Forbidden) as caught:
        vault.sign("k", version.version, SignatureAlgorithm.ES256, D256)
    assert (caught.value.status, caught.value.inner) == (403, "KeyDisabled")
    assert caught.value.message == "Operation sign is not allowed on a disabled key."
    assert vault.verify("k", version.version, SignatureAlgorithm.ES256, D256, signature)
    assert vault.get_key("k").attributes.enabled is False
    vault.update_key("k", None, Update(enabled=True))
    vault.sign("k", None, SignatureAlgorithm.ES256, D256)


def test_nbf_and_exp_bound_sign_and_encrypt_not_verify_or_decrypt(vault: KeyVault, clock: Clock) -> None:
    version = vault.create_key("k", CreateSpec(KeyType.EC, not_before=T0 + 100, expires=T0 + 200))
    with pytest.raises(Forbidden) as early:
        vault.sign("k", None, SignatureAlgorithm.ES256, D256)
    assert early.value.inner == "KeyNotYetValid"
    clock.now = T0 + 100
    _, signature = vault.sign("k", None, SignatureAlgorithm.ES256, D256)
    clock.now = T0 + 200  # exp is exclusive
    with pytest.raises(Forbidden) as late:
        vault.sign("k", None, SignatureAlgorithm.ES256, D256)
    assert late.value.inner == "KeyExpired"
    assert vault.verify("k", version.version, SignatureAlgorithm.ES256, D256, signature)
    rsa_key = vault.create_key("r", CreateSpec(KeyType.RSA, expires=T0 + 300))
    _, sealed = vault.cipher("r", None, KeyOperation.ENCRYPT, "RSA-OAEP-256", b"secret")
    clock.now = T0 + 300
    with pytest.raises(Forbidden):
        vault.cipher("r", None, KeyOperation.ENCRYPT, "RSA-OAEP-256", b"secret")
    assert vault.cipher("r", rsa_key.version, KeyOperation.DECRYPT, "RSA-OAEP-256", sealed)[1] == b"secret"


def test_operations_outside_key_ops_are_forbidden(vault: KeyVault) -> None:
    vault.create_key("k", CreateSpec(KeyType.EC, key_ops=(KeyOperation.VERIFY,)))
    with pytest.raises(Forbidden) as caught:
        vault.sign("k", None, SignatureAlgorithm.ES256, D256)
    assert caught.value.inner == "KeyOperationForbidden"


def test_soft_delete_blocks_the_name_until_recover_or_purge(vault: KeyVault, clock: Clock) -> None:
    version = vault.create_key("k", EC)
    deleted = vault.delete_key("k")
    assert (deleted.deleted_date, deleted.scheduled_purge_date) == (T0, T0 + 90 * DAY)
    with pytest.raises(KeyNotFound):
        vault.get_key("k")
    with pytest.raises(Conflict) as conflict:
        vault.create_key("k", EC)
    assert conflict.value.inner == "ObjectIsDeletedButRecoverable"
    assert vault.recover_deleted_key("k").version == version.version
    vault.sign("k", None, SignatureAlgorithm.ES256, D256)
    vault.delete_key("k")
    vault.purge_deleted_key("k")
    with pytest.raises(KeyNotFound):
        vault.get_deleted_key("k")
    vault.create_key("k", EC)  # the name is free again


def test_deleted_keys_are_purged_at_the_scheduled_date(vault: KeyVault) -> None:
    vault.create_key("k", EC)
    vault.delete_key("k")
    vault.time_shift(90 * DAY - 1)
    assert [e.name for e in vault.list_deleted_keys()] == ["k"]
    vault.time_shift(1)
    assert vault.list_deleted_keys() == []


def test_rotate_keeps_type_size_and_operations(vault: KeyVault) -> None:
    first = vault.create_key("r", CreateSpec(KeyType.RSA_HSM, size=3072, key_ops=(KeyOperation.SIGN,)))
    second = vault.rotate_key("r")
    assert second.version != first.version
    assert (second.kty, second.private.key_size, second.key_ops) == (KeyType.RSA_HSM, 3072, (KeyOperation.SIGN,))
    assert second.private.public_key().public_numbers() != first.private.public_key().public_numbers()
    with pytest.raises(KeyNotFound):
        vault.rotate_key("missing")


def test_policy_rotates_automatically_when_time_passes(vault: KeyVault) -> None:
    vault.create_key("k", EC)
    doc = {
        "lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
        "attributes": {"expiryTime": "P90D"},
    }
    vault.set_rotation_policy("k", lambda now, old: policy_from_json(doc, now, old))
    vault.time_shift(29 * DAY)
    assert len(vault.list_versions("k")) == 1
    vault.time_shift(DAY)
    versions = vault.list_versions("k")
    assert len(versions) == 2
    assert versions[1].attributes.created == T0 + 30 * DAY
    assert versions[1].attributes.expires == T0 + 120 * DAY
    vault.time_shift(60 * DAY)
    assert len(vault.list_versions("k")) == 4


def test_default_policy_and_policy_rules(vault: KeyVault) -> None:
    vault.create_key("k", EC)
    default = vault.get_rotation_policy("k")
    assert [(a.action, a.time_before_expiry.text if a.time_before_expiry else None) for a in default.actions] == [
        (ActionType.NOTIFY, "P30D")
    ]
    bad = [
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P6D"}, "action": {"type": "Rotate"}}]},
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Notify"}}]},
        {"lifetimeActions": [{"trigger": {}, "action": {"type": "Rotate"}}]},
        {"attributes": {"expiryTime": "P27D"}},
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Delete"}}]},
        {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}] * 2},
    ]
    for doc in bad:
        with pytest.raises(BadParameter):
            policy_from_json(doc, T0, None)


def test_iso_durations() -> None:
    assert parse_duration("P1Y10D", "x").seconds == 375 * DAY
    assert parse_duration("PT48H", "x").seconds == 2 * DAY
    assert parse_duration("P3M", "x").seconds == 90 * DAY
    for bad in ("P", "30D", "PT", "P1.5D", 30):
        with pytest.raises(BadParameter):
            parse_duration(bad, "x")


def test_seeded_vaults_are_reproducible(clock: Clock) -> None:
    a, b = (KeyVault(MaterialSource(seed=b"same"), clock=clock) for _ in range(2))
    ka, kb = a.create_key("k", EC), b.create_key("k", EC)
    assert ka.version == kb.version
    assert ka.private.public_key().public_numbers() == kb.private.public_key().public_numbers()
    other = KeyVault(MaterialSource(seed=b"other"), clock=clock).create_key("k", EC)
    assert other.private.public_key().public_numbers() != ka.private.public_key().public_numbers()


def test_unseeded_rsa_keys_come_from_the_shared_supply(monkeypatch: pytest.MonkeyPatch) -> None:
    supplied = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setattr(rsa_supply, "SUPPLY", rsa_supply.RsaSupply())
    monkeypatch.setattr(rsa_supply, "_generate", lambda bits: supplied)
    made = KeyVault(MaterialSource()).create_key("a", RSA)
    assert made.private is supplied, "the emulator made its own RSA key instead of taking one from the supply"


def test_import_checks_the_key(vault: KeyVault) -> None:
    private = ec.generate_private_key(ec.SECP384R1())
    numbers = private.private_numbers()
    members: dict[str, bytes | str] = {
        "crv": "P-384",
        "x": numbers.public_numbers.x.to_bytes(48, "big"),
        "y": numbers.public_numbers.y.to_bytes(48, "big"),
        "d": numbers.private_value.to_bytes(48, "big"),
    }
    imported = vault.import_key("imp", KeyType.EC, members, CreateSpec(KeyType.EC))
    assert imported.private.public_key().public_numbers() == private.public_key().public_numbers()
    with pytest.raises(BadParameter, match="does not match"):
        vault.import_key("imp", KeyType.EC, {**members, "x": (1).to_bytes(48, "big")}, CreateSpec(KeyType.EC))
    with pytest.raises(BadParameter, match="missing"):
        vault.import_key("imp", KeyType.RSA, {"n": b"\x01"}, CreateSpec(KeyType.RSA))


def test_random_bytes_bounds(vault: KeyVault) -> None:
    assert len(vault.random_bytes(128)) == 128
    for bad in (0, 129):
        with pytest.raises(BadParameter):
            vault.random_bytes(bad)
