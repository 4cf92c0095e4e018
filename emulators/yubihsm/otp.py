"""Yubico OTP AEADs: ``nonce(6) || AES-CCM(key, nonce_id(4, LE) || nonce || 00 00 00, tag 8)(aes key || private id)``.

DECRYPT_OTP decrypts a 16-byte OTP with the AEAD's AES key and checks the private id and the
CRC-16 (residue ``0xF0B8``); a bad OTP is ``INVALID_OTP``.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .defs import Error
from .errors import DeviceError

NONCE = 6
TAG = 8
SECRET = 22  # AES-128 key (16) + private id (6)
AEAD_LENGTH = NONCE + SECRET + TAG
CRC_RESIDUE = 0xF0B8


def _nonce(nonce_id: bytes, nonce: bytes) -> bytes:
    return nonce_id + nonce + b"\x00\x00\x00"


def seal(key: bytes, nonce_id: bytes, nonce: bytes, secret: bytes) -> bytes:
    if len(secret) != SECRET:
        raise DeviceError(Error.WRONG_LENGTH, "an OTP AEAD holds a 16-byte AES key and a 6-byte private id")
    return nonce + AESCCM(key, tag_length=TAG).encrypt(_nonce(nonce_id, nonce), secret, None)


def open_aead(key: bytes, nonce_id: bytes, aead: bytes) -> bytes:
    if len(aead) != AEAD_LENGTH:
        raise DeviceError(Error.WRONG_LENGTH, f"an OTP AEAD is {AEAD_LENGTH} bytes")
    try:
        return AESCCM(key, tag_length=TAG).decrypt(_nonce(nonce_id, aead[:NONCE]), aead[NONCE:], None)
    except InvalidTag:
        raise DeviceError(Error.INVALID_DATA, "the AEAD does not authenticate under this key") from None


def _crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def decrypt_otp(secret: bytes, otp: bytes) -> bytes:
    """The ``<HBBH`` reply (use counter, session counter, timestamp high, timestamp low)."""
    if len(otp) != 16:
        raise DeviceError(Error.WRONG_LENGTH, "an OTP is 16 bytes")
    decryptor = Cipher(algorithms.AES(secret[:16]), modes.ECB()).decryptor()
    token = decryptor.update(otp) + decryptor.finalize()
    if token[:6] != secret[16:] or _crc16(token) != CRC_RESIDUE:
        raise DeviceError(Error.INVALID_OTP, "OTP does not decrypt to this private id with a valid CRC")
    use_counter, ts_low, ts_high, session_counter, _random = struct.unpack_from("<HHBBH", token, 6)
    return struct.pack("<HBBH", use_counter, session_counter, ts_high, ts_low)
