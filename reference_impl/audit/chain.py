"""Appending to a hash chain, written once for every audit store (seed 001's audit flow).

A store gives a write transaction that holds the chain's head (:meth:`ChainedStore._head_locked`)
and an insert; :class:`ChainedStore` does the rest: canonicalize, digest
``SHA256(canonical || prev_hash)``, sign BEFORE the commit, link checks for imported records. An
exception anywhere in the transaction rolls it back: nothing is written.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from ..canonical import audit_digest, canonicalize_payload, loads_canonical
from ..clock import Clock, format_time, parse_time
from ..errors import AuditStoreError
from ..signature import Signature
from ..signer import Signer
from .records import AuditRecord


def normalise_ts(ts: str | datetime | None, clock: Clock) -> str:
    """The record time as RFC 3339 (now when ``None``); naive or malformed times are refused."""
    if ts is None:
        return format_time(clock())
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise AuditStoreError("record ts must be timezone-aware")
        return format_time(ts)
    try:
        parse_time(ts)
    except ValueError as exc:
        raise AuditStoreError(f"record ts is not RFC 3339: {exc}") from None
    return ts


class ChainedStore(ABC):
    """``append``, ``append_record`` and ``record_key_event`` over a store's transaction and insert."""

    signer: Signer
    _clock: Clock

    @abstractmethod
    def _head_locked(self, action: str) -> AbstractContextManager[tuple[Any, int, str | None]]:
        """Begin a write transaction that holds the head; yield ``(connection, next seq, prev_hash)``.
        Commit when the block ends, roll back (and re-raise, typed) when it raises."""

    @abstractmethod
    def _insert(
        self, conn: Any, seq: int, ts: str, canonical: bytes, prev_hash: str | None, digest: str, signature: Signature
    ) -> None:
        """Insert one record inside the transaction."""

    def append(self, payload: Any, *, ts: str | datetime | None = None) -> AuditRecord:
        canonical = canonicalize_payload(payload)  # before the lock: it does not depend on the head
        stamp = normalise_ts(ts, self._clock)
        with self._head_locked("append") as (conn, seq, prev_hash):
            digest = audit_digest(canonical, prev_hash).hex()
            signature = self.signer.sign_digest(bytes.fromhex(digest))  # sign BEFORE commit
            self._insert(conn, seq, stamp, canonical, prev_hash, digest, signature)
        return AuditRecord(
            seq=seq, ts=stamp, payload=loads_canonical(canonical), prev_hash=prev_hash, hash=digest, signature=signature
        )

    def record_key_event(self, event: dict[str, Any]) -> None:
        """An ``event_sink`` for :class:`~..keyring.KeyRing`: key events become audit records."""
        self.append(event)

    def append_record(self, record: AuditRecord) -> None:
        """Append an existing record verbatim (archive import): it must be the digest of its payload
        and link onto the head; it is not re-signed."""
        canonical = canonicalize_payload(record.payload)
        if audit_digest(canonical, record.prev_hash).hex() != record.hash:
            raise AuditStoreError(f"record {record.seq}: hash is not the digest of its payload")
        stamp = normalise_ts(record.ts, self._clock)
        with self._head_locked("import") as (conn, seq, prev_hash):
            if record.seq != seq or record.prev_hash != prev_hash:
                raise AuditStoreError(
                    f"record {record.seq} does not link onto the head (expected seq {seq}, prev_hash {prev_hash})"
                )
            self._insert(conn, seq, stamp, canonical, prev_hash, record.hash, record.signature)
