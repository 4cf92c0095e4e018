"""Load: 8 writer processes append concurrently; no fork, no gap, every acknowledged record present.

Default sizes are CI-sized (PostgreSQL 8 x 500, SQLite 8 x 200); ``KMSCONFORM_LOAD_FULL=1`` runs
the full sizes (PostgreSQL 8 x 10,000, SQLite 8 x 2,000), marked ``slow``. Figures in
``docs/reliability.md``. Set ``KMSCONFORM_LOAD_REPORT=path.json`` to append the measured figures.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing
from pytest_kmsconform.reference_impl.verifier import Verifier

WRITERS = 8
FULL = os.environ.get("KMSCONFORM_LOAD_FULL") == "1"
WRITER_SCRIPT = Path(__file__).with_name("store_writer.py")


def load_ring() -> KeyRing:
    """The key every writer derives (same seed, same label, valid since 2020)."""
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    ring = KeyRing(LocalKeyBackend(seed=b"kmsconform-load-test"), Algorithm.ED25519, "load", clock=lambda: epoch)
    ring.rotate()
    return ring


def run_writers(kind: str, target: str, count: int, tmp_path: Path) -> tuple[list[list[dict[str, Any]]], float]:
    start = time.perf_counter()
    procs = []
    for w in range(WRITERS):
        out = tmp_path / f"writer{w}.jsonl"
        cmd = [sys.executable, str(WRITER_SCRIPT), "--kind", kind, "--target", target, "--writer", str(w)]
        cmd += ["--count", str(count), "--out", str(out)]
        procs.append((subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True), out))
    results = []
    for proc, out in procs:
        _, err = proc.communicate(timeout=3600)
        assert proc.returncode == 0, err[-2000:]
        results.append([json.loads(line) for line in out.read_text().splitlines()])
    return results, time.perf_counter() - start


def check(store: Any, results: list[list[dict[str, Any]]], count: int, elapsed: float, label: str) -> None:
    errors = [r for res in results for r in res if "error" in r]
    assert errors == [], errors[:5]
    stored = list(store.records())
    total = WRITERS * count
    assert [r.seq for r in stored] == list(range(total)), "gap or duplicate seq"
    for prev, rec in itertools.pairwise(stored):
        assert rec.prev_hash == prev.hash, f"fork at seq {rec.seq}"
    assert Verifier(load_ring().jwks()).verify_records(stored) == []
    by_seq = {r.seq: r for r in stored}
    seen_payloads = set()
    for w, res in enumerate(results):
        acked = [r for r in res if "seq" in r]
        assert len(acked) == count
        for ack in acked:
            rec = by_seq[ack["seq"]]  # every acknowledged record is present, byte for byte
            assert (rec.hash, rec.payload) == (ack["hash"], {"writer": w, "i": ack["i"]})
            seen_payloads.add((w, ack["i"]))
    assert len(seen_payloads) == total  # nothing duplicated
    rate = total / elapsed
    worst = max(res[-1]["elapsed_s"] for res in results)
    line = {
        "store": label,
        "writers": WRITERS,
        "per_writer": count,
        "total": total,
        "elapsed_s": round(elapsed, 2),
        "appends_per_s": round(rate, 1),
        "slowest_writer_s": round(worst, 2),
    }
    print(json.dumps(line))
    report = os.environ.get("KMSCONFORM_LOAD_REPORT")
    if report:
        with open(report, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")


def _size(default: int, full: int) -> int:
    return full if FULL else default


@pytest.mark.slow
def test_postgres_eight_writer_processes(pg_dsn: str, tmp_path: Path) -> None:
    from pytest_kmsconform.reference_impl.audit.postgres import PostgresAuditStore
    from pytest_kmsconform.reference_impl.keyring import RingSigner

    count = _size(500, 10_000)
    results, elapsed = run_writers("postgres", pg_dsn, count, tmp_path)
    ring = load_ring()
    with PostgresAuditStore(pg_dsn, RingSigner(ring)) as store:
        check(store, results, count, elapsed, "postgresql")


@pytest.mark.slow
def test_sqlite_wal_eight_writer_processes(tmp_path: Path) -> None:
    from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
    from pytest_kmsconform.reference_impl.keyring import RingSigner

    count = _size(200, 2_000)
    db = tmp_path / "audit.db"
    ring = load_ring()
    SqliteAuditStore(db, RingSigner(ring)).close()  # create the schema (WAL) before the writers race
    results, elapsed = run_writers("sqlite", str(db), count, tmp_path)
    with SqliteAuditStore(db, RingSigner(ring)) as store:
        mode = store._conn().execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        check(store, results, count, elapsed, "sqlite-wal")
