"""Canonicalization (RFC 8785) and the audit digest of seed 001.

``digest = SHA256(canonical_payload_bytes || prev_hash_bytes)`` where ``prev_hash_bytes`` are the
32 raw bytes of the previous record's hash (hex-decoded); the genesis record has
``prev_hash = None`` and contributes no bytes. Names mirror the seed's TypeScript API.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

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
