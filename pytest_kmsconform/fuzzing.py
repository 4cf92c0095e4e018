"""Fuzz targets: one function per input surface, taking the fuzzer's bytes (or a value).

Each target feeds its input to one parser or handler and fails (raises ``AssertionError``, or lets
an untyped exception through) only when the contract is broken: bad input may only produce the
component's typed errors, never a crash, a hang or (for the proxy) a 5xx. Used by the hypothesis
tests in ``tests/reliability/test_properties.py``, by the atheris scripts in ``fuzz/`` and by
``fuzz/run_long.py`` (the documented long runs).

Surfaces: RFC 8785 canonicalization, audit archive parsing and verification (random bytes and
byte-level mutations of a valid archive), JWKS parsing and verification, the signing proxy's
request handling, the YubiHSM frame layer and its SCP03 session layer (authenticated session,
random encrypted commands and random session messages), the subprocess protocol's answer handling.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pytest_kmsconform.reference_impl.errors import KmsConformError

Target = Callable[[bytes], None]


class Mutator:
    """Deterministic byte-level mutations of a seed, driven by the fuzzer's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def mutate(self, seed: bytes) -> bytes:
        out = bytearray(seed)
        for _ in range(1 + self.byte() % 8):
            op, where = self.byte() % 5, (self.byte() << 8 | self.byte()) % max(1, len(out))
            if op == 0 and out:
                out[where] ^= 1 << (self.byte() % 8)
            elif op == 1:
                out[where:where] = bytes([self.byte()])
            elif op == 2 and out:
                del out[where : where + 1 + self.byte() % 16]
            elif op == 3 and out:
                end = where + 1 + self.byte() % 32
                out[where:where] = out[where:end]
            elif op == 4:
                out = out[:where]
        return bytes(out)


# -- canonicalization -----------------------------------------------------------------------------
def check_canonical_value(value: Any) -> None:
    """Canonical bytes are UTF-8 JSON that canonicalize to themselves, or a typed error."""
    from pytest_kmsconform.reference_impl.canonical import canonicalize_payload

    try:
        out = canonicalize_payload(value)
    except KmsConformError:
        return
    text = out.decode("utf-8")
    # Read back with RFC 8785's number model (every number a double); a plain json.loads turns an
    # integral float >= 2**53 into an int that canonicalize_payload refuses (a known, reported bug,
    # pinned by an xfail test in tests/reliability/test_properties.py).
    again = json.loads(text, parse_int=_double_if_beyond_exact)
    assert canonicalize_payload(again) == out, "canonicalization is not idempotent"


def _double_if_beyond_exact(literal: str) -> int | float:
    value = int(literal)
    return float(value) if abs(value) >= 2**53 else value


def canonical_target(data: bytes) -> None:
    try:
        value = json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return
    check_canonical_value(value)


# -- archives -------------------------------------------------------------------------------------
@functools.cache
def _archive_seed() -> tuple[bytes, dict[str, Any]]:
    """A valid 4-record archive signed by a seeded Ed25519 key, and its JWKS."""
    import tempfile

    from pytest_kmsconform import PRODUCER
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.audit.archive import export_archive
    from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

    epoch = datetime(2024, 1, 1, tzinfo=UTC)
    ring = KeyRing(LocalKeyBackend(seed=b"fuzz"), Algorithm.ED25519, "fuzz", clock=lambda: epoch)
    ring.rotate()
    signer = RingSigner(ring)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, SqliteAuditStore(f"{tmp}/a.db", signer, clock=lambda: epoch) as store:
        for i in range(4):
            store.append({"event": "approval", "n": i, "note": "fuzz seed \u00e9"})
        export_archive(store, buf, signer, producer=PRODUCER, clock=lambda: epoch)
    return buf.getvalue(), ring.jwks()


def check_archive_bytes(data: bytes) -> None:
    """Parsing and verifying any bytes as an archive gives findings or a typed error."""
    from pytest_kmsconform.reference_impl.audit.archive import iter_archive
    from pytest_kmsconform.reference_impl.verifier import Verifier

    _, jwks = _archive_seed()
    try:
        for _ in iter_archive(io.BytesIO(data)):
            pass
    except KmsConformError:
        pass
    try:
        findings = Verifier(jwks).verify_archive(io.BytesIO(data))
    except KmsConformError:
        return
    assert all(f.code for f in findings)


def archive_target(data: bytes) -> None:
    check_archive_bytes(data)


