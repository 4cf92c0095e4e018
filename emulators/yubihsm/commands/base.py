"""Shared pieces of the command handlers: the per-command :class:`Context`, the 53-byte object
header, payload parsing helpers, and object creation with the create rules."""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..audit import NO_KEY
from ..defs import (
    Algorithm,
    Capability,
    Error,
    ObjectType,
    Origin,
)
from ..errors import DeviceError
from ..objects import HsmObject, Material
from ..session import Permissions, Session

if TYPE_CHECKING:
    from ..device import Device


OBJECT_HEADER = struct.Struct("!H40sHQB")  # id, label, domains, capabilities, algorithm


class After(enum.Enum):
    """What the device does once the encrypted response is built."""

    NOTHING = "nothing"
    CLOSE_SESSION = "close-session"
    RESET_DEVICE = "reset-device"


@dataclass
class Context:
    device: Device
    session: Session
    target: int = NO_KEY
    second: int = NO_KEY
    after: After = After.NOTHING

    @property
    def permissions(self) -> Permissions:
        return self.session.permissions


Handler = Callable[[Context, bytes], bytes]


@dataclass(frozen=True)
class Header:
    object_id: int
    label: bytes
    domains: int
    capabilities: int
    algorithm: Algorithm


def _u16(payload: bytes, what: str = "payload") -> int:
    if len(payload) != 2:
        raise DeviceError(Error.WRONG_LENGTH, f"{what} must be 2 bytes")
    value: int = struct.unpack("!H", payload)[0]
    return value


def _object_type(value: int) -> ObjectType:
    try:
        return ObjectType(value)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, f"unknown object type {value}") from None


def _algorithm(value: int) -> Algorithm:
    try:
        return Algorithm(value)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, f"unknown algorithm {value}") from None


def _header(payload: bytes) -> tuple[Header, bytes]:
    if len(payload) < OBJECT_HEADER.size:
        raise DeviceError(Error.WRONG_LENGTH, "object header is 53 bytes")
    object_id, label, domains, caps, alg = OBJECT_HEADER.unpack_from(payload)
    return Header(object_id, label, domains, caps, _algorithm(alg)), payload[OBJECT_HEADER.size :]


def _create(
    ctx: Context,
    capability: Capability,
    header: Header,
    object_type: ObjectType,
    material: Material,
    size: int,
    origin: Origin,
    delegated: int = 0,
) -> bytes:
    store = ctx.device.objects
    store.check_create(ctx.permissions, capability, header.domains, header.capabilities, delegated)
    ctx.device.require_enabled(header.algorithm)
    obj = store.add(
        HsmObject(
            id=header.object_id,
            type=object_type,
            algorithm=header.algorithm,
            label=header.label,
            domains=header.domains,
            capabilities=header.capabilities,
            delegated=delegated,
            origin=origin,
            size=size,
            material=material,
        )
    )
    ctx.target = obj.id
    return struct.pack("!H", obj.id)


def _id_and_rest(ctx: Context, payload: bytes) -> tuple[int, bytes]:
    if len(payload) < 2:
        raise DeviceError(Error.WRONG_LENGTH, "object id missing")
    (object_id,) = struct.unpack_from("!H", payload)
    ctx.target = object_id
    return object_id, payload[2:]
