"""Golden frames: bytes in, bytes out, against ``Device.handle`` and the connector HTTP shim.

The session transcript is the one in the ``yubihsm`` library's own unit tests (host challenge
zero, fixed card challenge), so it pins SCP03 independently of our code.
"""

from __future__ import annotations

import http.client
import struct
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_kmsconform.emulators.yubihsm import Device, DeviceConfig, ManualClock, scp03
from pytest_kmsconform.emulators.yubihsm.commands import HANDLERS
from pytest_kmsconform.emulators.yubihsm.frames import Frame
from pytest_kmsconform.emulators.yubihsm.transports import LockedDevice
from pytest_kmsconform.emulators.yubihsm.transports.http import ConnectorServer

CARD_CHALLENGE = bytes.fromhex("054d5631c9186f80")
CREATE = bytes.fromhex("03000a" + "0001" + "00" * 8)
CREATED = bytes.fromhex("830011" + "00" + "054d5631c9186f80" + "3225ed8a3224f2cf")
AUTHENTICATE = bytes.fromhex("040011" + "00" + "1ce7552e0f7976db" + "cc2198fd155c335a")
AUTHENTICATED = bytes.fromhex("840000")


def fixed_random(n: int) -> bytes:
    return CARD_CHALLENGE[:n] if n <= 8 else b"\x00" * n


@pytest.fixture
def golden() -> Device:
    return Device(DeviceConfig(), clock=ManualClock(), random=fixed_random)


def test_create_and_authenticate_session_golden(golden: Device) -> None:
    assert golden.handle(CREATE) == CREATED
    assert golden.handle(AUTHENTICATE) == AUTHENTICATED


def test_wrong_host_cryptogram_fails_and_drops_the_session(golden: Device) -> None:
    golden.handle(CREATE)
    bad = bytearray(AUTHENTICATE)
    bad[5] ^= 1
    assert golden.handle(bytes(bad)) == bytes.fromhex("7f000104")
    assert golden.handle(AUTHENTICATE) == bytes.fromhex("7f000103")  # the session is gone


class Host:
    """The host side of an SCP03 session, from the pure functions (KAT-anchored above)."""

    def __init__(self, device: Device) -> None:
        assert device.handle(CREATE) == CREATED
        context = b"\x00" * 8 + CARD_CHALLENGE
        k_enc, k_mac = scp03.password_to_keys("password")
        self.s_enc = scp03.derive(k_enc, scp03.KEY_ENC, context)
        self.s_mac = scp03.derive(k_mac, scp03.KEY_MAC, context)
        self.s_rmac = scp03.derive(k_mac, scp03.KEY_RMAC, context)
        self.chain = scp03.aes_cmac(self.s_mac, b"\x00" * 16, AUTHENTICATE[:-8])
        assert device.handle(AUTHENTICATE) == AUTHENTICATED
        self.device = device
        self.counter = 1

    def wrap(self, inner: bytes) -> tuple[bytes, bytes]:
        iv = scp03.counter_iv(self.s_enc, self.counter)
        ct = scp03.cbc_encrypt(self.s_enc, iv, scp03.pad(inner))
        body = struct.pack("!BHB", 0x05, 1 + len(ct) + 8, 0) + ct
        chain = scp03.aes_cmac(self.s_mac, self.chain, body)
        return body + chain[:8], chain

    def send(self, inner: bytes) -> bytes:
        frame, chain = self.wrap(inner)
        reply = self.device.handle(frame)
        assert reply[0] == 0x85 and reply[3] == 0, reply.hex()
        assert scp03.aes_cmac(self.s_rmac, chain, reply[:-8])[:8] == reply[-8:]
        iv = scp03.counter_iv(self.s_enc, self.counter)
        self.chain, self.counter = chain, self.counter + 1
        return scp03.unpad(scp03.cbc_decrypt(self.s_enc, iv, reply[4:-8]))


def test_secure_echo_and_encrypted_inner_error(golden: Device) -> None:
    host = Host(golden)
    assert host.send(bytes.fromhex("010003616263")) == bytes.fromhex("810003616263")
    assert host.send(bytes.fromhex("7e0000")) == bytes.fromhex("7f000101")  # unknown: INVALID_COMMAND
    assert host.send(bytes.fromhex("4e0003ffff02")) == bytes.fromhex("7f00010b")  # OBJECT_NOT_FOUND
    # the session is still in sync after errors
    assert host.send(bytes.fromhex("510002 0004".replace(" ", "")))[:3] == bytes.fromhex("d10004")


