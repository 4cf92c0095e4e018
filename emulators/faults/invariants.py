"""What must hold of an audit log after appends under faults (used by the tests and the suite).

:func:`drive` appends numbered payloads and keeps what was acknowledged and what failed;
:func:`audit_problems` checks the stored records: contiguous ``seq``, an unbroken hash chain, every
hash the digest of its payload, every signature valid, every acknowledged record present exactly
once and nothing stored twice. An empty list means the log is sound.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload
from pytest_kmsconform.reference_impl.errors import KmsConformError
from pytest_kmsconform.reference_impl.signature import Signature


@dataclass
class Outcome:
    """Appends made by :func:`drive`: the acknowledged records, the failures, time per append."""

    acked: list[Mapping[str, Any]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def untyped(self) -> list[Exception]:
        """Failures that are not typed errors of the reference implementation."""
        return [e for e in self.failures if not isinstance(e, KmsConformError)]


def drive(append: Callable[[dict[str, Any]], Any], count: int, run: str) -> Outcome:
    """Append ``{"run": run, "n": i}`` for ``i < count``; exceptions are collected, not raised."""
    out = Outcome()
    for i in range(count):
        start = time.monotonic()
        try:
            rec = append({"run": run, "n": i})
        except Exception as exc:  # the point is to see every failure, typed or not
            out.failures.append(exc)
        else:
            out.acked.append(rec.to_json() if hasattr(rec, "to_json") else dict(rec))
        out.seconds.append(time.monotonic() - start)
    return out


Verify = Callable[[bytes, Signature], None]


def audit_problems(
    records: Sequence[Mapping[str, Any]], acked: Sequence[Mapping[str, Any]], verify: Verify
) -> list[str]:
    """Every violation of the audit-log invariants, as messages (empty: all hold)."""
    problems: list[str] = []
    prev: str | None = None
    payloads: set[bytes] = set()
    by_hash: dict[str, Mapping[str, Any]] = {}
    for index, rec in enumerate(records):
        if rec.get("seq") != index:
            problems.append(f"record {index}: seq {rec.get('seq')} (gap or reorder)")
        if rec.get("prev_hash") != prev:
            problems.append(f"record {index}: prev_hash does not link to the previous record (fork)")
        try:
            canonical = canonicalize_payload(rec.get("payload"))
            digest = audit_digest(canonical, rec.get("prev_hash")).hex()
        except KmsConformError as exc:
            problems.append(f"record {index}: cannot recompute its digest: {exc}")
            prev = rec.get("hash")
            continue
        if digest != rec.get("hash"):
            problems.append(f"record {index}: hash is not the digest of its payload")
        if canonical in payloads:
            problems.append(f"record {index}: payload stored twice (duplicate on retry)")
        payloads.add(canonical)
        try:
            verify(bytes.fromhex(digest), Signature.from_json(rec["signature"]))
        except Exception as exc:  # any rejection is a problem to report, whatever its type
            problems.append(f"record {index}: signature does not verify ({type(exc).__name__})")
        by_hash[str(rec.get("hash"))] = rec
        prev = rec.get("hash")
    for ack in acked:
        stored = by_hash.get(str(ack.get("hash")))
        if stored is None:
            problems.append(f"acknowledged record seq {ack.get('seq')} is missing (lost)")
        elif stored.get("payload") != ack.get("payload") or stored.get("seq") != ack.get("seq"):
            problems.append(f"acknowledged record seq {ack.get('seq')} differs from what is stored")
    return problems
