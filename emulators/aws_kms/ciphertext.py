"""Symmetric ciphertext blobs of the fidelity layer (AWS's own format is opaque and undocumented).

``blob = key id (36 ASCII bytes) || key material id (32 bytes) || IV (12) || AES-256-GCM ciphertext+tag``.
The GCM associated data is the 68-byte header followed by the encryption context as sorted,
compact JSON, so a blob only opens under its key, its key material and the same context. The
material id in the header lets a key decrypt what it encrypted before a rotation, as AWS does.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidCiphertextException

KEY_ID_LEN = 36  # a UUID, or "mrk-" and 32 hex digits
MATERIAL_ID_LEN = 32
IV_LEN = 12
TAG_LEN = 16
HEADER_LEN = KEY_ID_LEN + MATERIAL_ID_LEN


def _context(encryption_context: dict[str, str] | None) -> bytes:
    return json.dumps(encryption_context or {}, sort_keys=True, separators=(",", ":")).encode()


def seal(
    key_id: str, material_id: str, secret: bytes, plaintext: bytes, encryption_context: dict[str, str] | None
) -> bytes:
    header = key_id.encode("ascii") + bytes.fromhex(material_id)
    if len(header) != HEADER_LEN:
        raise ValueError(f"key id {key_id!r} or material id is not of the expected length")
    iv = os.urandom(IV_LEN)
    return header + iv + AESGCM(secret).encrypt(iv, plaintext, header + _context(encryption_context))


def header(blob: bytes) -> tuple[str, str]:
    """``(key id, key material id)`` of a blob; ``InvalidCiphertextException`` when it is not one of ours."""
    if len(blob) < HEADER_LEN + IV_LEN + TAG_LEN:
        raise InvalidCiphertextException()
    try:
        key_id = blob[:KEY_ID_LEN].decode("ascii")
    except UnicodeDecodeError:
        raise InvalidCiphertextException() from None
    return key_id, blob[KEY_ID_LEN:HEADER_LEN].hex()


def open_blob(blob: bytes, secret: bytes, encryption_context: dict[str, str] | None) -> bytes:
    head, iv, body = blob[:HEADER_LEN], blob[HEADER_LEN : HEADER_LEN + IV_LEN], blob[HEADER_LEN + IV_LEN :]
    try:
        return AESGCM(secret).decrypt(iv, body, head + _context(encryption_context))
    except (InvalidTag, ValueError):
        raise InvalidCiphertextException() from None
