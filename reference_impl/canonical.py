"""Canonicalization (RFC 8785) and the audit digest of seed 001.

``digest = SHA256(canonical_payload_bytes || prev_hash_bytes)`` where ``prev_hash_bytes`` are the
32 raw bytes of the previous record's hash (hex-decoded); the genesis record has
``prev_hash = None`` and contributes no bytes. Names mirror the seed's TypeScript API.
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
import re
from collections.abc import Callable
from typing import Any, cast

import rfc8785

from .errors import CanonicalizationError, InvalidDigest

DIGEST_SIZE = 32


def canonicalize_payload(payload: Any) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``payload``.

    :raises CanonicalizationError: for values RFC 8785 cannot represent (NaN, infinities,
        integers beyond IEEE 754 double precision, non-string keys, lone surrogates, other types).
    """
    try:
        return rfc8785.dumps(payload)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise CanonicalizationError(f"payload cannot be canonicalized (RFC 8785): {exc}") from None


def parse_hash_hex(value: str, what: str = "hash") -> bytes:
    """Decode a 64-character lower-case hex SHA-256 value."""
    if not isinstance(value, str) or len(value) != 2 * DIGEST_SIZE:
        raise InvalidDigest(f"{what} must be {2 * DIGEST_SIZE} hex characters")
    if value != value.lower():
        raise InvalidDigest(f"{what} must be lower-case hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise InvalidDigest(f"{what} is not hex") from None


def audit_digest(canonical: bytes, prev_hash: str | bytes | None) -> bytes:
    """The seed's audit digest, ``SHA256(canonical || prev_hash_bytes)``: the one place it is computed.

    :param canonical: the record's canonical payload bytes (:func:`canonicalize_payload`).
    :param prev_hash: the previous record's hash, as 64 lower-case hex characters or 32 bytes;
        ``None`` for the genesis record.
    :raises InvalidDigest: ``prev_hash`` is not a SHA-256 value.
    """
    h = hashlib.sha256(canonical)
    if prev_hash is not None:
        h.update(require_digest(prev_hash) if isinstance(prev_hash, bytes) else parse_hash_hex(prev_hash, "prev_hash"))
    return h.digest()


def require_digest(digest: bytes) -> bytes:
    """Check that ``digest`` is exactly 32 bytes and return it."""
    if not isinstance(digest, bytes | bytearray) or len(digest) != DIGEST_SIZE:
        size = len(digest) if isinstance(digest, bytes | bytearray) else type(digest).__name__
        raise InvalidDigest(f"an audit digest is {DIGEST_SIZE} bytes, got {size}")
    return bytes(digest)


_SAFE_INTEGER = 2**53


def _parse_int(text: str) -> int | float:
    # RFC 8785 writes a whole-number double in [2**53, 1e21) as a bare integer literal, and the
    # canonicalizer refuses such integers: read it back as the double it was, so it re-canonicalizes.
    value = int(text)
    return value if -_SAFE_INTEGER < value < _SAFE_INTEGER else float(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_CANONICAL_DECODER = json.JSONDecoder(parse_int=_parse_int, parse_constant=_refuse_constant)


def loads_canonical(text: str | bytes) -> Any:
    """Parse JSON written by :func:`canonicalize_payload` so that canonicalizing it again gives the same
    bytes (``NaN``/``Infinity`` refused). Raises ``ValueError`` / ``UnicodeDecodeError``."""
    return _CANONICAL_DECODER.decode(text.decode("utf-8") if isinstance(text, bytes) else text)


# -- the C encoder where it provably writes RFC 8785 ---------------------------------------------
def _sorted_compact_encoder() -> Callable[[Any], str]:
    """Sorted compact ``json.dumps`` (no ASCII escaping, NaN refused), built once: ``JSONEncoder.encode``
    makes a new C encoder on every call, which costs as much as the encoding of a small payload."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
    chunks = make(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False)

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    return encode


FAST_ENCODE = _sorted_compact_encoder()
"""Sorted compact ``json.dumps``: the same text as RFC 8785 for a parsed JSON value whose numbers are
integers of at most 15 characters or floats written without exponent and not ending in ``.0``, and
whose text is all in the BMP (no UTF-16 key-order question); :func:`is_canonical_at` tells which."""


class _NotShared(ValueError):
    """A number RFC 8785 may write differently from ``repr`` (the general canonicalizer decides)."""


def _shared_float(text: str) -> float:
    # rfc8785 writes a float as its repr except for an exponent or a trailing ".0" (and -0.0)
    if "e" in text or "E" in text or text.endswith(".0"):
        raise _NotShared(text)
    return float(text)


def _shared_int(text: str) -> int:
    if len(text) > 15:  # near or beyond 2**53: read as a double by the contract (loads_canonical)
        raise _NotShared(text)
    return int(text)


_SCAN_SHARED = cast(
    Callable[[str, int], tuple[Any, int]],
    json.scanner.make_scanner(
        json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_shared_float, parse_int=_shared_int)  # type: ignore[arg-type]
    ),
)
_NON_BMP = re.compile("[\U00010000-\U0010ffff]")


def is_canonical_at(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is exactly one JSON value written in its RFC 8785 form, cheaply.

    Conservative: ``False`` also for some canonical texts (numbers of 16 characters or more, an
    exponent, text outside the BMP); a caller then asks :func:`canonicalize_json_value`.
    """
    try:
        value, stop = _SCAN_SHARED(text, start)
    except (StopIteration, ValueError, RecursionError):
        return False
    if stop != end or (not text.isascii() and _NON_BMP.search(text, start, end)):
        return False
    written = FAST_ENCODE(value)
    return len(written) == end - start and text.startswith(written, start)


def canonicalize_json_value(value: Any) -> bytes:
    """:func:`canonicalize_payload` of a value parsed from JSON (:func:`loads_canonical`), through the C
    encoder when its text is provably the same (a pure-Python RFC 8785 writer is slow).

    :raises CanonicalizationError: as :func:`canonicalize_payload`.
    """
    try:
        text = FAST_ENCODE(value)
    except (TypeError, ValueError, RecursionError):
        return canonicalize_payload(value)
    if is_canonical_at(text, 0, len(text)):
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the canonicalizer names it
            pass
    return canonicalize_payload(value)