def archive_mutation_target(data: bytes) -> None:
    """A valid archive with byte-level mutations; an intact result must still verify clean."""
    seed, _ = _archive_seed()
    mutated = Mutator(data).mutate(seed)
    check_archive_bytes(mutated)


# -- JWKS -----------------------------------------------------------------------------------------
def check_jwks_value(value: Any, kid: str = "fuzz-v1") -> None:
    """A key set parses or raises ``KeyFormatError``; a bogus signature is rejected, typed."""
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.signature import Signature
    from pytest_kmsconform.reference_impl.verifier import Verifier

    try:
        verifier = Verifier(value)
    except KmsConformError:
        return
    for alg in Algorithm:
        try:
            verifier.verify_signature(b"\x00" * 32, Signature(kid=kid, alg=alg, value=b"\x01" * 64))
        except KmsConformError:
            continue
        raise AssertionError(f"a bogus {alg.value} signature verified under {kid}")


def jwks_target(data: bytes) -> None:
    try:
        value = json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):
        return
    kid = value["keys"][0].get("kid", "x") if _first_member(value) else "x"
    check_jwks_value(value, kid if isinstance(kid, str) else "x")


def _first_member(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("keys"), list)
        and bool(value["keys"])
        and isinstance(value["keys"][0], dict)
    )


def jwks_mutation_target(data: bytes) -> None:
    _, jwks = _archive_seed()
    mutated = Mutator(data).mutate(json.dumps(jwks).encode())
    jwks_target(mutated)


# -- signing proxy --------------------------------------------------------------------------------
@functools.cache
def _proxy_app() -> Any:
    from pytest_kmsconform.emulators.signing_proxy.credentials import AuthPolicy
    from pytest_kmsconform.emulators.signing_proxy.models import ProxyService
    from pytest_kmsconform.emulators.signing_proxy.responses import ProxyApp
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

    ring = KeyRing(LocalKeyBackend(seed=b"fuzz"), Algorithm.ED25519, "f")
    ring.rotate()
    return ProxyApp(ProxyService(RingSigner(ring)), AuthPolicy(api_key="k", admin_key="a"), max_body=4096)


PROXY_PATHS = ("/sign/hash", "/sign/canonical", "/verify", "/keys", "/health", "/admin/rotate", "/admin/revoke", "/")
PROXY_METHODS = ("POST", "GET", "PUT", "DELETE", "HEAD")
PROXY_TYPES = ("application/json", "text/plain", "application/json; charset=utf-16", "")


def check_proxy_request(method: str, path: str, headers: dict[str, str], body: bytes) -> None:
    """Whatever the request, the proxy answers a JSON object and never a 5xx."""
    from pytest_kmsconform.emulators.signing_proxy.wire import RequestHead

    response = _proxy_app().respond(RequestHead(method, path, headers), lambda n: body[:n])
    assert response.status < 500, (response.status, response.body[:200])
    parsed = json.loads(response.body)
    assert isinstance(parsed, dict)
    if response.status >= 400:
        assert isinstance(parsed.get("error"), dict) and isinstance(parsed["error"].get("code"), str)


def proxy_target(data: bytes) -> None:
    m = Mutator(data)
    method = PROXY_METHODS[m.byte() % len(PROXY_METHODS)]
    path = PROXY_PATHS[m.byte() % len(PROXY_PATHS)]
    ctype = PROXY_TYPES[m.byte() % len(PROXY_TYPES)]
    credential = ("k", "a", "", "x")[m.byte() % 4]
    body = data[m.pos :]
    if m.byte() % 2:  # half the time: a mutated well-formed request body
        seed = json.dumps({"digest_hex": "ab" * 32, "signature": {"kid": "f-v1", "alg": "ed25519", "sig": "AA"}})
        body = Mutator(body).mutate(seed.encode())
    headers = {"content-type": ctype, "content-length": str(len(body)), "x-api-key": credential}
    check_proxy_request(method, path, headers, body)


# -- YubiHSM --------------------------------------------------------------------------------------
def _check_frame_answer(answer: bytes) -> None:
    assert isinstance(answer, bytes) and len(answer) >= 3, answer
    length = int.from_bytes(answer[1:3], "big")
    assert len(answer) == 3 + length, "response length field does not match"


@functools.cache
def _device() -> Any:
    from pytest_kmsconform.emulators.yubihsm.device import Device, DeviceConfig

    return Device(DeviceConfig(seed=b"fuzz"))