def test_bad_cmac_is_refused_in_the_clear_and_ends_the_session(golden: Device) -> None:
    host = Host(golden)
    frame, _ = host.wrap(bytes.fromhex("010000"))
    tampered = frame[:-1] + bytes([frame[-1] ^ 1])
    assert golden.handle(tampered) == bytes.fromhex("7f000104")
    assert golden.handle(frame) == bytes.fromhex("7f000103")


def test_close_session_then_invalid(golden: Device) -> None:
    host = Host(golden)
    assert host.send(bytes.fromhex("400000")) == bytes.fromhex("c00000")
    frame, _ = host.wrap(bytes.fromhex("010000"))
    assert golden.handle(frame) == bytes.fromhex("7f000103")


def test_get_object_info_of_factory_key(golden: Device) -> None:
    host = Host(golden)
    reply = host.send(bytes.fromhex("4e0003000102"))
    assert reply[:3] == bytes.fromhex("ce0042")
    caps, object_id, size, domains, otype, alg, seq, origin, label, delegated = struct.unpack(
        "!QHHHBBBB40sQ", reply[3:]
    )
    assert (object_id, size, domains, otype, alg, seq, origin) == (1, 40, 0xFFFF, 2, 38, 0, 2)
    assert label.rstrip(b"\x00") == b"DEFAULT AUTHKEY CHANGE THIS ASAP"
    # as a firmware 2.4.0 device reports it: every bit of both, named or not
    assert caps == delegated == 0xFFFF_FFFF_FFFF_FFFF


@pytest.mark.parametrize(
    ("frame", "reply"),
    [
        ("010003616263", "810003616263"),  # plain echo
        ("7e0000", "7f000101"),  # unknown command
        ("560000", "7f000101"),  # session-only command in the clear
        ("01", "7f000102"),  # shorter than a header
        ("010005aa", "7f000108"),  # length field disagrees with payload
        ("05001900" + "00" * 24, "7f000103"),  # no session 0
        ("03000affff" + "00" * 8, "7f00010b"),  # no such authentication key
    ],
)
def test_plain_frames(golden: Device, frame: str, reply: str) -> None:
    assert golden.handle(bytes.fromhex(frame)).hex() == reply


def test_device_info_layout(golden: Device) -> None:
    reply = golden.handle(bytes.fromhex("060000"))
    assert reply[0] == 0x86
    major, minor, patch, serial, log_size, log_used = struct.unpack_from("!BBBIBB", reply, 3)
    assert (major, minor, patch, log_size, log_used) == (2, 4, 0, 62, 2) and serial > 0
    assert reply[12:] == bytes(range(1, 56))
    assert golden.handle(bytes.fromhex("06000101")) == b"\x86\x00\x0e" + b"KMSCONFORM-SIM"


# -- connector HTTP shim ---------------------------------------------------------------------------
@pytest.fixture
def server(golden: Device) -> Iterator[ConnectorServer]:
    with ConnectorServer(LockedDevice(golden)) as running:
        yield running


def _request(server: ConnectorServer, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_status_page(server: ConnectorServer) -> None:
    status, headers, body = _request(server, "GET", "/connector/status")
    lines = body.decode().splitlines()
    assert status == 200 and lines[0] == "status=OK"
    assert f"serial={DeviceConfig().serial}" in lines and f"port={server.port}" in lines
    assert any(line.startswith("version=") for line in lines) and body.endswith(b"\n")
    assert "x-request-id" in headers


def test_api_frames_and_device_errors_are_http_200(server: ConnectorServer) -> None:
    status, headers, body = _request(server, "POST", "/connector/api", CREATE)
    assert (status, body) == (200, CREATED)
    assert headers["content-type"] == "application/octet-stream"
    status, _, body = _request(server, "POST", "/connector/api", bytes.fromhex("7e0000"))
    assert (status, body.hex()) == (200, "7f000101")


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/connector/api", b"", 405),
        ("POST", "/connector/status", b"x", 405),
        ("POST", "/elsewhere", b"abc", 404),
        ("POST", "/connector/api", b"\x01", 400),
        ("POST", "/connector/api", b"\x01" * 3140, 400),
    ],
)
def test_connector_level_errors(server: ConnectorServer, method: str, path: str, body: bytes, status: int) -> None:
    assert _request(server, method, path, body)[0] == status


