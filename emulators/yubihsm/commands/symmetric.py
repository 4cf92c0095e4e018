"""HMAC keys, AES keys (ECB/CBC) and Yubico OTP AEAD keys."""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .. import otp
from ..defs import (
    AES_ALGORITHMS,
    HMAC_ALGORITHMS,
    OTP_AEAD_ALGORITHMS,
    Algorithm,
    Capability,
    Error,
    ObjectType,
    Origin,
)
from ..errors import DeviceError
from ..objects import HsmObject
from .base import (
    Context,
    _create,
    _header,
    _id_and_rest,
)


# -- HMAC keys ---------------------------------------------------------------------------------
def generate_hmac_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if rest or header.algorithm not in HMAC_ALGORITHMS:
        raise DeviceError(Error.INVALID_DATA, "GENERATE_HMAC_KEY takes a header with an HMAC algorithm")
    block = HMAC_ALGORITHMS[header.algorithm]
    ctx.device.objects.check_create(ctx.permissions, Capability.GENERATE_HMAC_KEY, header.domains, header.capabilities)
    secret = ctx.device.key_bytes(block)
    return _create(ctx, Capability.GENERATE_HMAC_KEY, header, ObjectType.HMAC_KEY, secret, 2 * block, Origin.GENERATED)


def put_hmac_key(ctx: Context, payload: bytes) -> bytes:
    header, secret = _header(payload)
    if header.algorithm not in HMAC_ALGORITHMS:
        raise DeviceError(Error.INVALID_DATA, f"{header.algorithm.name} is not an HMAC algorithm")
    block = HMAC_ALGORITHMS[header.algorithm]
    if not 1 <= len(secret) <= block:
        raise DeviceError(Error.INVALID_DATA, f"HMAC key must be 1..{block} bytes")
    return _create(ctx, Capability.PUT_HMAC_KEY, header, ObjectType.HMAC_KEY, secret, 2 * block, Origin.IMPORTED)


HMAC_HASHES = {
    Algorithm.HMAC_SHA1: hashlib.sha1,
    Algorithm.HMAC_SHA256: hashlib.sha256,
    Algorithm.HMAC_SHA384: hashlib.sha384,
    Algorithm.HMAC_SHA512: hashlib.sha512,
}


def _hmac(obj: HsmObject, data: bytes) -> bytes:
    assert isinstance(obj.material, bytes)
    return hmac.new(obj.material, data, HMAC_HASHES[obj.algorithm]).digest()


def sign_hmac(ctx: Context, payload: bytes) -> bytes:
    object_id, data = _id_and_rest(ctx, payload)
    obj = ctx.device.objects.use(ctx.permissions, object_id, ObjectType.HMAC_KEY, Capability.SIGN_HMAC)
    ctx.device.require_enabled(obj.algorithm)
    return _hmac(obj, data)


