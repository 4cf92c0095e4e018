"""Benchmark 2: appends to the SQLite audit store with the local ed25519 signer, beside raw signing.

Each append canonicalizes, takes the write lock, signs (and checks the signature against the
public key), inserts and commits; the baseline is the bare signer call on the same key.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench_lib import BenchResult, rate
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner


def run(count: int) -> list[BenchResult]:
    ring = KeyRing(LocalKeyBackend(seed=b"kmsconform-bench"), Algorithm.ED25519, "bench")
    version = ring.rotate()
    signer = RingSigner(ring)
    digest = os.urandom(32)
    start = time.perf_counter()
    for _ in range(count):
        ring.backend.sign(version.key, digest)
    raw = rate(count, time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(count):
        signer.sign_digest(digest)
    checked = rate(count, time.perf_counter() - start)
    with tempfile.TemporaryDirectory(prefix="kmsconform-bench-") as tmp:
        store = SqliteAuditStore(Path(tmp, "audit.db"), signer)
        start = time.perf_counter()
        for i in range(count):
            store.append({"event": "approval", "n": i})
        appended = rate(count, time.perf_counter() - start)
        store.close()
    return [
        BenchResult(
            "sqlite append (local ed25519)",
            appended,
            "records/s",
            "raw local ed25519 sign",
            raw,
            notes={"signer_with_verify_before_return": round(checked, 1), "records": count},
        ),
    ]
