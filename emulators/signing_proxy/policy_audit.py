"""The policy gate's audit log: the project's hash-chained, signed audit store (``docs/spec.md`` §5).

Records are signed by an Ed25519 **audit key** of the proxy's own (a PEM file, created 0600 when
missing), never by the signing backend: logging a denial must not reach the key backend. The key's
kid is derived from its RFC 7638 thumbprint, so it is the same across restarts and the published
member carries no validity window (records written before a restart keep verifying).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
from pytest_kmsconform.reference_impl.clock import Clock, utc_now
from pytest_kmsconform.reference_impl.errors import InvalidSignature, UnknownKey
from pytest_kmsconform.reference_impl.jwk import public_key_to_jwk
from pytest_kmsconform.reference_impl.jws import ed25519_thumbprint
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.signature import Signature

from .policy_config import PolicyConfigError


class AuditKeySigner:
    """A reference ``Signer`` over the audit key (in memory; signs record digests)."""

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key
        self._kid = "policy-audit-" + ed25519_thumbprint(key.public_key())[:16]

    @property
    def backend(self) -> str:
        return "policy-audit"

    @property
    def alg(self) -> Algorithm:
        return Algorithm.ED25519

    @property
    def kid(self) -> str:
        return self._kid

    def sign_digest(self, digest: bytes) -> Signature:
        return Signature(self._kid, Algorithm.ED25519, self._key.sign(digest))

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        if signature.kid != self._kid:
            raise UnknownKey(f"not the audit key: {signature.kid}")
        if signature.alg is not Algorithm.ED25519:
            raise InvalidSignature("the audit key signs ed25519")
        verify_digest(Algorithm.ED25519, self._key.public_key(), digest, signature.value)

    def jwks(self) -> dict[str, Any]:
        member: dict[str, Any] = public_key_to_jwk(self._key.public_key())
        member.update({"kid": self._kid, "alg": Algorithm.ED25519.value, "use": "sig", "status": "active"})
        return {"keys": [member]}

    def close(self) -> None:
        """Nothing to release."""


def load_or_create_audit_key(path: Path) -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key in ``path`` (PKCS#8 PEM); a new one is written (mode 0600) if the file is missing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return key
    except OSError as exc:
        raise PolicyConfigError(f"audit.key_file: cannot read {path}: {exc}") from None
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise PolicyConfigError(f"audit.key_file: {path} is not a PEM private key: {exc}") from None
    if not isinstance(loaded, ed25519.Ed25519PrivateKey):
        raise PolicyConfigError(f"audit.key_file: {path} must hold an Ed25519 private key")
    return loaded


def open_audit_store(path: Path, signer: AuditKeySigner, *, clock: Clock = utc_now) -> SqliteAuditStore:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteAuditStore(path, signer, clock=clock)
    except Exception as exc:  # sqlite3 and OS errors alike: the proxy must not start without its log
        raise PolicyConfigError(f"audit.path: cannot open the audit log {path}: {exc}") from None
