"""YubiHsmBackend / YubiHsmSigner through the real ``yubihsm`` library against the simulator.

Signatures are checked offline with pyca/cryptography (standard signatures over the original
message: the device got the SHA-256 digest as a pre-computed hash), rotation makes a new object,
revocation deletes it on the device, and the device audit log is verified by our own code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.yubihsm.provider import YubiHsmDetails

from pytest_kmsconform.key_backends import key_backend_for

pytest.importorskip("yubihsm")

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from pytest_kmsconform.emulators.yubihsm import Device, DeviceConfig, ManualClock
from pytest_kmsconform.emulators.yubihsm.defs import ObjectType
from pytest_kmsconform.emulators.yubihsm.provider import PROVIDER, ConnectorProvider
from pytest_kmsconform.emulators.yubihsm.transports import LockedDevice
from pytest_kmsconform.emulators.yubihsm.transports.inprocess import SimulatorBackend
from pytest_kmsconform.reference_impl.algorithms import CLASSIC, Algorithm
from pytest_kmsconform.reference_impl.backends.yubihsm import YubiHsmBackend, signer_from_env
from pytest_kmsconform.reference_impl.backends.yubihsm_log import (
    DeviceLogError,
    parse_device_log_entry,
    verify_device_log,
)
from pytest_kmsconform.reference_impl.backends.yubihsm_signer import YubiHsmSigner
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyRevoked,
    UnsupportedAlgorithm,
)
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest
from yubihsm.core import LogEntry as DeviceLogEntry

from pytest_kmsconform.backend_api import BackendHandle

MESSAGE = b'{"event":"login","user":"alice"}'
DIGEST = hashlib.sha256(MESSAGE).digest()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def device(clock: ManualClock) -> LockedDevice:
    return LockedDevice(Device(DeviceConfig(), clock=clock))


@pytest.fixture
def backend(device: LockedDevice) -> Iterator[YubiHsmBackend]:
    """A YubiHsmBackend over the in-process simulator (function scope), closed at teardown."""
    hsm_backend = YubiHsmBackend.over(lambda: SimulatorBackend(device))
    yield hsm_backend
    hsm_backend.close()


@pytest.fixture(scope="module")
def handle() -> Iterator[BackendHandle]:
    """The ``yubihsm`` provider's running simulator (module scope, connector on a free port)."""
    with PROVIDER.start(namespace="test") as running:
        yield running


def _check_standard_signature(alg: Algorithm, public: Any, signature: bytes) -> None:
    """Verify over the ORIGINAL message, as any JOSE/X.509 verifier would."""
    if alg is Algorithm.ED25519:
        assert isinstance(public, ed25519.Ed25519PublicKey)
        public.verify(signature, DIGEST)
    elif alg is Algorithm.ECDSA_P256_SHA256:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, MESSAGE, ec.ECDSA(hashes.SHA256()))
    elif alg is Algorithm.RSA_SHA256:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, MESSAGE, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())


@pytest.mark.parametrize("alg", [a for a in Algorithm if a in CLASSIC and not a.is_symmetric])
def test_ring_signer_signs_standard_signatures(backend: YubiHsmBackend, alg: Algorithm) -> None:
    """Every asymmetric algorithm of contract version 1 (the YubiHSM 2 has no ML-DSA, see below)."""
    ring = KeyRing(backend, alg, "audit")
    version = ring.rotate()
    assert version.kid.startswith("audit-0x") and version.public_key is not None
    signer = RingSigner(ring)
    signature = signer.sign_digest(DIGEST)
    _check_standard_signature(alg, version.public_key, signature.value)
    verify_digest(alg, version.public_key, DIGEST, signature.value)
    signer.verify_signature(DIGEST, signature)
    backend.verify(version.key, DIGEST, signature.value)
    (jwk,) = signer.jwks()["keys"]
    assert jwk["kid"] == version.kid and jwk["alg"] == alg.value
    with pytest.raises(InvalidSignature):
        backend.verify(version.key, hashlib.sha256(b"other").digest(), signature.value)


