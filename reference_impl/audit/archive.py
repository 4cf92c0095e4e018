"""Audit archives, format ``kmsconform-audit-archive/1``: JSON Lines, streamable both ways.

::

    {"created_at": ..., "format": "kmsconform-audit-archive/1", "producer": ...}     header
    {"hash": ..., "payload": ..., "prev_hash": ..., "seq": 0, "signature": {...}, "ts": ...}
    ...                                                                              one record a line
    {"checkpoint": {"count": N, "created_at": ..., "head_hash": H, "records_sha256": R, "signature": {...}}}

Every line is RFC 8785 canonical JSON. ``R`` is the SHA-256 of the record lines exactly as written
(each one's canonical bytes followed by ``"\\n"``); the checkpoint signature signs
``SHA256(canonical({"count", "created_at", "head_hash", "records_sha256"}))``. The checkpoint thus
authenticates the record count (a truncated tail is detected), every byte of every record
(including ``ts``, which the per-record digest does not cover) and the order.

A *segment* archive holds records ``first_seq..`` of a longer chain (the archiver's objects): its
header and its checkpoint carry ``first_seq`` and ``prev_hash`` (the hash its first record links
to), and the checkpoint signs them. Without them an archive starts at the genesis record.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from ..canonical import canonicalize_payload, parse_hash_hex
from ..clock import Clock, format_time, parse_time, utc_now
from ..errors import ArchiveFormatError, InvalidDigest
from ..signature import Signature
from ..signer import Signer
from .records import AuditRecord, loads_line, record_line
from .store import AuditStore

FORMAT = "kmsconform-audit-archive/1"


Source = str | os.PathLike[str] | IO[str] | IO[bytes]


@dataclass(frozen=True)
class ChainStart:
    """Where a run of records starts: the first one's ``seq`` and the ``prev_hash`` it links to."""

    seq: int
    prev_hash: str | None

    @property
    def is_genesis(self) -> bool:
        return self.seq == 0 and self.prev_hash is None

    def members(self) -> dict[str, Any]:
        """The ``first_seq``/``prev_hash`` members a segment's header and checkpoint carry (none at genesis)."""
        return {} if self.is_genesis else {"first_seq": self.seq, "prev_hash": self.prev_hash}

    @classmethod
    def from_members(cls, obj: Mapping[str, Any], where: str) -> ChainStart:
        """Read ``first_seq``/``prev_hash`` (both or neither); raises :class:`ArchiveFormatError`."""
        has = {"first_seq", "prev_hash"} & set(obj)
        if not has:
            return GENESIS
        if len(has) != 2:
            raise ArchiveFormatError(f"{where}: first_seq and prev_hash go together")
        seq, prev = obj["first_seq"], obj["prev_hash"]
        if type(seq) is not int or seq < 1:
            raise ArchiveFormatError(f"{where}: first_seq must be a positive integer")
        try:
            parse_hash_hex(prev, f"{where}.prev_hash")
        except InvalidDigest as exc:
            raise ArchiveFormatError(str(exc)) from None
        return cls(seq, prev)


GENESIS = ChainStart(0, None)


@dataclass(frozen=True)
class Checkpoint:
    count: int
    head_hash: str | None
    records_sha256: str
    created_at: str
    signature: Signature
    start: ChainStart = GENESIS

    def signed_body(self) -> dict[str, Any]:
        return checkpoint_body(self.count, self.head_hash, self.records_sha256, self.created_at, self.start)

    def digest(self) -> bytes:
        """The 32 bytes the checkpoint signature signs."""
        return checkpoint_digest(self.signed_body())

    def to_json(self) -> dict[str, Any]:
        return {"checkpoint": {**self.signed_body(), "signature": self.signature.to_json()}}

    @classmethod
    def from_json(cls, obj: Any) -> Checkpoint:
        if not isinstance(obj, dict) or set(obj) != {"checkpoint"} or not isinstance(obj["checkpoint"], dict):
            raise ArchiveFormatError('checkpoint line must be {"checkpoint": {...}}')
        body = obj["checkpoint"]
        expected = {"count", "head_hash", "records_sha256", "created_at", "signature"}
        if set(body) - {"first_seq", "prev_hash"} != expected:
            raise ArchiveFormatError(f"checkpoint members must be {sorted(expected)}, got {sorted(body)}")
        start = ChainStart.from_members(body, "checkpoint")
        count, head, digest, created = body["count"], body["head_hash"], body["records_sha256"], body["created_at"]
        if type(count) is not int or count < 0:
            raise ArchiveFormatError("checkpoint.count must be a non-negative integer")
        try:
            if head is not None:
                parse_hash_hex(head, "checkpoint.head_hash")
            parse_hash_hex(digest, "checkpoint.records_sha256")
            parse_time(created)
        except (InvalidDigest, ValueError) as exc:
            raise ArchiveFormatError(f"bad checkpoint: {exc}") from None
        return cls(count, head, digest, created, Signature.from_json(body["signature"]), start)


