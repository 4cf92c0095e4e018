"""Record lines as the exporter writes them, read fast (the archive format is :mod:`.archive`).

A line laid out canonically (RFC 8785 member order, printable ASCII strings in the tail) is read
without a full JSON parse: :func:`fast_record` matches the line whole and digests the payload's
bytes as written; :func:`fast_fields` and :func:`payload_slice` take the cheap route through a
parsed line. Anything unexpected gives ``None``, and the caller's general path decides.
"""

from __future__ import annotations

import binascii
import json
import json.scanner
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple, cast

from ..algorithms import Algorithm
from ..canonical import _refuse_constant, audit_digest

FAST_ENCODE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
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


def payload_slice(line: bytes, obj: dict[str, Any], fields: RecordFields) -> bytes | None:
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
        f',"prev_hash":{prev},"seq":{seq},"signature":{{"alg":"{alg}","kid":{FAST_ENCODE(kid)},'
        f'"sig":"{b64}"}},"ts":{FAST_ENCODE(ts)}}}'
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
# Payload bytes are hashed as written, so ints need no parse_int hook here (unlike loads_canonical).
_SCAN_PAYLOAD = cast(
    Callable[[str, int], tuple[Any, int]],
    json.scanner.make_scanner(json.JSONDecoder(parse_constant=_refuse_constant)),  # type: ignore[arg-type]
)
_B64_PAD = (b"", b"===", b"==", b"=")
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_HASH_AT = len(_LINE_HEAD)
_HASH_END = _HASH_AT + 64


def fast_record(line: bytes) -> FastRecord | None:
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
    digest = audit_digest(payload, prev_hash)
    if digest.hex() != hash_:
        return None
    return FastRecord(int(tail[2]), prev_hash, hash_, tail[4], tail[3], sig, at, digest)