def test_hmac_key_verifies_on_the_device(backend: YubiHsmBackend) -> None:
    import hmac as hmac_module

    ring = KeyRing(backend, Algorithm.HMAC_SHA256, "mac")
    version = ring.rotate()
    tag = backend.sign(version.key, DIGEST)
    assert len(tag) == 32
    backend.verify(version.key, DIGEST, tag)
    with pytest.raises(InvalidSignature):
        backend.verify(version.key, DIGEST, bytes(32))
    assert ring.jwks() == {"keys": []}
    assert not hmac_module.compare_digest(tag, backend.sign(ring.rotate().key, DIGEST))  # a new key


def test_rotation_is_a_new_object_and_revocation_deletes_it(backend: YubiHsmBackend, device: LockedDevice) -> None:
    ring = KeyRing(backend, Algorithm.ECDSA_P256_SHA256, "rotating")
    first = ring.rotate()
    old_signature = RingSigner(ring).sign_digest(DIGEST)
    second = ring.rotate()
    assert first.key.ref != second.key.ref
    ring.revoke(first.kid)
    assert device.device.objects.find(int(first.key.ref, 16), ObjectType.ASYMMETRIC_KEY) is None
    with pytest.raises(BackendError) as gone:
        backend.sign(first.key, DIGEST)
    assert gone.value.code is BackendErrorCode.NOT_FOUND
    with pytest.raises(KeyRevoked):
        RingSigner(ring).verify_signature(DIGEST, old_signature)
    kids = {k["kid"]: k["status"] for k in ring.jwks()["keys"]}
    assert kids == {first.kid: "revoked", second.kid: "active"}


def test_session_expiry_is_recovered(backend: YubiHsmBackend, clock: ManualClock) -> None:
    key = KeyRing(backend, Algorithm.ED25519, "idle").rotate().key
    clock.advance(120)  # the device drops the idle session after 30 s
    assert len(backend.sign(key, DIGEST)) == 64


def test_device_audit_log_is_exported_and_verified(backend: YubiHsmBackend) -> None:
    backend.enable_command_audit()
    key = KeyRing(backend, Algorithm.ED25519, "logged").rotate().key
    for _ in range(3):
        backend.sign(key, DIGEST)
    entries = backend.audit_log()
    verify_device_log(entries)
    signs = [e for e in entries if e.command == 0x6A]
    assert len(signs) == 3 and all(e.result == 0xEA and e.target_key == int(key.ref, 16) for e in signs)
    verify_device_log(entries[3:], previous=entries[2])


def _entry(number: int, previous: bytes) -> DeviceLogEntry:
    data = DeviceLogEntry(number, 0x6A, 34, 1, 5, 0xFFFF, 0xEA, number * 10, b"\x00" * 16).data
    return DeviceLogEntry.parse(data + hashlib.sha256(data + previous).digest()[:16])


def test_verify_device_log_detects_tampering_gaps_and_wrong_anchor() -> None:
    chain = [_entry(1, b"\x00" * 16)]
    for n in range(2, 6):
        chain.append(_entry(n, chain[-1].digest))
    verify_device_log(chain)
    tampered = [*chain[:2], DeviceLogEntry(**{**chain[2].__dict__, "target_key": 6}), *chain[3:]]
    with pytest.raises(DeviceLogError) as bad_digest:
        verify_device_log(tampered)
    assert bad_digest.value.index == 2
    with pytest.raises(DeviceLogError) as gap:
        verify_device_log([chain[0], *chain[2:]])
    assert gap.value.index == 1
    with pytest.raises(DeviceLogError):
        verify_device_log(chain[2:], previous=DeviceLogEntry(**{**chain[1].__dict__, "digest": b"\x01" * 16}))
    with pytest.raises(ValueError):
        parse_device_log_entry(b"\x00" * 31)


def test_key_backend_from_handle_uses_the_in_process_device(handle: BackendHandle) -> None:
    backend = key_backend_for(handle)
    try:
        key = backend.create_key(Algorithm.ED25519, "via-handle", None)
        device: Device = handle.require_detail(YubiHsmDetails).device
        assert device.objects.find(int(key.ref, 16), ObjectType.ASYMMETRIC_KEY) is not None
    finally:
        backend.close()


