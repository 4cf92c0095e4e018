"""The simulated YubiHSM 2: ``Device.handle(frame) -> frame``, synchronous and without I/O.

No sockets, threads, sleeps or clock reads here: time comes from the injected ``clock`` (seconds,
monotonic) and randomness from ``random``; transports serialise calls (the device is not
re-entrant). Commands sent in the clear: ECHO, CREATE_SESSION, AUTHENTICATE_SESSION,
SESSION_MESSAGE, DEVICE_INFO, GET_DEVICE_PUBLIC_KEY; everything else only inside a session.

Gaps (documented in ``docs/emulators/yubihsm.md``): no OTP AEAD operations, templates/SSH
certificates or FIPS mode; RSA key generation is never seeded.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from . import attest, frames, keys, scp03
from .audit import ERROR_RESULT, NO_KEY, AuditLog
from .commands import HANDLERS, After, Context
from .defs import (
    ASYMMETRIC_WRAP_COMMANDS,
    COMMAND_AUDIT_CODES,
    FACTORY_PASSWORD,
    LOG_CAPACITY,
    Algorithm,
    Command,
    Error,
    ObjectType,
)
from .errors import DeviceError
from .frames import Frame
from .objects import ObjectStore
from .session import Permissions, Session, SessionTable

Clock = Callable[[], float]
RandomSource = Callable[[int], bytes]
Version = tuple[int, int, int]
DEFAULT_VERSION: Version = (2, 4, 0)
DEFAULT_SERIAL = 20260001
PART_NUMBER = "KMSCONFORM-SIM"
ATTESTATION_EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def _audit_codes(version: Version) -> tuple[int, ...]:
    """The command-audit codes of a firmware version (asymmetric wrap arrived with 2.4.0)."""
    if version >= (2, 4, 0):
        return COMMAND_AUDIT_CODES
    return tuple(code for code in COMMAND_AUDIT_CODES if code not in ASYMMETRIC_WRAP_COMMANDS)


class ManualClock:
    """A clock that only moves when told to (the default: the device never reads real time)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SeededRandom:
    """Deterministic bytes: SHA-256 in counter mode over a seed (reproducible test runs only)."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            self._counter += 1
            out += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
        return out[:n]


@dataclass(frozen=True)
class DeviceConfig:
    version: Version = DEFAULT_VERSION
    serial: int = DEFAULT_SERIAL
    log_capacity: int = LOG_CAPACITY
    seed: bytes | None = None


class Device:
    """One simulated YubiHSM 2 in its factory state (authentication key 1, password ``password``)."""

    def __init__(
        self,
        config: DeviceConfig | None = None,
        *,
        clock: Clock | None = None,
        random: RandomSource | None = None,
    ) -> None:
        self.config = config or DeviceConfig()
        if self.config.serial <= 0:
            raise ValueError("the serial number must be positive")
        self.clock: Clock = clock or ManualClock()
        seed = self.config.seed
        self.random: RandomSource = random or (SeededRandom(seed + b"/session") if seed is not None else os.urandom)
        self.key_random: RandomSource | None = SeededRandom(seed + b"/keys") if seed is not None else None
        self.objects = ObjectStore()
        self.sessions = SessionTable()
        self.audit = AuditLog(self.config.log_capacity, _audit_codes(self.config.version))
        self.enabled_algorithms: dict[Algorithm, bool] = dict.fromkeys(Algorithm, True)
        self._device_key = self._new_device_key()
        # The built-in attestation key (attesting id 0): the device key, with a fixed validity window
        # so that no clock is read.
        self.attestation_key = self._device_key
        self.attestation_certificate = attest.self_signed(self._device_key, self.config.serial, ATTESTATION_EPOCH)
        self.boot_time = self.clock()
        self.reset()

    @property
    def version(self) -> Version:
        return self.config.version

    def _new_device_key(self) -> ec.EllipticCurvePrivateKey:
        if self.key_random is None:
            return ec.generate_private_key(ec.SECP256R1())
        key = keys.generate(Algorithm.EC_P256, SeededRandom((self.config.seed or b"") + b"/device-key"))
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key

    def reset(self) -> None:
        """Factory reset: sessions, objects, options and log cleared; the factory key restored."""
        self.enabled_algorithms = dict.fromkeys(Algorithm, True)
        self.sessions.clear()
        self.objects.clear()
        self.objects.install_factory_key(*scp03.password_to_keys(FACTORY_PASSWORD))
        self.audit.reset()
        self.boot_time = self.clock()

    def require_enabled(self, *algorithms: Algorithm | None) -> None:
        """``ALGORITHM_DISABLED`` when any of ``algorithms`` is toggled off (``None`` entries are skipped)."""
        for algorithm in algorithms:
            if algorithm is not None and not self.enabled_algorithms.get(algorithm, True):
                raise DeviceError(Error.ALGORITHM_DISABLED, f"{algorithm.name} is disabled on this device")

    def key_bytes(self, n: int) -> bytes:
        """Secret bytes for a generated symmetric key (seeded when the device is)."""
        return (self.key_random or self.random)(n)

    def tick(self) -> int:
        return int((self.clock() - self.boot_time) * 1000) & 0xFFFFFFFF

    def device_info(self, payload: bytes) -> bytes:
        if payload == b"\x01" and self.version >= (2, 4, 0):
            return PART_NUMBER.encode()
        if payload:
            raise DeviceError(Error.INVALID_DATA, "DEVICE_INFO takes no data (or 01 for the part number)")
        head = struct.pack("!BBBIBB", *self.version, self.config.serial, self.audit.capacity, self.audit.used)
        return head + bytes(a for a in Algorithm)

    # -- wire entry point ----------------------------------------------------------------------
    def handle(self, frame: bytes) -> bytes:
        """Process one request frame and return the response frame (errors as ``7F 00 01 code``)."""
        try:
            request = Frame.parse(frame)
            command = request.command
            plain = _PLAIN.get(command) if command is not None else None
            if plain is None:
                raise DeviceError(Error.INVALID_COMMAND, f"command {request.code:#04x} is not accepted in the clear")
            return plain(self, request, frame)
        except DeviceError as exc:
            return frames.error(exc.code)

    def _echo(self, request: Frame, raw: bytes) -> bytes:
        return frames.response(Command.ECHO, request.payload)

    def _device_info(self, request: Frame, raw: bytes) -> bytes:
        return frames.response(Command.DEVICE_INFO, self.device_info(request.payload))

    def _get_device_public_key(self, request: Frame, raw: bytes) -> bytes:
        if self.version < (2, 3, 0):
            raise DeviceError(Error.INVALID_COMMAND, "GET_DEVICE_PUBLIC_KEY needs firmware 2.3.0")
        point = self._device_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return frames.response(
            Command.GET_DEVICE_PUBLIC_KEY, bytes([Algorithm.EC_P256_YUBICO_AUTHENTICATION]) + point[1:]
        )

    def _audit_session_step(self, command: Command, length: int, key_id: int, ok: bool) -> None:
        result = command.response_code if ok else ERROR_RESULT
        self.audit.record(command, length, NO_KEY, key_id, NO_KEY, result, self.tick())

    def _create_session(self, request: Frame, raw: bytes) -> bytes:
        payload = request.payload
        if len(payload) not in (10, 67):
            raise DeviceError(Error.WRONG_LENGTH, "CREATE_SESSION takes key id(2) and a challenge(8) or EPK(65)")
        (key_id,) = struct.unpack_from("!H", payload)
        now = self.clock()
        auth_key = self.objects.find(key_id, ObjectType.AUTHENTICATION_KEY)
        if auth_key is None:
            self._audit_session_step(Command.CREATE_SESSION, len(payload), key_id, ok=False)
            raise DeviceError(Error.OBJECT_NOT_FOUND, f"no authentication key {key_id:#06x}")
        permissions = Permissions(key_id, auth_key.capabilities, auth_key.delegated, auth_key.domains)
        assert isinstance(auth_key.material, bytes)
        sid = self.sessions.allocate(now)
        if len(payload) == 10:
            if auth_key.algorithm is not Algorithm.AES128_YUBICO_AUTHENTICATION:
                raise DeviceError(Error.INVALID_DATA, "symmetric session with an asymmetric authentication key")
            host_challenge = payload[2:]
            card_challenge = self.random(8)
            context = host_challenge + card_challenge
            k_enc, k_mac = auth_key.material[:16], auth_key.material[16:]
            session = Session(
                sid=sid,
                permissions=permissions,
                s_enc=scp03.derive(k_enc, scp03.KEY_ENC, context),
                s_mac=scp03.derive(k_mac, scp03.KEY_MAC, context),
                s_rmac=scp03.derive(k_mac, scp03.KEY_RMAC, context),
                context=context,
                last_used=now,
            )
            reply = bytes([sid]) + card_challenge + session.card_cryptogram()
        else:
            session, reply = self._asymmetric_session(sid, permissions, auth_key.algorithm, auth_key.material, payload)
            session.last_used = now
        self.sessions.add(session)
        self._audit_session_step(Command.CREATE_SESSION, len(payload), key_id, ok=True)
        return frames.response(Command.CREATE_SESSION, reply)

    def _asymmetric_session(
        self, sid: int, permissions: Permissions, algorithm: Algorithm, material: bytes, payload: bytes
    ) -> tuple[Session, bytes]:
        """SCP11-style authentication: two ECDH secrets, X9.63 KDF, receipt = first MAC chain."""
        if algorithm is not Algorithm.EC_P256_YUBICO_AUTHENTICATION or self.version < (2, 3, 0):
            raise DeviceError(Error.INVALID_DATA, "asymmetric session needs a P-256 authentication key")
        epk_oce = payload[2:]
        try:
            host_ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), epk_oce)
            host_static = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + material)
        except ValueError:
            raise DeviceError(Error.INVALID_DATA, "EPK.OCE is not a P-256 point") from None
        esk_sd = ec.generate_private_key(ec.SECP256R1())
        epk_sd = esk_sd.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        shsee = esk_sd.exchange(ec.ECDH(), host_ephemeral)
        shsss = self._device_key.exchange(ec.ECDH(), host_static)
        shs = X963KDF(algorithm=hashes.SHA256(), length=64, sharedinfo=b"\x3c\x88\x10").derive(shsee + shsss)
        k0, k1, k2, k3 = shs[:16], shs[16:32], shs[32:48], shs[48:]
        receipt = scp03.aes_cmac(k0, epk_sd + epk_oce)
        session = Session(
            sid=sid, permissions=permissions, s_enc=k1, s_mac=k2, s_rmac=k3, context=epk_oce + epk_sd, last_used=0.0
        )
        session.open_directly(receipt)
        return session, bytes([sid]) + epk_sd + receipt

    def _authenticate_session(self, request: Frame, raw: bytes) -> bytes:
        if len(request.payload) != 17:
            raise DeviceError(Error.WRONG_LENGTH, "AUTHENTICATE_SESSION takes sid(1) cryptogram(8) mac(8)")
        session = self.sessions.get(request.payload[0], self.clock())
        try:
            session.authenticate(raw)
        except DeviceError:
            self.sessions.drop(session.sid)
            self._audit_session_step(Command.AUTHENTICATE_SESSION, 17, session.key_id, ok=False)
            raise
        self._audit_session_step(Command.AUTHENTICATE_SESSION, 17, session.key_id, ok=True)
        return frames.response(Command.AUTHENTICATE_SESSION)

    def _session_message(self, request: Frame, raw: bytes) -> bytes:
        payload = request.payload
        if len(payload) < 1 + 16 + 8 or (len(payload) - 9) % 16:
            raise DeviceError(Error.WRONG_LENGTH, "SESSION_MESSAGE takes sid(1), whole AES blocks and a MAC(8)")
        session = self.sessions.get(payload[0], self.clock())
        try:
            inner = session.decrypt_command(raw)
        except DeviceError as exc:
            if exc.code is not Error.INVALID_DATA:
                self.sessions.drop(session.sid)
                raise
            return session.encrypt_response(frames.error(exc.code))
        response, after = self._run_inner(session, inner)
        outer = session.encrypt_response(response)
        if after is After.CLOSE_SESSION:
            session.close()
            self.sessions.drop(session.sid)
        elif after is After.RESET_DEVICE:
            self.reset()
        return outer

    def _run_inner(self, session: Session, inner: bytes) -> tuple[bytes, After]:
        try:
            request = Frame.parse(inner)
        except DeviceError as exc:
            return frames.error(exc.code), After.NOTHING
        command = request.command
        handler = HANDLERS.get(command) if command is not None else None
        if command is None or handler is None:
            return frames.error(Error.INVALID_COMMAND), After.NOTHING
        if self.audit.blocks(command) and command is not Command.SET_LOG_INDEX:
            return frames.error(Error.LOG_FULL), After.NOTHING
        ctx = Context(device=self, session=session)
        try:
            response = frames.response(command, handler(ctx, request.payload))
            result = command.response_code
        except DeviceError as exc:
            response, result = frames.error(exc.code), ERROR_RESULT
        if ctx.after is not After.RESET_DEVICE:
            self.audit.record(
                command, len(request.payload), session.key_id, ctx.target, ctx.second, result, self.tick()
            )
        return response, ctx.after


_PLAIN: dict[Command, Callable[[Device, Frame, bytes], bytes]] = {
    Command.ECHO: Device._echo,
    Command.DEVICE_INFO: Device._device_info,
    Command.GET_DEVICE_PUBLIC_KEY: Device._get_device_public_key,
    Command.CREATE_SESSION: Device._create_session,
    Command.AUTHENTICATE_SESSION: Device._authenticate_session,
    Command.SESSION_MESSAGE: Device._session_message,
}
