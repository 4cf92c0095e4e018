"""The air-gapped verifier: signatures, audit chains and archives, from a JWKS alone.

Nothing here opens a socket or resolves a name. HMAC keys never appear in a JWKS; a verifier of
HMAC-signed chains is given their secrets explicitly (``hmac_secrets``).

Key validity at time ``at`` (a record's ``ts``, or now), for a JWKS member:

* ``revoked_at`` set and ``at >= revoked_at``: :class:`KeyRevoked` (a revoked key without
  ``revoked_at`` is refused at every time);
* ``at`` before ``not_before`` or after ``not_after``: :class:`KeyNotValidAtTime` (a retired key
  is thus valid only inside ``[not_before, not_after]``; a ``retired`` member must carry
  ``not_after``);
* ``pending`` keys are accepted from ``created_at`` on (a verifier's JWKS may lag behind the
  activation); a member without ``status`` is treated as ``active``.

Archive verification streams. Records are checked in batches of consecutive lines (parse, hash,
signature, and the links inside the batch), inline or, with ``workers > 1``, on a process pool; this
process reads and digests the lines and joins the batches in order (one link per batch), so memory
stays flat and the parent's share of the work is small. Lines as the exporter writes them (canonical,
ed25519) take a fast path; anything else, and every record with a problem, takes the general path
that names it.
"""

from __future__ import annotations

import binascii
import enum
import hashlib
import hmac
import json
import json.scanner
import multiprocessing
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, NamedTuple, cast

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .algorithms import Algorithm
from .audit.archive import Checkpoint, is_checkpoint_line, open_lines, parse_header
from .audit.records import AuditRecord, loads_line
from .canonical import _refuse_constant, canonicalize_payload, require_digest
from .clock import parse_time, utc_now
from .errors import (
    ArchiveFormatError,
    CanonicalizationError,
    InvalidSignature,
    KeyFormatError,
    KeyNotValidAtTime,
    KeyRevoked,
    KmsConformError,
    UnknownKey,
    UnsupportedAlgorithm,
)
from .jwk import jwk_to_public_key
from .keyring import KeyStatus
from .primitives import PublicKey, check_key_matches, verify_digest, verify_ed25519
from .signature import Signature

BATCH = 1024  # records per batch: small enough that 2 workers finish nearly together


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


# -- primitives used on the hot path ---------------------------------------------------------
def verify_mac(secret: bytes, message: bytes, tag: bytes) -> None:
    """Constant-time HMAC-SHA256 check of a full 32-byte tag; raises :class:`InvalidSignature`."""
    if not hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).digest(), tag):
        raise InvalidSignature("hmac-sha256 tag does not verify")


def _time(member: Mapping[str, Any], name: str) -> datetime | None:
    value = member.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise KeyFormatError(f"JWKS member {member.get('kid')!r}: {name}: {exc}") from None


@dataclass(frozen=True)
class KeyEntry:
    """One public key of a :class:`KeySet`, with its lifecycle."""

    kid: str
    alg: Algorithm
    status: KeyStatus
    public_key: PublicKey
    created_at: datetime | None
    not_before: datetime | None
    not_after: datetime | None
    revoked_at: datetime | None
    ed25519_raw: bytes | None

    def check_time(self, at: datetime) -> None:
        """Raise :class:`KeyRevoked` or :class:`KeyNotValidAtTime` unless the key is valid at ``at``."""
        if self.revoked_at is not None and at >= self.revoked_at:
            raise KeyRevoked(f"key {self.kid} was revoked at {self.revoked_at.isoformat()}", self.kid)
        if self.status is KeyStatus.REVOKED and self.revoked_at is None:
            raise KeyRevoked(f"key {self.kid} is revoked", self.kid)
        if self.not_before is not None and at < self.not_before:
            raise KeyNotValidAtTime(f"key {self.kid} is not valid before {self.not_before.isoformat()}", self.kid)
        if self.not_after is not None and at > self.not_after:
            raise KeyNotValidAtTime(f"key {self.kid} is not valid after {self.not_after.isoformat()}", self.kid)
        if self.status is KeyStatus.PENDING and self.created_at is not None and at < self.created_at:
            raise KeyNotValidAtTime(f"key {self.kid} did not exist before {self.created_at.isoformat()}", self.kid)

    def verify(self, digest: bytes, signature: bytes) -> None:
        if self.ed25519_raw is not None:
            verify_ed25519(self.ed25519_raw, digest, signature)
        else:
            verify_digest(self.alg, self.public_key, digest, signature)


