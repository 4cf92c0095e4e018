"""Shared material for the suites: reference keys and verifier, digests, archives and their tampering.

Set-up material is always well formed; only the input a check is about carries the defect.

Just over our ~400-line rule: the set-up every suite shares (keys, archives, tampering); a split
would make each suite import from several places for one archive.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
from pytest_kmsconform.reference_impl.canonical import audit_digest, canonicalize_payload, loads_canonical
from pytest_kmsconform.reference_impl.clock import format_time, parse_time
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.primitives import PrivateKey, generate_private_key
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
    # another ML-DSA parameter set: a verifier that checks only the family ("ml-dsa") is fooled
    Algorithm.ML_DSA_44: Algorithm.ML_DSA_65,
    Algorithm.ML_DSA_65: Algorithm.ML_DSA_44,
    Algorithm.ML_DSA_87: Algorithm.ML_DSA_65,
}
"""For the changed-alg check: a different algorithm a verifier could be fooled into using."""


# -- payloads where RFC 8785 and a look-alike disagree ---------------------------------------------
TRICKY_PAYLOAD: dict[str, Any] = {
    "type": "approval",
    "floats": [1.0, 1e16, -0.0, 0.1, 1e-7, 2.5e21],
    "ints": [2**53 - 1, -(2**53 - 1), 2**53 - 2],
    "text": "Z\u00fcrich caf\u00e9 \u2013 \u65e5\u672c \U0001f600",
    "\u00e9": "e-acute key",
    "\ue000": "private-use key: after the non-BMP key in UTF-16 order, before it in code points",
    "\U0001f600": "non-BMP key",
}
"""An audit payload on which RFC 8785 differs from look-alike canonicalizations: sorted ``json.dumps``
writes ``1.0``, ``1e+16``, ``-0.0`` and ``1e-07`` and orders keys by code point (U+E000 before
U+1F600, whose UTF-16 form starts 0xD83D), ``ensure_ascii`` escapes the non-ASCII text, and a
float round trip loses the integers next to 2**53."""

TRICKY_CANONICAL = (
    '{"floats":[1,10000000000000000,0,0.1,1e-7,2.5e+21],'
    '"ints":[9007199254740991,-9007199254740991,9007199254740990],'
    '"text":"Z\u00fcrich caf\u00e9 \u2013 \u65e5\u672c \U0001f600","type":"approval",'
    '"\u00e9":"e-acute key","\U0001f600":"non-BMP key",'
    '"\ue000":"private-use key: after the non-BMP key in UTF-16 order, before it in code points"}'
).encode()
"""The RFC 8785 bytes of :data:`TRICKY_PAYLOAD`, written out by hand (a known answer: the suites'
own canonicalizer is checked against it before it judges anyone)."""


def audit_payload(n: int, **extra: Any) -> dict[str, Any]:
    """The ``n``-th payload a check appends: :data:`TRICKY_PAYLOAD` plus ``n`` and ``extra``."""
    return {**TRICKY_PAYLOAD, "n": n, **extra}


def plain_payload(n: int) -> dict[str, Any]:
    """The ``n``-th payload of a record without canonicalization traps: ASCII strings, small integers."""
    return {"type": "approval", "n": n, "actor": "kmsconform", "note": f"record {n}"}


def oracle_canonical(payload: Any) -> bytes:
    """RFC 8785 bytes of ``payload`` as a JSON value: an integer beyond 2**53 that came back over
    JSON (a child process writes the double 1e16 as ``10000000000000000``) is that double."""
    if canonicalize_payload(TRICKY_PAYLOAD) != TRICKY_CANONICAL:
        raise AssertionError("the suites' RFC 8785 canonicalizer disagrees with its known answer")
    return canonicalize_payload(loads_canonical(json.dumps(payload, ensure_ascii=False)))


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


_RSA = frozenset({Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256})


class KeyPool:
    """RSA keys for the suites' own material, reused across checks but never within one.

    RSA-2048 generation was a fifth of a full run's time, spent again in every check that makes
    agents. Call :meth:`restart` as a check begins: its draws then return the pool's keys in order,
    each a different key (a new one when the check needs more than any check before it).
    """

    def __init__(self) -> None:
        self._keys: dict[Algorithm, list[PrivateKey]] = {}
        self._next: dict[Algorithm, int] = {}
        self._lock = threading.Lock()

    def restart(self) -> None:
        with self._lock:
            self._next.clear()

    def draw(self, alg: Algorithm) -> PrivateKey:
        with self._lock:
            index = self._next.get(alg, 0)
            self._next[alg] = index + 1
            keys = self._keys.setdefault(alg, [])
            if index == len(keys):
                keys.append(generate_private_key(alg))
            return keys[index]


class SuiteKeyBackend(LocalKeyBackend):
    """The local backend for the suites' own keys; RSA versions come from ``pool`` when one is given."""

    def __init__(self, pool: KeyPool | None = None) -> None:
        super().__init__()
        self._pool = pool

    def _new_material(self, alg: Algorithm, label: str, n: int) -> PrivateKey | bytes:
        if self._pool is None or alg not in _RSA:
            return super()._new_material(alg, label, n)
        return self._pool.draw(alg)


