"""Shared material for the suites: reference keys and verifier, digests, archives and their tampering.

Set-up material is always well formed; only the input a check is about carries the defect.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.audit.archive import export_archive
from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.canonical import canonicalize_payload, compute_audit_digest
from pytest_kmsconform.reference_impl.clock import parse_time
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signature import Signature, b64url_encode
from pytest_kmsconform.reference_impl.verifier import Verifier

from pytest_kmsconform.adapter import ImplSigner
from pytest_kmsconform.implementation import Memo

OTHER_ALG: dict[Algorithm, Algorithm] = {
    Algorithm.ED25519: Algorithm.ECDSA_P256_SHA256,
    Algorithm.ECDSA_P256_SHA256: Algorithm.ED25519,
    Algorithm.RSA_SHA256: Algorithm.RSA_PSS_SHA256,
    Algorithm.RSA_PSS_SHA256: Algorithm.RSA_SHA256,
    Algorithm.HMAC_SHA256: Algorithm.ED25519,
}
"""For the changed-alg check: a different algorithm a verifier could be fooled into using."""


def digest(n: int | str) -> bytes:
    """A deterministic 32-byte audit digest."""
    return hashlib.sha256(f"kmsconform-digest-{n}".encode()).digest()


def now() -> datetime:
    return datetime.now(UTC)


def flip_bit(data: bytes, index: int = -1) -> bytes:
    """``data`` with the low bit of one byte flipped (the last by default)."""
    buf = bytearray(data)
    buf[index] ^= 0x01
    return bytes(buf)


def reference_verifier(jwks: Mapping[str, Any]) -> Verifier:
    """The reference air-gapped verifier over ``jwks`` alone."""
    return Verifier(jwks)


@dataclass
class ReferenceKey:
    """A reference key ring on the local backend; ``signer`` signs with its active version."""

    ring: KeyRing
    signer: RingSigner

    @classmethod
    def create(cls, alg: Algorithm, label: str) -> ReferenceKey:
        ring = KeyRing(LocalKeyBackend(), alg, label)
        ring.rotate()
        return cls(ring, RingSigner(ring))


def merged_jwks(*sets: Mapping[str, Any]) -> dict[str, Any]:
    return {"keys": [member for s in sets for member in s.get("keys", [])]}


def jwks_member(jwks: Mapping[str, Any], kid: str) -> dict[str, Any] | None:
    for member in jwks.get("keys", []):
        if isinstance(member, dict) and member.get("kid") == kid:
            return member
    return None


def member_time(member: Mapping[str, Any], name: str) -> datetime | None:
    value = member.get(name)
    return parse_time(value) if isinstance(value, str) else None


PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth")


def secret_members(jwks: Mapping[str, Any]) -> list[str]:
    """Descriptions of every private or symmetric part published in a key set."""
    found = []
    for member in jwks.get("keys", []):
        if not isinstance(member, dict):
            found.append(f"non-object member {member!r}")
            continue
        leaked = [name for name in PRIVATE_MEMBERS if name in member]
        if leaked or member.get("kty") == "oct":
            found.append(f"{member.get('kid')!r} publishes {leaked or ['kty=oct']}")
    return found


# -- chains ----------------------------------------------------------------------------------
def chain_problems(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Structural problems of a record list: genesis, seq, prev_hash links, hash = digest(payload)."""
    problems: list[str] = []
    prev: str | None = None
    for i, rec in enumerate(records):
        if rec.get("seq") != i:
            problems.append(f"record {i}: seq {rec.get('seq')!r}")
        if rec.get("prev_hash") != prev:
            problems.append(f"record {i}: prev_hash does not link to record {i - 1}")
        expected = compute_audit_digest(canonicalize_payload(rec.get("payload")), rec.get("prev_hash"))
        if rec.get("hash") != expected:
            problems.append(f"record {i}: hash is not SHA256(canonical(payload) || prev_hash)")
        prev = rec.get("hash")
    return problems


