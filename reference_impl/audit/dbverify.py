"""Verify the audit chain straight from the database (seed 001's ``verifyTool``): ``kmsconform verify-db``.

The same checks and finding codes as an archive (``docs/spec.md`` §7), streamed page by page;
a finding's ``index`` is the ``seq`` of the row that shows it. Besides each row's link, hash and
signature, every signed checkpoint in the archive index (written by the archiver) is checked
against the rows it covers: its signature, its head hash, its record count (an archived range
deleted from the table is ``TRUNCATED``/``CHAIN_BROKEN``) and its ``records_sha256`` (a changed
``ts`` of an archived row is ``ARCHIVE_DIGEST_MISMATCH``).

A window that does not start at genesis (``limit``, ``from_seq``) is *anchored*: a verified
checkpoint must name the hash of a row inside it (or of the row just before it), so the window's
rows are tied to a signed statement through the hash chain. When none does, the window is
extended down to the newest checkpoint before it, or to genesis, and the result says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from ..algorithms import Algorithm
from ..canonical import audit_digest, canonicalize_payload, loads_canonical
from ..clock import parse_time
from ..errors import (
    InvalidDigest,
    InvalidSignature,
    KeyNotValidAtTime,
    KeyRevoked,
    KmsConformError,
    UnknownKey,
)
from ..findings import Finding, FindingCode
from ..signature import Signature
from ..verifier import Verifier
from .database import ArchiveEntry, AuditDatabase, RawRow
from .records import AuditRecord, record_line


@dataclass(frozen=True)
class DbVerification:
    """What :func:`verify_database` checked and found.

    :ivar first_seq: / :ivar last_seq: the rows verified (``None`` when none were).
    :ivar requested_first: the first seq the caller asked for (``limit``/``from_seq``).
    :ivar anchor: the checkpoint the window is anchored to; ``None`` when it starts at genesis.
    """

    findings: list[Finding]
    head_seq: int | None
    first_seq: int | None
    last_seq: int | None
    rows: int
    requested_first: int
    anchor: ArchiveEntry | None
    checkpoints: int = 0

    @property
    def extended(self) -> bool:
        """Whether the window had to start below what was asked, to reach its anchor."""
        return self.first_seq is not None and self.first_seq < self.requested_first


_CODES: tuple[tuple[type[KmsConformError], FindingCode], ...] = (
    (UnknownKey, FindingCode.UNKNOWN_KEY),
    (KeyRevoked, FindingCode.KEY_REVOKED),
    (KeyNotValidAtTime, FindingCode.KEY_NOT_VALID_AT_TIME),
    (InvalidSignature, FindingCode.BAD_SIGNATURE),
)


def _code(exc: KmsConformError) -> FindingCode:
    return next((code for cls, code in _CODES if isinstance(exc, cls)), FindingCode.BAD_SIGNATURE)


@dataclass
class _Findings:
    """The first index and a count per code, as the archive verifier reports them."""

    first: dict[FindingCode, tuple[int | None, str]] = field(default_factory=dict)
    count: dict[FindingCode, int] = field(default_factory=dict)

    def add(self, code: FindingCode, index: int | None, message: str) -> None:
        self.count[code] = self.count.get(code, 0) + 1
        current = self.first.get(code)
        if current is None or (index is not None and (current[0] is None or index < current[0])):
            self.first[code] = (index, message)

    def sorted(self) -> list[Finding]:
        out = []
        for code, (index, message) in self.first.items():
            n = self.count[code]
            out.append(Finding(code, index, message if n == 1 else f"{message} (and {n - 1} more)"))
        return sorted(out, key=lambda f: (f.index is None, f.index or 0, f.code.value))


def parse_row(row: RawRow) -> AuditRecord:
    """A stored row as a record; a damaged one raises ``ValueError`` (or a :class:`KmsConformError`)."""
    seq, ts, payload, prev_hash, hash_, kid, alg, sig = row
    parse_time(ts)
    return AuditRecord(
        seq=int(seq),
        ts=ts,
        payload=loads_canonical(payload),
        prev_hash=prev_hash,
        hash=hash_,
        signature=Signature(kid=kid, alg=Algorithm(alg), value=bytes(sig)),
    )


class _CheckpointRun:
    """The rows one checkpoint covers, hashed as archive lines while they stream past."""

    def __init__(self, entry: ArchiveEntry) -> None:
        self.entry = entry
        self.sha = hashlib.sha256()
        self.rows = 0
        self.head: str | None = None

    def add(self, record: AuditRecord) -> None:
        self.sha.update(record_line(record) + b"\n")
        self.rows += 1
        self.head = record.hash

    def judge(self, out: _Findings) -> None:
        c, uri = self.entry.checkpoint, self.entry.uri
        if self.rows < c.count:
            out.add(
                FindingCode.TRUNCATED,
                self.entry.first_seq,
                f"archive {uri} signed {c.count} records from seq {self.entry.first_seq}; the table holds {self.rows}",
            )
        elif self.head != c.head_hash:
            out.add(
                FindingCode.CHAIN_BROKEN, self.entry.last_seq, f"row {self.entry.last_seq} is not the head of {uri}"
            )
        elif self.sha.hexdigest() != c.records_sha256:
            out.add(
                FindingCode.ARCHIVE_DIGEST_MISMATCH,
                self.entry.first_seq,
                f"rows {self.entry.first_seq}..{self.entry.last_seq} differ from what {uri} signed (records_sha256)",
            )


def _usable_checkpoints(verifier: Verifier, entries: list[ArchiveEntry], out: _Findings) -> list[ArchiveEntry]:
    good = []
    for entry in entries:
        c = entry.checkpoint
        try:
            verifier.verify_signature(c.digest(), c.signature, at=parse_time(c.created_at))
        except KmsConformError as exc:
            out.add(_code(exc), None, f"checkpoint of {entry.uri}: {exc}")
            continue
        except ValueError as exc:
            out.add(FindingCode.FORMAT_ERROR, None, f"checkpoint of {entry.uri}: {exc}")
            continue
        good.append(entry)
    return good


def _window(head: int, limit: int | None, from_seq: int | None) -> tuple[int, int]:
    if from_seq is not None:
        if from_seq > head:
            raise ValueError(f"--from {from_seq} is past the newest row (seq {head})")
        return from_seq, head if limit is None else min(head, from_seq + limit - 1)
    if limit is not None:
        return max(0, head - limit + 1), head
    return 0, head


def _anchor(lo: int, hi: int, checkpoints: list[ArchiveEntry]) -> tuple[int, ArchiveEntry | None]:
    """The first seq to verify and the checkpoint that anchors it (``None``: genesis)."""
    if lo == 0:
        return 0, None
    inside = [e for e in checkpoints if lo - 1 <= e.last_seq <= hi and e.checkpoint.count > 0]
    if inside:
        return lo, max(inside, key=lambda e: e.last_seq)
    below = [e for e in checkpoints if e.last_seq < lo - 1 and e.checkpoint.count > 0]
    if below:
        anchor = max(below, key=lambda e: e.last_seq)
        return anchor.last_seq + 1, anchor
    return 0, None


def verify_database(
    db: AuditDatabase, verifier: Verifier, *, limit: int | None = None, from_seq: int | None = None
) -> DbVerification:
    """Verify the rows of ``db`` (all, the newest ``limit``, or from ``from_seq``) and its checkpoints.

    :raises ValueError: ``limit`` below 1 or ``from_seq`` below 0 or past the newest row.
    """
    if limit is not None and limit < 1:
        raise ValueError("--limit must be >= 1")
    if from_seq is not None and from_seq < 0:
        raise ValueError("--from must be >= 0")
    out = _Findings()
    head = db.head_seq()
    entries = db.archives()
    checkpoints = _usable_checkpoints(verifier, entries, out)
    for entry in checkpoints:
        if head is None or entry.last_seq > head:
            out.add(
                FindingCode.TRUNCATED,
                0 if head is None else head + 1,
                f"archive {entry.uri} signed records up to seq {entry.last_seq}; the table ends at "
                + ("no row" if head is None else f"seq {head}"),
            )
    if head is None:
        return DbVerification(out.sorted(), None, None, None, 0, from_seq or 0, None, len(entries))
    lo, hi = _window(head, limit, from_seq)
    start, anchor = _anchor(lo, hi, checkpoints)
    runs = [e for e in checkpoints if start <= e.first_seq and e.last_seq <= hi and e.checkpoint.count]
    heads = {e.last_seq: e for e in checkpoints if e.first_seq < start <= e.last_seq <= hi}
    first, last, n = _verify_rows(db.rows(start, hi + 1), verifier, start, anchor, runs, heads, out)
    return DbVerification(out.sorted(), head, first, last, n, lo, anchor, len(entries))


def _verify_rows(
    rows: Iterator[RawRow],
    verifier: Verifier,
    start: int,
    anchor: ArchiveEntry | None,
    runs: list[ArchiveEntry],
    heads: dict[int, ArchiveEntry],
    out: _Findings,
) -> tuple[int | None, int | None, int]:
    # The link the first row must make: genesis, the anchor's head just before it, or (anchor
    # inside the window) whatever it links to; the anchor's head row then ties it to the checkpoint.
    expected: tuple[int, str | None] | None
    if anchor is None:
        expected = (-1, None)
    elif anchor.last_seq == start - 1:
        expected = (start - 1, anchor.checkpoint.head_hash)
    else:
        expected = None
        heads = {**heads, anchor.last_seq: anchor}
    pending = sorted(runs, key=lambda e: e.first_seq)
    open_runs: list[_CheckpointRun] = []
    first: int | None = None
    last: int | None = None
    n = 0
    for row in rows:
        seq = int(row[0])
        first = seq if first is None else first
        last, n = seq, n + 1
        while pending and pending[0].first_seq <= seq:  # opened late: its first rows are missing
            open_runs.append(_CheckpointRun(pending.pop(0)))
        try:
            record = parse_row(row)
        except (ValueError, TypeError, KmsConformError) as exc:
            out.add(FindingCode.FORMAT_ERROR, seq, f"row {seq}: {exc}")
            expected = None  # the next row's link cannot be judged
            continue
        if expected is not None:
            _judge_link(record, expected, out)
        expected = (seq, record.hash)
        _judge_record(record, verifier, out)
        if seq in heads and record.hash != heads[seq].checkpoint.head_hash:
            out.add(FindingCode.CHAIN_BROKEN, seq, f"row {seq} is not the head hash {heads[seq].uri} signed")
        for run in list(open_runs):
            if run.entry.last_seq >= seq:
                run.add(record)
            if run.entry.last_seq <= seq:
                run.judge(out)
                open_runs.remove(run)
    for run in [*open_runs, *map(_CheckpointRun, pending)]:  # rows missing at the end of a range
        run.judge(out)
    if n == 0 and start > 0:
        out.add(FindingCode.TRUNCATED, start, f"no row from seq {start} on")
    return first, last, n


def _judge_link(record: AuditRecord, expected: tuple[int, str | None], out: _Findings) -> None:
    prev_seq, prev_hash = expected
    seq = record.seq
    if prev_seq == -1:
        if seq != 0 or record.prev_hash is not None:
            out.add(FindingCode.CHAIN_BROKEN, seq, f"row {seq}: the chain does not start at genesis")
    elif record.prev_hash != prev_hash:
        out.add(FindingCode.CHAIN_BROKEN, seq, f"row {seq}: prev_hash is not the previous record's hash")
    elif seq != prev_seq + 1:
        out.add(FindingCode.CHAIN_BROKEN, seq, f"row {seq}: seq {seq} does not follow {prev_seq}")


def _judge_record(record: AuditRecord, verifier: Verifier, out: _Findings) -> None:
    seq = record.seq
    try:
        digest = audit_digest(canonicalize_payload(record.payload), record.prev_hash).hex()
    except InvalidDigest as exc:
        out.add(FindingCode.FORMAT_ERROR, seq, f"row {seq}: {exc}")
        return
    except KmsConformError as exc:
        out.add(FindingCode.HASH_MISMATCH, seq, f"row {seq}: {exc}")
        return
    if digest != record.hash:
        out.add(FindingCode.HASH_MISMATCH, seq, f"row {seq}: hash is not the digest of its payload")
        return
    try:
        verifier.verify_signature(bytes.fromhex(digest), record.signature, at=parse_time(record.ts))
    except KmsConformError as exc:
        out.add(_code(exc), seq, f"row {seq}: {exc}")
