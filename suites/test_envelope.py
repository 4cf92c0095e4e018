"""Suite 9, envelope persistence (seed 004, KMS Integration): a private key sealed under a KMS data key
(GenerateDataKey, AES-256-GCM) in SQLite comes back intact through a new store (a restart), is never
in the database file in clear, and a tampered row or a disabled KMS key gives a typed error, never a
key. The store keeps seed 004's table ``enclave_master_keys``; the tamper checks edit it directly.

AWS only: instances run on backends of kind ``aws-kms`` (the emulator, LocalStack, real AWS). Each
instance gets its own KMS key (the KEK) and its own database file.
"""

from __future__ import annotations

import base64
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.jwk import private_key_from_pem_or_der, private_key_pem, public_key_pem
from pytest_kmsconform.reference_impl.primitives import (
    MlDsaPrivateKey,
    MlDsaPublicKey,
    PrivateKey,
    PublicKey,
    generate_private_key,
    sign_digest,
    verify_digest,
)
from pytest_kmsconform.suites._support import digest

from pytest_kmsconform import kinds
from pytest_kmsconform.adapter import Implementation, ImplEnvelopeStore
from pytest_kmsconform.asserts import assert_accepts, assert_rejects, poll_until
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.backends import BackendPool, require_backend
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import implementation_calls
from pytest_kmsconform.key_backends import kms_client_for
from pytest_kmsconform.options import get_config
from pytest_kmsconform.outcomes import backend_not_selected

ENVELOPE = Capability.ENVELOPE
KINDS = [kinds.AWS_KMS]
SOURCE = "seed 004 (KMS Integration)"
TABLE = "enclave_master_keys"


def kms_client(handle: BackendHandle) -> Any:
    """The suite's own KMS client (to create, disable and delete KEKs), not the implementation's."""
    return kms_client_for(handle)


@dataclass
class Envelope:
    """One check instance's KMS key, database file and the stores opened on it (closed at teardown)."""

    impl: Implementation
    handle: BackendHandle
    kms: Any
    kek_id: str
    kek_alias: str
    db: Path
    alg: Algorithm
    stores: list[ImplEnvelopeStore] = field(default_factory=list)

    def open(self) -> ImplEnvelopeStore:
        """A new store on the same file: each call after the first is a restart."""
        with implementation_calls(f"{self.impl.name}.envelope_store({self.handle.name})"):
            store = self.impl.envelope_store(self.handle, self.db, kms_key_id=self.kek_alias)
        self.stores.append(store)
        return store

    def close(self, store: ImplEnvelopeStore) -> None:
        store.close()
        self.stores.remove(store)

    def seal_new_key(self, record_id: int) -> PrivateKey:
        """A fresh key sealed as ``record_id`` by a store that is closed again (the first run)."""
        key = generate_private_key(self.alg)
        store = self.open()
        with implementation_calls(f"seal({record_id})"):
            store.seal(record_id, private_key_pem(key))
        self.close(store)
        return key

    def edit(self, sql: str, *params: object) -> None:
        """Change the database behind the implementation's back (every store closed first)."""
        conn = sqlite3.connect(self.db)
        try:
            with conn:
                changed = conn.execute(sql, params).rowcount
        finally:
            conn.close()
        assert changed > 0, f"the tamper edit changed no row of {TABLE}: {sql}"

    def column(self, record_id: int, name: str) -> Any:
        conn = sqlite3.connect(self.db)
        try:
            row = conn.execute(f"SELECT {name} FROM {TABLE} WHERE enclave_id = ?", (record_id,)).fetchone()
        except sqlite3.Error as exc:
            raise AssertionError(f"the database does not hold seed 004's {TABLE} table: {exc}") from None
        finally:
            conn.close()
        assert row is not None, f"no {TABLE} row with enclave_id {record_id}"
        return row[0]


@pytest.fixture
def envelope(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_backend_pool: BackendPool, tmp_path: Path
) -> Iterator[Envelope]:
    """A fresh KEK (with an alias, as in seed 004) and database path for the current aws-kms target."""
    target = kmsconform_target
    if not target.backend:
        backend_not_selected(kinds.AWS_KMS, "no backend of that kind selected with --kmsconform-backend")
    assert target.alg is not None
    handle = require_backend(kmsconform_backend_pool, target.backend)
    kms = kms_client(handle)
    # KeyId, not the ARN, for the admin calls: moto 5.2.5's DisableKey/EnableKey fail (500) on an ARN
    kek_id = kms.create_key(Description="kmsconform envelope KEK")["KeyMetadata"]["KeyId"]
    alias = f"alias/{handle.namespace}-env-{uuid.uuid4().hex[:12]}"
    kms.create_alias(AliasName=alias, TargetKeyId=kek_id)
    env = Envelope(kmsconform_impl, handle, kms, kek_id, alias, tmp_path / "keymeld.db", target.alg)
    try:
        yield env
    finally:
        for store in list(env.stores):
            store.close()
        kms.delete_alias(AliasName=alias)
        kms.schedule_key_deletion(KeyId=kek_id, PendingWindowInDays=7)


