"""JSON shapes of the Key Vault REST API (keys), from model objects: key bundles, list items,
deleted keys, errors, and the opaque backup blob. Identifiers are built on the URL the client
called (``https://host:port``), as the service builds them on its vault URL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import material
from .errors import BadParameter, KeyVaultError
from .records import RECOVERABLE_DAYS, RECOVERY_LEVEL, Attributes, KeyEntry, KeyVersion

BACKUP_PREFIX = b"kmsconform-akv-backup/1\n"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: object, field: str) -> bytes:
    if not isinstance(text, str):
        raise BadParameter(f"The parameter '{field}' must be a base64url string.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise BadParameter(f"The parameter '{field}' is not valid base64url.") from None


def key_id(base: str, name: str, version: str | None = None) -> str:
    return f"{base}/keys/{name}" + (f"/{version}" if version else "")


def attributes_json(attrs: Attributes) -> dict[str, Any]:
    out: dict[str, Any] = {"enabled": attrs.enabled}
    if attrs.not_before is not None:
        out["nbf"] = attrs.not_before
    if attrs.expires is not None:
        out["exp"] = attrs.expires
    out.update(
        created=attrs.created,
        updated=attrs.updated,
        recoveryLevel=RECOVERY_LEVEL,
        recoverableDays=RECOVERABLE_DAYS,
        exportable=False,
    )
    return out


def jwk_json(base: str, version: KeyVersion) -> dict[str, Any]:
    jwk: dict[str, Any] = {
        "kid": key_id(base, version.name, version.version),
        "kty": version.kty.value,
        "key_ops": [op.value for op in version.key_ops],
    }
    for member, value in material.public_members(version.private).items():
        jwk[member] = value if isinstance(value, str) else b64url(value)
    return jwk


def key_bundle(base: str, version: KeyVersion) -> dict[str, Any]:
    bundle: dict[str, Any] = {"key": jwk_json(base, version), "attributes": attributes_json(version.attributes)}
    if version.tags:
        bundle["tags"] = dict(version.tags)
    return bundle


def key_item(base: str, version: KeyVersion, *, versioned: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "kid": key_id(base, version.name, version.version if versioned else None),
        "attributes": attributes_json(version.attributes),
    }
    if version.tags:
        item["tags"] = dict(version.tags)
    return item


def _deleted_members(base: str, entry: KeyEntry) -> dict[str, Any]:
    return {
        "recoveryId": f"{base}/deletedkeys/{entry.name}",
        "deletedDate": entry.deleted_date,
        "scheduledPurgeDate": entry.scheduled_purge_date,
    }


def deleted_bundle(base: str, entry: KeyEntry) -> dict[str, Any]:
    return {**_deleted_members(base, entry), **key_bundle(base, entry.latest)}


def deleted_item(base: str, entry: KeyEntry) -> dict[str, Any]:
    return {**_deleted_members(base, entry), **key_item(base, entry.latest, versioned=False)}


def error_json(exc: KeyVaultError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.inner is not None:
        error["innerError"] = {"code": exc.inner}
    return {"error": error}


# -- backup blobs: opaque to the client, refused when altered (HMAC under a per-vault secret) ------
def backup_blob(entry: KeyEntry, secret: bytes) -> bytes:
    versions = []
    for v in entry.versions.values():
        der = v.private.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        a = v.attributes
        versions.append(
            {
                "version": v.version,
                "kty": v.kty.value,
                "pkcs8": b64url(der),
                "key_ops": [op.value for op in v.key_ops],
                "attributes": [a.enabled, a.created, a.updated, a.not_before, a.expires],
                "tags": v.tags,
            }
        )
    body = json.dumps({"name": entry.name, "versions": versions}, separators=(",", ":")).encode()
    return BACKUP_PREFIX + hmac.new(secret, body, hashlib.sha256).digest() + body


def restore_blob(blob: bytes, secret: bytes) -> KeyEntry:
    """The entry a backup holds; a blob from another vault or an altered one is refused."""
    invalid = BadParameter("Backup blob contains invalid or corrupt version.")
    if not blob.startswith(BACKUP_PREFIX):
        raise invalid
    rest = blob[len(BACKUP_PREFIX) :]
    tag, body = rest[:32], rest[32:]
    if not hmac.compare_digest(tag, hmac.new(secret, body, hashlib.sha256).digest()):
        raise invalid
    doc = json.loads(body)
    entry = KeyEntry(doc["name"])
    for raw in doc["versions"]:
        private = serialization.load_der_private_key(from_b64url(raw["pkcs8"], "value"), password=None)
        assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        entry.versions[raw["version"]] = KeyVersion(
            name=entry.name,
            version=raw["version"],
            kty=material.KeyType(raw["kty"]),
            private=private,
            key_ops=tuple(material.KeyOperation(op) for op in raw["key_ops"]),
            attributes=Attributes(*raw["attributes"]),
            tags=dict(raw["tags"]),
        )
    return entry
