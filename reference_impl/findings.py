"""What verification finds, and the chain rules that find it.

* :class:`Finding` / :class:`FindingCode`: one problem, at the first record that shows it.
* :class:`ChainState`: the state machine of a hash chain (genesis, ``seq`` + 1, ``prev_hash`` =
  the previous record's ``hash``), with the findings it has met: the first index and a count per
  code. A chain may be checked in segments (batches, maybe in worker processes) that are joined
  in order: one link per segment is judged at the join.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .errors import InvalidSignature, KeyNotValidAtTime, KeyRevoked, KmsConformError, UnknownKey


class FindingCode(enum.StrEnum):
    HASH_MISMATCH = "HASH_MISMATCH"
    CHAIN_BROKEN = "CHAIN_BROKEN"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    KEY_REVOKED = "KEY_REVOKED"
    KEY_NOT_VALID_AT_TIME = "KEY_NOT_VALID_AT_TIME"
    TRUNCATED = "TRUNCATED"
    ARCHIVE_DIGEST_MISMATCH = "ARCHIVE_DIGEST_MISMATCH"
    FORMAT_ERROR = "FORMAT_ERROR"


@dataclass(frozen=True)
class Finding:
    """One problem: ``index`` is the position (0-based) of the first record that shows it, or
    ``None`` for a problem of the archive as a whole."""

    code: FindingCode
    index: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "index": self.index, "message": self.message}


_CODES: tuple[tuple[type[KmsConformError], FindingCode], ...] = (
    (UnknownKey, FindingCode.UNKNOWN_KEY),
    (KeyRevoked, FindingCode.KEY_REVOKED),
    (KeyNotValidAtTime, FindingCode.KEY_NOT_VALID_AT_TIME),
    (InvalidSignature, FindingCode.BAD_SIGNATURE),
)


def code_of(exc: KmsConformError) -> FindingCode:
    """The finding code of a verification error."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return FindingCode.BAD_SIGNATURE


_START = object()  # before the genesis record
_LOST = object()  # after an unparsable record: the next link cannot be judged
_OPEN = object()  # a segment's start: the link to the record before is judged by ChainState.join

Opening = tuple[int, "str | None"]  # seq and prev_hash of a segment's first record
Segment = tuple["Opening | None", "tuple[int, str] | None", dict[FindingCode, tuple["int | None", str, int]]]


class ChainState:
    """Sequential chain state plus findings: the first index and a count per code.

    With ``segment=True`` it checks a run of records in isolation (a batch, maybe in a worker) and
    :meth:`summary` returns what :meth:`join` needs to continue the whole chain with it.
    """

    def __init__(self, *, segment: bool = False) -> None:
        self.head: str | None = None
        self._prev: object | tuple[int, str] = _OPEN if segment else _START
        self._opening: Opening | None = None
        self._first: dict[FindingCode, tuple[int | None, str]] = {}
        self._count: dict[FindingCode, int] = {}

    def add(self, code: FindingCode, index: int | None, message: str, count: int = 1) -> None:
        self._count[code] = self._count.get(code, 0) + count
        current = self._first.get(code)
        if current is None or (index is not None and (current[0] is None or index < current[0])):
            self._first[code] = (index, message)

    def start_at(self, seq: int, prev_hash: str | None) -> None:
        """The first record must be ``seq`` linking to ``prev_hash`` (a segment archive; genesis by default)."""
        if prev_hash is not None:
            self._prev = (seq - 1, prev_hash)

    def lost(self) -> None:
        """An unparsable record: the next one's link cannot be checked."""
        self._prev = _LOST
        self.head = None

    def link(self, index: int, seq: int, prev_hash: str | None, hash_: str) -> None:
        if self._prev is _OPEN:
            self._opening = (seq, prev_hash)
        else:
            self._check_link(index, seq, prev_hash)
        self._prev = (seq, hash_)
        self.head = hash_

    def _check_link(self, index: int, seq: int, prev_hash: str | None) -> None:
        prev = self._prev
        if prev is _START:
            if seq != 0 or prev_hash is not None:
                self.add(FindingCode.CHAIN_BROKEN, index, f"record {index}: the chain does not start at genesis")
        elif isinstance(prev, tuple):
            prev_seq, prev_hash_expected = prev
            if prev_hash != prev_hash_expected:
                self.add(
                    FindingCode.CHAIN_BROKEN, index, f"record {index}: prev_hash is not the previous record's hash"
                )
            elif seq != prev_seq + 1:
                self.add(FindingCode.CHAIN_BROKEN, index, f"record {index}: seq {seq} does not follow {prev_seq}")

    def summary(self) -> Segment:
        """A segment's opening link (``None``: its first record was unparsable), its last record's
        ``(seq, hash)`` (``None``: unparsable) and its findings (first index, message, count)."""
        end = self._prev if isinstance(self._prev, tuple) else None
        findings = {code: (index, message, self._count[code]) for code, (index, message) in self._first.items()}
        return self._opening, end, findings

    def join(self, start: int, segment: Segment) -> None:
        """Continue the chain with the segment of records that starts at index ``start``."""
        opening, end, findings = segment
        if opening is not None:
            self._check_link(start, *opening)
        self._prev = _LOST if end is None else end
        self.head = None if end is None else end[1]
        for code, (index, message, count) in findings.items():
            self.add(code, index, message, count)

    def findings(self) -> list[Finding]:
        out = []
        for code, (index, message) in self._first.items():
            n = self._count[code]
            out.append(Finding(code, index, message if n == 1 else f"{message} (and {n - 1} more)"))
        return sorted(out, key=lambda f: (f.index is None, f.index or 0, f.code.value))
