"""The archiver (seed 001: ``AUDIT_ARCHIVE_BUCKET=... archiver --limit=1000``): the next run of
records not yet archived becomes one segment archive object, never overwriting one.

Each object is a ``kmsconform-audit-archive/1`` segment (``docs/spec.md`` §6): the records with
their signatures, and a checkpoint, signed by the service's signer, over their SHA-256
(``records_sha256``) and their start. The object's own SHA-256 travels with it (the sink's
checksum). The archive index row (:mod:`.database`) is written only after the object is stored;
if a run died in between, the next run finds the object, checks that it holds exactly these
records, and adopts it.

Before it signs, the archiver checks the rows' links and hashes (never sign a checkpoint over a
broken chain); signatures are ``verify-db``'s business.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from ..canonical import audit_digest, canonicalize_payload
from ..clock import Clock, utc_now
from ..errors import ArchiveFormatError, AuditStoreError, KmsConformError
from ..signer import Signer
from .archive import GENESIS, ArchiveLines, ChainStart, Checkpoint, write_archive
from .database import ArchiveEntry, AuditDatabase
from .dbverify import parse_row
from .records import AuditRecord

SPOOL_BYTES = 64 * 1024 * 1024  # objects larger than this are spooled to a temporary file


class ArchiveRefused(AuditStoreError):
    """The archiver will not sign these records: a row is damaged, missing or does not link."""


class ObjectExists(ArchiveRefused):
    """The sink already holds another object under that key; it is never overwritten."""


@dataclass(frozen=True)
class StoredObject:
    uri: str
    version_id: str | None


class ArchiveSink(Protocol):
    """Where archive objects go (:class:`~.s3.S3ArchiveBucket`, or a directory in tests)."""

    def put_new(self, key: str, body: IO[bytes], *, size: int, sha256: bytes, metadata: dict[str, str]) -> StoredObject:
        """Store ``body`` under ``key`` unless the key exists (raise :class:`ObjectExists`)."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """Read back an object."""
        ...

    def uri(self, key: str) -> str: ...


@dataclass(frozen=True)
class ArchiveRun:
    """What one :func:`archive_next` call did: ``entry`` is ``None`` when nothing was pending."""

    entry: ArchiveEntry | None
    adopted: bool = False
    pending_after: int = 0


def object_key(prefix: str, first: int, last: int) -> str:
    """``<prefix><first>-<last>.jsonl``, zero-padded so keys sort in chain order."""
    return f"{prefix}{first:020d}-{last:020d}.jsonl"


class _Hashing:
    """Counts and hashes what is written through it (the object's SHA-256 and size)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def _checked(rows: Iterator[tuple[object, ...]], start: ChainStart) -> Iterator[AuditRecord]:
    expected_seq, expected_prev = start.seq, start.prev_hash
    for row in rows:
        try:
            record = parse_row(row)
        except (ValueError, TypeError, KmsConformError) as exc:
            raise ArchiveRefused(f"refusing to archive: row {row[0]} is damaged: {exc}") from None
        if record.seq != expected_seq or record.prev_hash != expected_prev:
            raise ArchiveRefused(
                f"refusing to archive: row {record.seq} is not seq {expected_seq} linking onto the record "
                "before it (run kmsconform verify-db)"
            )
        if audit_digest(canonicalize_payload(record.payload), record.prev_hash).hex() != record.hash:
            raise ArchiveRefused(f"refusing to archive: row {record.seq}'s hash is not the digest of its payload")
        expected_seq, expected_prev = record.seq + 1, record.hash
        yield record


def _next_start(entries: list[ArchiveEntry]) -> ChainStart:
    if not entries:
        return GENESIS
    last = max(entries, key=lambda e: e.last_seq)
    if last.checkpoint.head_hash is None:
        return last.checkpoint.start
    return ChainStart(last.last_seq + 1, last.checkpoint.head_hash)


def archive_next(
    db: AuditDatabase,
    sink: ArchiveSink,
    signer: Signer,
    *,
    limit: int,
    producer: str,
    prefix: str = "",
    clock: Clock = utc_now,
) -> ArchiveRun:
    """Archive the next ``limit`` records not yet archived as one object.

    :raises ArchiveRefused: a row is damaged or does not link (nothing is written), or the
        object's key is taken by an object that does not hold these records.
    :raises AuditStoreError: the database or the sink cannot be used.
    """
    if limit < 1:
        raise ValueError("--limit must be >= 1")
    start = _next_start(db.archives())
    head = db.head_seq()
    if head is None or start.seq > head:
        return ArchiveRun(None)
    last = min(head, start.seq + limit - 1)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        out = _Hashing(spool)
        records = _checked(db.rows(start.seq, last + 1), start)
        checkpoint = write_archive(records, out, signer, producer=producer, start=start, clock=clock)  # type: ignore[arg-type]
        if checkpoint.count != last - start.seq + 1:
            raise ArchiveRefused(f"refusing to archive: rows {start.seq}..{last} are not all there")
        key = object_key(prefix, start.seq, last)
        spool.seek(0)
        metadata = {
            "kmsconform-format": "kmsconform-audit-archive/1",
            "kmsconform-sha256": out.sha.hexdigest(),
            "kmsconform-first-seq": str(start.seq),
            "kmsconform-last-seq": str(last),
            "kmsconform-head-hash": checkpoint.head_hash or "",
            "kmsconform-checkpoint-kid": checkpoint.signature.kid,
        }
        try:
            stored = sink.put_new(key, spool, size=out.size, sha256=out.sha.digest(), metadata=metadata)
        except ObjectExists:
            entry = _adopt(sink, key, checkpoint)
            db.add_archive(entry)
            return ArchiveRun(entry, adopted=True, pending_after=head - last)
    entry = ArchiveEntry(checkpoint, stored.uri, out.sha.hexdigest(), stored.version_id)
    db.add_archive(entry)
    return ArchiveRun(entry, pending_after=head - last)


def _adopt(sink: ArchiveSink, key: str, ours: Checkpoint) -> ArchiveEntry:
    """The object already under ``key`` (a run that died before indexing it), if it holds our records."""
    sha = hashlib.sha256()
    records = hashlib.sha256()
    with sink.open(key) as body:
        reader = ArchiveLines(line.rstrip(b"\n") for line in _tee_lines(body, sha))
        try:
            if reader.header() is None:
                raise ArchiveFormatError("empty")
            for line in reader.record_lines():
                records.update(line + b"\n")
        except ArchiveFormatError as exc:
            raise ObjectExists(f"{sink.uri(key)} exists and is not an archive ({exc}); not overwritten") from None
    theirs = reader.checkpoint
    if (
        theirs is None
        or reader.trailing
        or records.hexdigest() != ours.records_sha256
        or (theirs.start, theirs.count, theirs.head_hash, theirs.records_sha256)
        != (ours.start, ours.count, ours.head_hash, ours.records_sha256)
    ):
        raise ObjectExists(f"{sink.uri(key)} exists and holds other records; not overwritten")
    return ArchiveEntry(theirs, sink.uri(key), sha.hexdigest())


def object_lines(body: IO[bytes]) -> Iterator[bytes]:
    """An object's lines with their ``\\n`` (an S3 body iterates in chunks, not lines)."""
    iter_lines = getattr(body, "iter_lines", None)
    return iter(iter_lines(keepends=True)) if iter_lines is not None else iter(body)


def _tee_lines(body: IO[bytes], sha: hashlib._Hash) -> Iterator[bytes]:
    for line in object_lines(body):
        sha.update(line)
        yield line
