"""What one key vault holds, as plain data: key entries (a name, its versions, rotation policy and
soft-delete dates), versions (material, operations, attributes, tags), and create and update requests
already decoded from the wire. The rules that read and change them are :mod:`.models`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import BadParameter
from .material import Curve, KeyOperation, KeyType, PrivateKey
from .policy import RotationPolicy

RECOVERABLE_DAYS = 90
RECOVERY_LEVEL = "Recoverable+Purgeable"
NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
ENCRYPTION_ALGORITHMS = ("RSA-OAEP", "RSA-OAEP-256", "RSA1_5")


def check_name(name: str) -> str:
    if not 1 <= len(name) <= 127 or not set(name) <= NAME_CHARS:
        raise BadParameter(f"The request URI contains an invalid name: {name}")
    return name


@dataclass
class Attributes:
    enabled: bool
    created: int
    updated: int
    not_before: int | None = None
    expires: int | None = None


@dataclass
class KeyVersion:
    """One version: its material, operations, attributes and tags."""

    name: str
    version: str
    kty: KeyType
    private: PrivateKey
    key_ops: tuple[KeyOperation, ...]
    attributes: Attributes
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class KeyEntry:
    name: str
    versions: dict[str, KeyVersion] = field(default_factory=dict)
    policy: RotationPolicy | None = None
    deleted_date: int | None = None
    scheduled_purge_date: int | None = None

    @property
    def latest(self) -> KeyVersion:
        return next(reversed(self.versions.values()))


@dataclass(frozen=True)
class CreateSpec:
    """A create request, already decoded: ``kty`` plus size or curve, operations, attributes, tags."""

    kty: KeyType
    size: int | None = None
    curve: Curve | None = None
    public_exponent: int | None = None
    key_ops: tuple[KeyOperation, ...] | None = None
    enabled: bool = True
    not_before: int | None = None
    expires: int | None = None
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Update:
    """A PATCH: ``None`` leaves a field as it is."""

    key_ops: tuple[KeyOperation, ...] | None = None
    enabled: bool | None = None
    not_before: int | None = None
    expires: int | None = None
    tags: Mapping[str, str] | None = None