def signature_problems(records: Sequence[Mapping[str, Any]], signer: ImplSigner) -> list[str]:
    """Records whose signature does not verify: from the JWKS alone when asymmetric, else online."""
    problems = []
    verifier = reference_verifier(signer.jwks()) if not signer.alg.is_symmetric else None
    for i, rec in enumerate(records):
        try:
            sig = Signature.from_json(rec["signature"])
            value = bytes.fromhex(str(rec["hash"]))
            if verifier is not None:
                verifier.verify_signature(value, sig, at=parse_time(str(rec["ts"])))
            else:
                signer.verify_signature(value, sig)
        except Exception as exc:  # collected: the check reports every bad record
            problems.append(f"record {i}: {type(exc).__name__}: {exc}")
    return problems


# -- archives --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Archive:
    """An archive split into its lines: header, records (parsed), checkpoint."""

    header: dict[str, Any]
    records: list[dict[str, Any]]
    checkpoint: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> Archive:
        lines = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
        return cls(lines[0], lines[1:-1], lines[-1])

    def write(self, path: Path) -> Path:
        objs = [self.header, *self.records, self.checkpoint]
        path.write_bytes(b"".join(canonicalize_payload(o) + b"\n" for o in objs))
        return path

    def with_records(self, records: list[dict[str, Any]]) -> Archive:
        return Archive(self.header, records, self.checkpoint)


def build_reference_archive(key: ReferenceKey, path: Path, n: int) -> Path:
    """A valid archive of ``n`` records signed by ``key`` (via the reference SQLite store)."""
    db = path.with_suffix(".sqlite")
    store = SqliteAuditStore(db, key.signer)
    try:
        for i in range(n):
            store.append({"type": "approval", "n": i, "note": f"record {i}"})
        export_archive(store, path, key.signer)
    finally:
        store.close()
    return path


ARCHIVE_RECORDS = 6


def memo_archive(memo: Memo, alg: Algorithm, tmp_factory: pytest.TempPathFactory) -> tuple[Archive, ReferenceKey]:
    """A session-shared intact reference archive for ``alg`` and the key that signed it."""

    def build() -> tuple[Archive, ReferenceKey]:
        key = ReferenceKey.create(alg, "archive")
        path = build_reference_archive(key, tmp_factory.mktemp("archive") / "audit.jsonl", ARCHIVE_RECORDS)
        return Archive.read(path), key

    return memo.get(("archive", alg), build)


Tamper = Callable[[Archive, ReferenceKey], Archive]


def edit_payload(i: int) -> Tamper:
    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        recs[i]["payload"] = {**recs[i]["payload"], "note": "edited"}
        return a.with_records(recs)

    return apply


def delete(i: int) -> Tamper:
    return lambda a, intruder: a.with_records([r for k, r in enumerate(a.records) if k != i])


def swap(i: int) -> Tamper:
    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = list(a.records)
        recs[i], recs[i + 1] = recs[i + 1], recs[i]
        return a.with_records(recs)

    return apply


def insert_copy(i: int) -> Tamper:
    """Insert a copy of record ``i - 1`` at position ``i`` (a replayed record)."""
    return lambda a, intruder: a.with_records([*a.records[:i], dict(a.records[i - 1]), *a.records[i:]])


def truncate_tail(k: int) -> Tamper:
    return lambda a, intruder: a.with_records(a.records[:-k])


def resign_unknown(i: int) -> Tamper:
    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        sig = intruder.signer.sign_digest(bytes.fromhex(recs[i]["hash"]))
        recs[i]["signature"] = sig.to_json()
        return a.with_records(recs)

    return apply


def alter_prev_hash(i: int) -> Tamper:
    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        recs[i]["prev_hash"] = hashlib.sha256(b"not the previous record").hexdigest()
        return a.with_records(recs)

    return apply


def flip_signature(i: int) -> Tamper:
    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        sig = Signature.from_json(recs[i]["signature"])
        recs[i]["signature"] = {**recs[i]["signature"], "sig": b64url_encode(flip_bit(sig.value, 5))}
        return a.with_records(recs)

    return apply


def later(at: datetime, seconds: float = 1.0) -> datetime:
    return at + timedelta(seconds=seconds)