# -- fuzzing: malformed input gets an error frame, never an exception --------------------------------

COMMAND_CODES = sorted(int(c) for c in HANDLERS if c.name not in ("RESET_DEVICE", "CLOSE_SESSION"))


def _is_frame(reply: bytes) -> bool:
    return len(reply) >= 3 and int.from_bytes(reply[1:3], "big") == len(reply) - 3


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_plain_frames(data: bytes) -> None:
    device = Device(DeviceConfig(), clock=ManualClock(), random=fixed_random)
    assert _is_frame(device.handle(data))


_RSA = None


def _populated() -> Device:
    """A device with one object of each type at id 1 (and a few more), all capabilities, all domains."""
    global _RSA
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from pytest_kmsconform.emulators.yubihsm.defs import ALL_CAPABILITIES, Algorithm, ObjectType, Origin
    from pytest_kmsconform.emulators.yubihsm.objects import HsmObject, encode_label

    if _RSA is None:
        _RSA = rsa.generate_private_key(65537, 2048)
    device = Device(DeviceConfig(), clock=ManualClock(), random=fixed_random)
    n = _RSA.public_key().public_numbers().n.to_bytes(256, "big")
    specs = [
        (1, ObjectType.ASYMMETRIC_KEY, Algorithm.EC_ED25519, ed25519.Ed25519PrivateKey.generate()),
        (2, ObjectType.ASYMMETRIC_KEY, Algorithm.EC_P256, ec.generate_private_key(ec.SECP256R1())),
        (3, ObjectType.ASYMMETRIC_KEY, Algorithm.RSA_2048, _RSA),
        (1, ObjectType.HMAC_KEY, Algorithm.HMAC_SHA256, b"h" * 32),
        (1, ObjectType.WRAP_KEY, Algorithm.AES128_CCM_WRAP, b"w" * 16),
        (2, ObjectType.WRAP_KEY, Algorithm.RSA_2048, _RSA),
        (1, ObjectType.PUBLIC_WRAP_KEY, Algorithm.RSA_2048, n),
        (1, ObjectType.OPAQUE, Algorithm.OPAQUE_DATA, b"opaque"),
        (1, ObjectType.SYMMETRIC_KEY, Algorithm.AES128, b"s" * 16),
        (1, ObjectType.OTP_AEAD_KEY, Algorithm.AES128_YUBICO_OTP, b"nid1" + b"o" * 16),
    ]
    for object_id, otype, alg, material in specs:
        caps = int(ALL_CAPABILITIES)
        device.objects.add(
            HsmObject(object_id, otype, alg, encode_label(b"f"), 0xFFFF, caps, caps, Origin.IMPORTED, 1, material)
        )
    return device


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(COMMAND_CODES),
    st.one_of(
        st.binary(max_size=120),
        st.tuples(st.sampled_from([b"\x00\x01", b"\x00\x02", b"\x00\x03"]), st.binary(max_size=120)).map(
            lambda t: t[0] + t[1]
        ),
    ),
)
def test_fuzz_session_commands(code: int, payload: bytes) -> None:
    device = _populated()
    host = Host(device)
    reply = host.send(Frame(code, payload).to_bytes())
    assert _is_frame(reply) and reply[0] in (code | 0x80, 0x7F)
    assert host.send(bytes.fromhex("010001aa")) == bytes.fromhex("810001aa")  # still in sync


def test_device_defects_become_http_500_and_check_raises(golden: Device, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_kmsconform.emulators.yubihsm.errors import EmulatorBug

    def broken(frame: bytes) -> bytes:
        raise KeyError("simulated defect")

    with ConnectorServer(LockedDevice(golden)) as running:
        running.check()
        monkeypatch.setattr(golden, "handle", broken)
        assert _request(running, "POST", "/connector/api", CREATE)[0] == 500
        with pytest.raises(EmulatorBug, match="simulated defect"):
            running.check()
