"""Record lines as the exporter writes them, read fast (the archive format is :mod:`.archive`).

A line laid out canonically (RFC 8785 member order, printable ASCII strings in the tail, a payload
written in its RFC 8785 form) is read without a full JSON parse: :func:`fast_record` matches the line
whole, proves the payload's bytes canonical and digests them; :func:`fast_fields` takes the cheap
route through a parsed line. Anything unexpected gives ``None``, and the caller's general path
decides. The digest is only ever over canonical bytes: bytes that merely hash right are not enough.
"""

from __future__ import annotations

import binascii
import re
from datetime import datetime
from typing import Any, NamedTuple

from ..algorithms import Algorithm
from ..canonical import audit_digest, is_canonical_at

_B64_TO_STD = bytes.maketrans(b"-_", b"+/")
RecordFields = tuple[int, str, Any, "str | None", str, str, str, bytes]


_HEX_DIGITS = frozenset("0123456789abcdef")


def _is_hex(text: str) -> bool:
    """Lower-case hex only (found by fuzzing: a 64-char non-hex prev_hash reached ``bytes.fromhex``)."""
    return _HEX_DIGITS.issuperset(text)


def fast_fields(obj: Any) -> RecordFields | None:
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


class FastRecord(NamedTuple):
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
_B64_PAD = (b"", b"===", b"==", b"=")
_HASH_AT = len(_LINE_HEAD)
_HASH_END = _HASH_AT + 64


def fast_record(line: bytes) -> FastRecord | None:
    """A canonical record line whose hash is the digest of its payload, cheaply; ``None`` for anything
    else (the general path then decides).

    Sound because the line is matched whole: fixed head, exactly one JSON value written in its RFC
    8785 form (the scanner's end must be the tail's start, and the C encoder, where it provably
    agrees with RFC 8785, writes the same text), a tail without escapes or room for a second member.
    So the bytes digested are the canonical payload, not merely bytes whose hash matches.
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
    if not is_canonical_at(text, _PAYLOAD_AT, end):
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
    digest = audit_digest(payload, prev_hash)
    if digest.hex() != hash_:
        return None
    # tuple.__new__ skips the NamedTuple's Python-level __new__ (this runs once per record)
    return tuple.__new__(FastRecord, (int(tail[2]), prev_hash, hash_, tail[4], tail[3], sig, at, digest))
