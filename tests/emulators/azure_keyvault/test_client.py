"""The unmodified azure-keyvault-keys clients over HTTPS against the emulator: what a user of the
real service does (issue 17's "done when": create, sign, verify, rotate, disable, delete)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from pytest_kmsconform.emulators.azure_keyvault import KeyVaultEmulator
from pytest_kmsconform.emulators.faults import FaultProxy, plan_from_dict
from pytest_kmsconform.reference_impl import rsa_supply

pytest.importorskip("azure.keyvault.keys", reason="needs the azure extra (azure-keyvault-keys)")

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceResponseError,
)
from azure.keyvault.keys import KeyClient, KeyCurveName, KeyRotationLifetimeAction, KeyRotationPolicyAction
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

DIGEST = hashlib.sha256(b"kmsconform").digest()
HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def crypto(emulator: KeyVaultEmulator, key: Any) -> CryptographyClient:
    return CryptographyClient(key, emulator.credential(), retry_total=0, **emulator.client_kwargs())


def local_public(key: Any) -> Any:
    jwk = key.key
    if jwk.n:
        return rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()
    curve = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1, "P-256K": ec.SECP256K1}
    impl = curve[str(getattr(jwk.crv, "value", jwk.crv))]()
    return ec.EllipticCurvePublicNumbers(int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), impl).public_key()


def test_create_sign_verify_rotate_disable_delete(emulator: KeyVaultEmulator, key_client: KeyClient) -> None:
    key = key_client.create_ec_key("lifecycle", curve=KeyCurveName.p_256)
    client = crypto(emulator, key)
    signed = client.sign(SignatureAlgorithm.es256, DIGEST)
    assert signed.key_id == key.id and len(signed.signature) == 64
    assert client.verify(SignatureAlgorithm.es256, DIGEST, signed.signature).is_valid
    rotated = key_client.rotate_key("lifecycle")
    assert rotated.properties.version != key.properties.version
    assert [p.version for p in key_client.list_properties_of_key_versions("lifecycle")] == [
        key.properties.version,
        rotated.properties.version,
    ]
    key_client.update_key_properties("lifecycle", key.properties.version, enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        client.sign(SignatureAlgorithm.es256, DIGEST)
    assert refused.value.status_code == 403 and "disabled key" in str(refused.value)
    crypto(emulator, rotated).sign(SignatureAlgorithm.es256, DIGEST)  # the new version still signs
    deleted = key_client.begin_delete_key("lifecycle").result()
    assert deleted.recovery_id.endswith("/deletedkeys/lifecycle")
    with pytest.raises(ResourceNotFoundError):
        key_client.get_key("lifecycle")
    with pytest.raises(ResourceExistsError):
        key_client.create_ec_key("lifecycle")
    assert key_client.begin_recover_deleted_key("lifecycle").result().name == "lifecycle"
    key_client.begin_delete_key("lifecycle").result()
    key_client.purge_deleted_key("lifecycle")
    assert "lifecycle" not in [k.name for k in key_client.list_deleted_keys()]


@pytest.mark.parametrize(
    ("curve", "alg"),
    [("P-256", "ES256"), ("P-256K", "ES256K"), ("P-384", "ES384"), ("P-521", "ES512")],
)
def test_every_curve_signs_and_verifies_locally(
    emulator: KeyVaultEmulator, key_client: KeyClient, curve: str, alg: str
) -> None:
    key = key_client.create_ec_key(f"curve-{alg}", curve=curve)
    algorithm = HASHES["256" if alg == "ES256K" else alg[2:]]()
    digest = hashlib.new(algorithm.name, b"m").digest()
    signature = crypto(emulator, key).sign(alg, digest).signature
    size = len(signature) // 2
    der = utils.encode_dss_signature(int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big"))
    local_public(key).verify(der, digest, ec.ECDSA(utils.Prehashed(algorithm)))


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_rsa_sizes_sign_every_rsa_algorithm(emulator: KeyVaultEmulator, key_client: KeyClient, size: int) -> None:
    key = key_client.create_rsa_key(f"rsa-{size}", size=size)
    assert local_public(key).key_size == size
    client = crypto(emulator, key)
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        algorithm = HASHES[alg[2:]]()
        digest = hashlib.new(algorithm.name, b"m").digest()
        signature = client.sign(alg, digest).signature
        pad = padding.PSS(padding.MGF1(algorithm), algorithm.digest_size) if alg[0] == "P" else padding.PKCS1v15()
        local_public(key).verify(signature, digest, pad, utils.Prehashed(algorithm))


def test_cryptography_client_from_a_key_id_and_wrong_digest(emulator: KeyVaultEmulator, key_client: KeyClient) -> None:
    key = key_client.create_ec_key("by-id")
    versionless = key.id.rsplit("/", 1)[0]
    client = crypto(emulator, versionless)  # GETs /keys/by-id/ first, then signs that version
    assert client.sign(SignatureAlgorithm.es256, DIGEST).key_id == key.id
    with pytest.raises(HttpResponseError) as wrong:
        client.sign(SignatureAlgorithm.es256, DIGEST[:31])  # the SDK does not check; the service does
    assert wrong.value.status_code == 400


def test_rotation_policy_through_the_sdk(key_client: KeyClient) -> None:
    key_client.create_rsa_key("policy")
    actions = [KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P30D")]
    stored = key_client.update_key_rotation_policy(
        "policy", key_client.get_key_rotation_policy("policy"), lifetime_actions=actions, expires_in="P90D"
    )
    assert stored.expires_in == "P90D"
    assert [(a.action, a.time_after_create) for a in stored.lifetime_actions] == [
        (KeyRotationPolicyAction.rotate, "P30D")
    ]
    with pytest.raises(HttpResponseError):
        key_client.update_key_rotation_policy("policy", stored, expires_in="P7D")


def test_import_backup_restore_and_random_bytes(key_client: KeyClient) -> None:
    from azure.keyvault.keys import JsonWebKey

    private = ec.generate_private_key(ec.SECP256R1())
    n = private.private_numbers()
    jwk = JsonWebKey(
        kty="EC",
        crv="P-256",
        key_ops=["sign", "verify"],
        x=n.public_numbers.x.to_bytes(32, "big"),
        y=n.public_numbers.y.to_bytes(32, "big"),
        d=n.private_value.to_bytes(32, "big"),
    )
    imported = key_client.import_key("imported", jwk)
    assert local_public(imported).public_numbers() == private.public_key().public_numbers()
    blob = key_client.backup_key("imported")
    key_client.begin_delete_key("imported").result()
    key_client.purge_deleted_key("imported")
    assert key_client.restore_key_backup(blob).id == imported.id
    assert len(key_client.get_random_bytes(32)) == 32


def test_paging_follows_next_link(key_client: KeyClient) -> None:
    for i in range(5):
        key_client.create_ec_key(f"page-{i}")
    names = [p.name for p in key_client.list_properties_of_keys(max_page_size=2)]
    assert [n for n in names if n.startswith("page-")] == [f"page-{i}" for i in range(5)]


def test_trust_and_challenge_settings_are_needed(emulator: KeyVaultEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import ServiceRequestError

    with pytest.raises(ServiceRequestError):  # not trusting the throw-away CA
        KeyClient(emulator.url, emulator.credential(), retry_total=0, verify_challenge_resource=False).get_key("x")
    strict = KeyClient(emulator.url, emulator.credential(), retry_total=0, connection_verify=str(emulator.ca_file))
    with pytest.raises(ValueError, match="challenge resource"):  # 127.0.0.1 is no subdomain of vault.azure.net
        strict.get_key("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_file))
    from azure.keyvault.keys._shared import HttpChallengeCache

    HttpChallengeCache.clear()
    by_env = KeyClient(emulator.url, emulator.credential(), retry_total=0, verify_challenge_resource=False)
    with pytest.raises(ResourceNotFoundError):
        by_env.get_key("not-there")


def test_fault_proxy_injects_key_vault_errors_over_https(emulator: KeyVaultEmulator) -> None:
    """The fault proxy terminates TLS in front of the HTTPS emulator (a CA of its own, the emulator's
    verified upstream) and answers with Key Vault's own errors; the SDK sees them as from the vault."""
    plan = plan_from_dict(
        {"seed": 3, "rules": [{"operation": "keys/sign", "fault": "error", "error": "ThrottlingException", "count": 1}]}
    )
    with FaultProxy(emulator.url, plan, kind="azure-keyvault", upstream_ca=emulator.ca_file) as proxy:
        assert proxy.url.startswith("https://") and proxy.ca_file is not None
        kwargs = {"retry_total": 0, "connection_verify": str(proxy.ca_file), "verify_challenge_resource": False}
        with KeyClient(proxy.url, emulator.credential(), **kwargs) as keys:
            key = keys.create_ec_key("faulty")
        assert key.id.startswith(proxy.url)  # the Host the client addressed: kids name the proxy
        client = CryptographyClient(key, emulator.credential(), **kwargs)
        with pytest.raises(HttpResponseError) as throttled:
            client.sign(SignatureAlgorithm.es256, DIGEST)
        assert throttled.value.status_code == 429 and throttled.value.error.code == "Throttled"
        assert throttled.value.response.headers["Retry-After"] == "1"
        client.sign(SignatureAlgorithm.es256, DIGEST)  # count 1: the next call passes
        proxy.plan = plan_from_dict({"seed": 3, "rules": [{"operation": "keys/sign", "fault": "corrupt_signature"}]})
        flipped = client.sign(SignatureAlgorithm.es256, DIGEST).signature
        assert not client.verify(SignatureAlgorithm.es256, DIGEST, flipped).is_valid
        proxy.plan = plan_from_dict({"seed": 3, "rules": [{"operation": "keys/sign", "fault": "reset"}]})
        with pytest.raises(ServiceResponseError):
            client.sign(SignatureAlgorithm.es256, DIGEST)
        assert [e.fault for e in proxy.faults()] == ["error:Throttled", "corrupt_signature", "reset"]
        assert {e.kind for e in proxy.events} == {"azure-keyvault"}


