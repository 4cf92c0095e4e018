"""Envelope persistence of a private key under a KMS key (KeyMeld seed 004).

``seal``: KMS ``GenerateDataKey`` (AES_256) gives a data key (DEK) in plaintext and sealed under
the KMS key; the private key (PKCS#8 DER) is encrypted with AES-256-GCM under the DEK and only the
sealed DEK, nonce+ciphertext, public key and KMS key ARN are stored (SQLite, seed 004's table).
``load`` (after a restart: a new process or connection): KMS ``Decrypt`` opens the DEK, AES-GCM
opens the private key, and the result must match the stored public key.

Binding, so a row cannot be altered or moved unnoticed:

* the DEK's KMS ``EncryptionContext`` names the record (``kmsconform:enclave-id``), so a sealed DEK
  copied to another record is refused by KMS;
* the AES-GCM associated data is the format tag, record id, KMS key ARN, key epoch and public key,
  so changing any of those columns fails the tag.

Every integrity failure raises :class:`EnvelopeTampered` with a :class:`TamperReason`; KMS
failures stay :class:`~.errors.BackendError` (a disabled KMS key gives ``DISABLED``).
"""

from __future__ import annotations

import enum
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .backends.aws_kms import call
from .errors import BackendError, KmsConformError
from .primitives import MlDsaPrivateKey

