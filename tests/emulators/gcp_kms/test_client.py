"""The unmodified google-cloud-kms client, over REST and over gRPC: every algorithm the emulator
lists creates keys, signs and gives its public key, and the signatures verify offline with
``cryptography``; the service's error codes and integrity fields arrive as the client expects."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import google_crc32c
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, padding, rsa
from google.api_core import exceptions as gexc
from google.cloud import kms_v1 as k
from pytest_kmsconform.emulators.gcp_kms.algorithms import SPECS, Scheme

Alg = k.CryptoKeyVersion.CryptoKeyVersionAlgorithm
Purpose = k.CryptoKey.CryptoKeyPurpose
State = k.CryptoKeyVersion.CryptoKeyVersionState
MSG = b"kmsconform audit record"
SIGNING = sorted((s for s in SPECS.values() if s.purpose == Purpose.ASYMMETRIC_SIGN), key=lambda s: s.name)
ML_DSA_PUBLIC = {44: mldsa.MLDSA44PublicKey, 65: mldsa.MLDSA65PublicKey, 87: mldsa.MLDSA87PublicKey}


def crc(data: bytes) -> int:
    return int(google_crc32c.value(data))


def create(client: Any, ring: str, key_id: str, alg: Alg, **extra: Any) -> str:
    """Create a key with one version; poll until ENABLED (as Google's samples do); its version name."""
    spec = SPECS[alg]
    level = k.ProtectionLevel.HSM if spec.hsm_only else k.ProtectionLevel.SOFTWARE
    key = client.create_crypto_key(
        request={
            "parent": ring,
            "crypto_key_id": key_id,
            "crypto_key": {"purpose": spec.purpose, "version_template": {"algorithm": alg, "protection_level": level}},
            **extra,
        }
    )
    name = f"{key.name}/cryptoKeyVersions/1"
    wait_enabled(client, name)
    return name


def wait_enabled(client: Any, name: str) -> None:
    for _ in range(200):
        if client.get_crypto_key_version(name=name).state == State.ENABLED:
            return
        time.sleep(0.01)
    raise AssertionError(f"{name} never became ENABLED")


def public_key(client: Any, name: str, pqc: bool) -> Any:
    if pqc:
        pk = client.get_public_key(request={"name": name, "public_key_format": k.PublicKey.PublicKeyFormat.NIST_PQC})
        assert pk.public_key.crc32c_checksum == crc(pk.public_key.data)
        assert pk.pem == ""
        return pk.public_key.data
    pk = client.get_public_key(request={"name": name})
    assert pk.name == name and pk.pem_crc32c == crc(pk.pem.encode())
    assert pk.pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pk.pem.endswith("-----END PUBLIC KEY-----\n")
    return serialization.load_pem_public_key(pk.pem.encode())


@pytest.mark.parametrize("spec", SIGNING, ids=lambda s: s.name)
def test_every_signing_algorithm_signs_and_verifies_offline(client: Any, ring: str, spec: Any) -> None:
    name = create(client, ring, spec.name.lower().replace("_", "-"), spec.alg)
    pub = public_key(client, name, spec.is_pqc)
    if spec.scheme is Scheme.ML_DSA_MU:
        key = ML_DSA_PUBLIC[spec.size].from_public_bytes(pub)
        hasher = mldsa.MLDSAMuHasher(key)
        hasher.update(MSG)
        mu = hasher.finalize()
        r = client.asymmetric_sign(request={"name": name, "digest": {"external_mu": mu}, "digest_crc32c": crc(mu)})
        assert r.verified_digest_crc32c
        key.verify(r.signature, MSG)
    elif spec.is_pqc or spec.scheme in (Scheme.EDDSA, Scheme.RAW_PKCS1):
        data = hashlib.sha256(MSG).digest() if spec.scheme is Scheme.RAW_PKCS1 else MSG
        r = client.asymmetric_sign(request={"name": name, "data": data, "data_crc32c": crc(data)})
        assert r.verified_data_crc32c and not r.verified_digest_crc32c
        if spec.is_pqc:
            ML_DSA_PUBLIC[spec.size].from_public_bytes(pub).verify(r.signature, MSG)
        elif spec.scheme is Scheme.EDDSA:
            assert isinstance(pub, ed25519.Ed25519PublicKey) and len(r.signature) == 64
            pub.verify(r.signature, MSG)
        else:
            assert isinstance(pub, rsa.RSAPublicKey)
            numbers = pub.public_numbers()
            block = pow(int.from_bytes(r.signature, "big"), numbers.e, numbers.n).to_bytes(pub.key_size // 8, "big")
            assert block.startswith(b"\x00\x01\xff") and block.endswith(b"\x00" + data)
    else:
        algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}[spec.hash]
        h = hashes.Hash(algorithm)
        h.update(MSG)
        digest = h.finalize()
        r = client.asymmetric_sign(request={"name": name, "digest": {spec.hash: digest}, "digest_crc32c": crc(digest)})
        assert r.verified_digest_crc32c and not r.verified_data_crc32c
        if spec.scheme is Scheme.ECDSA:
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            pub.verify(r.signature, MSG, ec.ECDSA(algorithm))  # DER, as the service answers
        elif spec.scheme is Scheme.PSS:
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(r.signature, MSG, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)
        else:
            assert isinstance(pub, rsa.RSAPublicKey)
            pub.verify(r.signature, MSG, padding.PKCS1v15(), algorithm)
    assert r.name == name
    assert r.signature_crc32c == crc(r.signature)
    assert r.protection_level == (k.ProtectionLevel.HSM if spec.hsm_only else k.ProtectionLevel.SOFTWARE)


def test_hashed_algorithms_also_sign_data(client: Any, ring: str) -> None:
    name = create(client, ring, "p384-data", Alg.EC_SIGN_P384_SHA384)
    pub = public_key(client, name, False)
    r = client.asymmetric_sign(request={"name": name, "data": MSG, "data_crc32c": crc(MSG)})
    assert r.verified_data_crc32c
    pub.verify(r.signature, MSG, ec.ECDSA(hashes.SHA384()))


def test_pqc_public_key_needs_a_format(client: Any, ring: str) -> None:
    name = create(client, ring, "mldsa", Alg.PQ_SIGN_ML_DSA_65)
    with pytest.raises(gexc.BadRequest) as info:
        client.get_public_key(request={"name": name})
    assert "NIST_PQC" in info.value.message
    raw = public_key(client, name, True)
    assert len(raw) == 1952  # FIPS 204 ML-DSA-65 public key


def test_mac_sign_and_verify(client: Any, ring: str) -> None:
    name = create(client, ring, "hmac", Alg.HMAC_SHA256)
    r = client.mac_sign(request={"name": name, "data": MSG, "data_crc32c": crc(MSG)})
    assert r.verified_data_crc32c and r.mac_crc32c == crc(r.mac) and len(r.mac) == 32
    v = client.mac_verify(request={"name": name, "data": MSG, "mac": r.mac, "mac_crc32c": crc(r.mac)})
    assert v.success and v.verified_success_integrity and v.verified_mac_crc32c and not v.verified_data_crc32c
    bad = bytes([r.mac[0] ^ 1]) + r.mac[1:]
    v = client.mac_verify(request={"name": name, "data": MSG, "mac": bad})
    assert not v.success and not v.verified_success_integrity


def test_symmetric_encrypt_decrypt_with_primary(client: Any, ring: str) -> None:
    key = client.create_crypto_key(
        request={"parent": ring, "crypto_key_id": "sym", "crypto_key": {"purpose": Purpose.ENCRYPT_DECRYPT}}
    )
    assert key.primary.name.endswith("/cryptoKeyVersions/1")
    e = client.encrypt(
        request={
            "name": key.name,
            "plaintext": MSG,
            "plaintext_crc32c": crc(MSG),
            "additional_authenticated_data": b"ctx",
        }
    )
    assert e.verified_plaintext_crc32c and e.ciphertext_crc32c == crc(e.ciphertext)
    d = client.decrypt(request={"name": key.name, "ciphertext": e.ciphertext, "additional_authenticated_data": b"ctx"})
    assert d.plaintext == MSG and d.used_primary
    with pytest.raises(gexc.BadRequest):
        client.decrypt(request={"name": key.name, "ciphertext": e.ciphertext, "additional_authenticated_data": b"x"})


def test_asymmetric_keys_have_no_primary(client: Any, ring: str) -> None:
    name = create(client, ring, "noprimary", Alg.EC_SIGN_ED25519)
    key = client.get_crypto_key(name=name.rsplit("/cryptoKeyVersions/", 1)[0])
    assert not k.CryptoKey.pb(key).HasField("primary")


def test_version_states_and_errors(client: Any, ring: str) -> None:
    name = create(client, ring, "states", Alg.EC_SIGN_P256_SHA256)
    digest = {"sha256": hashlib.sha256(MSG).digest()}
    v = client.update_crypto_key_version(
        request={"crypto_key_version": {"name": name, "state": State.DISABLED}, "update_mask": {"paths": ["state"]}}
    )
    assert v.state == State.DISABLED
    with pytest.raises(gexc.GoogleAPICallError) as info:
        client.asymmetric_sign(request={"name": name, "digest": digest}, retry=None)
    assert info.value.code == 400 and "is not enabled, current state is: DISABLED." in info.value.message
    destroyed = client.destroy_crypto_key_version(name=name)
    assert destroyed.state == State.DESTROY_SCHEDULED and destroyed.destroy_time
    with pytest.raises(gexc.GoogleAPICallError) as info:
        client.destroy_crypto_key_version(name=name)
    assert info.value.code == 400
    restored = client.restore_crypto_key_version(name=name)
    assert restored.state == State.DISABLED and not k.CryptoKeyVersion.pb(restored).HasField("destroy_time")
    with pytest.raises(gexc.NotFound):
        client.get_crypto_key_version(name=name.replace("/cryptoKeyVersions/1", "/cryptoKeyVersions/9"))
    with pytest.raises(gexc.Conflict):
        client.create_key_ring(
            request={"parent": ring.rsplit("/keyRings/", 1)[0], "key_ring_id": ring.rsplit("/", 1)[1]}
        )


def test_ed25519_refuses_a_digest_and_bad_checksums(client: Any, ring: str) -> None:
    name = create(client, ring, "ed", Alg.EC_SIGN_ED25519)
    with pytest.raises(gexc.BadRequest):
        client.asymmetric_sign(request={"name": name, "digest": {"sha256": hashlib.sha256(MSG).digest()}})
    with pytest.raises(gexc.BadRequest) as info:
        client.asymmetric_sign(request={"name": name, "data": MSG, "data_crc32c": crc(MSG) ^ 1})
    assert "data_crc32c" in info.value.message


def test_grpc_codes_are_exact(emulator: Any) -> None:
    """Over gRPC the client gets the canonical code (FailedPrecondition, InvalidArgument), not only HTTP 400."""
    client = emulator.grpc_client()
    try:
        ring = client.create_key_ring(request={"parent": emulator.location_name, "key_ring_id": "grpc-codes"}).name
        name = create(client, ring, "p256", Alg.EC_SIGN_P256_SHA256)
        client.update_crypto_key_version(
            request={"crypto_key_version": {"name": name, "state": State.DISABLED}, "update_mask": {"paths": ["state"]}}
        )
        with pytest.raises(gexc.FailedPrecondition):
            client.get_public_key(request={"name": name})
        with pytest.raises(gexc.InvalidArgument):
            client.get_crypto_key(name="projects/p/locations/l/keyRings/bad name/cryptoKeys/k")
    finally:
        client.transport.close()


def test_pending_generation_must_be_polled(client: Any, ring: str) -> None:
    key = client.create_crypto_key(
        request={
            "parent": ring,
            "crypto_key_id": "pending",
            "crypto_key": {
                "purpose": Purpose.ASYMMETRIC_SIGN,
                "version_template": {"algorithm": Alg.EC_SIGN_P256_SHA256},
            },
        }
    )
    name = f"{key.name}/cryptoKeyVersions/1"
    assert client.get_crypto_key_version(name=name).state == State.PENDING_GENERATION
    with pytest.raises(gexc.GoogleAPICallError) as info:
        client.get_public_key(request={"name": name}, retry=None)
    assert "current state is: PENDING_GENERATION." in info.value.message
    wait_enabled(client, name)
    assert client.get_crypto_key_version(name=name).generate_time


def test_rotation_is_a_new_version_and_list_pages(client: Any, ring: str) -> None:
    first = create(client, ring, "rot", Alg.EC_SIGN_ED25519)
    key_name = first.rsplit("/cryptoKeyVersions/", 1)[0]
    for _ in range(3):
        client.create_crypto_key_version(parent=key_name, crypto_key_version={})
    names = [v.name for v in client.list_crypto_key_versions(request={"parent": key_name, "page_size": 2})]
    assert names == [f"{key_name}/cryptoKeyVersions/{n}" for n in (1, 2, 3, 4)]
    client.update_crypto_key_version(
        request={"crypto_key_version": {"name": first, "state": State.DISABLED}, "update_mask": {"paths": ["state"]}}
    )
    disabled = client.list_crypto_key_versions(request={"parent": key_name, "filter": "state = DISABLED"})
    assert [v.name for v in disabled] == [first]


def test_hmac_is_deterministic_and_keyed(client: Any, ring: str) -> None:
    """Two MAC keys differ; one key gives the same MAC twice (HMAC is a function of key and data)."""
    a = create(client, ring, "mac-a", Alg.HMAC_SHA256)
    b = create(client, ring, "mac-b", Alg.HMAC_SHA256)
    mac_a1 = client.mac_sign(request={"name": a, "data": MSG}).mac
    mac_a2 = client.mac_sign(request={"name": a, "data": MSG}).mac
    mac_b = client.mac_sign(request={"name": b, "data": MSG}).mac
    assert mac_a1 == mac_a2 and not hmac.compare_digest(mac_a1, mac_b)
