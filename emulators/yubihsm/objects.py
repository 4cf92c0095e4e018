"""The object store: objects by ``(id, type)``, their metadata, and access rules.

Authorization (as the device enforces it):

* using an object needs the command capability on the session's key *and* on the object, and a
  shared domain; an object outside the session's domains is ``OBJECT_NOT_FOUND``;
* creating needs the create capability on the session, domains within the session's domains and
  capabilities within the session's delegated capabilities;
* deleting needs the type's DELETE_* capability on the session and a shared domain, nothing on
  the object.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .defs import (
    ALL_DOMAINS,
    DELETE_CAPABILITY,
    FACTORY_AUTH_KEY_ID,
    FACTORY_CAPABILITIES,
    FACTORY_LABEL,
    LABEL_LENGTH,
    Algorithm,
    Capability,
    Error,
    ObjectType,
    Origin,
)
from .ed25519x import ExpandedEd25519Key
from .errors import DeviceError
from .session import Permissions

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ExpandedEd25519Key
Material = bytes | PrivateKey
MAX_OBJECT_ID = 0xFFFE
MAX_OBJECTS = 256


def encode_label(label: bytes) -> bytes:
    """A label as stored: exactly 40 bytes, NUL padded."""
    if len(label) > LABEL_LENGTH:
        raise DeviceError(Error.INVALID_DATA, f"label longer than {LABEL_LENGTH} bytes")
    return label.ljust(LABEL_LENGTH, b"\x00")


@dataclass(frozen=True)
class HsmObject:
    """One stored object; ``material`` is the secret (bytes, or a private key object)."""

    INFO_FORMAT: ClassVar[str] = "!QHHHBBBB40sQ"

    id: int
    type: ObjectType
    algorithm: Algorithm
    label: bytes
    domains: int
    capabilities: int
    delegated: int
    origin: Origin
    size: int
    material: Material
    sequence: int = 0

    def info_bytes(self) -> bytes:
        """The 66-byte GET_OBJECT_INFO reply."""
        return struct.pack(
            self.INFO_FORMAT,
            self.capabilities,
            self.id,
            self.size,
            self.domains,
            self.type,
            self.algorithm,
            self.sequence,
            self.origin,
            self.label,
            self.delegated,
        )


@dataclass(frozen=True)
class ListFilters:
    """LIST_OBJECTS filters; ``None`` means "any"."""

    object_id: int | None = None
    object_type: int | None = None
    domains: int | None = None
    capabilities: int | None = None
    algorithm: int | None = None
    label: bytes | None = None

    def matches(self, obj: HsmObject) -> bool:
        return (
            (self.object_id is None or obj.id == self.object_id)
            and (self.object_type is None or obj.type == self.object_type)
            and (self.domains is None or obj.domains & self.domains != 0)
            and (self.capabilities is None or obj.capabilities & self.capabilities != 0)
            and (self.algorithm is None or obj.algorithm == self.algorithm)
            and (self.label is None or obj.label == self.label)
        )


def require_capability(permissions: Permissions, capability: Capability) -> None:
    if not permissions.capabilities & capability:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, f"session key lacks {capability.name}")


class ObjectStore:
    """Objects keyed by ``(id, type)``; sequence numbers survive deletion until a reset."""

    def __init__(self) -> None:
        self._objects: dict[tuple[int, ObjectType], HsmObject] = {}
        self._sequences: dict[tuple[int, ObjectType], int] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def __iter__(self) -> Iterator[HsmObject]:
        return iter(sorted(self._objects.values(), key=lambda o: (o.id, o.type)))

    def clear(self) -> None:
        self._objects.clear()
        self._sequences.clear()

    def install_factory_key(self, k_enc: bytes, k_mac: bytes) -> None:
        self.add(
            HsmObject(
                id=FACTORY_AUTH_KEY_ID,
                type=ObjectType.AUTHENTICATION_KEY,
                algorithm=Algorithm.AES128_YUBICO_AUTHENTICATION,
                label=encode_label(FACTORY_LABEL.encode()),
                domains=ALL_DOMAINS,
                capabilities=FACTORY_CAPABILITIES,
                delegated=FACTORY_CAPABILITIES,
                origin=Origin.IMPORTED,
                size=40,
                material=k_enc + k_mac,
            )
        )

    def find(self, object_id: int, object_type: ObjectType) -> HsmObject | None:
        return self._objects.get((object_id, object_type))

    def free_id(self) -> int:
        """The lowest id no object of *any* type uses (what a device picks for id 0)."""
        taken = {object_id for object_id, _ in self._objects}
        for candidate in range(1, MAX_OBJECT_ID + 1):
            if candidate not in taken:
                return candidate
        raise DeviceError(Error.STORAGE_FAILED, "no free object id")

    def add(self, obj: HsmObject) -> HsmObject:
        """Store ``obj`` (id 0 picks an id free across all types) with its next sequence number."""
        if obj.id == 0:
            obj = replace(obj, id=self.free_id())
        if not 0 < obj.id <= MAX_OBJECT_ID:
            raise DeviceError(Error.INVALID_ID, f"object id {obj.id:#06x} is out of range")
        key = (obj.id, obj.type)
        if key in self._objects:
            raise DeviceError(Error.OBJECT_EXISTS, f"{obj.type.name} {obj.id:#06x} exists")
        if len(self._objects) >= MAX_OBJECTS:
            raise DeviceError(Error.STORAGE_FAILED, "object storage is full")
        sequence = self._sequences.get(key, -1) + 1
        obj = replace(obj, sequence=sequence & 0xFF)
        self._sequences[key] = sequence
        self._objects[key] = obj
        return obj

    def replace_material(self, obj: HsmObject, material: Material, algorithm: Algorithm) -> HsmObject:
        """Change an object's secret in place (CHANGE_AUTHENTICATION_KEY); the sequence goes up."""
        key = (obj.id, obj.type)
        sequence = self._sequences.get(key, 0) + 1
        self._sequences[key] = sequence
        updated = replace(obj, material=material, algorithm=algorithm, sequence=sequence & 0xFF)
        self._objects[key] = updated
        return updated

    def remove(self, obj: HsmObject) -> None:
        del self._objects[(obj.id, obj.type)]

    # -- access rules ------------------------------------------------------------------------
    def visible(self, permissions: Permissions, object_id: int, object_type: ObjectType) -> HsmObject:
        obj = self.find(object_id, object_type)
        if obj is None or not obj.domains & permissions.domains:
            raise DeviceError(
                Error.OBJECT_NOT_FOUND, f"no {object_type.name} {object_id:#06x} in the session's domains"
            )
        return obj

    def use(
        self, permissions: Permissions, object_id: int, object_type: ObjectType, capability: Capability
    ) -> HsmObject:
        """The object, if the session and the object both allow ``capability``."""
        require_capability(permissions, capability)
        obj = self.visible(permissions, object_id, object_type)
        if not obj.capabilities & capability:
            raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, f"object {object_id:#06x} lacks {capability.name}")
        return obj

    def check_create(
        self, permissions: Permissions, capability: Capability, domains: int, capabilities: int, delegated: int = 0
    ) -> None:
        require_capability(permissions, capability)
        if domains == 0 or domains & ~ALL_DOMAINS:
            raise DeviceError(Error.INVALID_DATA, "domains must be a non-empty subset of 1..16")
        if domains & ~permissions.domains:
            raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "domains outside the session's domains")
        if capabilities & ~permissions.delegated or delegated & ~permissions.delegated:
            raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "capabilities outside the session's delegated ones")

    def delete(self, permissions: Permissions, object_id: int, object_type: ObjectType) -> HsmObject:
        require_capability(permissions, DELETE_CAPABILITY[object_type])
        obj = self.visible(permissions, object_id, object_type)
        self.remove(obj)
        return obj

    def list(self, permissions: Permissions, filters: ListFilters) -> list[HsmObject]:
        return [o for o in self if o.domains & permissions.domains and filters.matches(o)]