def verify_hmac(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    obj = ctx.device.objects.use(ctx.permissions, object_id, ObjectType.HMAC_KEY, Capability.VERIFY_HMAC)
    ctx.device.require_enabled(obj.algorithm)
    length = HMAC_HASHES[obj.algorithm]().digest_size
    if len(rest) < length:
        raise DeviceError(Error.WRONG_LENGTH, f"VERIFY_HMAC needs a {length}-byte MAC")
    return b"\x01" if hmac.compare_digest(rest[:length], _hmac(obj, rest[length:])) else b"\x00"


# -- symmetric and OTP AEAD keys (stored, and AES ECB/CBC) --------------------------------------
def put_symmetric_key(ctx: Context, payload: bytes) -> bytes:
    header, secret = _header(payload)
    if AES_ALGORITHMS.get(header.algorithm) != len(secret):
        raise DeviceError(Error.INVALID_DATA, "symmetric key length does not match its algorithm")
    return _create(
        ctx, Capability.PUT_SYMMETRIC_KEY, header, ObjectType.SYMMETRIC_KEY, secret, len(secret), Origin.IMPORTED
    )


def generate_symmetric_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if rest or header.algorithm not in AES_ALGORITHMS:
        raise DeviceError(Error.INVALID_DATA, "GENERATE_SYMMETRIC_KEY takes a header with an AES algorithm")
    ctx.device.objects.check_create(
        ctx.permissions, Capability.GENERATE_SYMMETRIC_KEY, header.domains, header.capabilities
    )
    secret = ctx.device.key_bytes(AES_ALGORITHMS[header.algorithm])
    return _create(
        ctx,
        Capability.GENERATE_SYMMETRIC_KEY,
        header,
        ObjectType.SYMMETRIC_KEY,
        secret,
        len(secret),
        Origin.GENERATED,
    )


def _aes(ctx: Context, payload: bytes, capability: Capability, cbc: bool, encrypt: bool) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    obj = ctx.device.objects.use(ctx.permissions, object_id, ObjectType.SYMMETRIC_KEY, capability)
    ctx.device.require_enabled(obj.algorithm, Algorithm.AES_CBC if cbc else Algorithm.AES_ECB)
    assert isinstance(obj.material, bytes)
    iv, data = (rest[:16], rest[16:]) if cbc else (b"", rest)
    if (cbc and len(iv) != 16) or len(data) % 16:
        raise DeviceError(Error.INVALID_DATA, "AES data must be whole blocks (and CBC needs a 16-byte IV)")
    mode = modes.CBC(iv) if cbc else modes.ECB()
    cipher = Cipher(algorithms.AES(obj.material), mode)
    op = cipher.encryptor() if encrypt else cipher.decryptor()
    return op.update(data) + op.finalize()


def encrypt_ecb(ctx: Context, payload: bytes) -> bytes:
    return _aes(ctx, payload, Capability.ENCRYPT_ECB, cbc=False, encrypt=True)


def decrypt_ecb(ctx: Context, payload: bytes) -> bytes:
    return _aes(ctx, payload, Capability.DECRYPT_ECB, cbc=False, encrypt=False)


def encrypt_cbc(ctx: Context, payload: bytes) -> bytes:
    return _aes(ctx, payload, Capability.ENCRYPT_CBC, cbc=True, encrypt=True)


def decrypt_cbc(ctx: Context, payload: bytes) -> bytes:
    return _aes(ctx, payload, Capability.DECRYPT_CBC, cbc=True, encrypt=False)


def put_otp_aead_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    length = OTP_AEAD_ALGORITHMS.get(header.algorithm)
    if length is None or len(rest) != 4 + length:
        raise DeviceError(Error.INVALID_DATA, "OTP AEAD key takes nonce id(4) and an AES key of its algorithm")
    return _create(ctx, Capability.PUT_OTP_AEAD_KEY, header, ObjectType.OTP_AEAD_KEY, rest, len(rest), Origin.IMPORTED)


def generate_otp_aead_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    length = OTP_AEAD_ALGORITHMS.get(header.algorithm)
    if length is None or len(rest) != 4:
        raise DeviceError(
            Error.INVALID_DATA, "GENERATE_OTP_AEAD_KEY takes a header with an OTP algorithm and nonce id(4)"
        )
    ctx.device.objects.check_create(
        ctx.permissions, Capability.GENERATE_OTP_AEAD_KEY, header.domains, header.capabilities
    )
    material = rest + ctx.device.key_bytes(length)
    return _create(
        ctx,
        Capability.GENERATE_OTP_AEAD_KEY,
        header,
        ObjectType.OTP_AEAD_KEY,
        material,
        len(material),
        Origin.GENERATED,
    )


def _otp_key(ctx: Context, object_id: int, capability: Capability) -> tuple[bytes, bytes]:
    """(AES key, nonce id) of an OTP AEAD key object the session may use for ``capability``."""
    obj = ctx.device.objects.use(ctx.permissions, object_id, ObjectType.OTP_AEAD_KEY, capability)
    ctx.device.require_enabled(obj.algorithm)
    assert isinstance(obj.material, bytes)
    return obj.material[4:], obj.material[:4]


def create_otp_aead(ctx: Context, payload: bytes) -> bytes:
    object_id, secret = _id_and_rest(ctx, payload)
    key, nonce_id = _otp_key(ctx, object_id, Capability.CREATE_OTP_AEAD)
    return otp.seal(key, nonce_id, ctx.device.random(otp.NONCE), secret)


def randomize_otp_aead(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    if rest:
        raise DeviceError(Error.WRONG_LENGTH, "RANDOMIZE_OTP_AEAD takes an object id only")
    key, nonce_id = _otp_key(ctx, object_id, Capability.RANDOMIZE_OTP_AEAD)
    return otp.seal(key, nonce_id, ctx.device.random(otp.NONCE), ctx.device.random(otp.SECRET))


def decrypt_otp(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    key, nonce_id = _otp_key(ctx, object_id, Capability.DECRYPT_OTP)
    if len(rest) != otp.AEAD_LENGTH + 16:
        raise DeviceError(Error.WRONG_LENGTH, "DECRYPT_OTP takes an AEAD and a 16-byte OTP")
    secret = otp.open_aead(key, nonce_id, rest[: otp.AEAD_LENGTH])
    return otp.decrypt_otp(secret, rest[otp.AEAD_LENGTH :])


def rewrap_otp_aead(ctx: Context, payload: bytes) -> bytes:
    if len(payload) != 4 + otp.AEAD_LENGTH:
        raise DeviceError(Error.WRONG_LENGTH, "REWRAP_OTP_AEAD takes from id(2) to id(2) and an AEAD")
    from_id, to_id = struct.unpack_from("!HH", payload)
    ctx.target, ctx.second = from_id, to_id
    key, nonce_id = _otp_key(ctx, from_id, Capability.REWRAP_FROM_OTP_AEAD_KEY)
    new_key, new_nonce_id = _otp_key(ctx, to_id, Capability.REWRAP_TO_OTP_AEAD_KEY)
    secret = otp.open_aead(key, nonce_id, payload[4:])
    return otp.seal(new_key, new_nonce_id, ctx.device.random(otp.NONCE), secret)