class KeySet:
    """Public keys by kid, parsed once from a JWKS."""

    def __init__(self, entries: Mapping[str, KeyEntry]) -> None:
        self._entries = dict(entries)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any]) -> KeySet:
        """Parse ``{"keys": [...]}``; raises :class:`KeyFormatError` on any defect, on private or
        symmetric members, and on duplicate kids."""
        if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
            raise KeyFormatError('a JWKS must be an object with a "keys" array')
        entries: dict[str, KeyEntry] = {}
        for member in jwks["keys"]:
            entry = _parse_member(member)
            if entry.kid in entries:
                raise KeyFormatError(f"duplicate kid {entry.kid!r} in JWKS")
            entries[entry.kid] = entry
        return cls(entries)

    def get(self, kid: str) -> KeyEntry:
        try:
            return self._entries[kid]
        except KeyError:
            raise UnknownKey(f"no key {kid!r} in the key set") from None

    def __contains__(self, kid: object) -> bool:
        return kid in self._entries

    def __iter__(self) -> Iterator[KeyEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def _parse_member(member: Any) -> KeyEntry:
    if not isinstance(member, dict):
        raise KeyFormatError("each JWKS member must be an object")
    kid = member.get("kid")
    if not isinstance(kid, str) or not kid:
        raise KeyFormatError("JWKS member without a kid")
    if member.get("kty") == "oct":
        raise KeyFormatError(f"JWKS member {kid!r} is a symmetric key; HMAC secrets never go in a key set")
    try:
        alg = Algorithm(str(member.get("alg")))
    except ValueError:
        raise KeyFormatError(f"JWKS member {kid!r}: unknown alg {member.get('alg')!r}") from None
    if alg.is_symmetric:
        raise KeyFormatError(f"JWKS member {kid!r} names a symmetric algorithm")
    public_key = jwk_to_public_key(member)
    try:
        check_key_matches(alg, public_key)
    except UnsupportedAlgorithm as exc:
        raise KeyFormatError(f"JWKS member {kid!r}: {exc}") from None
    try:
        status = KeyStatus(member.get("status", "active"))
    except ValueError:
        raise KeyFormatError(f"JWKS member {kid!r}: unknown status {member.get('status')!r}") from None
    not_after = _time(member, "not_after")
    if status is KeyStatus.RETIRED and not_after is None:
        raise KeyFormatError(f"JWKS member {kid!r} is retired but has no not_after")
    raw = None
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KeyEntry(
        kid=kid,
        alg=alg,
        status=status,
        public_key=public_key,
        created_at=_time(member, "created_at"),
        not_before=_time(member, "not_before"),
        not_after=not_after,
        revoked_at=_time(member, "revoked_at"),
        ed25519_raw=raw,
    )


_CODES: tuple[tuple[type[KmsConformError], FindingCode], ...] = (
    (UnknownKey, FindingCode.UNKNOWN_KEY),
    (KeyRevoked, FindingCode.KEY_REVOKED),
    (KeyNotValidAtTime, FindingCode.KEY_NOT_VALID_AT_TIME),
    (InvalidSignature, FindingCode.BAD_SIGNATURE),
)


def _code_of(exc: KmsConformError) -> FindingCode:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return FindingCode.BAD_SIGNATURE


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
            verify_mac(secret, digest, value)
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
            return (_code_of(exc), index, f"record {index}: {exc}")
        except ValueError as exc:  # a ts that is not RFC 3339
            return (FindingCode.FORMAT_ERROR, index, f"record {index}: {exc}")
        return None

    # -- chains ----------------------------------------------------------------------------
    def verify_records(self, records: Iterable[AuditRecord]) -> list[Finding]:
        """Check the chain (genesis, seq, prev_hash links), each hash and each signature."""
        chain = _Chain()
        for index, record in enumerate(records):
            chain.link(index, record.seq, record.prev_hash, record.hash)
            try:
                digest = _digest(canonicalize_payload(record.payload), record.prev_hash)
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
        pool = _Pool(self, workers) if workers > 1 else None
        try:
            with open_lines(source) as lines:
                return self._verify_lines(lines, pool)
        finally:
            if pool is not None:
                pool.close()

    def _verify_lines(self, lines: Iterator[bytes], pool: _Pool | None) -> list[Finding]:
        chain = _Chain()
        first = next(lines, None)
        if first is None:
            chain.add(FindingCode.TRUNCATED, 0, "archive is empty: no header, no checkpoint")
            return chain.findings()
        try:
            parse_header(first)
        except ArchiveFormatError as exc:
            chain.add(FindingCode.FORMAT_ERROR, None, f"header: {exc}")
            return chain.findings()
        records_hash = hashlib.sha256()
        checkpoint: Checkpoint | None = None
        count, start = 0, 0
        batch: list[bytes] = []
        for line in lines:
            if checkpoint is not None:
                chain.add(FindingCode.FORMAT_ERROR, count, "line after the checkpoint")
                break
            if b'"checkpoint"' in line[:32]:  # records start with {"hash": (canonical key order)
                try:
                    obj = loads_line(line)
                except ArchiveFormatError:
                    obj = None
                if is_checkpoint_line(obj):
                    try:
                        checkpoint = Checkpoint.from_json(obj)
                    except ArchiveFormatError as exc:
                        chain.add(FindingCode.FORMAT_ERROR, None, f"checkpoint: {exc}")
                        return chain.findings()
                    continue
            records_hash.update(line)  # two updates: no copy of the line
            records_hash.update(b"\n")
            batch.append(line)
            count += 1
            if len(batch) >= BATCH:
                self._dispatch(chain, pool, start, batch)
                start, batch = count, []
        if batch:
            self._dispatch(chain, pool, start, batch)
        if pool is not None:
            pool.drain(chain)
        self._check_checkpoint(chain, checkpoint, count, chain.head, records_hash.hexdigest())
        return chain.findings()

    def _dispatch(self, chain: _Chain, pool: _Pool | None, start: int, batch: list[bytes]) -> None:
        if pool is None:
            chain.join(start, self.check_lines(start, batch))
        else:
            pool.submit(start, batch, chain)

    def check_lines(self, start: int, lines: list[bytes]) -> _Segment:
        """Every check of a run of consecutive record lines, links between them included; only the link
        of the first line to the record before the run is left to :meth:`_Chain.join`."""
        segment = _Chain(segment=True)
        for index, line in enumerate(lines, start):
            fast = _fast_record(line)
            if fast is not None and self._verify_fast(fast):
                segment.link(index, fast.seq, fast.prev_hash, fast.hash)
            else:
                self._check_line(segment, index, line)
        return segment.summary()

    def _verify_fast(self, record: _FastRecord) -> bool:
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

    def _check_line(self, chain: _Chain, index: int, line: bytes) -> None:
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
        self, index: int, obj: Any, results: list[_Result], line: bytes = b""
    ) -> tuple[_Link | None, _Task | None]:
        """Hash check of one parsed record line: its link fields and its signature check."""
        fields = _fast_fields(obj)
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
        # Fast paths, fastest first: the payload's bytes as they sit in a canonical line, then an
        # encoder that gives RFC 8785 bytes for most payloads. If the digest matches, those bytes
        # are the signed canonical bytes; otherwise the real canonicalizer decides.
        digest = b""
        sliced = _payload_slice(line, obj, fields)
        if sliced is not None:
            digest = _digest(sliced, prev_hash)
        if digest.hex() != hash_:
            try:
                digest = _digest(_FAST_ENCODE(payload).encode(), prev_hash)
            except (ValueError, UnicodeEncodeError):
                digest = b""
        if digest.hex() != hash_:
            try:
                digest = _digest(canonicalize_payload(payload), prev_hash)
            except CanonicalizationError as exc:
                results.append((FindingCode.HASH_MISMATCH, index, f"record {index}: {exc}"))
                return link, None
            if digest.hex() != hash_:
                results.append(
                    (FindingCode.HASH_MISMATCH, index, f"record {index}: hash is not the digest of its payload")
                )
                return link, None
        return link, (index, kid, alg, digest, value, ts)

    def _check_checkpoint(
        self, chain: _Chain, checkpoint: Checkpoint | None, count: int, head: str | None, records_sha256: str
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
            chain.add(_code_of(exc), None, f"checkpoint signature: {exc}")


_FAST_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_B64_TO_STD = bytes.maketrans(b"-_", b"+/")
_RecordFields = tuple[int, str, Any, "str | None", str, str, str, bytes]


_HEX_DIGITS = frozenset("0123456789abcdef")


def _is_hex(text: str) -> bool:
    """Lower-case hex only (found by fuzzing: a 64-char non-hex prev_hash reached ``bytes.fromhex``)."""
    return _HEX_DIGITS.issuperset(text)


def _fast_fields(obj: Any) -> _RecordFields | None:
    """The fields of a well-formed record, cheaply; ``None`` when anything looks wrong."""
    if type(obj) is not dict or len(obj) != 6:
        return None
    try:
        seq, ts, prev_hash, hash_, sig = obj["seq"], obj["ts"], obj["prev_hash"], obj["hash"], obj["signature"]
        payload = obj["payload"]
        kid, alg, b64 = sig["kid"], sig["alg"], sig["sig"]
    except (KeyError, TypeError):
        return None
    if (
        type(seq) is not int
        or seq < 0
        or type(ts) is not str
        or type(hash_) is not str
        or len(hash_) != 64
        or not (prev_hash is None or (type(prev_hash) is str and len(prev_hash) == 64 and _is_hex(prev_hash)))
        or len(sig) != 3
        or type(kid) is not str
        or not kid
        or alg not in _ALG_NAMES
        or type(b64) is not str
        or "+" in b64
        or "/" in b64
        or "=" in b64
    ):
        return None
    try:
        if datetime.fromisoformat(ts).tzinfo is None:
            return None
        padded = (b64 + "=" * (-len(b64) % 4)).encode("ascii")
        value = binascii.a2b_base64(padded.translate(_B64_TO_STD), strict_mode=True)
    except (ValueError, binascii.Error, UnicodeEncodeError):
        return None
    return (seq, ts, payload, prev_hash, hash_, kid, alg, value)


_ALG_NAMES = frozenset(a.value for a in Algorithm)
_LINE_HEAD = b'{"hash":"'
_PAYLOAD_KEY = b'","payload":'
_PAYLOAD_AT = len(_LINE_HEAD) + 64 + len(_PAYLOAD_KEY)


def _payload_slice(line: bytes, obj: dict[str, Any], fields: _RecordFields) -> bytes | None:
    """The payload's bytes inside a record line laid out canonically, or ``None``.

    Sound because the head is fixed (a hex hash: no quote can hide in it), the slice is exactly one
    JSON value, and everything after it is rebuilt from the parsed fields and compared: no second
    ``payload`` member can hide anywhere, so the slice is the value the parser returned.
    """
    if not line.startswith(_LINE_HEAD) or line[_PAYLOAD_AT - len(_PAYLOAD_KEY) : _PAYLOAD_AT] != _PAYLOAD_KEY:
        return None
    if not _HEX64.fullmatch(line, len(_LINE_HEAD), len(_LINE_HEAD) + 64):
        return None
    end = line.rfind(b',"prev_hash":')
    if end < _PAYLOAD_AT:
        return None
    seq, ts, _, prev_hash, _, kid, alg, _ = fields
    prev = "null" if prev_hash is None else f'"{prev_hash}"'
    b64 = obj["signature"]["sig"]
    tail = (
        f',"prev_hash":{prev},"seq":{seq},"signature":{{"alg":"{alg}","kid":{_FAST_ENCODE(kid)},'
        f'"sig":"{b64}"}},"ts":{_FAST_ENCODE(ts)}}}'
    )
    if line[end:] != tail.encode("utf-8") or not _ends_payload(line[:end].decode("utf-8")):
        return None
    return line[_PAYLOAD_AT:end]


def _ends_payload(text: str, end: int | None = None) -> bool:
    """Whether the JSON value at the payload's place in a record line ends exactly at ``end`` (default:
    the end of ``text``): else a signed ``{...},"payload":{...}`` there would pass as the second payload."""
    try:
        return _SCAN_PAYLOAD(text, _PAYLOAD_AT)[1] == (len(text) if end is None else end)
    except (StopIteration, ValueError, RecursionError):
        return False


class _FastRecord(NamedTuple):
    seq: int
    prev_hash: str | None
    hash: str
    kid: str
    alg: str
    sig: bytes
    at: datetime
    digest: bytes


# A record line as the exporter writes it (RFC 8785 member order) with printable ASCII strings (no
# escapes) and a seq below 2**53: everything after the payload, which the JSON scanner checks.
_TAIL = re.compile(
    r',"prev_hash":(?:null|"([0-9a-f]{64})"),"seq":(0|[1-9][0-9]{0,14}),'
    r'"signature":\{"alg":"([a-z0-9-]{1,32})","kid":"([ !#-\[\]-~]+)","sig":"([A-Za-z0-9_-]*)"\},'
    r'"ts":"([ !#-\[\]-~]{1,64})"\}'
)
# Payload bytes are hashed as written, so ints need no parse_int hook here (unlike loads_canonical).
_SCAN_PAYLOAD = cast(
    Callable[[str, int], tuple[Any, int]],
    json.scanner.make_scanner(json.JSONDecoder(parse_constant=_refuse_constant)),  # type: ignore[arg-type]
)
_B64_PAD = (b"", b"===", b"==", b"=")
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_HASH_AT = len(_LINE_HEAD)
_HASH_END = _HASH_AT + 64


def _fast_record(line: bytes) -> _FastRecord | None:
    """A canonical record line whose hash is the digest of its payload bytes as written, cheaply;
    ``None`` for anything else (the general path then decides).

    Sound because the line is matched whole: fixed head, exactly one JSON value (the scanner's
    end must be the tail's start), a tail without escapes or room for a second member.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text.startswith('{"hash":"') or not text.startswith('","payload":', _HASH_END):
        return None
    hash_ = text[_HASH_AT:_HASH_END]  # known to be hex once compared with the digest below
    end = text.rfind(',"prev_hash":')
    tail = _TAIL.fullmatch(text, end) if end > 0 else None
    if tail is None:
        return None
    if not _ends_payload(text, end):
        return None
    try:
        at = datetime.fromisoformat(tail[6])
        b64 = tail[5].encode("ascii").translate(_B64_TO_STD) + _B64_PAD[len(tail[5]) % 4]
        sig = binascii.a2b_base64(b64, strict_mode=True)
    except (ValueError, binascii.Error):
        return None
    if at.tzinfo is None:
        return None
    payload = line[_PAYLOAD_AT : len(line) - (len(text) - end)]  # the tail is ASCII: same length in bytes
    prev_hash = tail[1]
    digest = _digest(payload, prev_hash)
    if digest.hex() != hash_:
        return None
    return _FastRecord(int(tail[2]), prev_hash, hash_, tail[4], tail[3], sig, at, digest)


def _digest(canonical: bytes, prev_hash: str | None) -> bytes:
    h = hashlib.sha256(canonical)
    if prev_hash is not None:
        h.update(bytes.fromhex(prev_hash))
    return h.digest()


def _at(ts: str) -> datetime:
    value = datetime.fromisoformat(ts)
    if value.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} has no UTC offset")
    return value


_START = object()  # before the genesis record
_LOST = object()  # after an unparsable record: the next link cannot be judged
_OPEN = object()  # a segment's start: the link to the record before is judged by _Chain.join

_Opening = tuple[int, "str | None"]  # seq and prev_hash of a segment's first record
_Segment = tuple["_Opening | None", "tuple[int, str] | None", dict[FindingCode, tuple["int | None", str, int]]]


class _Chain:
    """Sequential chain state plus findings: the first index and a count per code.

    With ``segment=True`` it checks a run of records in isolation (a batch, maybe in a worker) and
    :meth:`summary` returns what :meth:`join` needs to continue the whole chain with it.
    """

    def __init__(self, *, segment: bool = False) -> None:
        self.head: str | None = None
        self._prev: object | tuple[int, str] = _OPEN if segment else _START
        self._opening: _Opening | None = None
        self._first: dict[FindingCode, tuple[int | None, str]] = {}
        self._count: dict[FindingCode, int] = {}

    def add(self, code: FindingCode, index: int | None, message: str, count: int = 1) -> None:
        self._count[code] = self._count.get(code, 0) + count
        current = self._first.get(code)
        if current is None or (index is not None and (current[0] is None or index < current[0])):
            self._first[code] = (index, message)

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

    def summary(self) -> _Segment:
        """A segment's opening link (``None``: its first record was unparsable), its last record's
        ``(seq, hash)`` (``None``: unparsable) and its findings (first index, message, count)."""
        end = self._prev if isinstance(self._prev, tuple) else None
        findings = {code: (index, message, self._count[code]) for code, (index, message) in self._first.items()}
        return self._opening, end, findings

    def join(self, start: int, segment: _Segment) -> None:
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


# -- worker processes -------------------------------------------------------------------------
_WORKER: Verifier | None = None


def _init_worker(jwks: dict[str, Any], hmac_secrets: dict[str, bytes]) -> None:
    global _WORKER
    _WORKER = Verifier(jwks, hmac_secrets=hmac_secrets)


def _run_lines(start: int, lines: list[bytes]) -> _Segment:
    assert _WORKER is not None
    return _WORKER.check_lines(start, lines)


def _context() -> multiprocessing.context.BaseContext:
    """Fork when it is safe (Linux, this process has one thread): workers start in milliseconds with
    everything imported. Otherwise a fork server that imports this module once for all workers."""
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


class _Pool:
    """Batches of record lines checked on a process pool, at most ``2 * workers`` in flight.

    This process reads and hashes the lines and joins the segments; workers parse, hash, verify and
    link the records of a batch.
    """

    def __init__(self, verifier: Verifier, workers: int) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=_context(),
            initializer=_init_worker,
            initargs=(verifier._jwks, verifier._hmac),
        )
        self._inflight: list[tuple[int, Future[_Segment]]] = []
        self._limit = 2 * workers

    def submit(self, start: int, lines: list[bytes], chain: _Chain) -> None:
        while len(self._inflight) >= self._limit:
            self._collect(chain)
        self._inflight.append((start, self._executor.submit(_run_lines, start, lines)))

    def _collect(self, chain: _Chain) -> None:
        start, future = self._inflight.pop(0)
        chain.join(start, future.result())

    def drain(self, chain: _Chain) -> None:
        while self._inflight:
            self._collect(chain)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
