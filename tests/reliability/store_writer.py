"""One writer process of the audit-store load test (run as a script, not collected by pytest).

Appends ``--count`` records ``{"writer": W, "i": i}`` to a SQLite file or a PostgreSQL DSN, signing
with a seeded Ed25519 key (every writer derives the same key), and writes one JSON line per
acknowledged record (``seq``, ``hash``, ``i``) to ``--out``. Failed appends are written as
``{"error": ...}`` lines: the parent checks that none was acknowledged and then lost.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime

from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner

LOAD_SEED = b"kmsconform-load-test"
KEY_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)  # the key is valid from here: records made now verify


def make_signer() -> RingSigner:
    ring = KeyRing(LocalKeyBackend(seed=LOAD_SEED), Algorithm.ED25519, "load", clock=lambda: KEY_EPOCH)
    ring.rotate()
    return RingSigner(ring)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["sqlite", "postgres"], required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--writer", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    signer = make_signer()
    if args.kind == "sqlite":
        from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore

        store: object = SqliteAuditStore(args.target, signer, busy_timeout=300)
    else:
        from pytest_kmsconform.reference_impl.audit.postgres import PostgresAuditStore

        store = PostgresAuditStore(args.target, signer, lock_timeout=300)
    start = time.perf_counter()
    with open(args.out, "w", encoding="utf-8") as out:
        for i in range(args.count):
            try:
                rec = store.append({"writer": args.writer, "i": i})  # type: ignore[attr-defined]
            except Exception as exc:  # recorded, the parent fails the test on any
                out.write(json.dumps({"i": i, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
                continue
            out.write(json.dumps({"i": i, "seq": rec.seq, "hash": rec.hash}) + "\n")
        out.write(json.dumps({"elapsed_s": time.perf_counter() - start}) + "\n")
    store.close()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