def test_kmsconform_emulate_prints_the_env_lines_and_stops_on_sigterm() -> None:
    code = "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "emulate", "azure-keyvault", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        assert header.startswith("# azure-keyvault ("), header
        env = {}
        for line in iter(proc.stdout.readline, ""):
            key, _, value = line.strip().partition("=")
            env[key] = value
            if len(env) == 7:
                break
        assert env["AZURE_KEYVAULT_URL"].startswith("https://127.0.0.1:")
        assert env["REQUESTS_CA_BUNDLE"] == env["AZURE_KEYVAULT_CA_BUNDLE"]
        from pytest_kmsconform.reference_impl.backends.azure_keyvault import client_from_env

        client, _, _ = client_from_env(env)
        with client:
            assert client.create_ec_key("from-cli").name == "from-cli"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0


def test_rsa_pool_raises_the_supply_target_while_running_and_never_lowers_it(monkeypatch: pytest.MonkeyPatch) -> None:
    supply = rsa_supply.RsaSupply()
    monkeypatch.setattr(rsa_supply, "SUPPLY", supply)
    monkeypatch.setattr(rsa_supply, "_generate", lambda bits: rsa.generate_private_key(65537, 1024))
    try:
        supply.keep_ready(2048, 2)
        with KeyVaultEmulator(rsa_pool=1):
            assert supply.target(2048) == 2, "rsa_pool=1 lowered the run's target of 2"
        with KeyVaultEmulator(rsa_pool=5):
            assert supply.target(2048) == 5
        assert supply.target(2048) == 2, "the emulator's target outlived it"
        with KeyVaultEmulator(rsa_pool=5, seed=b"s"):
            assert supply.target(2048) == 2, "a seeded vault makes no random RSA keys, so wants no spares"
    finally:
        supply.stop()


@pytest.mark.parametrize("value", ["-1", "four"])
def test_a_bad_rsa_pool_option_is_a_configuration_error(value: str) -> None:
    from pytest_kmsconform.emulators.azure_keyvault.provider import PROVIDER
    from pytest_kmsconform.reference_impl.errors import ConfigurationError

    starting = PROVIDER.start(namespace="kc-test", options={"rsa_pool": value})
    with pytest.raises(ConfigurationError, match=f"rsa_pool must be an integer >= 0, got '{value}'"):
        starting.__enter__()