def test_signer_from_env_over_the_connector(handle: BackendHandle) -> None:
    maker = key_backend_for(handle)
    key = maker.create_key(Algorithm.RSA_PSS_SHA256, "env-signer", None)
    maker.close()
    env = {**handle.env, "AUDIT_SIGNING_YUBIHSM_KEY_ID": key.ref, "AUDIT_SIGNING_ALG": "rsa-pss-sha256"}
    signer = signer_from_env(env)
    try:
        assert isinstance(signer, YubiHsmSigner) and signer.kid == key.kid
        signature = signer.sign_digest(DIGEST)
        signer.verify_signature(DIGEST, signature)
        (jwk,) = signer.jwks()["keys"]
        assert jwk["kty"] == "RSA" and jwk["kid"] == key.kid
    finally:
        signer.close()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"YUBIHSM_CONNECTOR_URL": ""}, "YUBIHSM_CONNECTOR_URL"),
        ({"AUDIT_SIGNING_YUBIHSM_KEY_ID": "zero"}, "AUDIT_SIGNING_YUBIHSM_KEY_ID"),
        ({"AUDIT_SIGNING_YUBIHSM_KEY_ID": "0x10000"}, "AUDIT_SIGNING_YUBIHSM_KEY_ID"),
        ({"AUDIT_SIGNING_ALG": "rsa-md5"}, "AUDIT_SIGNING_ALG"),
    ],
)
def test_signer_from_env_rejects_bad_configuration(
    handle: BackendHandle, overrides: dict[str, str], message: str
) -> None:
    env = {**handle.env, "AUDIT_SIGNING_YUBIHSM_KEY_ID": "1", **overrides}
    with pytest.raises(ConfigurationError, match=message):
        signer_from_env(env)


def test_signer_from_env_over_an_hmac_key() -> None:
    with PROVIDER.start(namespace="hmac") as fresh:
        from yubihsm.core import YubiHsm
        from yubihsm.defs import ALGORITHM, CAPABILITY
        from yubihsm.objects import HmacKey

        maker = key_backend_for(fresh)
        asymmetric = maker.create_key(Algorithm.ED25519, "asym", None)
        only_hmac = maker.create_key(Algorithm.HMAC_SHA256, "é" * 30, None)  # 60 UTF-8 bytes: the label is cut
        maker.close()
        # ids are per type: an operator may give an HMAC key the id of an asymmetric key (id 0 never does)
        hsm = YubiHsm(fresh.require_detail(YubiHsmDetails).backend_factory())
        with hsm.create_session_derived(1, "password") as session:
            caps = CAPABILITY.SIGN_HMAC | CAPABILITY.VERIFY_HMAC
            HmacKey.generate(session, int(asymmetric.ref, 16), "shared", 1, caps, ALGORITHM.HMAC_SHA256)
        hsm.close()
        assert asymmetric.ref != only_hmac.ref
        env = {**fresh.env, "AUDIT_SIGNING_YUBIHSM_KEY_ID": asymmetric.ref}
        with pytest.raises(ConfigurationError, match="both an asymmetric and an HMAC key"):
            signer_from_env(env)
        for signer in (
            signer_from_env({**env, "AUDIT_SIGNING_ALG": "hmac-sha256"}),
            signer_from_env({**fresh.env, "AUDIT_SIGNING_YUBIHSM_KEY_ID": only_hmac.ref}),
        ):
            try:
                assert signer.alg is Algorithm.HMAC_SHA256 and signer.jwks() == {"keys": []}
                signature = signer.sign_digest(DIGEST)
                signer.verify_signature(DIGEST, signature)
                with pytest.raises(InvalidSignature):
                    signer.verify_signature(hashlib.sha256(b"x").digest(), signature)
            finally:
                signer.close()