def same_key(loaded_pem: bytes, original: PublicKey, alg: Algorithm, what: str) -> None:
    """The loaded key is the original: same public key, and it signs what the original public key verifies."""
    loaded = private_key_from_pem_or_der(loaded_pem)
    assert public_key_pem(loaded.public_key()) == public_key_pem(original), f"{what}: a different key came back"
    value = sign_digest(alg, loaded, digest("envelope"))
    assert_accepts(lambda: verify_digest(alg, original, digest("envelope"), value), f"{what}: signature check")


def assert_refused(call: Callable[[], object], what: str) -> Exception:
    """Rejected with the implementation's own error type, not a bare built-in exception."""
    __tracebackhide__ = True
    exc = assert_rejects(call, what)
    assert type(exc).__module__ != "builtins", (
        f"{what}: rejected with a bare {type(exc).__name__} ({exc}); expected a typed error"
    )
    return exc


def check_tamper(env: Envelope, tamper: Callable[[Envelope], None], what: str, *records: int) -> None:
    """Seal ``records``, prove they load, apply ``tamper``, then every record is refused by a new store."""
    for record_id in records:
        env.seal_new_key(record_id)
    control = env.open()
    for record_id in records:
        assert_accepts(lambda r=record_id: control.load(r), f"record {record_id} before tampering")  # type: ignore[misc]
    env.close(control)
    tamper(env)
    store = env.open()
    for record_id in records:
        assert_refused(lambda r=record_id: store.load(r), f"{what}: load({record_id})")  # type: ignore[misc]