@dataclass
class ReferenceKey:
    """A reference key ring on the suites' key backend; ``signer`` signs with its active version."""

    ring: KeyRing
    signer: RingSigner

    @classmethod
    def create(cls, alg: Algorithm, label: str, pool: KeyPool | None = None) -> ReferenceKey:
        """A fresh key ring; with ``pool``, its RSA versions are drawn from it (see :class:`KeyPool`)."""
        ring = KeyRing(SuiteKeyBackend(pool), alg, label)
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


PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k", "oth", "priv", "seed")  # RFC 7518 section 6, RFC 9964


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
        expected = audit_digest(oracle_canonical(rec.get("payload")), rec.get("prev_hash")).hex()
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


def noncanonical_lines(path: Path) -> list[str]:
    """Lines of an archive file that are not RFC 8785 canonical JSON (the format says every line is)."""
    problems = []
    for n, line in enumerate(path.read_bytes().splitlines()):
        try:
            canonical = canonicalize_payload(loads_canonical(line))
        except Exception as exc:  # collected: not JSON, or no canonical form
            problems.append(f"line {n + 1}: {type(exc).__name__}: {exc}")
            continue
        if canonical != line:
            problems.append(f"line {n + 1} is not canonical: {line[:120]!r}")
    return problems


# -- archives --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Archive:
    """An archive split into its lines: header, records (parsed), checkpoint. ``raw`` replaces the
    bytes written for some record lines (by index), for tampers that keep the parsed record."""

    header: dict[str, Any]
    records: list[dict[str, Any]]
    checkpoint: dict[str, Any]
    raw: Mapping[int, bytes] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Archive:
        lines = [loads_canonical(line) for line in path.read_bytes().splitlines() if line.strip()]
        return cls(lines[0], lines[1:-1], lines[-1])

    def write(self, path: Path) -> Path:
        lines = [canonicalize_payload(self.header)]
        lines += [self.raw.get(i) or canonicalize_payload(r) for i, r in enumerate(self.records)]
        lines.append(canonicalize_payload(self.checkpoint))
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        return path

    def with_records(self, records: list[dict[str, Any]]) -> Archive:
        return Archive(self.header, records, self.checkpoint)


def build_reference_archive(key: ReferenceKey, path: Path, n: int) -> Path:
    """A valid archive of ``n`` records signed by ``key``, built here from the contract (docs/spec.md
    sections 4-6) rather than by the reference audit store, so that a defect in the implementation
    under test (the reference's store, say, in a mutation run) never reaches the material it is judged
    against."""
    records: list[dict[str, Any]] = []
    prev: str | None = None
    for i in range(n):
        # even records carry the RFC 8785 traps; odd ones are plain ASCII, the common case a verifier
        # may take a shortcut for (tampers at 1 and 3 then reach that shortcut)
        payload = audit_payload(i, note=f"record {i}") if i % 2 == 0 else plain_payload(i)
        digest_hex = audit_digest(oracle_canonical(payload), prev).hex()
        signature = key.signer.sign_digest(bytes.fromhex(digest_hex)).to_json()
        ts = format_time(now())
        records.append(
            {"seq": i, "ts": ts, "payload": payload, "prev_hash": prev, "hash": digest_hex, "signature": signature}
        )
        prev = digest_hex
    body = b"".join(canonicalize_payload(r) + b"\n" for r in records)
    created_at = format_time(now())
    checkpoint = {
        "count": n,
        "created_at": created_at,
        "head_hash": prev,
        "records_sha256": hashlib.sha256(body).hexdigest(),
    }
    signed = hashlib.sha256(canonicalize_payload(checkpoint)).digest()
    checkpoint["signature"] = key.signer.sign_digest(signed).to_json()
    header = {"created_at": created_at, "format": ARCHIVE_FORMAT, "producer": "kmsconform suites"}
    return Archive(header, records, {"checkpoint": checkpoint}).write(path)


ARCHIVE_FORMAT = "kmsconform-audit-archive/1"
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


