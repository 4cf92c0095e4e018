"""The real ``yubihsm`` library (Yubico, 3.1.2) against the simulator, over both transports."""

from __future__ import annotations

import hashlib
import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

yubihsm = pytest.importorskip("yubihsm")

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding  # noqa: E402
from pytest_kmsconform.emulators.yubihsm import Device, DeviceConfig, ManualClock  # noqa: E402
from pytest_kmsconform.emulators.yubihsm.transports import LockedDevice  # noqa: E402
from pytest_kmsconform.emulators.yubihsm.transports.inprocess import SimulatorBackend  # noqa: E402
from pytest_kmsconform.reference_impl.backends.yubihsm_log import verify_device_log  # noqa: E402
from yubihsm.core import LogEntry as DeviceLogEntry  # noqa: E402
from yubihsm.defs import ALGORITHM, AUDIT, CAPABILITY, COMMAND, ERROR, OBJECT, ORIGIN  # noqa: E402
from yubihsm.exceptions import YubiHsmAuthenticationError, YubiHsmDeviceError  # noqa: E402
from yubihsm.objects import (  # noqa: E402
    AsymmetricKey,
    AuthenticationKey,
    HmacKey,
    Opaque,
    PublicWrapKey,
    WrapKey,
)

Connect = Callable[[], Any]


def _public(key: Any) -> Any:
    """The key's public key (the library's method is untyped)."""
    return key.get_public_key()


def _code(excinfo: pytest.ExceptionInfo[YubiHsmDeviceError]) -> ERROR:
    code: ERROR = excinfo.value.code
    return code


def test_device_info_and_random(connect: Connect, session: Any) -> None:
    hsm = connect()
    info = hsm.get_device_info()
    assert info.version == (2, 4, 0) and info.log_size == 62 and len(info.supported_algorithms) == 55
    assert info.part_number == "KMSCONFORM-SIM"
    assert hsm.send_cmd(COMMAND.ECHO, b"x" * 2000) == b"x" * 2000
    assert len(session.get_pseudo_random(512)) == 512
    hsm.close()


def test_wrong_password_is_detected_by_the_client(connect: Connect) -> None:
    hsm = connect()
    with pytest.raises(YubiHsmAuthenticationError):
        hsm.create_session_derived(1, "not the password")
    with pytest.raises(YubiHsmDeviceError) as caught:
        hsm.create_session_derived(99, "password")
    assert _code(caught) == ERROR.OBJECT_NOT_FOUND
    hsm.close()


@pytest.mark.parametrize(
    ("algorithm", "capability"),
    [
        (ALGORITHM.EC_ED25519, CAPABILITY.SIGN_EDDSA),
        (ALGORITHM.EC_P256, CAPABILITY.SIGN_ECDSA),
        (ALGORITHM.EC_P384, CAPABILITY.SIGN_ECDSA),
        (ALGORITHM.RSA_2048, CAPABILITY.SIGN_PKCS | CAPABILITY.SIGN_PSS),
    ],
)
def test_generate_and_sign(session: Any, algorithm: ALGORITHM, capability: CAPABILITY) -> None:
    key = AsymmetricKey.generate(session, 0, "sign", 1, capability, algorithm)
    public = _public(key)
    data = os.urandom(100)
    if algorithm is ALGORITHM.EC_ED25519:
        public.verify(key.sign_eddsa(data), data)
    elif algorithm is ALGORITHM.RSA_2048:
        public.verify(key.sign_pkcs1v1_5(data), data, padding.PKCS1v15(), hashes.SHA256())
        pss = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
        public.verify(key.sign_pss(data, 32), data, pss, hashes.SHA256())
    else:
        public.verify(key.sign_ecdsa(data), data, ec.ECDSA(hashes.SHA256()))
    assert key.get_info().origin == ORIGIN.GENERATED


def test_put_ed25519_signs_like_software(session: Any) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = AsymmetricKey.put(session, 0, "put", 1, CAPABILITY.SIGN_EDDSA, private)
    assert key.sign_eddsa(b"message") == private.sign(b"message")  # Ed25519 is deterministic
    assert key.get_info().origin == ORIGIN.IMPORTED


