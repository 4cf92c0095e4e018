"""YubiHSM frames: ``cmd(1) || length(2, big-endian) || payload``.

A success response carries ``cmd | 0x80``; an error is ``7F 00 01 <code>``. Parsing is strict:
the length field must match the payload exactly (the device rejects a frame with trailing bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

from .defs import Command, Error
from .errors import DeviceError

HEADER = struct.Struct("!BH")


@dataclass(frozen=True)
class Frame:
    """One request or response frame; ``code`` is the raw command byte."""

    FORMAT: ClassVar[str] = "!BH"

    code: int
    payload: bytes

    @classmethod
    def parse(cls, data: bytes) -> Frame:
        """Parse a request frame; a short or inconsistent frame is ``WRONG_LENGTH``/``INVALID_DATA``."""
        if len(data) < HEADER.size:
            raise DeviceError(Error.INVALID_DATA, f"frame of {len(data)} bytes is shorter than its header")
        code, length = HEADER.unpack_from(data)
        payload = data[HEADER.size :]
        if len(payload) != length:
            raise DeviceError(Error.WRONG_LENGTH, f"length field says {length}, payload has {len(payload)}")
        return cls(code, payload)

    def to_bytes(self) -> bytes:
        if len(self.payload) > 0xFFFF:
            raise ValueError("payload longer than 65535 bytes")
        return HEADER.pack(self.code, len(self.payload)) + self.payload

    @property
    def command(self) -> Command | None:
        """The command this frame carries, or ``None`` for a code the device does not know."""
        try:
            return Command(self.code)
        except ValueError:
            return None


def response(command: Command, payload: bytes = b"") -> bytes:
    """A success response frame for ``command``."""
    return Frame(command.response_code, payload).to_bytes()


def error(code: Error) -> bytes:
    """An error frame ``7F 00 01 <code>``."""
    return Frame(Command.ERROR, bytes([code])).to_bytes()


def parse_error(frame: bytes) -> Error | None:
    """The error code of an error frame, or ``None`` when ``frame`` is not one."""
    if len(frame) == 4 and frame[0] == Command.ERROR and frame[1:3] == b"\x00\x01":
        return Error(frame[3])
    return None
