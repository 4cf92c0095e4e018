"""Mutants of the audit chain and its store (seed 001: digest formula, sign before commit, one
transaction per append)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pytest_kmsconform.mutation import mutant

AUDIT = "audit"


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:normalise_ts",
    bug="control: the identity (changes nothing)",
    violates="nothing",
    backends=("mock",),
    select="append_export_verify",
    control=True,
    fast=True,
)
def control_identity(original: Any) -> Any:
    return original


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:canonicalize_payload",
    bug="canonicalization: sorted json.dumps (agrees with RFC 8785 on ASCII and small integers)",
    violates="seed 001 (Digest formula: canonical payload); RFC 8785 sections 3.2.2.3 and 3.2.3",
    backends=("mock",),
    select="append_export_verify",
    fast=True,
)
def sorted_json_dumps(original: Any) -> Any:
    def canonicalize_payload(payload: Any) -> bytes:
        return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    return canonicalize_payload


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:canonicalize_payload",
    bug="canonicalization: sorted json.dumps with ASCII escapes (\\u00e9 instead of UTF-8)",
    violates="RFC 8785 section 3.2.2.2 (strings are not escaped beyond JSON's minimum)",
    select=AUDIT,
)
def ascii_escaped_json(original: Any) -> Any:
    def canonicalize_payload(payload: Any) -> bytes:
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()

    return canonicalize_payload


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:canonicalize_payload",
    bug="canonicalization: numbers through float and '%.15g' (loses integers next to 2**53)",
    violates="RFC 8785 section 3.2.2.3 (ES6 number serialization); I-JSON (RFC 7493) 2**53 range",
    select=AUDIT,
)
def float_numbers(original: Any) -> Any:
    def squash(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: squash(v) for k, v in value.items()}
        if isinstance(value, list):
            return [squash(v) for v in value]
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(f"{value:.15g}")
            return int(number) if number.is_integer() and abs(number) < 1e21 else number
        return value

    def canonicalize_payload(payload: Any) -> bytes:
        return original(squash(payload))

    return canonicalize_payload


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:audit_digest",
    bug="digest over the previous hash's hex text instead of its 32 raw bytes",
    violates="seed 001 (Digest formula: prev_hash bytes); docs/spec.md section 4",
    select=AUDIT,
)
def digest_over_hex_prev(original: Any) -> Any:
    def audit_digest(canonical: bytes, prev_hash: str | None) -> bytes:
        h = hashlib.sha256(canonical)
        if prev_hash is not None:
            h.update(prev_hash.encode())
        return h.digest()

    return audit_digest


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:audit_digest",
    bug="digest with the previous hash first: SHA256(prev_hash || canonical)",
    violates="seed 001 (Digest formula: SHA256(canonical || prev_hash))",
    backends=("mock",),
    select=AUDIT,
)
def digest_prev_first(original: Any) -> Any:
    def audit_digest(canonical: bytes, prev_hash: str | None) -> bytes:
        prefix = bytes.fromhex(prev_hash) if prev_hash is not None else b""
        return hashlib.sha256(prefix + canonical).digest()

    return audit_digest


@mutant(
    "pytest_kmsconform.reference_impl.audit.store:SqliteAuditStore._head_locked",
    bug="concurrency: head read in a deferred transaction (no write lock until the insert)",
    violates="seed 001 (hash, prev_hash, signature stored inside one DB transaction)",
    backends=("mock",),
    select="concurrent",
    fast=True,
)
def unlocked_head_read(original: Any) -> Any:
    import contextlib

    @contextlib.contextmanager
    def _head_locked(self: Any, action: str) -> Any:
        conn = self._conn()
        conn.execute("BEGIN")  # deferred: two appenders read the same head
        try:
            row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
            yield (conn, 0, None) if row is None else (conn, row[0] + 1, row[1])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    return _head_locked


@mutant(
    "pytest_kmsconform.reference_impl.audit.store:SqliteAuditStore._head_locked",
    bug="concurrency: head read outside the transaction, then BEGIN IMMEDIATE for the insert",
    violates="seed 001 (hash, prev_hash, signature stored inside one DB transaction)",
    backends=("mock",),
    select="concurrent",
)
def head_read_then_lock(original: Any) -> Any:
    import contextlib

    @contextlib.contextmanager
    def _head_locked(self: Any, action: str) -> Any:
        conn = self._conn()
        row = conn.execute("SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield (conn, 0, None) if row is None else (conn, row[0] + 1, row[1])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    return _head_locked


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:ChainedStore.append",
    bug="atomicity: the record is committed first and signed afterwards (left unsigned on failure)",
    violates="seed 001 (Signing happens before DB commit; if signing fails the transaction rolls back)",
    select=AUDIT,
)
def commit_before_sign(original: Any) -> Any:
    from pytest_kmsconform.reference_impl.audit.records import AuditRecord
    from pytest_kmsconform.reference_impl.signature import Signature

    def append(self: Any, payload: Any, *, ts: Any = None) -> Any:
        from pytest_kmsconform.reference_impl.audit import chain

        canonical = chain.canonicalize_payload(payload)
        stamp = chain.normalise_ts(ts, self._clock)
        with self._head_locked("append") as (conn, seq, prev_hash):
            digest = chain.audit_digest(canonical, prev_hash).hex()
            placeholder = Signature("pending", self.signer.alg, b"\0")
            self._insert(conn, seq, stamp, canonical, prev_hash, digest, placeholder)
        signature = self.signer.sign_digest(bytes.fromhex(digest))
        conn.execute("UPDATE audit_records SET kid = ?, sig = ? WHERE seq = ?", (signature.kid, signature.value, seq))
        payload_out = chain.loads_canonical(canonical)
        return AuditRecord(
            seq=seq, ts=stamp, payload=payload_out, prev_hash=prev_hash, hash=digest, signature=signature
        )

    return append


@mutant(
    "pytest_kmsconform.reference_impl.audit.store:SqliteAuditStore._head_locked",
    bug="chain: seq counts from 1 (the genesis record is seq 1)",
    violates="docs/spec.md section 5 (seq counts from 0 without gaps)",
    select=AUDIT,
)
def seq_from_one(original: Any) -> Any:
    import contextlib

    @contextlib.contextmanager
    def _head_locked(self: Any, action: str) -> Any:
        with original(self, action) as (conn, seq, prev_hash):
            yield conn, seq + (1 if prev_hash is None else 0), prev_hash

    return _head_locked


@mutant(
    "pytest_kmsconform.reference_impl.audit.store:SqliteAuditStore._head_locked",
    bug="chain: the genesis record links to 64 zeros instead of null",
    violates="seed 001 (genesis prev_hash); docs/spec.md section 4 (genesis contributes no bytes)",
    backends=("mock",),
    select=AUDIT,
)
def genesis_zero_hash(original: Any) -> Any:
    import contextlib

    @contextlib.contextmanager
    def _head_locked(self: Any, action: str) -> Any:
        with original(self, action) as (conn, seq, prev_hash):
            yield conn, seq, prev_hash if seq else "0" * 64

    return _head_locked


@mutant(
    "pytest_kmsconform.reference_impl.audit.chain:ChainedStore.record_key_event",
    bug="key events are not written to the audit log",
    violates="seed 000 (ensure audit logs document revocation events)",
    select="revocation",
)
def key_events_dropped(original: Any) -> Any:
    def record_key_event(self: Any, event: dict[str, Any]) -> None:
        return None

    return record_key_event


@mutant(
    "pytest_kmsconform.reference_impl.audit.dbverify:_usable_checkpoints",
    bug="verifyTool: the rows' links, hashes and signatures only; the archive index's signed checkpoints unread",
    violates="seed 001 (Archive audits, Verify audits); docs/spec.md section 6a (every row a checkpoint signed)",
    select="archived_then_deleted",
)
def archive_index_ignored(original: Any) -> Any:
    def _usable_checkpoints(verifier: Any, entries: Any, out: Any) -> list[Any]:
        return []

    return _usable_checkpoints