FORMAT = b"kmsconform-envelope/1"
NONCE_BYTES = 12
CONTEXT_KEY = "kmsconform:enclave-id"
PURPOSE = {"kmsconform:purpose": "enclave-master-key"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS enclave_master_keys (
    enclave_id INTEGER PRIMARY KEY,
    kms_encrypted_dek BLOB NOT NULL,
    encrypted_private_key BLOB NOT NULL,
    public_key BLOB NOT NULL,
    kms_key_id TEXT NOT NULL,
    key_epoch INTEGER DEFAULT 1
)
"""

SealablePrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | MlDsaPrivateKey


class TamperReason(enum.Enum):
    DATA_KEY_REJECTED = "data_key_rejected"  # KMS refused the sealed DEK (changed, or moved to another record)
    AUTHENTICATION_FAILED = "authentication_failed"  # AES-GCM tag: ciphertext, nonce or bound columns changed
    KEY_MISMATCH = "key_mismatch"  # the DEK was sealed under another KMS key than the row names
    PUBLIC_KEY_MISMATCH = "public_key_mismatch"  # the opened private key is not the stored public key's
    MALFORMED = "malformed"  # too short to hold a nonce and a tag, or not a private key


class EnvelopeError(KmsConformError):
    """The envelope store cannot do what was asked (no such record, record exists)."""


class EnvelopeTampered(EnvelopeError):
    """A stored envelope failed an integrity check; nothing was returned."""

    def __init__(self, message: str, reason: TamperReason, enclave_id: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.enclave_id = enclave_id


@dataclass(frozen=True)
class SealedRecord:
    enclave_id: int
    kms_encrypted_dek: bytes
    encrypted_private_key: bytes
    public_key: bytes
    kms_key_id: str
    key_epoch: int


def _spki(key: SealablePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def associated_data(enclave_id: int, kms_key_arn: str, key_epoch: int, public_key: bytes) -> bytes:
    """What AES-GCM authenticates besides the ciphertext (length-prefixed fields)."""
    fields = [FORMAT, str(enclave_id).encode(), kms_key_arn.encode(), str(key_epoch).encode(), public_key]
    return b"".join(len(f).to_bytes(4, "big") + f for f in fields)


def _context(enclave_id: int) -> dict[str, str]:
    return {CONTEXT_KEY: str(enclave_id), **PURPOSE}


class EnvelopeStore:
    """Private keys sealed under ``kms_key_id`` in the SQLite database ``database``.

    :param kms_client: a boto3 KMS client.
    :param kms_key_id: the KMS key (KeyId, ARN or alias) new envelopes are sealed under.
    :param database: a path or an open :class:`sqlite3.Connection`.
    """

    def __init__(self, kms_client: Any, kms_key_id: str, database: str | os.PathLike[str] | sqlite3.Connection) -> None:
        self.kms = kms_client
        self.kms_key_id = kms_key_id
        self._own = not isinstance(database, sqlite3.Connection)
        self.db = sqlite3.connect(database) if not isinstance(database, sqlite3.Connection) else database
        self.db.execute(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        if self._own:
            self.db.close()

    def __enter__(self) -> EnvelopeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def seal(self, enclave_id: int, private_key: SealablePrivateKey, *, key_epoch: int = 1) -> SealedRecord:
        """Seal and store ``private_key`` as record ``enclave_id`` (which must not exist yet)."""
        response = call(
            "GenerateDataKey",
            lambda: self.kms.generate_data_key(
                KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext=_context(enclave_id)
            ),
        )
        dek = bytearray(response["Plaintext"])
        try:
            arn = str(response["KeyId"])
            public = _spki(private_key)
            nonce = os.urandom(NONCE_BYTES)
            plaintext = private_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            sealed = nonce + AESGCM(bytes(dek)).encrypt(
                nonce, plaintext, associated_data(enclave_id, arn, key_epoch, public)
            )
        finally:
            dek[:] = bytes(len(dek))  # best effort: Python may hold other copies
        record = SealedRecord(enclave_id, bytes(response["CiphertextBlob"]), sealed, public, arn, key_epoch)
        try:
            with self.db:
                self.db.execute(
                    "INSERT INTO enclave_master_keys VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.enclave_id,
                        record.kms_encrypted_dek,
                        record.encrypted_private_key,
                        record.public_key,
                        record.kms_key_id,
                        record.key_epoch,
                    ),
                )
        except sqlite3.IntegrityError:
            raise EnvelopeError(f"enclave {enclave_id} already has a sealed key") from None
        return record

    def generate(self, enclave_id: int, curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePublicKey:
        """Seed 004's flow: a new secp256k1 key pair (or ``curve``), sealed; returns its public key."""
        private = ec.generate_private_key(curve or ec.SECP256K1())
        self.seal(enclave_id, private)
        return private.public_key()

    def record(self, enclave_id: int) -> SealedRecord:
        row = self.db.execute(
            "SELECT enclave_id, kms_encrypted_dek, encrypted_private_key, public_key, kms_key_id, key_epoch "
            "FROM enclave_master_keys WHERE enclave_id = ?",
            (enclave_id,),
        ).fetchone()
        if row is None:
            raise EnvelopeError(f"no sealed key for enclave {enclave_id}")
        return SealedRecord(row[0], bytes(row[1]), bytes(row[2]), bytes(row[3]), str(row[4]), int(row[5] or 1))

    def load(self, enclave_id: int) -> SealablePrivateKey:
        """Open record ``enclave_id``; raises :class:`EnvelopeTampered` on any integrity failure."""
        rec = self.record(enclave_id)

        def tampered(reason: TamperReason, why: str) -> EnvelopeTampered:
            return EnvelopeTampered(f"enclave {enclave_id}: {why}", reason, enclave_id)

        if len(rec.encrypted_private_key) < NONCE_BYTES + 16:
            raise tampered(TamperReason.MALFORMED, "sealed private key is truncated")
        try:
            response = call(
                "Decrypt",
                lambda: self.kms.decrypt(CiphertextBlob=rec.kms_encrypted_dek, EncryptionContext=_context(enclave_id)),
            )
        except BackendError as exc:
            if exc.detail in ("InvalidCiphertextException", "IncorrectKeyException"):
                raise tampered(
                    TamperReason.DATA_KEY_REJECTED, f"KMS refused the sealed data key ({exc.detail})"
                ) from None
            raise
        if str(response["KeyId"]) != rec.kms_key_id:
            raise tampered(TamperReason.KEY_MISMATCH, "data key was sealed under another KMS key")
        dek = bytearray(response["Plaintext"])
        try:
            nonce, body = rec.encrypted_private_key[:NONCE_BYTES], rec.encrypted_private_key[NONCE_BYTES:]
            aad = associated_data(enclave_id, rec.kms_key_id, rec.key_epoch, rec.public_key)
            try:
                der = AESGCM(bytes(dek)).decrypt(nonce, body, aad)
            except InvalidTag:
                raise tampered(TamperReason.AUTHENTICATION_FAILED, "AES-GCM authentication failed") from None
        finally:
            dek[:] = bytes(len(dek))
        try:
            # AES-GCM has just authenticated these bytes as the key seal() was given, already a key
            # object (so validated when it was loaded or made): OpenSSL's RSA check (~36 ms, p and q
            # tested for primality again) would prove nothing more; the public key is still compared
            private = serialization.load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
        except ValueError:
            raise tampered(TamperReason.MALFORMED, "opened envelope is not a private key") from None
        if not isinstance(private, SealablePrivateKey) or _spki(private) != rec.public_key:
            raise tampered(TamperReason.PUBLIC_KEY_MISMATCH, "private key does not match the stored public key")
        return private
