"""The SQLite audit store: sign before commit, rollback on failure, no forks under concurrency."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit import SqliteAuditStore, export_archive, import_archive, iter_archive
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.errors import (
    ArchiveFormatError,
    AuditStoreError,
    BackendError,
    BackendErrorCode,
    CanonicalizationError,
    SigningFailed,
)
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.signer import BackendKey
from pytest_kmsconform.reference_impl.verifier import Verifier

from pytest_kmsconform import PRODUCER


def dump(path: Path) -> list[str]:
    """The whole database content, as SQL (read through a fresh connection)."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


class FailingSigner:
    """Delegates to ``inner`` but raises on call number ``fail_on`` (1-based)."""

    def __init__(self, inner: RingSigner, fail_on: int, error: Exception) -> None:
        self.inner, self.fail_on, self.error, self.calls = inner, fail_on, error, 0
        self.backend, self.alg, self.kid = inner.backend, inner.alg, inner.kid

    def sign_digest(self, digest: bytes) -> Signature:
        self.calls += 1
        if self.calls == self.fail_on:
            raise self.error
        return self.inner.sign_digest(digest)

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.inner.verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        return self.inner.jwks()

    def close(self) -> None:
        self.inner.close()


def test_append_chains_and_verifies(store: SqliteAuditStore, signer: RingSigner, clock: Any) -> None:
    assert store.head() is None and store.count() == 0
    first = store.append({"a": 1})
    second = store.append({"b": [1, 2]}, ts="2026-01-01T00:00:05Z")
    assert (first.seq, first.prev_hash, second.seq, second.prev_hash) == (0, None, 1, first.hash)
    assert second.ts == "2026-01-01T00:00:05Z"
    assert store.head() == second and store.count() == 2
    assert list(store.records()) == [first, second]
    assert list(store.records(start=1)) == [second]
    assert Verifier(signer.jwks()).verify_records(store.records()) == []


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("network down"),
        SigningFailed("corrupt"),
        BackendError("throttled", code=BackendErrorCode.THROTTLED, backend="aws-kms"),
    ],
    ids=["runtime", "signing-failed", "throttled"],
)
def test_signing_failure_leaves_store_unchanged(
    tmp_path: Path, signer: RingSigner, clock: Any, error: Exception
) -> None:
    path = tmp_path / "audit.db"
    failing = FailingSigner(signer, fail_on=4, error=error)
    with SqliteAuditStore(path, failing, clock=clock) as store:
        for i in range(3):
            store.append({"i": i})
        before = dump(path)
        with pytest.raises(type(error)):
            store.append({"i": 3})
        assert dump(path) == before
        assert store.count() == 3
        store.append({"i": 3})  # the store still works and links onto the old head
        assert store.count() == 4
    assert Verifier(signer.jwks()).verify_records(SqliteAuditStore(path, signer).records()) == []


def test_backend_returning_a_bad_signature_writes_nothing(tmp_path: Path, clock: Any) -> None:
    class Corrupting(LocalKeyBackend):
        def sign(self, key: BackendKey, digest: bytes) -> bytes:
            value = super().sign(key, digest)
            return bytes([value[0] ^ 1]) + value[1:]

    ring = KeyRing(Corrupting(seed=b"s"), Algorithm.ED25519, "k", clock=clock)
    ring.rotate()
    path = tmp_path / "audit.db"
    with SqliteAuditStore(path, RingSigner(ring), clock=clock) as store:
        before = dump(path)
        with pytest.raises(SigningFailed):
            store.append({"x": 1})
        assert dump(path) == before


def test_disabled_key_backend_error_writes_nothing(store: SqliteAuditStore, signer: RingSigner) -> None:
    store.append({"x": 1})
    before = dump(Path(store.path))
    signer.ring.backend.disable(signer.ring.active().key)
    with pytest.raises(BackendError):
        store.append({"x": 2})
    assert dump(Path(store.path)) == before


def test_bad_input_is_refused_before_anything_is_written(store: SqliteAuditStore) -> None:
    before = dump(Path(store.path))
    with pytest.raises(CanonicalizationError):
        store.append({"x": float("nan")})
    with pytest.raises(AuditStoreError):
        store.append({"x": 1}, ts="yesterday")
    with pytest.raises(AuditStoreError):
        store.append({"x": 1}, ts=datetime(2026, 1, 1))
    assert dump(Path(store.path)) == before


def _assert_linear(path: Path, signer: RingSigner, expected: int) -> None:
    with SqliteAuditStore(path, signer) as store:
        records = list(store.records())
    assert [r.seq for r in records] == list(range(expected))
    assert all(r.prev_hash == p.hash for p, r in itertools.pairwise(records))
    assert Verifier(signer.jwks()).verify_records(records) == []


