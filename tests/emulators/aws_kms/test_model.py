"""Model-level tests: key material, Ed25519ph, deterministic generation, and the backend without HTTP."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from pytest_kmsconform.emulators.aws_kms import ed25519ph, keys
from pytest_kmsconform.emulators.aws_kms.errors import (
    DisabledException,
    EmulatorGap,
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    KMSInvalidStateException,
    UnsupportedOperationException,
    ValidationException,
)
from pytest_kmsconform.emulators.aws_kms.models import FidelityKmsBackend, set_seed

# RFC 8032 section 7.3, "TEST abc" (Ed25519ph)
RFC_SECRET = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
RFC_PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
RFC_SIGNATURE = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
)


def test_ed25519ph_rfc8032_vector() -> None:
    prehash = hashlib.sha512(b"abc").digest()
    assert ed25519ph.public_key(RFC_SECRET) == RFC_PUBLIC
    assert ed25519ph.sign(RFC_SECRET, prehash) == RFC_SIGNATURE
    assert ed25519ph.verify(RFC_PUBLIC, prehash, RFC_SIGNATURE)
    assert not ed25519ph.verify(RFC_PUBLIC, hashlib.sha512(b"abd").digest(), RFC_SIGNATURE)
    assert not ed25519ph.verify(RFC_PUBLIC, prehash, RFC_SIGNATURE[:-1] + b"\x07")


def test_pure_mode_matches_pyca() -> None:
    # the same arithmetic without dom2 is plain Ed25519: it must agree with an independent implementation
    key = ed25519.Ed25519PrivateKey.from_private_bytes(RFC_SECRET)
    for message in (b"", b"abc", bytes(range(200))):
        assert ed25519ph.sign(RFC_SECRET, message, dom=b"") == key.sign(message)
    # and Ed25519ph differs from pure Ed25519 over the same bytes (dom2 separates them)
    assert ed25519ph.sign(RFC_SECRET, b"abc") != key.sign(b"abc")


def test_stream_is_deterministic_and_label_separated() -> None:
    assert keys.Stream(b"s", "a").read(100) == keys.Stream(b"s", "a").read(100)
    assert keys.Stream(b"s", "a").read(32) != keys.Stream(b"s", "b").read(32)
    assert keys.Stream(b"s", "a").read(32) != keys.Stream(b"t", "a").read(32)


def test_deterministic_rsa_is_a_valid_reproducible_key() -> None:
    first = keys.deterministic_rsa(1024, keys.Stream(b"seed", "rsa"))
    again = keys.deterministic_rsa(1024, keys.Stream(b"seed", "rsa"))
    other = keys.deterministic_rsa(1024, keys.Stream(b"seed", "rsa2"))
    assert first.private_numbers() == again.private_numbers()
    assert first.public_key().public_numbers() != other.public_key().public_numbers()
    assert first.key_size == 1024
    signature = first.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    first.public_key().verify(signature, b"m", padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    "spec", ["ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]
)
def test_seeded_material_depends_on_seed_and_key_id(spec: str) -> None:
    a = keys.new_asymmetric(spec, b"seed", "key-1").public_key_der()
    assert a == keys.new_asymmetric(spec, b"seed", "key-1").public_key_der()
    assert a != keys.new_asymmetric(spec, b"seed", "key-2").public_key_der()
    assert a != keys.new_asymmetric(spec, b"other", "key-1").public_key_der()
    assert (
        keys.new_asymmetric(spec, None, "key-1").public_key_der()
        != keys.new_asymmetric(spec, None, "key-1").public_key_der()
    )


def test_pss_salt_length_is_hash_length() -> None:
    material = keys.new_asymmetric("RSA_2048", None, "k")
    signature = material.sign(b"m", "RSASSA_PSS_SHA_384", "RAW")
    public = material.private.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384())


@pytest.fixture
def backend() -> FidelityKmsBackend:
    return FidelityKmsBackend("us-east-1", "123456789012")


def _key(backend: FidelityKmsBackend, spec: str, usage: str) -> str:
    return str(backend.create_key(None, usage, spec, "", None).id)


def test_model_key_states(backend: FidelityKmsBackend) -> None:
    key = _key(backend, "ECC_NIST_P256", "SIGN_VERIFY")
    _, signature, _ = backend.sign(key, b"m", "ECDSA_SHA_256")
    backend.disable_key(key)
    with pytest.raises(DisabledException):
        backend.sign(key, b"m", "ECDSA_SHA_256")
    with pytest.raises(DisabledException):
        backend.verify(key, b"m", signature, "ECDSA_SHA_256")
    backend.enable_key(key)
    backend.schedule_key_deletion(key, 7)
    for call in (
        lambda: backend.sign(key, b"m", "ECDSA_SHA_256"),
        lambda: backend.get_public_key(key),
        lambda: backend.schedule_key_deletion(key, 7),
    ):
        with pytest.raises(KMSInvalidStateException):
            call()


def test_model_message_rules(backend: FidelityKmsBackend) -> None:
    ec_key = _key(backend, "ECC_NIST_P256", "SIGN_VERIFY")
    ed_key = _key(backend, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    cases = [
        (ec_key, b"", "ECDSA_SHA_256", "RAW", ValidationException),
        (ec_key, b"x" * 4097, "ECDSA_SHA_256", "RAW", ValidationException),
        (ec_key, b"x" * 31, "ECDSA_SHA_256", "DIGEST", ValidationException),
        (ec_key, b"x", "ECDSA_SHA_999", "RAW", ValidationException),
        (ec_key, b"x", "ECDSA_SHA_256", "BOGUS", ValidationException),
        (ec_key, b"x", "ECDSA_SHA_384", "RAW", InvalidKeyUsageException),
        (ec_key, b"x", "ECDSA_SHA_256", "EXTERNAL_MU", InvalidKeyUsageException),
        (ed_key, b"x" * 64, "ED25519_SHA_512", "DIGEST", ValidationException),
        (ed_key, b"x", "ED25519_PH_SHA_512", "RAW", ValidationException),
    ]
    for key, message, alg, mtype, error in cases:
        with pytest.raises(error):
            backend.sign(key, message, alg, mtype)
    assert len(backend.sign(ec_key, b"x" * 32, "ECDSA_SHA_256", "DIGEST")[1]) > 0


def test_model_verify_and_unsupported(backend: FidelityKmsBackend) -> None:
    key = _key(backend, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY")
    _, signature, _ = backend.sign(key, b"m", "ED25519_SHA_512")
    assert backend.verify(key, b"m", signature, "ED25519_SHA_512")[1] is True
    with pytest.raises(KMSInvalidSignatureException):
        backend.verify(key, b"n", signature, "ED25519_SHA_512")
    with pytest.raises(ValidationException):  # AWS: an empty signature fails validation, it is not "invalid"
        backend.verify(key, b"m", b"", "ED25519_SHA_512")
    public = serialization.load_der_public_key(backend.get_public_key(key)[1])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    for call in (lambda: backend.rotate_key_on_demand(key), lambda: backend.enable_key_rotation(key)):
        with pytest.raises(UnsupportedOperationException):
            call()
    mac_key = _key(backend, "HMAC_384", "GENERATE_VERIFY_MAC")
    with pytest.raises(UnsupportedOperationException):
        backend.get_public_key(mac_key)
    _, mac, _ = backend.generate_mac_bytes(mac_key, b"m", "HMAC_SHA_384")
    assert len(mac) == 48
    backend.verify_mac_bytes(mac_key, b"m", "HMAC_SHA_384", mac)


def test_model_create_key_rules(backend: FidelityKmsBackend) -> None:
    with pytest.raises(ValidationException):
        backend.create_key(None, "ENCRYPT_DECRYPT", "ECC_NIST_EDWARDS25519", "", None)
    with pytest.raises(ValidationException):
        backend.create_key(None, "SIGN_VERIFY", "RSA_1024", "", None)
    with pytest.raises(EmulatorGap):
        backend.create_key(None, "SIGN_VERIFY", "ECC_NIST_EDWARDS448", "", None)
    with pytest.raises(ValidationException):
        backend.create_key(None, "ENCRYPT_DECRYPT", "ML_DSA_65", "", None)  # ML-DSA keys are SIGN_VERIFY only
    with pytest.raises(EmulatorGap):
        backend.create_key(None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", "", None, origin="AWS_CLOUDHSM")


def test_seeded_backend_reproduces_ids_and_keys() -> None:
    def run() -> tuple[str, bytes]:
        set_seed(b"reproducible")
        try:
            backend = FidelityKmsBackend("us-east-1", "123456789012")
            key = backend.create_key(None, "SIGN_VERIFY", "ECC_NIST_EDWARDS25519", "", None)
            return key.id, backend.sign(key.id, b"m", "ED25519_SHA_512")[1]
        finally:
            set_seed(None)

    assert run() == run()


def test_ed25519ph_matches_libsodium() -> None:
    # libsodium's Ed25519ph hashes the message itself; ours takes PH(M) = SHA-512(M): they must agree
    from nacl import bindings

    seed = hashlib.sha256(b"libsodium cross-check").digest()
    public, secret = bindings.crypto_sign_seed_keypair(seed)
    assert ed25519ph.public_key(seed) == public
    for message in (b"", b"abc", bytes(range(256)) * 20):
        state = bindings.crypto_sign_ed25519ph_state()
        bindings.crypto_sign_ed25519ph_update(state, message)
        theirs = bindings.crypto_sign_ed25519ph_final_create(state, secret)
        ours = ed25519ph.sign(seed, hashlib.sha512(message).digest())
        assert ours == theirs
        state = bindings.crypto_sign_ed25519ph_state()
        bindings.crypto_sign_ed25519ph_update(state, message)
        assert bindings.crypto_sign_ed25519ph_final_verify(state, ours, public)