def test_capabilities_and_domains_are_enforced(session: Any, connect: Connect) -> None:
    key = AsymmetricKey.generate(session, 0, "no-sign", 1, CAPABILITY.NONE, ALGORITHM.EC_P256)
    with pytest.raises(YubiHsmDeviceError) as no_cap:
        key.sign_ecdsa(b"data")
    assert _code(no_cap) == ERROR.INSUFFICIENT_PERMISSIONS
    limited = AuthenticationKey.put_derived(
        session,
        0,
        "domain 2",
        2,
        CAPABILITY.SIGN_ECDSA | CAPABILITY.GENERATE_ASYMMETRIC_KEY,
        CAPABILITY.SIGN_ECDSA,
        "pw2",
    )
    hsm = connect()
    other = hsm.create_session_derived(limited.id, "pw2")
    with pytest.raises(YubiHsmDeviceError) as hidden:
        _public(AsymmetricKey(other, key.id))
    assert _code(hidden) == ERROR.OBJECT_NOT_FOUND
    with pytest.raises(YubiHsmDeviceError) as outside:
        AsymmetricKey.generate(other, 0, "d1", 1, CAPABILITY.SIGN_ECDSA, ALGORITHM.EC_P256)
    assert _code(outside) == ERROR.INSUFFICIENT_PERMISSIONS
    with pytest.raises(YubiHsmDeviceError) as too_much:
        AsymmetricKey.generate(other, 0, "d2", 2, CAPABILITY.SIGN_EDDSA, ALGORITHM.EC_P256)
    assert _code(too_much) == ERROR.INSUFFICIENT_PERMISSIONS
    mine = AsymmetricKey.generate(other, 0, "d2", 2, CAPABILITY.SIGN_ECDSA, ALGORITHM.EC_P256)
    assert mine.sign_ecdsa(b"ok")
    with pytest.raises(YubiHsmDeviceError) as no_delete:
        mine.delete()
    assert _code(no_delete) == ERROR.INSUFFICIENT_PERMISSIONS
    other.close()
    hsm.close()


def test_hmac_generate_put_sign_verify(session: Any) -> None:
    generated = HmacKey.generate(
        session, 0, "h", 1, CAPABILITY.SIGN_HMAC | CAPABILITY.VERIFY_HMAC, ALGORITHM.HMAC_SHA256
    )
    mac = generated.sign_hmac(b"data")
    assert generated.verify_hmac(mac, b"data") and not generated.verify_hmac(mac, b"other")
    secret = b"k" * 32
    put = HmacKey.put(session, 0, "p", 1, CAPABILITY.SIGN_HMAC, secret, ALGORITHM.HMAC_SHA512)
    import hmac

    assert put.sign_hmac(b"data") == hmac.new(secret, b"data", hashlib.sha512).digest()


def test_list_info_delete(session: Any) -> None:
    a = Opaque.put(session, 0, "label-a", 1, CAPABILITY.NONE, ALGORITHM.OPAQUE_DATA, b"a")
    b = HmacKey.generate(session, 0, "label-b", 2, CAPABILITY.SIGN_HMAC, ALGORITHM.HMAC_SHA1)
    assert {(o.id, o.object_type) for o in session.list_objects(label="label-a")} == {(a.id, OBJECT.OPAQUE)}
    assert {o.object_type for o in session.list_objects(domains=2)} == {OBJECT.HMAC_KEY, OBJECT.AUTHENTICATION_KEY}
    assert [o.id for o in session.list_objects(algorithm=ALGORITHM.HMAC_SHA1)] == [b.id]
    info = b.get_info()
    assert (info.label, info.domains, info.size, info.algorithm) == ("label-b", 2, 128, ALGORITHM.HMAC_SHA1)
    b.delete()
    with pytest.raises(YubiHsmDeviceError) as gone:
        b.get_info()
    assert _code(gone) == ERROR.OBJECT_NOT_FOUND


def test_change_authentication_key(connect: Connect, session: Any) -> None:
    key = AuthenticationKey.put_derived(
        session, 0, "changeable", 1, CAPABILITY.CHANGE_AUTHENTICATION_KEY, CAPABILITY.NONE, "first"
    )
    hsm = connect()
    own = hsm.create_session_derived(key.id, "first")
    AuthenticationKey(own, key.id).change_password("second")
    with pytest.raises(YubiHsmDeviceError) as not_own:
        AuthenticationKey(own, 1).change_password("x")
    assert _code(not_own) == ERROR.INVALID_ID
    own.close()
    with pytest.raises(YubiHsmAuthenticationError):
        hsm.create_session_derived(key.id, "first")
    hsm.create_session_derived(key.id, "second").close()
    hsm.close()