def secret_encodings(key: PrivateKey) -> dict[str, bytes]:
    """The private key in every form it could sit in a file: PKCS#8 DER and PEM body, raw numbers."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    found = {"PKCS#8 DER": der, "PKCS#8 PEM body": base64.b64encode(der)[:64]}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        found["raw Ed25519 seed"] = key.private_bytes(*raw)
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        found["EC private scalar"] = key.private_numbers().private_value.to_bytes(32, "big")
    elif isinstance(key, rsa.RSAPrivateKey):
        numbers = key.private_numbers()
        for name, value in (("d", numbers.d), ("p", numbers.p), ("q", numbers.q)):
            found[f"RSA {name}"] = value.to_bytes((value.bit_length() + 7) // 8, "big")
    elif isinstance(key, MlDsaPrivateKey):
        found["raw ML-DSA seed"] = key.private_bytes_raw()  # FIPS 204 xi: the whole private key
    return found


@pytest.mark.kmsconform_check(
    id="KC-ENV-001",
    title="A sealed key loaded by a new store (a restart) is the same key: it signs for the original public key",
    source=SOURCE,
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["BASIC", "KEY_PERSISTENCE"],
)
def test_sealed_key_survives_restart(envelope: Envelope) -> None:
    key = envelope.seal_new_key(1)
    store = envelope.open()
    with implementation_calls("load(1) after a restart"):
        loaded = store.load(1)
    same_key(loaded, key.public_key(), envelope.alg, "sealed key after a restart")


@pytest.mark.kmsconform_check(
    id="KC-ENV-002",
    title="A key generated and sealed by the store loads after a restart and matches the public key it returned",
    source=SOURCE + ", How It Works steps 1-5",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["KEY_PERSISTENCE"],
)
def test_generated_key_survives_restart(envelope: Envelope) -> None:
    first = envelope.open()
    with implementation_calls(f"generate(5, {envelope.alg.value})"):
        public_pem = first.generate(5, envelope.alg)
    envelope.close(first)
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey | MlDsaPublicKey)
    store = envelope.open()
    with implementation_calls("load(5) after a restart"):
        loaded = store.load(5)
    same_key(loaded, public, envelope.alg, "generated key after a restart")


@pytest.mark.kmsconform_check(
    id="KC-ENV-003",
    title="The database file never holds the private key in clear (PKCS#8 or its raw numbers)",
    source=SOURCE + " (The private key never exists in plaintext outside the enclave)",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["SECRET_LEAK", "KEY_PERSISTENCE"],
)
def test_no_plaintext_key_in_database(envelope: Envelope) -> None:
    key = envelope.seal_new_key(1)
    files = sorted(envelope.db.parent.glob(envelope.db.name + "*"))  # the file and any -wal/-journal
    assert envelope.db in files, "the store wrote no database file at the given path"
    content = b"".join(path.read_bytes() for path in files)
    leaked = [name for name, secret in secret_encodings(key).items() if secret in content]
    assert leaked == [], f"the database holds the private key in clear: {leaked}"


def _flip(column: str) -> Callable[[Envelope], None]:
    def apply(env: Envelope) -> None:
        value = env.column(1, column)
        assert isinstance(value, bytes) and value, f"{column} is not a non-empty BLOB"
        changed = bytearray(value)
        changed[len(changed) // 2] ^= 0x01
        env.edit(f"UPDATE {TABLE} SET {column} = ? WHERE enclave_id = 1", bytes(changed))

    return apply


@pytest.mark.kmsconform_check(
    id="KC-ENV-004",
    title="A flipped byte of the encrypted private key is refused with a typed error, never a key",
    source=SOURCE + " (AES-256-GCM)",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["KEY_PERSISTENCE", "AUTH_BYPASS"],
)
def test_flipped_ciphertext_refused(envelope: Envelope) -> None:
    check_tamper(envelope, _flip("encrypted_private_key"), "ciphertext byte flipped", 1)


@pytest.mark.kmsconform_check(
    id="KC-ENV-005",
    title="A flipped byte of the KMS-sealed data key is refused with a typed error, never a key",
    source=SOURCE + " (kms_encrypted_dek)",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["KEY_PERSISTENCE", "AUTH_BYPASS"],
)
def test_flipped_data_key_refused(envelope: Envelope) -> None:
    check_tamper(envelope, _flip("kms_encrypted_dek"), "sealed data key byte flipped", 1)


def _swap_records(env: Envelope) -> None:
    env.edit(f"UPDATE {TABLE} SET enclave_id = -1 WHERE enclave_id = 1")
    env.edit(f"UPDATE {TABLE} SET enclave_id = 1 WHERE enclave_id = 2")
    env.edit(f"UPDATE {TABLE} SET enclave_id = 2 WHERE enclave_id = -1")


@pytest.mark.kmsconform_check(
    id="KC-ENV-006",
    title="Two rows swapped between record ids are both refused with a typed error, never a key",
    source=SOURCE + " (enclave_id)",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["KEY_PERSISTENCE", "AUTH_BYPASS"],
)
def test_swapped_records_refused(envelope: Envelope) -> None:
    check_tamper(envelope, _swap_records, "rows swapped between records 1 and 2", 1, 2)


@pytest.mark.kmsconform_check(
    id="KC-ENV-007",
    title="A row whose kms_key_id names another KMS key is refused with a typed error, never a key",
    source=SOURCE + " (kms_key_id)",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["KEY_PERSISTENCE", "AUTH_BYPASS"],
)
def test_changed_kms_key_id_refused(envelope: Envelope) -> None:
    decoy = envelope.kms.create_key(Description="kmsconform envelope decoy")["KeyMetadata"]
    other = decoy["Arn"]  # stores keep the ARN KMS answers with (seed 004's kms_key_id)
    try:
        check_tamper(
            envelope,
            lambda env: env.edit(f"UPDATE {TABLE} SET kms_key_id = ? WHERE enclave_id = 1", other),
            "kms_key_id changed to another KMS key",
            1,
        )
    finally:
        envelope.kms.schedule_key_deletion(KeyId=decoy["KeyId"], PendingWindowInDays=7)


def _kms_refuses(env: Envelope) -> bool:
    try:
        env.kms.generate_data_key(KeyId=env.kek_id, KeySpec="AES_256")
    except Exception:  # any refusal: the disable has reached KMS
        return True
    return False


@pytest.mark.kmsconform_check(
    id="KC-ENV-008",
    title="After the KMS key is disabled a load fails with a typed error, in the open store and after a restart",
    source=SOURCE + " (On restart, enclave requests KMS to decrypt DEK)",
    requires=[ENVELOPE],
    scope="backend",
    algs="asymmetric",
    kinds=KINDS,
    flags=["KEY_PERSISTENCE", "KEY_LIFECYCLE"],
)
def test_disabled_kms_key_refused(envelope: Envelope, request: pytest.FixtureRequest) -> None:
    key = envelope.seal_new_key(1)
    store = envelope.open()
    with implementation_calls("load(1) while the KMS key is enabled"):
        same_key(store.load(1), key.public_key(), envelope.alg, "load before disabling")
    envelope.kms.disable_key(KeyId=envelope.kek_id)
    try:
        window = get_config(request.config).revocation_window_s
        assert poll_until(lambda: _kms_refuses(envelope), window), "KMS still uses the disabled key (harness)"
        assert_refused(lambda: store.load(1), "load in the open store after the KMS key was disabled")
        restarted = envelope.open()
        assert_refused(lambda: restarted.load(1), "load after a restart with the KMS key disabled")
    finally:
        envelope.kms.enable_key(KeyId=envelope.kek_id)