def test_concurrent_threads_never_fork(tmp_path: Path, signer: RingSigner) -> None:
    path = tmp_path / "audit.db"
    shared = SqliteAuditStore(path, signer)
    errors: list[BaseException] = []

    def work(n: int, own: bool) -> None:
        try:
            store = SqliteAuditStore(path, signer) if own else shared
            for i in range(15):
                store.append({"thread": n, "i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n, n % 2 == 0)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shared.close()
    assert errors == []
    _assert_linear(path, signer, 6 * 15)


WRITER = textwrap.dedent(
    """
    import sys
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.audit import SqliteAuditStore
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

    path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ring = KeyRing(LocalKeyBackend(seed=b"shared-seed"), Algorithm.ED25519, "aureus-signer")
    ring.rotate()
    with SqliteAuditStore(path, RingSigner(ring)) as store:
        for i in range(n):
            store.append({"process": name, "i": i})
    """
)


def test_concurrent_processes_never_fork(tmp_path: Path) -> None:
    ring = KeyRing(LocalKeyBackend(seed=b"shared-seed"), Algorithm.ED25519, "aureus-signer")
    ring.rotate()  # same seed and label: the same key and kid as every writer
    signer = RingSigner(ring)
    path = tmp_path / "audit.db"
    SqliteAuditStore(path, signer).close()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"p{n}", "25"], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    _assert_linear(path, signer, 4 * 25)


def test_key_events_become_audit_records(tmp_path: Path, signer: RingSigner, clock: Any) -> None:
    with SqliteAuditStore(tmp_path / "audit.db", signer, clock=clock) as store:
        managed = KeyRing(
            LocalKeyBackend(seed=b"m"),
            Algorithm.ECDSA_P256_SHA256,
            "app",
            clock=clock,
            event_sink=store.record_key_event,
        )
        managed.rotate()
        managed.rotate()
        managed.revoke("app-v1", reason="compromised")
        types = [r.payload["type"] for r in store.records()]
        assert types == ["key.created", "key.activated", "key.created", "key.retired", "key.activated", "key.revoked"]
        revoked = store.head()
        assert revoked is not None and revoked.payload["kid"] == "app-v1"
        assert revoked.payload["reason"] == "compromised"
        assert Verifier(signer.jwks()).verify_records(store.records()) == []


def test_export_import_round_trip(
    tmp_path: Path, archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner], clock: Any
) -> None:
    other = make_signer(Algorithm.RSA_PSS_SHA256, label="restore")
    with SqliteAuditStore(tmp_path / "restored.db", other, clock=clock) as restored:
        assert import_archive(archive, restored, verify_with=signer.jwks()) == 10
        assert list(restored.records()) == list(iter_archive(archive))  # verbatim: same hashes and signatures
        again = tmp_path / "again.jsonl"
        export_archive(restored, again, signer, producer=PRODUCER, clock=clock)
    records = [line for line in archive.read_bytes().splitlines()[1:-1]]
    assert again.read_bytes().splitlines()[1:-1] == records
    assert Verifier(signer.jwks()).verify_archive(again) == []


def test_import_refuses_what_does_not_verify_or_link(
    tmp_path: Path, archive: Path, signer: RingSigner, make_signer: Callable[..., RingSigner], clock: Any
) -> None:
    stranger = make_signer(label="stranger", seed=b"x")
    with SqliteAuditStore(tmp_path / "r.db", signer, clock=clock) as restored:
        with pytest.raises(ArchiveFormatError, match="UNKNOWN_KEY"):
            import_archive(archive, restored, verify_with=stranger.jwks())
        assert restored.count() == 0
        restored.append({"already": "here"})
        with pytest.raises(AuditStoreError, match="does not link"):
            import_archive(archive, restored)
        records = list(iter_archive(archive))
        forged = records[0].__class__(**{**records[0].__dict__, "payload": {"x": 1}})
        with pytest.raises(AuditStoreError, match="digest"):
            restored.append_record(forged)


def test_checkpoint_signs_count_head_and_records_digest(archive: Path, signer: RingSigner) -> None:
    lines = archive.read_bytes().splitlines()
    header, checkpoint = json.loads(lines[0]), json.loads(lines[-1])["checkpoint"]
    assert header["format"] == "kmsconform-audit-archive/1"
    assert checkpoint["count"] == 10
    assert checkpoint["head_hash"] == json.loads(lines[-2])["hash"]
    assert checkpoint["records_sha256"] == hashlib.sha256(b"".join(line + b"\n" for line in lines[1:-1])).hexdigest()