def test_export_and_import_wrapped(session: Any) -> None:
    wrap = WrapKey.generate(
        session,
        0,
        "wrap",
        1,
        CAPABILITY.EXPORT_WRAPPED | CAPABILITY.IMPORT_WRAPPED,
        ALGORITHM.AES256_CCM_WRAP,
        CAPABILITY.SIGN_ECDSA | CAPABILITY.EXPORTABLE_UNDER_WRAP,
    )
    key = AsymmetricKey.generate(
        session, 0, "exported", 1, CAPABILITY.SIGN_ECDSA | CAPABILITY.EXPORTABLE_UNDER_WRAP, ALGORITHM.EC_P256
    )
    public = _public(key)
    blob = wrap.export_wrapped(key)
    assert blob != wrap.export_wrapped(key)  # fresh nonce each time
    key.delete()
    back: Any = wrap.import_wrapped(blob)
    assert back.get_info().origin == ORIGIN.GENERATED | ORIGIN.IMPORTED_WRAPPED
    public.verify(back.sign_ecdsa(b"x"), b"x", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(YubiHsmDeviceError) as exists:
        wrap.import_wrapped(blob)
    assert _code(exists) == ERROR.OBJECT_EXISTS
    with pytest.raises(YubiHsmDeviceError) as tampered:
        wrap.import_wrapped(blob[:-1] + bytes([blob[-1] ^ 1]))
    assert _code(tampered) == ERROR.INVALID_DATA


def test_generated_rsa_wrap_key_imports_under_asymmetric_wrap(session: Any) -> None:
    # yubihsm-shell generate-wrap-key -A rsa2048: a real device (firmware 2.4.0) generates it
    wrap = WrapKey.generate(
        session,
        0,
        "rsa wrap",
        1,
        CAPABILITY.IMPORT_WRAPPED,
        ALGORITHM.RSA_2048,
        CAPABILITY.SIGN_ECDSA | CAPABILITY.EXPORTABLE_UNDER_WRAP,
    )
    info = wrap.get_info()
    assert (info.algorithm, info.origin, info.object_type) == (ALGORITHM.RSA_2048, ORIGIN.GENERATED, OBJECT.WRAP_KEY)
    public_wrap = PublicWrapKey.put(
        session,
        0,
        "its public half",
        1,
        CAPABILITY.EXPORT_WRAPPED,
        CAPABILITY.SIGN_ECDSA | CAPABILITY.EXPORTABLE_UNDER_WRAP,
        wrap.get_public_key(),
    )
    key = AsymmetricKey.generate(
        session, 0, "moved", 1, CAPABILITY.SIGN_ECDSA | CAPABILITY.EXPORTABLE_UNDER_WRAP, ALGORITHM.EC_P256
    )
    public = _public(key)
    blob = public_wrap.export_wrapped_rsa(key)
    key.delete()
    back: Any = wrap.import_wrapped_rsa(blob)
    public.verify(back.sign_ecdsa(b"x"), b"x", ec.ECDSA(hashes.SHA256()))


def test_wrap_data_adds_30_bytes_and_unwraps(session: Any) -> None:
    # YH_CCM_WRAP_OVERHEAD = 1 + 13 + 16: an encrypted leading NUL, the nonce and the MAC
    wrap = WrapKey.generate(
        session, 0, "data", 1, CAPABILITY.WRAP_DATA | CAPABILITY.UNWRAP_DATA, ALGORITHM.AES128_CCM_WRAP, CAPABILITY.NONE
    )
    for data in (b"", b"x", os.urandom(100)):
        blob = wrap.wrap_data(data)
        assert len(blob) == len(data) + 30
        assert wrap.unwrap_data(blob) == data
    # a blob sealed without the leading NUL (as our simulator did before) is refused
    raw = wrap.wrap_data(b"")
    with pytest.raises(YubiHsmDeviceError) as caught:
        wrap.unwrap_data(raw[:13] + raw[14:])
    assert _code(caught) == ERROR.INVALID_DATA


def test_authentication_key_with_every_capability_bit(session: Any, connect: Connect) -> None:
    # yubihsm-shell "-c all --delegated all" sends all 64 bits; the factory key may delegate them
    every = CAPABILITY(0xFFFF_FFFF_FFFF_FFFF)
    key = AuthenticationKey.put_derived(session, 0, "all of it", 1, every, every, "pw")
    info = key.get_info()
    assert info.capabilities == info.delegated_capabilities == every
    hsm = connect()
    with hsm.create_session_derived(key.id, "pw") as second:
        assert len(second.get_pseudo_random(8)) == 8
    hsm.close()


def test_generated_ids_are_free_across_types(session: Any) -> None:
    Opaque.put(session, 2, "opaque at 2", 1, CAPABILITY.NONE, ALGORITHM.OPAQUE_DATA, b"o")
    key = AsymmetricKey.generate(session, 0, "next", 1, CAPABILITY.SIGN_ECDSA, ALGORITHM.EC_P256)
    hmac = HmacKey.generate(session, 0, "after", 1, CAPABILITY.SIGN_HMAC, ALGORITHM.HMAC_SHA256)
    # 1 is the factory key, 2 the opaque object: neither type may reuse them
    assert (key.id, hmac.id) == (3, 4)


def test_command_audit_of_get_log_entries_is_accepted(session: Any) -> None:
    session.set_command_audit({COMMAND.GET_LOG_ENTRIES: AUDIT.ON, COMMAND.ECHO: AUDIT.ON})
    settings = session.get_command_audit()
    assert settings[COMMAND.GET_LOG_ENTRIES] == AUDIT.ON and len(settings) == 65
    before = session.get_log_entries()[2]
    assert session.get_log_entries()[2] == before  # reading the log never fills it


def test_audit_log_chain_verified_by_our_code_and_the_library(session: Any) -> None:
    session.set_command_audit({COMMAND.SIGN_ECDSA: AUDIT.ON, COMMAND.SET_OPTION: AUDIT.ON})
    key = AsymmetricKey.generate(session, 0, "audited", 1, CAPABILITY.SIGN_ECDSA, ALGORITHM.EC_P256)
    for _ in range(3):
        key.sign_ecdsa(b"audit me")
    _, _, entries = session.get_log_entries()
    ours = [DeviceLogEntry.parse(e.data + e.digest) for e in entries]
    verify_device_log(ours)
    assert all(b.validate(a) for a, b in itertools.pairwise(entries))
    signs = [e for e in entries if e.command == COMMAND.SIGN_ECDSA]
    assert len(signs) == 3 and {(e.target_key, e.result, e.session_key) for e in signs} == {(key.id, 0xD6, 1)}
    broken = list(ours)
    broken[-1] = DeviceLogEntry(**{**broken[-1].__dict__, "tick": broken[-1].tick + 1})
    with pytest.raises(ValueError):
        verify_device_log(broken)


def test_forced_audit_refuses_with_log_full(session: Any, connect: Connect) -> None:
    session.set_command_audit({COMMAND.GET_PSEUDO_RANDOM: AUDIT.ON})
    session.set_force_audit(AUDIT.ON)
    with pytest.raises(YubiHsmDeviceError) as full:
        for _ in range(70):
            session.get_pseudo_random(1)
    assert _code(full) == ERROR.LOG_FULL
    hsm = connect()
    info = hsm.get_device_info()
    assert info.log_used == info.log_size == 62
    hsm.close()
    _, _, entries = session.get_log_entries()
    session.set_log_index(entries[-1].number)
    assert len(session.get_pseudo_random(4)) == 4


def test_reset_restores_factory_state(connect: Connect) -> None:
    hsm = connect()
    session = hsm.create_session_derived(1, "password")
    Opaque.put(session, 0, "gone after reset", 1, CAPABILITY.NONE, ALGORITHM.OPAQUE_DATA, b"x")
    session.reset_device()  # the library closes its backend itself
    hsm = connect()
    with hsm.create_session_derived(1, "password") as fresh:
        assert [(o.id, o.object_type) for o in fresh.list_objects()] == [(1, OBJECT.AUTHENTICATION_KEY)]
        _, _, entries = fresh.get_log_entries()
        assert [e.number for e in entries] == [1, 2]
    hsm.close()


def test_idle_session_expires_on_the_injected_clock(clock: ManualClock, locked: LockedDevice) -> None:
    hsm = yubihsm.YubiHsm(SimulatorBackend(locked))
    session = hsm.create_session_derived(1, "password")
    clock.advance(29)
    session.get_pseudo_random(1)
    clock.advance(31)
    with pytest.raises(YubiHsmDeviceError) as expired:
        session.get_pseudo_random(1)
    assert _code(expired) == ERROR.INVALID_SESSION
    hsm.close()


def test_sixteen_sessions_and_half_open_reclaim(locked: LockedDevice) -> None:
    hsm = yubihsm.YubiHsm(SimulatorBackend(locked))
    sessions = [hsm.create_session_derived(1, "password") for _ in range(16)]
    with pytest.raises(YubiHsmDeviceError) as full:
        hsm.create_session_derived(1, "password")
    assert _code(full) == ERROR.SESSIONS_FULL
    sessions.pop().close()
    with pytest.raises(YubiHsmAuthenticationError):
        hsm.create_session_derived(1, "wrong")  # leaves a half-open session behind
    hsm.create_session_derived(1, "password").close()  # reclaims it
    hsm.close()


def test_seeded_devices_generate_the_same_keys() -> None:
    publics = []
    for _ in range(2):
        device = Device(DeviceConfig(seed=b"fixed"), clock=ManualClock())
        hsm = yubihsm.YubiHsm(SimulatorBackend(device))
        with hsm.create_session_derived(1, "password") as session:
            key = AsymmetricKey.generate(session, 0, "seeded", 1, CAPABILITY.SIGN_EDDSA, ALGORITHM.EC_ED25519)
            publics.append(_public(key).public_bytes_raw())
    assert publics[0] == publics[1]


def test_kmsconform_emulate_prints_the_connector_url() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "kmsconform")
    proc = subprocess.Popen(
        [script, "emulate", "yubihsm", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        env: dict[str, str] = {}
        for _ in range(10):
            line = proc.stdout.readline()
            if not line:
                break
            if "=" in line and not line.startswith("#"):
                key, _, value = line.strip().partition("=")
                env[key] = value
            if "YUBIHSM_PASSWORD" in env:
                break
        assert env.get("YUBIHSM_CONNECTOR_URL", "").startswith("http://127.0.0.1:"), (
            proc.stderr.read() if proc.stderr else ""
        )
        hsm = yubihsm.YubiHsm.connect(env["YUBIHSM_CONNECTOR_URL"])
        with hsm.create_session_derived(int(env["YUBIHSM_AUTH_KEY_ID"]), env["YUBIHSM_PASSWORD"]) as session:
            assert len(session.get_pseudo_random(8)) == 8
        hsm.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_algorithm_toggles(connect: Connect) -> None:
    hsm = connect()
    session = hsm.create_session_derived(1, "password")
    enabled = session.get_enabled_algorithms()
    assert len(enabled) == 55 and all(enabled.values())
    session.set_enabled_algorithms({ALGORITHM.EC_P384: False, ALGORITHM.RSA_PKCS1_SHA256: False})
    assert session.get_enabled_algorithms()[ALGORITHM.EC_P384] is False
    with pytest.raises(YubiHsmDeviceError) as disabled:
        AsymmetricKey.generate(session, 0, "p384", 1, CAPABILITY.SIGN_ECDSA, ALGORITHM.EC_P384)
    assert _code(disabled) == ERROR.ALGORITHM_DISABLED
    rsa_key = AsymmetricKey.generate(session, 0, "rsa", 1, CAPABILITY.SIGN_PKCS, ALGORITHM.RSA_2048)
    with pytest.raises(YubiHsmDeviceError) as mechanism:
        rsa_key.sign_pkcs1v1_5(b"data")  # SHA-256 with PKCS#1 v1.5 is toggled off
    assert _code(mechanism) == ERROR.ALGORITHM_DISABLED
    assert rsa_key.sign_pkcs1v1_5(b"data", hashes.SHA384())
    with pytest.raises(YubiHsmDeviceError) as not_fresh:
        session.set_enabled_algorithms({ALGORITHM.EC_P384: True})  # objects exist now
    assert _code(not_fresh) == ERROR.INVALID_DATA
    session.reset_device()
    hsm = connect()
    with hsm.create_session_derived(1, "password") as fresh:
        assert all(fresh.get_enabled_algorithms().values())
    hsm.close()
