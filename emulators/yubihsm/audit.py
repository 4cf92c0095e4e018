"""The device audit log: 62 chained entries, command-audit settings and force audit.

Entry layout ``!HBHHHHBL16s`` (32 bytes): number, command, request length, session key, target
key, second key, result (the response code, ``cmd | 0x80``, or ``0x7F`` for an error), systick
(ms since boot), digest = first 16 bytes of SHA-256(entry's first 16 bytes || previous digest).

With force audit off the log is circular; with it on, a command that would be logged while the
log is full is refused with ``LOG_FULL``. ``SET_LOG_INDEX`` frees entries up to an index.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import ClassVar

from .defs import COMMAND_AUDIT_CODES, LOG_CAPACITY, NEVER_AUDITED, AuditMode, Command, Error
from .errors import DeviceError

NO_KEY = 0xFFFF
ERROR_RESULT = 0x7F


@dataclass(frozen=True)
class LogEntry:
    FORMAT: ClassVar[str] = "!HBHHHHBL16s"
    LENGTH: ClassVar[int] = 32

    number: int
    command: int
    length: int
    session_key: int
    target_key: int
    second_key: int
    result: int
    tick: int
    digest: bytes

    @property
    def data(self) -> bytes:
        """The 16 bytes that are hashed (everything but the digest)."""
        return self.to_bytes()[:16]

    def to_bytes(self) -> bytes:
        return struct.pack(
            self.FORMAT,
            self.number,
            self.command,
            self.length,
            self.session_key,
            self.target_key,
            self.second_key,
            self.result,
            self.tick,
            self.digest,
        )

    @classmethod
    def parse(cls, data: bytes) -> LogEntry:
        if len(data) != cls.LENGTH:
            raise ValueError(f"a log entry is {cls.LENGTH} bytes, got {len(data)}")
        return cls(*struct.unpack(cls.FORMAT, data))


def chain_digest(data: bytes, previous_digest: bytes) -> bytes:
    return hashlib.sha256(data + previous_digest).digest()[:16]


def make_entry(fields: tuple[int, int, int, int, int, int, int, int], previous_digest: bytes) -> LogEntry:
    data = struct.pack("!HBHHHHBL", *fields)
    return LogEntry(*fields, digest=chain_digest(data, previous_digest))


RESET_LINE = (1, 0xFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFF, 0xFFFFFFFF)
BOOT_LINE = (2, 0x00, 0x0000, 0xFFFF, 0x0000, 0x0000, 0x00, 0x00000000)


class AuditLog:
    """The log and its settings. ``reset`` writes the reset and boot lines.

    ``audit_codes`` are the command codes the command-audit option knows, in the order the device
    reports them; a setting for ECHO, DEVICE_INFO, SESSION_MESSAGE or GET_LOG_ENTRIES is kept and
    reported but those commands are never written (a log that force audit fills could otherwise
    not be read any more).
    """

    def __init__(self, capacity: int = LOG_CAPACITY, audit_codes: tuple[int, ...] = COMMAND_AUDIT_CODES) -> None:
        self.capacity = capacity
        self.audit_codes = audit_codes
        self.entries: list[LogEntry] = []
        self.force = AuditMode.OFF
        self.command_audit: dict[int, AuditMode] = {}
        self.unlogged_boot = 0
        self.unlogged_auth = 0
        self._last_digest = b"\x00" * 16
        self._next_number = 1

    def reset(self) -> None:
        """Factory state: the reset line then the boot line; all settings off."""
        self.entries.clear()
        self.force = AuditMode.OFF
        self.command_audit = dict.fromkeys(self.audit_codes, AuditMode.OFF)
        self.unlogged_boot = self.unlogged_auth = 0
        self._next_number = 1
        for line in (RESET_LINE, BOOT_LINE):
            self._write(line)

    def _write(self, fields: tuple[int, int, int, int, int, int, int, int]) -> LogEntry:
        entry = make_entry(fields, self._last_digest)
        self._last_digest = entry.digest
        self._next_number = (entry.number + 1) & 0xFFFF
        if len(self.entries) >= self.capacity:
            del self.entries[0]  # circular: only reached with force audit off
        self.entries.append(entry)
        return entry

    @property
    def used(self) -> int:
        return len(self.entries)

    @property
    def full(self) -> bool:
        return len(self.entries) >= self.capacity

    def is_audited(self, command: Command) -> bool:
        if command in NEVER_AUDITED:
            return False
        return self.command_audit.get(command, AuditMode.OFF) is not AuditMode.OFF

    def blocks(self, command: Command) -> bool:
        """True when ``command`` must be refused with ``LOG_FULL`` before it runs."""
        return self.force is not AuditMode.OFF and self.full and self.is_audited(command)

    def record(
        self,
        command: Command,
        length: int,
        session_key: int,
        target_key: int,
        second_key: int,
        result: int,
        tick: int,
    ) -> LogEntry | None:
        """Append an entry if ``command`` is audited; ``None`` if it is not (or cannot be) logged."""
        if not self.is_audited(command):
            return None
        if self.force is not AuditMode.OFF and self.full:
            if command in (Command.CREATE_SESSION, Command.AUTHENTICATE_SESSION):
                self.unlogged_auth = min(self.unlogged_auth + 1, 0xFFFF)
            return None
        fields = (self._next_number, command, length, session_key, target_key, second_key, result, tick & 0xFFFFFFFF)
        return self._write(fields)

    def set_index(self, index: int) -> None:
        """Free every entry numbered up to ``index`` (in wrap-around order)."""
        if not any(e.number == index for e in self.entries):
            if index == (self._next_number - 1) & 0xFFFF:
                return  # everything up to the last entry is already free
            raise DeviceError(Error.INVALID_DATA, f"no log entry {index} to set the index to")
        while self.entries:
            number = self.entries[0].number
            del self.entries[0]
            if number == index:
                break

    def set_force(self, mode: AuditMode) -> None:
        if self.force is AuditMode.FIXED and mode is not AuditMode.FIXED:
            raise DeviceError(Error.INVALID_DATA, "force audit is fixed on")
        self.force = mode

    def check_command(self, code: int, mode: AuditMode) -> None:
        """``INVALID_DATA`` unless ``code`` may be set to ``mode`` (checked for every pair before any is set)."""
        if code not in self.command_audit:
            raise DeviceError(Error.INVALID_DATA, f"command {code:#04x} has no audit setting")
        if self.command_audit[code] is AuditMode.FIXED and mode is not AuditMode.FIXED:
            raise DeviceError(Error.INVALID_DATA, f"audit of command {code:#04x} is fixed on")

    def set_command(self, code: int, mode: AuditMode) -> None:
        self.check_command(code, mode)
        self.command_audit[code] = mode
