"""The audit record (seed 001): one signed link of the hash chain.

``hash = SHA256(canonical(payload) || prev_hash_bytes)`` (hex) and ``signature`` signs the 32 bytes
of ``hash``. ``seq`` counts from 0 (the genesis record, ``prev_hash = None``). ``ts`` is not part
of the digest; archives authenticate it through their signed checkpoint (``docs/spec.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..canonical import canonicalize_payload, loads_canonical, parse_hash_hex
from ..clock import parse_time
from ..errors import ArchiveFormatError, InvalidDigest
from ..signature import Signature

RECORD_KEYS = frozenset({"seq", "ts", "payload", "prev_hash", "hash", "signature"})


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    ts: str
    payload: Any
    prev_hash: str | None
    hash: str
    signature: Signature

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "signature": self.signature.to_json(),
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> AuditRecord:
        """Parse a record object; any defect raises :class:`ArchiveFormatError`."""
        if not isinstance(obj, Mapping):
            raise ArchiveFormatError("an audit record must be a JSON object")
        keys = set(obj)
        if keys != RECORD_KEYS:
            missing, extra = sorted(RECORD_KEYS - keys), sorted(keys - RECORD_KEYS)
            raise ArchiveFormatError(f"audit record members wrong (missing {missing}, unexpected {extra})")
        seq, ts, prev_hash, hash_ = obj["seq"], obj["ts"], obj["prev_hash"], obj["hash"]
        if type(seq) is not int or seq < 0:
            raise ArchiveFormatError("record.seq must be a non-negative integer")
        if not isinstance(ts, str):
            raise ArchiveFormatError("record.ts must be an RFC 3339 string")
        try:
            parse_time(ts)
        except ValueError as exc:
            raise ArchiveFormatError(f"record.ts is not RFC 3339 with an offset: {exc}") from None
        try:
            parse_hash_hex(hash_, "record.hash")
            if prev_hash is not None:
                parse_hash_hex(prev_hash, "record.prev_hash")
        except InvalidDigest as exc:
            raise ArchiveFormatError(str(exc)) from None
        return cls(
            seq=seq,
            ts=ts,
            payload=obj["payload"],
            prev_hash=prev_hash,
            hash=hash_,
            signature=Signature.from_json(obj["signature"]),
        )


def record_line(record: AuditRecord) -> bytes:
    """The record as one RFC 8785 canonical JSON line (no newline); archives are made of these.

    Raises :class:`~..errors.CanonicalizationError` if the payload cannot be canonicalized.
    """
    return canonicalize_payload(record.to_json())


def loads_line(line: bytes | str) -> Any:
    """Strict ``json.loads`` for one archive line (``NaN``/``Infinity`` refused)."""
    try:
        return loads_canonical(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArchiveFormatError(f"line is not JSON: {exc}") from None