def yubihsm_frame_target(data: bytes) -> None:
    """``Device.handle(bytes)`` never raises and answers a well-formed frame (an error frame for junk)."""
    if len(data) > 1 and data[0] & 1:  # half the inputs: a consistent length field, to reach the commands
        data = data[1:2] + len(data[2:]).to_bytes(2, "big") + data[2:]
    _check_frame_answer(_device().handle(data))


@functools.cache
def _session() -> Any:
    """An authenticated SCP03 session (factory auth key 1, password ``password``) on its own device."""
    from yubihsm.core import YubiHsm

    from pytest_kmsconform.emulators.yubihsm.device import Device, DeviceConfig
    from pytest_kmsconform.emulators.yubihsm.transports.inprocess import SimulatorBackend

    device = Device(DeviceConfig(seed=b"fuzz-session"))
    hsm = YubiHsm(SimulatorBackend(device))  # type: ignore[arg-type]  # duck-typed YhsmBackend
    return device, hsm, hsm.create_session_derived(1, "password")


def yubihsm_session_target(data: bytes) -> None:
    """Random commands inside an authenticated session, and random session messages: typed errors
    on the client side, well-formed frames from the device, never an exception from the device."""
    from yubihsm.exceptions import YubiHsmError

    device, _hsm, session = _session()
    if not data:
        return
    if data[0] % 2:
        # a raw SESSION_MESSAGE with a random body for the live session id: MAC/length errors
        frame = bytes([0x05]) + len(data[1:]).to_bytes(2, "big") + data[1:]
        _check_frame_answer(device.handle(frame))
        return
    cmd, payload = data[1] if len(data) > 1 else 0, data[2:]
    if cmd in (0x05, 0x40, 0x08, 0x6F):  # nested session message, close, reset, blink: keep the session
        return
    with contextlib.suppress(YubiHsmError, ValueError):
        session.send_secure_cmd(cmd, payload)


# -- subprocess protocol (host side) ---------------------------------------------------------------
PROTOCOL_SEEDS = (
    {"id": 1, "ok": False, "error": {"code": "BACKEND_ERROR", "message": "m", "backend_code": "throttled"}},
    {"id": 1, "ok": False, "error": {"code": "KEY_REVOKED", "message": "m", "kid": "k-v1"}},
    {"id": 1, "ok": True, "signature": {"kid": "k-v1", "alg": "ed25519", "sig": "AAAA"}},
    {"cb": 1, "op": "host.sign", "handle": "h1", "digest": "00" * 32},
)


def check_protocol_answer(op: str, line: bytes) -> None:
    """One answer line from a child, handled as ``ChildProcess`` does: a typed outcome only."""
    from pytest_kmsconform import protocol
    from pytest_kmsconform.adapter import AdapterError
    from pytest_kmsconform.adapters.cmd.errors import error_from_answer

    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return  # ChildProcess answers ProtocolViolation here
    if not isinstance(message, dict):
        return
    if "cb" in message:
        try:
            protocol.validate_callback(message)
        except protocol.MessageInvalid:
            return
        return
    try:
        protocol.validate_response(op, message)
    except protocol.MessageInvalid:
        return
    if message["ok"] is False:
        exc = error_from_answer(op, message["error"])
        assert isinstance(exc, KmsConformError | AdapterError), type(exc)


def protocol_target(data: bytes) -> None:
    from pytest_kmsconform import protocol

    m = Mutator(data)
    op = protocol.OPS[m.byte() % len(protocol.OPS)]
    seed = json.dumps(PROTOCOL_SEEDS[m.byte() % len(PROTOCOL_SEEDS)]).encode()
    line = Mutator(data[m.pos :]).mutate(seed) if m.byte() % 4 else data[m.pos :]
    check_protocol_answer(op, line)


TARGETS: dict[str, Target] = {
    "canonical": canonical_target,
    "archive": archive_target,
    "archive-mutation": archive_mutation_target,
    "jwks": jwks_target,
    "jwks-mutation": jwks_mutation_target,
    "proxy": proxy_target,
    "yubihsm-frame": yubihsm_frame_target,
    "yubihsm-session": yubihsm_session_target,
    "protocol": protocol_target,
}
"""Fuzz target name -> function; ``fuzz/run_long.py NAME`` and ``fuzz/fuzz_target.py NAME`` use them."""
