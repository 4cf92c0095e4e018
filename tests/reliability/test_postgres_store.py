"""PostgresAuditStore against a real PostgreSQL server: protocol, sign-before-commit, no fork."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.errors import AuditStoreError, BackendError, BackendErrorCode
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.verifier import Verifier

psycopg = pytest.importorskip("psycopg", reason="psycopg 3 is not installed (extra 'postgres')")
from pytest_kmsconform.reference_impl.audit.postgres import PostgresAuditStore  # noqa: E402
from pytest_kmsconform.reference_impl.audit.store import AuditStore  # noqa: E402


def signer() -> RingSigner:
    ring = KeyRing(LocalKeyBackend(seed=b"pg"), Algorithm.ECDSA_P256_SHA256, "pg")
    ring.rotate()
    return RingSigner(ring)


class FailingSigner:
    """Delegates to a real signer but raises on chosen calls."""

    def __init__(self, inner: RingSigner, fail_on: set[int]) -> None:
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def sign_digest(self, digest: bytes) -> Any:
        self.calls += 1
        if self.calls in self.fail_on:
            raise BackendError("down", code=BackendErrorCode.UNAVAILABLE, backend="local")
        return self.inner.sign_digest(digest)


def test_append_read_and_verify(pg_dsn: str) -> None:
    s = signer()
    with PostgresAuditStore(pg_dsn, s) as store:
        assert isinstance(store, AuditStore)
        assert store.head() is None and store.count() == 0
        recs = [store.append({"n": i}) for i in range(5)]
        assert [r.seq for r in store.records()] == [0, 1, 2, 3, 4]
        assert store.head() == recs[-1] and store.count() == 5
        assert list(store.records(3)) == recs[3:]
        assert Verifier(s.jwks()).verify_records(store.records()) == []
    with PostgresAuditStore(pg_dsn, s) as again:  # reopening keeps the chain
        assert again.append({"n": 5}).prev_hash == recs[-1].hash


def test_signing_failure_rolls_back_and_the_chain_continues(pg_dsn: str) -> None:
    flaky = FailingSigner(signer(), fail_on={2})
    with PostgresAuditStore(pg_dsn, flaky) as store:  # type: ignore[arg-type]
        store.append({"n": 0})
        with pytest.raises(BackendError):
            store.append({"n": 1})
        assert store.count() == 1
        rec = store.append({"n": 2})
        assert (rec.seq, rec.prev_hash) == (1, store.head().prev_hash)  # type: ignore[union-attr]
        assert [r.payload["n"] for r in store.records()] == [0, 2]


def test_append_record_must_link_and_hash(pg_dsn: str) -> None:
    s = signer()
    with PostgresAuditStore(pg_dsn, s, table="src") as src, PostgresAuditStore(pg_dsn, s, table="dst") as dst:
        recs = [src.append({"n": i}) for i in range(3)]
        dst.append_record(recs[0])
        with pytest.raises(AuditStoreError, match="does not link"):
            dst.append_record(recs[2])
        dst.append_record(recs[1])
        assert list(dst.records()) == recs[:2]
        from dataclasses import replace

        with pytest.raises(AuditStoreError, match="not the digest"):
            dst.append_record(replace(recs[2], payload={"n": 99}))


def test_bad_table_name_and_unreachable_server() -> None:
    with pytest.raises(AuditStoreError, match="identifier"):
        PostgresAuditStore("host=127.0.0.1 port=1", signer(), table="x; DROP TABLE y")
    with pytest.raises(AuditStoreError, match="cannot connect"):
        PostgresAuditStore("host=127.0.0.1 port=1 connect_timeout=2", signer())


def test_threads_do_not_fork_the_chain(pg_dsn: str) -> None:
    s = signer()
    with PostgresAuditStore(pg_dsn, s) as store:
        acked: list[Any] = []
        lock = threading.Lock()

        def write(w: int) -> None:
            for i in range(25):
                rec = store.append({"w": w, "i": i})
                with lock:
                    acked.append(rec)

        threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = list(store.records())
        assert [r.seq for r in stored] == list(range(150))
        assert sorted(acked, key=lambda r: r.seq) == stored
        assert Verifier(s.jwks()).verify_records(stored) == []
