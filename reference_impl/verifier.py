"""The air-gapped verifier: signatures, audit chains and archives, from a JWKS alone.

Nothing here opens a socket or resolves a name. HMAC keys never appear in a JWKS; a verifier of
HMAC-signed chains is given their secrets explicitly (``hmac_secrets``). The key set and each key's
validity in time are :mod:`.keyset`; findings and the chain rules :mod:`.findings`; reading an
archive :mod:`.audit.archive` (the one reader) and :mod:`.audit.record_lines` (the fast path);
the process pool :mod:`.verify_pool`.

Archive verification streams. Records are checked in batches of consecutive lines (parse, hash,
signature, and the links inside the batch), inline or, with ``workers > 1``, on a process pool; this
process reads and digests the lines and joins the batches in order (one link per batch), so memory
stays flat and the parent's share of the work is small. Lines as the exporter writes them (canonical,
ed25519) take a fast path; anything else, and every record with a problem, takes the general path
that names it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import IO, Any

import nacl.bindings
import nacl.exceptions

from .algorithms import Algorithm
from .audit.archive import ArchiveLines, Checkpoint, header_start, open_lines
from .audit.record_lines import FastRecord, fast_fields, fast_record
from .audit.records import AuditRecord, loads_line
from .canonical import audit_digest, canonicalize_json_value, canonicalize_payload, require_digest
from .clock import parse_time, utc_now
from .errors import (
    ArchiveFormatError,
    CanonicalizationError,
    InvalidSignature,
    KeyFormatError,
    KmsConformError,
    UnknownKey,
)
from .findings import ChainState, Finding, FindingCode, Segment, code_of
from .keyset import KeyEntry, KeySet
from .primitives import verify_hmac
from .signature import Signature
from .verify_pool import VerifierPool

__all__ = ["BATCH", "Finding", "FindingCode", "KeyEntry", "KeySet", "Verifier"]

BATCH = 1024  # records per batch: small enough that 2 workers finish nearly together

# A signature check: (index, kid, alg, digest, signature, ts)
_Task = tuple[int, str, str, bytes, bytes, str]
_Result = tuple[FindingCode, int, str]
_Link = tuple[int, "str | None", str]  # seq, prev_hash, hash


class Verifier:
    """Verifies signatures, record chains and archives with nothing but a JWKS (and HMAC secrets).

    :param jwks: the public key set, with lifecycle members (``docs/spec.md``).
    :param hmac_secrets: kid -> secret for HMAC-SHA256 keys (they are never in a JWKS).
    """

    def __init__(self, jwks: Mapping[str, Any], *, hmac_secrets: Mapping[str, bytes] | None = None) -> None:
        self.keys = KeySet.from_jwks(jwks)
        secrets: dict[str, bytes] = {}
        for kid, secret in (hmac_secrets or {}).items():
            if not isinstance(secret, bytes) or not secret:
                raise KeyFormatError(f"HMAC secret for {kid!r} must be non-empty bytes")
            if kid in self.keys:
                raise KeyFormatError(f"kid {kid!r} is both in the JWKS and an HMAC secret")
            secrets[kid] = secret
        self._hmac = secrets
        self._ed25519 = {e.kid: (e, e.ed25519_raw) for e in self.keys if e.ed25519_raw is not None}
        self._jwks = json.loads(json.dumps(jwks))  # a plain copy, for worker processes

    # -- single signatures -----------------------------------------------------------------
    def verify_signature(self, digest: bytes, signature: Signature, *, at: datetime | None = None) -> None:
        """Verify ``signature`` over a 32-byte digest as of ``at`` (default: now).

        :raises UnknownKey: the kid is not in the key set.
        :raises InvalidSignature: wrong algorithm for the key, or the signature does not verify.
        :raises KeyRevoked: ``at`` is at or after the key's ``revoked_at``.
        :raises KeyNotValidAtTime: ``at`` is outside the key's validity window.
        """
        digest = require_digest(digest)
        when = utc_now() if at is None else at
        if when.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        self._verify(signature.kid, signature.alg, digest, signature.value, when)

    def _verify(self, kid: str, alg: str, digest: bytes, value: bytes, at: datetime) -> None:
        entry = self.keys._entries.get(kid)
        if entry is None:
            secret = self._hmac.get(kid)
            if secret is None:
                raise UnknownKey(f"no key {kid!r} in the key set")
            if alg != Algorithm.HMAC_SHA256:
                raise InvalidSignature(f"signature alg {alg} does not match hmac-sha256 key {kid}")
            verify_hmac(secret, digest, value)
            return
        if alg != entry.alg:
            raise InvalidSignature(f"signature alg {alg} does not match key {kid} ({entry.alg.value})")
        entry.check_time(at)
        entry.verify(digest, value)

    def _check(self, task: _Task) -> _Result | None:
        index, kid, alg, digest, value, ts = task
        try:
            self._verify(kid, alg, digest, value, _at(ts))
        except KmsConformError as exc:
            return (code_of(exc), index, f"record {index}: {exc}")
        except ValueError as exc:  # a ts that is not RFC 3339
            return (FindingCode.FORMAT_ERROR, index, f"record {index}: {exc}")
        return None

    # -- chains ----------------------------------------------------------------------------
    def verify_records(self, records: Iterable[AuditRecord]) -> list[Finding]:
        """Check the chain (genesis, seq, prev_hash links), each hash and each signature."""
        chain = ChainState()
        for index, record in enumerate(records):
            chain.link(index, record.seq, record.prev_hash, record.hash)
            try:
                digest = audit_digest(canonicalize_payload(record.payload), record.prev_hash)
            except CanonicalizationError as exc:
                chain.add(FindingCode.HASH_MISMATCH, index, f"record {index}: {exc}")
                continue
            if digest.hex() != record.hash:
                chain.add(FindingCode.HASH_MISMATCH, index, f"record {index}: hash is not the digest of its payload")
                continue
            sig = record.signature
            result = self._check((index, sig.kid, sig.alg, digest, sig.value, record.ts))
            if result is not None:
                chain.add(*result)
        return chain.findings()

    def verify_archive(
        self, source: str | os.PathLike[str] | IO[str] | IO[bytes], *, workers: int = 1
    ) -> list[Finding]:
        """Verify an archive file or stream; memory stays flat in its size.

        :param workers: with more than 1, signatures are checked on a pool of that many processes.
        """
        if workers < 1:
            raise ValueError("workers must be >= 1")
        pool = VerifierPool(self._jwks, self._hmac, workers) if workers > 1 else None
        try:
            with open_lines(source) as lines:
                return self._verify_lines(lines, pool)
        finally:
            if pool is not None:
                pool.close()

    def _verify_lines(self, lines: Iterator[bytes], pool: VerifierPool | None) -> list[Finding]:
        chain = ChainState()
        archive = ArchiveLines(lines)
        try:
            header = archive.header()
        except ArchiveFormatError as exc:
            chain.add(FindingCode.FORMAT_ERROR, None, f"header: {exc}")
            return chain.findings()
        if header is None:
            chain.add(FindingCode.TRUNCATED, 0, "archive is empty: no header, no checkpoint")
            return chain.findings()
        start_of_chain = header_start(header)  # a segment archive: its first record links to this start
        chain.start_at(start_of_chain.seq, start_of_chain.prev_hash)
        records_hash = hashlib.sha256()
        count, start = 0, 0
        batch: list[bytes] = []
        for line in archive.record_lines():
            records_hash.update(line)  # two updates: no copy of the line
            records_hash.update(b"\n")
            batch.append(line)
            count += 1
            if len(batch) >= BATCH:
                self._dispatch(chain, pool, start, batch)
                start, batch = count, []
        if archive.checkpoint_error is not None:
            chain.add(FindingCode.FORMAT_ERROR, None, f"checkpoint: {archive.checkpoint_error}")
            return chain.findings()
        if archive.trailing:
            chain.add(FindingCode.FORMAT_ERROR, count, "line after the checkpoint")
        if batch:
            self._dispatch(chain, pool, start, batch)
        if pool is not None:
            pool.drain(chain)
        self._check_checkpoint(chain, archive.checkpoint, count, chain.head, records_hash.hexdigest())
        if archive.checkpoint is not None and archive.checkpoint.start != start_of_chain:
            chain.add(FindingCode.CHAIN_BROKEN, 0, "the start the header declares is not the one the checkpoint signs")
        return chain.findings()

    def _dispatch(self, chain: ChainState, pool: VerifierPool | None, start: int, batch: list[bytes]) -> None:
        if pool is None:
            chain.join(start, self.check_lines(start, batch))
        else:
            pool.submit(start, batch, chain)

    def check_lines(self, start: int, lines: list[bytes]) -> Segment:
        """Every check of a run of consecutive record lines, links between them included; only the link
        of the first line to the record before the run is left to :meth:`ChainState.join`."""
        segment = ChainState(segment=True)
        for index, line in enumerate(lines, start):
            fast = fast_record(line)
            if fast is not None and self._verify_fast(fast):
                segment.link(index, fast.seq, fast.prev_hash, fast.hash)
            else:
                self._check_line(segment, index, line)
        return segment.summary()

    def _verify_fast(self, record: FastRecord) -> bool:
        """True if ``record``'s ed25519 signature verifies and its key is valid at its ``ts``; on
        ``False`` the general path (:meth:`_check_line`) names the problem."""
        found = self._ed25519.get(record.kid)
        if found is None or record.alg != Algorithm.ED25519 or len(record.sig) != 64:
            return False
        entry, public_raw = found
        try:
            entry.check_time(record.at)
            nacl.bindings.crypto_sign_open(record.sig + record.digest, public_raw)
        except (KmsConformError, nacl.exceptions.CryptoError):
            return False
        return True

    def _check_line(self, chain: ChainState, index: int, line: bytes) -> None:
        """The general path for one record line: strict parsing, every hash fallback, any algorithm."""
        try:
            obj = loads_line(line)
        except ArchiveFormatError as exc:
            chain.lost()
            chain.add(FindingCode.FORMAT_ERROR, index, f"record {index}: {exc}")
            return
        results: list[_Result] = []
        link, task = self._check_record(index, obj, results, line)
        if link is None:
            chain.lost()
        else:
            chain.link(index, *link)
        if task is not None and (result := self._check(task)) is not None:
            results.append(result)
        for result in results:
            chain.add(*result)

    def _check_record(
        self, index: int, obj: Any, results: list[_Result], line: bytes
    ) -> tuple[_Link | None, _Task | None]:
        """Format and hash checks of one parsed record line: its link fields and its signature check."""
        fields = fast_fields(obj)
        if fields is None:  # something is off: let the strict parser name it
            try:
                record = AuditRecord.from_json(obj)
            except ArchiveFormatError as exc:
                results.append((FindingCode.FORMAT_ERROR, index, f"record {index}: {exc}"))
                return None, None
            sig = record.signature
            fields = (record.seq, record.ts, record.payload, record.prev_hash, record.hash, sig.kid, sig.alg, sig.value)
        seq, ts, payload, prev_hash, hash_, kid, alg, value = fields
        link = (seq, prev_hash, hash_)
        if not self._line_is_canonical(obj, line):
            results.append(
                (FindingCode.FORMAT_ERROR, index, f"record {index}: the line is not RFC 8785 canonical JSON")
            )
        try:
            digest = audit_digest(self._canonical_payload(payload), prev_hash)
        except CanonicalizationError as exc:
            results.append((FindingCode.HASH_MISMATCH, index, f"record {index}: {exc}"))
            return link, None
        if digest.hex() != hash_:
            results.append((FindingCode.HASH_MISMATCH, index, f"record {index}: hash is not the digest of its payload"))
            return link, None
        return link, (index, kid, alg, digest, value, ts)

    def _canonical_payload(self, payload: Any) -> bytes:
        """What a record's digest covers: the RFC 8785 form of its parsed payload, whatever bytes the
        line holds (bytes that merely hash right, sorted ``json.dumps`` say, are a HASH_MISMATCH)."""
        return canonicalize_json_value(payload)

    @staticmethod
    def _line_is_canonical(obj: Any, line: bytes) -> bool:
        """Every line of an archive is RFC 8785 canonical JSON (docs/spec.md section 6)."""
        try:
            return canonicalize_json_value(obj) == line
        except CanonicalizationError:
            return False

    def _check_checkpoint(
        self, chain: ChainState, checkpoint: Checkpoint | None, count: int, head: str | None, records_sha256: str
    ) -> None:
        if checkpoint is None:
            chain.add(FindingCode.TRUNCATED, count, f"no checkpoint after {count} records: the tail is missing")
            return
        if checkpoint.count > count:
            chain.add(
                FindingCode.TRUNCATED, count, f"checkpoint counts {checkpoint.count} records, archive has {count}"
            )
        elif checkpoint.count < count:
            chain.add(
                FindingCode.ARCHIVE_DIGEST_MISMATCH,
                checkpoint.count,
                f"archive has {count} records, checkpoint counts {checkpoint.count}",
            )
        elif checkpoint.head_hash != head:
            chain.add(FindingCode.CHAIN_BROKEN, max(count - 1, 0), "last record is not the checkpoint's head_hash")
        if checkpoint.records_sha256 != records_sha256:
            chain.add(FindingCode.ARCHIVE_DIGEST_MISMATCH, None, "records_sha256 does not match the records")
        try:
            self._verify(
                checkpoint.signature.kid,
                checkpoint.signature.alg,
                checkpoint.digest(),
                checkpoint.signature.value,
                parse_time(checkpoint.created_at),
            )
        except KmsConformError as exc:
            chain.add(code_of(exc), None, f"checkpoint signature: {exc}")


def _at(ts: str) -> datetime:
    value = datetime.fromisoformat(ts)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} has no UTC offset")
    return value