def change_ts(i: int) -> Tamper:
    """Move record ``i``'s ``ts`` by one microsecond: its digest, link and signature stay valid (``ts``
    is outside the digest, and the key is valid at both times); only the checkpoint covers it."""

    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        recs[i]["ts"] = format_time(parse_time(recs[i]["ts"]) + timedelta(microseconds=1))
        return a.with_records(recs)

    return apply


def reformat_line(i: int) -> Tamper:
    """Write record ``i`` as the same JSON value in other bytes (``json.dumps`` with blanks)."""

    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        line = json.dumps(a.records[i], ensure_ascii=False).encode()
        return Archive(a.header, a.records, a.checkpoint, {i: line})

    return apply


def sorted_json_dumps(payload: Any) -> bytes:
    """A look-alike of RFC 8785 that many producers ship: sorted, compact ``json.dumps``."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hashed_over_look_alike(a: Archive, key: ReferenceKey, i: int, *, write_look_alike: bool) -> Archive:
    """``a`` as a lenient producer holding ``key`` writes it: record ``i``'s hash is over
    :func:`sorted_json_dumps` of its payload, not its RFC 8785 form, and signed; the records after it
    chain onto that hash (re-hashed and re-signed); the checkpoint counts the lines as written and is
    re-signed. Only record ``i``'s hash is wrong. With ``write_look_alike`` the line holds the bytes
    that were hashed (so the digest of the bytes as written matches), else the canonical payload."""
    records, raw, prev = [dict(r) for r in a.records], {}, a.records[i]["prev_hash"]
    for n in range(i, len(records)):
        payload = records[n]["payload"]
        hashed = sorted_json_dumps(payload) if n == i else oracle_canonical(payload)
        digest = audit_digest(hashed, prev)
        records[n].update(prev_hash=prev, hash=digest.hex(), signature=key.signer.sign_digest(digest).to_json())
        prev = digest.hex()
    if write_look_alike:
        line = canonicalize_payload({**records[i], "payload": None})
        raw[i] = line.replace(b'"payload":null', b'"payload":' + sorted_json_dumps(records[i]["payload"]), 1)
    return resealed(a, key, records, raw)


def resealed(a: Archive, key: ReferenceKey, records: list[dict[str, Any]], raw: Mapping[int, bytes]) -> Archive:
    """``records`` (with ``raw`` lines) under a checkpoint that counts the lines as written, re-signed
    by ``key``: a finding can then only come from the records themselves."""
    lines = b"".join((raw.get(n) or canonicalize_payload(r)) + b"\n" for n, r in enumerate(records))
    body = {k: v for k, v in a.checkpoint["checkpoint"].items() if k != "signature"}
    body.update(head_hash=records[-1]["hash"], records_sha256=hashlib.sha256(lines).hexdigest())
    signature = key.signer.sign_digest(hashlib.sha256(canonicalize_payload(body)).digest()).to_json()
    return Archive(a.header, records, {"checkpoint": {**body, "signature": signature}}, raw)


def upper_case_hash(a: Archive, key: ReferenceKey, i: int) -> Archive:
    """``a`` with record ``i``'s ``hash`` and record ``i + 1``'s ``prev_hash`` in upper-case hex: the same
    32 bytes (so every signature and the link still hold for a reader that ignores case), the
    checkpoint re-sealed by ``key``. Hashes are lower-case hex (docs/spec.md section 4)."""
    records = [dict(r) for r in a.records]
    records[i]["hash"] = records[i]["hash"].upper()
    records[i + 1]["prev_hash"] = records[i]["hash"]
    return resealed(a, key, records, {})


def relabel_unpublished(i: int) -> Tamper:
    """Give record ``i``'s valid signature a kid that is in no key set (the bytes are unchanged)."""

    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        recs[i]["signature"] = {**recs[i]["signature"], "kid": UNPUBLISHED_KID}
        return a.with_records(recs)

    return apply


UNPUBLISHED_KID = "kmsconform-unpublished-v1"
"""A kid that no key set in the suites publishes."""


def flip_signature(i: int) -> Tamper:
    def apply(a: Archive, intruder: ReferenceKey) -> Archive:
        recs = [dict(r) for r in a.records]
        sig = Signature.from_json(recs[i]["signature"])
        recs[i]["signature"] = {**recs[i]["signature"], "sig": b64url_encode(flip_bit(sig.value, 5))}
        return a.with_records(recs)

    return apply


def later(at: datetime, seconds: float = 1.0) -> datetime:
    return at + timedelta(seconds=seconds)
