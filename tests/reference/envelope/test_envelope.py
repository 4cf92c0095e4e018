"""Envelope persistence (seed 004): seal, restart (new connection and new process), tamper detection."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pytest_kmsconform.reference_impl.envelope import EnvelopeError, EnvelopeStore, EnvelopeTampered, TamperReason
from pytest_kmsconform.reference_impl.errors import BackendError, BackendErrorCode

from pytest_kmsconform.backend_api import BackendHandle


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def test_seal_and_reload_in_a_new_connection(kms: Any, kek: str, tmp_path: Path) -> None:
    db = tmp_path / "keymeld.db"
    private = ec.generate_private_key(ec.SECP256K1())
    public = private.public_key()
    with EnvelopeStore(kms, kek, db) as store:
        record = store.seal(1, private)
    assert record.kms_key_id.startswith("arn:aws:kms:")  # the ARN, not the alias
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    assert scalar not in db.read_bytes()  # only ciphertext reaches the database file
    with EnvelopeStore(kms, kek, db) as store:
        loaded = store.load(1)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey) and isinstance(loaded.curve, ec.SECP256K1)
    assert _spki(loaded.public_key()) == _spki(public)


def test_survives_a_new_process(handle: BackendHandle, kms: Any, kek: str, tmp_path: Path) -> None:
    db = tmp_path / "keymeld.db"
    with EnvelopeStore(kms, kek, db) as store:
        public = store.generate(7)
    script = textwrap.dedent(
        f"""
        import os
        from cryptography.hazmat.primitives import serialization
        from pytest_kmsconform.reference_impl.backends.aws_kms import client_from_env
        from pytest_kmsconform.reference_impl.envelope import EnvelopeStore
        with EnvelopeStore(client_from_env(os.environ), {kek!r}, {str(db)!r}) as store:
            key = store.load(7)
        print(key.public_key().public_bytes(serialization.Encoding.DER,
              serialization.PublicFormat.SubjectPublicKeyInfo).hex())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **handle.env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == _spki(public).hex()


def _tamper(db: Path, column: str, enclave_id: int = 1) -> None:
    conn = sqlite3.connect(db)
    with conn:
        (value,) = conn.execute(
            f"SELECT {column} FROM enclave_master_keys WHERE enclave_id=?", (enclave_id,)
        ).fetchone()
        if isinstance(value, bytes):
            changed: Any = value[:-1] + bytes([value[-1] ^ 1])
        else:
            changed = value + 1
        conn.execute(f"UPDATE enclave_master_keys SET {column}=? WHERE enclave_id=?", (changed, enclave_id))
    conn.close()


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        ("encrypted_private_key", TamperReason.AUTHENTICATION_FAILED),
        ("kms_encrypted_dek", TamperReason.DATA_KEY_REJECTED),
        ("public_key", TamperReason.AUTHENTICATION_FAILED),  # bound as associated data
        ("key_epoch", TamperReason.AUTHENTICATION_FAILED),
    ],
)
def test_tamper_is_detected(kms: Any, kek: str, tmp_path: Path, column: str, reason: TamperReason) -> None:
    db = tmp_path / "keymeld.db"
    with EnvelopeStore(kms, kek, db) as store:
        store.seal(1, ed25519.Ed25519PrivateKey.generate())
        store.load(1)
    _tamper(db, column)
    with EnvelopeStore(kms, kek, db) as store, pytest.raises(EnvelopeTampered) as exc:
        store.load(1)
    assert exc.value.reason is reason and exc.value.enclave_id == 1


def test_row_moved_to_another_record_is_refused_by_kms(kms: Any, kek: str, tmp_path: Path) -> None:
    db = tmp_path / "keymeld.db"
    with EnvelopeStore(kms, kek, db) as store:
        store.generate(1)
        conn = store.db
        with conn:
            conn.execute("UPDATE enclave_master_keys SET enclave_id = 2 WHERE enclave_id = 1")
        with pytest.raises(EnvelopeTampered) as exc:
            store.load(2)
    assert exc.value.reason is TamperReason.DATA_KEY_REJECTED  # the DEK's encryption context names record 1


def test_kms_key_column_swapped(kms: Any, kek: str, tmp_path: Path) -> None:
    other = kms.create_key()["KeyMetadata"]["Arn"]
    db = tmp_path / "keymeld.db"
    with EnvelopeStore(kms, kek, db) as store:
        store.generate(1)
        with store.db:
            store.db.execute("UPDATE enclave_master_keys SET kms_key_id = ?", (other,))
        with pytest.raises(EnvelopeTampered) as exc:
            store.load(1)
    assert exc.value.reason is TamperReason.KEY_MISMATCH


def test_truncated_ciphertext(kms: Any, kek: str, tmp_path: Path) -> None:
    db = tmp_path / "keymeld.db"
    with EnvelopeStore(kms, kek, db) as store:
        store.generate(1)
        with store.db:
            store.db.execute("UPDATE enclave_master_keys SET encrypted_private_key = x'0102'")
        with pytest.raises(EnvelopeTampered) as exc:
            store.load(1)
    assert exc.value.reason is TamperReason.MALFORMED


def test_disabled_kek_refuses_to_open(kms: Any, kek: str, tmp_path: Path) -> None:
    with EnvelopeStore(kms, kek, sqlite3.connect(":memory:")) as store:
        store.generate(1)
        key_id = kms.describe_key(KeyId=kek)["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId=key_id)
        with pytest.raises(BackendError) as exc:
            store.load(1)
        assert exc.value.code is BackendErrorCode.DISABLED
        kms.enable_key(KeyId=key_id)
        store.load(1)


def test_missing_and_duplicate_records(kms: Any, kek: str) -> None:
    with EnvelopeStore(kms, kek, sqlite3.connect(":memory:")) as store:
        with pytest.raises(EnvelopeError, match="no sealed key"):
            store.load(3)
        store.generate(3)
        with pytest.raises(EnvelopeError, match="already has"):
            store.generate(3)
