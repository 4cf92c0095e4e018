"""Benchmark 1b: streaming verification of an ML-DSA-65 audit archive, beside the raw ``cryptography``
ML-DSA-65 verify rate (one process, the same 32-byte messages, empty context).

ML-DSA records take the verifier's general path (the fast path is Ed25519's), and each line carries a
3,309-byte signature (4,412 base64url characters), so the archive is about 4.5 KB a record. The
archive is generated once per run (not timed); verification runs in a child process, as in
``bench_archive``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_archive import verify_in_child
from bench_lib import BenchResult, rate
from cryptography.hazmat.primitives.asymmetric import mldsa
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.archive import export_archive
from pytest_kmsconform.reference_impl.audit.records import AuditRecord
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.canonical import canonicalize_payload, compute_audit_digest
from pytest_kmsconform.reference_impl.clock import format_time, utc_now
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import ML_DSA_CONTEXT
from pytest_kmsconform.reference_impl.signature import Signature

ALG = Algorithm.ML_DSA_65


class GeneratedChain:
    """``count`` chained records signed with ``key`` (pure ML-DSA-65 over each digest, empty context)."""

    def __init__(self, count: int, key: mldsa.MLDSA65PrivateKey, kid: str) -> None:
        self.count, self._key, self._kid = count, key, kid

    def records(self, start: int = 0) -> Iterator[AuditRecord]:
        prev: str | None = None
        ts = format_time(utc_now())
        for seq in range(self.count):
            payload = {"event": "approval", "seq": seq, "actor": f"agent-{seq % 97}", "amount": seq * 7}
            digest = compute_audit_digest(canonicalize_payload(payload), prev)
            sig = self._key.sign(bytes.fromhex(digest), ML_DSA_CONTEXT)
            yield AuditRecord(
                seq=seq, ts=ts, payload=payload, prev_hash=prev, hash=digest, signature=Signature(self._kid, ALG, sig)
            )
            prev = digest


def build_archive(path: Path, count: int) -> dict[str, Any]:
    ring = KeyRing(LocalKeyBackend(seed=b"kmsconform-bench"), ALG, "bench-pq")
    version = ring.rotate()
    key = ring.backend._material(version.key)  # type: ignore[attr-defined]
    assert isinstance(key, mldsa.MLDSA65PrivateKey)
    export_archive(GeneratedChain(count, key, version.kid), path, RingSigner(ring))  # type: ignore[arg-type]
    return ring.jwks()


def raw_verify_rate(count: int) -> float:
    """``cryptography`` (OpenSSL) ML-DSA-65 verifications per second over 32-byte messages."""
    key = mldsa.MLDSA65PrivateKey.from_seed_bytes(b"\x01" * 32)
    public = key.public_key()
    messages = [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(count)]
    signed = [(m, key.sign(m)) for m in messages]
    start = time.perf_counter()
    for message, signature in signed:
        public.verify(signature, message)
    return rate(count, time.perf_counter() - start)


def run(count: int) -> list[BenchResult]:
    with tempfile.TemporaryDirectory(prefix="kmsconform-bench-pq-") as tmp:
        archive = Path(tmp, "archive.jsonl")
        jwks_path = Path(tmp, "jwks.json")
        jwks_path.write_text(json.dumps(build_archive(archive, count)))
        size = archive.stat().st_size
        baseline = raw_verify_rate(min(count, 20_000))
        one = verify_in_child(archive, jwks_path, 1)
        two = verify_in_child(archive, jwks_path, 2)
    single = rate(count, one["seconds"])
    double = rate(count, two["seconds"])
    return [
        BenchResult(
            "ml-dsa-65 archive verify, 1 process",
            single,
            "records/s",
            "raw cryptography ml-dsa-65 verify",
            baseline,
            notes={"archive_records": count, "archive_bytes": size, "maxrss_kb": one["maxrss_kb"]},
        ),
        BenchResult(
            "ml-dsa-65 archive verify, 2 workers",
            double,
            "records/s",
            "ml-dsa-65 archive verify, 1 process",
            single,
            notes={"maxrss_kb_parent": two["maxrss_kb"]},
        ),
    ]
