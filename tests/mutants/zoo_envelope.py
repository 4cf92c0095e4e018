"""Mutants of envelope persistence (seed 004: KMS data keys, AES-256-GCM, nothing in clear)."""

from __future__ import annotations

from typing import Any

from pytest_kmsconform.mutation import mutant

STORE = "pytest_kmsconform.reference_impl.envelope:EnvelopeStore"


@mutant(
    f"{STORE}.load",
    bug="envelope: the plaintext data key is cached per store (a disabled KMS key still opens records)",
    violates="seed 004 (On restart, enclave requests KMS to decrypt DEK); docs/adapter.md (Decrypt every time)",
    backends=("aws-kms",),
    select="envelope",
)
def cached_data_key(original: Any) -> Any:
    def load(self: Any, enclave_id: int) -> Any:
        cache = self.__dict__.setdefault("_mutant_keys", {})
        if enclave_id not in cache:
            cache[enclave_id] = original(self, enclave_id)
        return cache[enclave_id]

    return load


@mutant(
    f"{STORE}.seal",
    bug="envelope: a 'backup' of the PKCS#8 key kept in clear in the same database",
    violates="seed 004 (The private key never exists in plaintext outside the enclave)",
    backends=("aws-kms",),
    select="envelope",
)
def plaintext_backup(original: Any) -> Any:
    from cryptography.hazmat.primitives import serialization

    def seal(self: Any, enclave_id: int, private_key: Any, **kwargs: Any) -> Any:
        record = original(self, enclave_id, private_key, **kwargs)
        der = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with self.db:
            self.db.execute("CREATE TABLE IF NOT EXISTS key_backup (enclave_id INTEGER, pkcs8 BLOB)")
            self.db.execute("INSERT INTO key_backup VALUES (?, ?)", (enclave_id, der))
        return record

    return seal
