"""Wrapped-object format (EXPORT_WRAPPED / IMPORT_WRAPPED), after Yubico's ``yubihsm-wrap``.

Blob = ``nonce(13) || AES-CCM(wrap key, nonce, no AAD, 16-byte tag)(header || body)``; the
59-byte header is ``wrap alg(1) C(8) id(2) body_len(2) D(2) type(1) alg(1) sequence(1)
origin(1) label(40)``. Bodies per type are in :func:`body_of` / :func:`material_from_body`.

Ed25519: the body is the expanded key (SHA-512 of the seed, clamped, first half byte-reversed)
and the public key, 96 bytes; "with seed" appends the 32-byte seed (our guess at the layout). A
seedless import signs through :mod:`.ed25519x`.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from . import keys
from .defs import EC_ALGORITHMS, HMAC_ALGORITHMS, RSA_ALGORITHMS, Algorithm, Error, ObjectType, Origin
from .ed25519x import ExpandedEd25519Key
from .errors import DeviceError
from .objects import HsmObject, Material

NONCE_LENGTH = 13
TAG_LENGTH = 16
HEADER = struct.Struct("!BQHHHBBBB40s")


@dataclass(frozen=True)
class Unwrapped:
    obj: HsmObject
    wrap_algorithm: int


def _ed25519_expanded(key: ed25519.Ed25519PrivateKey) -> bytes:
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    h = bytearray(hashlib.sha512(seed).digest())
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return bytes(h[:32][::-1]) + bytes(h[32:]) + pub


def body_of(obj: HsmObject, with_seed: bool) -> bytes:
    material = obj.material
    if obj.type is ObjectType.AUTHENTICATION_KEY or obj.type is ObjectType.WRAP_KEY:
        assert isinstance(material, bytes)
        return struct.pack("!Q", obj.delegated) + material
    if obj.type is ObjectType.HMAC_KEY:
        assert isinstance(material, bytes)
        block = HMAC_ALGORITHMS[obj.algorithm]
        padded = material.ljust(block, b"\x00")
        return bytes(b ^ 0x36 for b in padded) + bytes(b ^ 0x5C for b in padded)
    if isinstance(material, rsa.RSAPrivateKey):
        half = material.key_size // 16
        n = material.private_numbers()
        parts = (n.p, n.q, n.dmp1, n.dmq1, n.iqmp)
        return b"".join(v.to_bytes(half, "big") for v in parts) + n.public_numbers.n.to_bytes(2 * half, "big")
    if isinstance(material, ec.EllipticCurvePrivateKey):
        length = keys.ec_length(obj.algorithm)
        return material.private_numbers().private_value.to_bytes(length, "big") + keys.public_bytes(
            obj.algorithm, material
        )
    if isinstance(material, ed25519.Ed25519PrivateKey):
        body = _ed25519_expanded(material)
        if with_seed:
            body += material.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        return body
    if isinstance(material, ExpandedEd25519Key):
        if with_seed:
            raise DeviceError(Error.INVALID_DATA, "this Ed25519 key was imported without its seed")
        return material.scalar.to_bytes(32, "big") + material.prefix + material.public
    assert isinstance(material, bytes)  # opaque, symmetric, OTP AEAD keys: the stored bytes
    return material


def material_from_body(object_type: ObjectType, algorithm: Algorithm, body: bytes) -> tuple[Material, int]:
    """(material, delegated capabilities) from a body; malformed bodies are ``INVALID_DATA``."""
    if object_type in (ObjectType.AUTHENTICATION_KEY, ObjectType.WRAP_KEY):
        if len(body) < 8:
            raise DeviceError(Error.INVALID_DATA, "wrapped key body too short")
        return body[8:], struct.unpack("!Q", body[:8])[0]
    if object_type is ObjectType.HMAC_KEY:
        half = len(body) // 2
        return bytes(b ^ 0x36 for b in body[:half]).rstrip(b"\x00") or b"\x00", 0
    if object_type is ObjectType.ASYMMETRIC_KEY:
        if algorithm in RSA_ALGORITHMS:
            half = RSA_ALGORITHMS[algorithm] // 16
            return keys.import_private(algorithm, body[: 2 * half]), 0
        if algorithm in EC_ALGORITHMS:
            return keys.import_private(algorithm, body[: keys.ec_length(algorithm)]), 0
        if algorithm is Algorithm.EC_ED25519:
            if len(body) == 96:
                try:
                    return ExpandedEd25519Key.create(int.from_bytes(body[:32], "big"), body[32:64], body[64:]), 0
                except ValueError as exc:
                    raise DeviceError(Error.INVALID_DATA, str(exc)) from None
            if len(body) != 128:
                raise DeviceError(Error.INVALID_DATA, "an Ed25519 body is 96 bytes, or 128 with the seed")
            key = keys.import_private(algorithm, body[96:])
            if not isinstance(key, ed25519.Ed25519PrivateKey) or _ed25519_expanded(key) != body[:96]:
                raise DeviceError(Error.INVALID_DATA, "Ed25519 seed does not match the expanded key")
            return key, 0
    return body, 0


def plaintext(wrap_algorithm: int, obj: HsmObject, with_seed: bool) -> bytes:
    """The wrapped-object plaintext: the 59-byte header and the body."""
    body = body_of(obj, with_seed)
    header = HEADER.pack(
        wrap_algorithm,
        obj.capabilities,
        obj.id,
        len(body),
        obj.domains,
        obj.type,
        obj.algorithm,
        obj.sequence,
        obj.origin,
        obj.label,
    )
    return header + body


def export(wrap_key: HsmObject, obj: HsmObject, nonce: bytes, with_seed: bool) -> bytes:
    assert isinstance(wrap_key.material, bytes)
    data = plaintext(wrap_key.algorithm, obj, with_seed)
    return nonce + AESCCM(wrap_key.material, tag_length=TAG_LENGTH).encrypt(nonce, data, None)


def parse_plaintext(plain: bytes) -> Unwrapped:
    if len(plain) < HEADER.size:
        raise DeviceError(Error.INVALID_DATA, "wrapped object shorter than its header")
    wrap_alg, caps, object_id, body_len, domains, otype, alg, sequence, origin, label = HEADER.unpack_from(plain)
    body = plain[HEADER.size :]
    try:
        object_type, algorithm = ObjectType(otype), Algorithm(alg)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, "wrapped object has an unknown type or algorithm") from None
    if body_len != len(body):
        raise DeviceError(Error.INVALID_DATA, "wrapped body length mismatch")
    material, delegated = material_from_body(object_type, algorithm, body)
    size = keys.object_size(algorithm) if keys.is_asymmetric(algorithm) else len(body)
    obj = HsmObject(
        id=object_id,
        type=object_type,
        algorithm=algorithm,
        label=label,
        domains=domains,
        capabilities=caps,
        delegated=delegated,
        origin=Origin(origin) | Origin.IMPORTED_WRAPPED,
        size=size,
        material=material,
    )
    return Unwrapped(replace(obj, sequence=sequence), wrap_alg)


def unwrap(wrap_key: HsmObject, blob: bytes) -> Unwrapped:
    assert isinstance(wrap_key.material, bytes)
    if len(blob) < NONCE_LENGTH + HEADER.size + TAG_LENGTH:
        raise DeviceError(Error.INVALID_DATA, "wrapped blob too short")
    nonce, sealed = blob[:NONCE_LENGTH], blob[NONCE_LENGTH:]
    try:
        plain = AESCCM(wrap_key.material, tag_length=TAG_LENGTH).decrypt(nonce, sealed, None)
    except InvalidTag:
        raise DeviceError(Error.INVALID_DATA, "wrapped blob does not authenticate under this wrap key") from None
    return parse_plaintext(plain)
