"""SCP03 cryptography as the YubiHSM 2 uses it (pure functions, no state).

* KDF: NIST SP 800-108 in counter mode with AES-CMAC, label ``0^11 || t || 00 || L(2) || 01 || ctx``;
* session keys S-ENC (t=4, from K-ENC), S-MAC (t=6) and S-RMAC (t=7, both from K-MAC);
* cryptograms: card (t=0) and host (t=1), 64 bits, from S-MAC;
* messages: AES-128-CBC with ``IV = AES-ECB(S-ENC, counter)`` and ISO 9797-1 method 2 padding.
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_ENC = 0x04
KEY_MAC = 0x06
KEY_RMAC = 0x07
CARD_CRYPTOGRAM = 0x00
HOST_CRYPTOGRAM = 0x01
BLOCK = 16
PBKDF2_SALT = b"Yubico"
PBKDF2_ITERATIONS = 10000


def password_to_keys(password: str) -> tuple[bytes, bytes]:
    """K-ENC and K-MAC derived from a password as ``yubihsm.utils.password_to_key`` does."""
    derived = hashlib.pbkdf2_hmac("sha256", password.encode(), PBKDF2_SALT, PBKDF2_ITERATIONS, 32)
    return derived[:16], derived[16:]


def aes_cmac(key: bytes, *parts: bytes) -> bytes:
    mac = cmac.CMAC(algorithms.AES(key))
    for part in parts:
        mac.update(part)
    return mac.finalize()


def derive(key: bytes, kind: int, context: bytes, bits: int = 0x80) -> bytes:
    """The SP 800-108 KDF: ``bits`` of output for derivation constant ``kind``."""
    label = b"\x00" * 11 + struct.pack("!BBHB", kind, 0, bits, 1) + context
    return aes_cmac(key, label)[: bits // 8]


def counter_iv(s_enc: bytes, counter: int) -> bytes:
    encryptor = Cipher(algorithms.AES(s_enc), modes.ECB()).encryptor()
    return encryptor.update(counter.to_bytes(BLOCK, "big")) + encryptor.finalize()


def pad(data: bytes) -> bytes:
    """ISO 9797-1 method 2: ``80`` then zeros to a block boundary, always added."""
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % BLOCK)


def unpad(data: bytes) -> bytes:
    """Strip method-2 padding; ``ValueError`` when there is none."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80 or len(data) - len(stripped) >= BLOCK:
        raise ValueError("missing or malformed 80 00.. padding")
    return stripped[:-1]


def cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    if len(data) % BLOCK:
        raise ValueError("ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    return decryptor.update(data) + decryptor.finalize()