def test_signer_refuses_a_key_of_another_algorithm(handle: BackendHandle) -> None:
    maker = key_backend_for(handle)
    key = maker.create_key(Algorithm.ED25519, "mismatch", None)
    maker.close()
    env = {**handle.env, "AUDIT_SIGNING_YUBIHSM_KEY_ID": key.ref, "AUDIT_SIGNING_ALG": "ecdsa-p256-sha256"}
    with pytest.raises(ConfigurationError, match="cannot sign"):
        signer_from_env(env)


def test_wrong_password_is_access_denied(handle: BackendHandle) -> None:
    with pytest.raises(BackendError) as denied:
        YubiHsmBackend.connect(handle.env["YUBIHSM_CONNECTOR_URL"], 1, "wrong")
    assert denied.value.code is BackendErrorCode.ACCESS_DENIED


def test_connector_provider_needs_its_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMSCONFORM_YUBIHSM_URL", raising=False)
    provider = ConnectorProvider()
    assert provider.embedded is False and "KMSCONFORM_YUBIHSM_URL" in (provider.unavailable_reason() or "")
    monkeypatch.setenv("KMSCONFORM_YUBIHSM_URL", "http://127.0.0.1:1")
    assert provider.unavailable_reason() is None
    with provider.start(namespace="x") as running:
        assert running.env["YUBIHSM_CONNECTOR_URL"] == "http://127.0.0.1:1" and running.kind == "yubihsm"


def test_connector_provider_drives_a_device_behind_a_connector(
    handle: BackendHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The opt-in real-device path, pointed at the simulator's connector as the stand-in device."""
    monkeypatch.setenv("KMSCONFORM_YUBIHSM_URL", handle.env["YUBIHSM_CONNECTOR_URL"])
    with ConnectorProvider().start(namespace="real") as running:
        backend = key_backend_for(running)
        try:
            key = backend.create_key(Algorithm.ECDSA_P256_SHA256, "over-connector", None)
            public = backend.public_key(key)
            assert public is not None
            verify_digest(key.alg, public, DIGEST, backend.sign(key, DIGEST))
        finally:
            backend.close()


def test_provider_rejects_unknown_options() -> None:
    with (
        pytest.raises(ValueError, match="unknown yubihsm option"),
        PROVIDER.start(namespace="x", options={"sead": "1"}),
    ):
        pass


def test_runtime_auth_key_can_sign_but_not_create_or_export(handle: BackendHandle) -> None:
    """Seed 003's shape: the signer's own authentication key may sign, nothing else."""
    from yubihsm.core import YubiHsm
    from yubihsm.defs import CAPABILITY
    from yubihsm.objects import AuthenticationKey

    admin = key_backend_for(handle)
    key = admin.create_key(Algorithm.ED25519, "runtime", None)
    hsm = YubiHsm.connect(handle.env["YUBIHSM_CONNECTOR_URL"])
    with hsm.create_session_derived(1, "password") as session:
        runtime = AuthenticationKey.put_derived(
            session, 0, "runtime", 1, CAPABILITY.SIGN_EDDSA, CAPABILITY.NONE, "runtime-password"
        )
    hsm.close()
    admin.close()
    env = {
        **handle.env,
        "YUBIHSM_AUTH_KEY_ID": str(runtime.id),
        "YUBIHSM_PASSWORD": "runtime-password",
        "AUDIT_SIGNING_YUBIHSM_KEY_ID": key.ref,
    }
    signer = signer_from_env(env)
    try:
        signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))
    finally:
        signer.close()
    restricted = YubiHsmBackend.connect(env["YUBIHSM_CONNECTOR_URL"], runtime.id, "runtime-password")
    try:
        with pytest.raises(BackendError) as denied:
            restricted.create_key(Algorithm.ED25519, "not allowed", None)
        assert denied.value.code is BackendErrorCode.ACCESS_DENIED
        with pytest.raises(BackendError) as no_delete:
            restricted.disable(key)
        assert no_delete.value.code is BackendErrorCode.ACCESS_DENIED
    finally:
        restricted.close()


def test_no_ml_dsa_is_claimed(backend: YubiHsmBackend) -> None:
    assert backend.algorithms() == CLASSIC
    with pytest.raises(UnsupportedAlgorithm):
        KeyRing(backend, Algorithm.ML_DSA_65, "pq")
