"""Benchmark 1: streaming verification of an ed25519 audit archive, beside raw PyNaCl verify.

The archive is generated once per run (not timed). Verification runs in a child process so its
peak RSS can be read; memory must stay flat in the archive size, so a tenth-size archive is
verified too and the two peaks are compared.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
from bench_lib import BenchResult, rate
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.archive import export_archive
from pytest_kmsconform.reference_impl.audit.records import AuditRecord
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.clock import format_time, utc_now
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signature import Signature

from pytest_kmsconform import PRODUCER


class GeneratedChain:
    """``count`` chained records signed by ``signing_key``; only ``records()`` is needed to export."""

    def __init__(self, count: int, signing_key: nacl.signing.SigningKey, kid: str) -> None:
        self.count, self._key, self._kid = count, signing_key, kid

    def records(self, start: int = 0) -> Iterator[AuditRecord]:
        prev: str | None = None
        ts = format_time(utc_now())
        for seq in range(self.count):
            payload = {"event": "approval", "seq": seq, "actor": f"agent-{seq % 97}", "amount": seq * 7}
            digest = audit_digest(canonicalize_payload(payload), prev).hex()
            sig = self._key.sign(bytes.fromhex(digest)).signature
            yield AuditRecord(
                seq=seq,
                ts=ts,
                payload=payload,
                prev_hash=prev,
                hash=digest,
                signature=Signature(self._kid, Algorithm.ED25519, sig),
            )
            prev = digest


def build_archive(path: Path, count: int) -> dict[str, Any]:
    """Write an archive of ``count`` records; return its JWKS."""
    ring = KeyRing(LocalKeyBackend(seed=b"kmsconform-bench"), Algorithm.ED25519, "bench")
    version = ring.rotate()
    raw = ring.backend._material(version.key)  # the seeded private key, for fast generation
    seed = raw.private_bytes_raw()  # type: ignore[union-attr]
    chain = GeneratedChain(count, nacl.signing.SigningKey(seed), version.kid)
    export_archive(chain, path, RingSigner(ring), producer=PRODUCER)  # type: ignore[arg-type]
    return ring.jwks()


def raw_verify_rate(count: int) -> float:
    """PyNaCl (libsodium) ed25519 verifications per second over 32-byte messages, one process."""
    key = nacl.signing.SigningKey(b"\x01" * 32)
    verify_key = key.verify_key
    items = [(hashlib.sha256(i.to_bytes(8, "big")).digest(),) for i in range(count)]
    signed = [key.sign(m[0]) for m in items]
    start = time.perf_counter()
    for s in signed:
        verify_key.verify(s.message, s.signature)
    return rate(count, time.perf_counter() - start)


# Peak RSS from VmHWM: ru_maxrss survives fork/exec on Linux, so it would report the parent's peak.
_CHILD = """
import json, sys, time
from pytest_kmsconform.reference_impl.verifier import Verifier
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1
if __name__ == "__main__":
    jwks = json.loads(open(sys.argv[2]).read())
    start = time.perf_counter()
    findings = Verifier(jwks).verify_archive(sys.argv[1], workers=int(sys.argv[3]))
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "findings": len(findings), "maxrss_kb": peak_kb()}))
"""


def verify_in_child(archive: Path, jwks_path: Path, workers: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(archive), str(jwks_path), str(workers)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["findings"]:
        raise RuntimeError(f"benchmark archive did not verify cleanly: {result}")
    return result


def run(count: int) -> list[BenchResult]:
    with tempfile.TemporaryDirectory(prefix="kmsconform-bench-") as tmp:
        archive, small = Path(tmp, "archive.jsonl"), Path(tmp, "small.jsonl")
        jwks = build_archive(archive, count)
        build_archive(small, max(1000, count // 10))
        jwks_path = Path(tmp, "jwks.json")
        jwks_path.write_text(json.dumps(jwks))
        # the small archive has a different key (seeded identically: same label/seed -> same key)
        baseline = raw_verify_rate(min(count, 50_000))
        one = verify_in_child(archive, jwks_path, 1)
        two = verify_in_child(archive, jwks_path, 2)
        small_run = verify_in_child(small, jwks_path, 1)
    single = rate(count, one["seconds"])
    double = rate(count, two["seconds"])
    memory = {"maxrss_kb_full": one["maxrss_kb"], "maxrss_kb_tenth": small_run["maxrss_kb"], "archive_records": count}
    return [
        BenchResult(
            "archive verify, 1 process",
            single,
            "records/s",
            "raw PyNaCl ed25519 verify",
            baseline,
            goal=">= 0.8",
            notes=memory,
        ),
        BenchResult(
            "archive verify, 2 workers",
            double,
            "records/s",
            "archive verify, 1 process",
            single,
            goal=">= 1.8",
            notes={"maxrss_kb_parent": two["maxrss_kb"]},
        ),
    ]