def checkpoint_body(
    count: int, head_hash: str | None, records_sha256: str, created_at: str, start: ChainStart = GENESIS
) -> dict[str, Any]:
    return {
        "count": count,
        "head_hash": head_hash,
        "records_sha256": records_sha256,
        "created_at": created_at,
        **start.members(),
    }


def checkpoint_digest(body: dict[str, Any]) -> bytes:
    """What a checkpoint's signature signs: SHA-256 of its canonical body."""
    return hashlib.sha256(canonicalize_payload(body)).digest()


def is_checkpoint_line(obj: Any) -> bool:
    return isinstance(obj, dict) and "checkpoint" in obj


def parse_header(line: bytes | str) -> dict[str, Any]:
    obj = loads_line(line)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ArchiveFormatError(f"first line must be a header with format {FORMAT!r}")
    if not isinstance(obj.get("created_at"), str) or not isinstance(obj.get("producer"), str):
        raise ArchiveFormatError("archive header needs created_at and producer strings")
    ChainStart.from_members(obj, "header")
    return obj


def header_start(header: Mapping[str, Any]) -> ChainStart:
    """The start a (parsed) header declares: :data:`GENESIS` unless it is a segment's."""
    return ChainStart.from_members(header, "header")


@contextmanager
def open_lines(source: Source) -> Iterator[Iterator[bytes]]:
    """Lines of ``source`` as bytes without their ``"\\n"``, read lazily."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            yield (line[:-1] if line.endswith(b"\n") else line for line in fh)
        return

    def _gen() -> Iterator[bytes]:
        for line in source:
            raw = line.encode("utf-8") if isinstance(line, str) else line
            yield raw[:-1] if raw.endswith(b"\n") else raw

    yield _gen()


def export_archive(
    store: AuditStore,
    dest: str | os.PathLike[str] | IO[bytes],
    signer: Signer,
    *,
    producer: str,
    clock: Clock = utc_now,
) -> Checkpoint:
    """Write every record of ``store`` as an archive to ``dest`` and return the signed checkpoint.

    ``producer`` names the software that wrote it (the header's ``producer``, e.g.
    ``pytest-kmsconform 0.1.0``: :data:`pytest_kmsconform.PRODUCER`).

    Streams: memory stays flat in the number of records.
    """
    if isinstance(dest, str | os.PathLike):
        with open(dest, "wb") as fh:
            return export_archive(store, fh, signer, producer=producer, clock=clock)
    created_at = format_time(clock())
    header = {"format": FORMAT, "created_at": created_at, "producer": producer}
    dest.write(canonicalize_payload(header) + b"\n")
    h = hashlib.sha256()
    count, head = 0, None
    for record in store.records():
        line = record_line(record) + b"\n"
        h.update(line)
        dest.write(line)
        count, head = count + 1, record.hash
    body = checkpoint_body(count, head, h.hexdigest(), created_at)
    signature = signer.sign_digest(checkpoint_digest(body))
    checkpoint = Checkpoint(count, head, h.hexdigest(), created_at, signature)
    dest.write(canonicalize_payload(checkpoint.to_json()) + b"\n")
    dest.flush()
    return checkpoint


class ArchiveLines:
    """The one reader of an archive's lines: the header, the record lines, then the checkpoint.

    :meth:`header` reads the first line; :meth:`record_lines` yields each record line as written
    (the verifier hashes and parses them itself) and stops at the checkpoint, after which
    :attr:`checkpoint` is set, or :attr:`checkpoint_error` when that line is malformed (reading
    stops there), and :attr:`trailing` is true when a line follows the checkpoint. Only the format
    is checked here; authenticity is the verifier's job.
    """

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self.checkpoint: Checkpoint | None = None
        self.checkpoint_error: ArchiveFormatError | None = None
        self.trailing = False

    def header(self) -> dict[str, Any] | None:
        """The header, or ``None`` for an archive without a single line.

        :raises ArchiveFormatError: the first line is not a header.
        """
        first = next(self._lines, None)
        return None if first is None else parse_header(first)

    def record_lines(self) -> Iterator[bytes]:
        for line in self._lines:
            if self.checkpoint is not None:
                self.trailing = True
                return
            if b'"checkpoint"' in line[:32]:  # records start with {"hash": (canonical member order)
                try:
                    obj = loads_line(line)
                except ArchiveFormatError:
                    obj = None
                if is_checkpoint_line(obj):
                    try:
                        self.checkpoint = Checkpoint.from_json(obj)
                    except ArchiveFormatError as exc:
                        self.checkpoint_error = exc
                        return
                    continue
            yield line


def read_records(lines: Iterator[bytes]) -> Iterator[AuditRecord]:
    """The records of an archive's lines, format checked; then its checkpoint must be there alone.

    :raises ArchiveFormatError: a malformed header, record or checkpoint, no checkpoint, or lines after it.
    """
    reader = ArchiveLines(lines)
    if reader.header() is None:
        raise ArchiveFormatError("archive is empty (no header line)")
    for n, line in enumerate(reader.record_lines()):
        try:
            yield AuditRecord.from_json(loads_line(line))
        except ArchiveFormatError as exc:
            raise ArchiveFormatError(f"record {n}: {exc}") from None
    if reader.checkpoint_error is not None:
        raise reader.checkpoint_error
    if reader.trailing:
        raise ArchiveFormatError("lines after the checkpoint")
    if reader.checkpoint is None:
        raise ArchiveFormatError("archive has no checkpoint line (truncated?)")


def iter_archive(source: Source) -> Iterator[AuditRecord]:
    """Stream the records of an archive (format checks only; use the verifier for authenticity).

    A missing checkpoint raises :class:`ArchiveFormatError` after the last record.
    """
    with open_lines(source) as lines:
        yield from read_records(lines)


def import_archive(source: Source, store: AuditStore, *, verify_with: Mapping[str, Any] | None = None) -> int:
    """Append the archive's records to ``store`` verbatim (same hashes, same signatures).

    The store checks each record links onto its head (seq, prev_hash) and that its hash is the
    digest of its payload; it does not re-sign. With ``verify_with`` (a JWKS) the whole archive is
    verified first and any finding raises :class:`ArchiveFormatError` naming the findings.
    Returns the number of records imported.
    """
    if verify_with is not None:
        from ..verifier import Verifier

        findings = Verifier(verify_with).verify_archive(source)
        if findings:
            summary = "; ".join(f"{f.code.value}@{f.index}" for f in findings)
            raise ArchiveFormatError(f"archive does not verify: {summary}")
        if not isinstance(source, str | os.PathLike):
            source.seek(0)
    n = 0
    for record in iter_archive(source):
        store.append_record(record)
        n += 1
    return n


def write_archive(
    records: Iterable[AuditRecord],
    dest: IO[bytes],
    signer: Signer,
    *,
    producer: str,
    start: ChainStart = GENESIS,
    clock: Clock = utc_now,
) -> Checkpoint:
    """Write ``records`` (consecutive, the first at ``start``) as an archive, a segment one unless
    ``start`` is :data:`GENESIS`; return the signed checkpoint. Streams."""
    created_at = format_time(clock())
    header = {"format": FORMAT, "created_at": created_at, "producer": producer, **start.members()}
    dest.write(canonicalize_payload(header) + b"\n")
    h = hashlib.sha256()
    count, head = 0, None
    for record in records:
        line = record_line(record) + b"\n"
        h.update(line)
        dest.write(line)
        count, head = count + 1, record.hash
    body = checkpoint_body(count, head, h.hexdigest(), created_at, start)
    signature = signer.sign_digest(hashlib.sha256(canonicalize_payload(body)).digest())
    checkpoint = Checkpoint(count, head, h.hexdigest(), created_at, signature, start)
    dest.write(canonicalize_payload(checkpoint.to_json()) + b"\n")
    dest.flush()
    return checkpoint
