"""Resource names: ``projects/P/locations/L/keyRings/R/cryptoKeys/K/cryptoKeyVersions/N``.

Collection ids follow the service: ``[a-zA-Z0-9_-]{1,63}`` for key rings and crypto keys, a
positive decimal for versions; a malformed name is INVALID_ARGUMENT, never NOT_FOUND.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import invalid

ID = re.compile(r"[a-zA-Z0-9_-]{1,63}")
_SEGMENT = re.compile(r"[^/]+")
_LOCATION = re.compile(r"projects/([^/]+)/locations/([^/]+)")
_RING = re.compile(r"(projects/[^/]+/locations/[^/]+)/keyRings/([^/]+)")
_KEY = re.compile(r"(projects/[^/]+/locations/[^/]+/keyRings/[^/]+)/cryptoKeys/([^/]+)")
_VERSION = re.compile(r"(projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+)/cryptoKeyVersions/([^/]+)")


def check_id(kind: str, value: str) -> str:
    """``value`` if it is a valid ``kind`` id (``key_ring_id``, ``crypto_key_id``), else INVALID_ARGUMENT."""
    if not ID.fullmatch(value):
        raise invalid(f"Invalid {kind}: {value!r} must match [a-zA-Z0-9_-]{{1,63}}.")
    return value


def location(name: str) -> str:
    if not _LOCATION.fullmatch(name):
        raise invalid(f"Invalid location name: {name!r}.")
    return name


def key_ring(name: str) -> str:
    m = _RING.fullmatch(name)
    if m is None or not ID.fullmatch(m.group(2)):
        raise invalid(f"Invalid KeyRing name: {name!r}.")
    return name


def crypto_key(name: str) -> str:
    m = _KEY.fullmatch(name)
    if m is None or not ID.fullmatch(m.group(2)):
        raise invalid(f"Invalid CryptoKey name: {name!r}.")
    key_ring(m.group(1))
    return name


@dataclass(frozen=True)
class VersionName:
    key: str
    number: int

    def __str__(self) -> str:
        return f"{self.key}/cryptoKeyVersions/{self.number}"


def version(name: str) -> VersionName:
    m = _VERSION.fullmatch(name)
    if m is None or not m.group(2).isdigit() or int(m.group(2)) < 1:
        raise invalid(f"Invalid CryptoKeyVersion name: {name!r}.")
    return VersionName(crypto_key(m.group(1)), int(m.group(2)))


def parent_of(name: str) -> str:
    """The collection parent: ``.../keyRings/R`` of a crypto key, ``.../cryptoKeys/K`` of a version."""
    return name.rsplit("/", 2)[0]


def key_or_version(name: str) -> tuple[str, int | None]:
    """A crypto key name (the primary is meant) or a version name (Encrypt accepts both)."""
    if "/cryptoKeyVersions/" in name:
        parsed = version(name)
        return parsed.key, parsed.number
    return crypto_key(name), None
