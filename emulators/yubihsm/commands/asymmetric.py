"""Asymmetric keys: generate, import, public key, signatures, ECDH, RSA decryption, attestation."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .. import attest, keys
from ..defs import (
    Algorithm,
    Capability,
    Error,
    ObjectType,
    Origin,
)
from ..errors import DeviceError
from ..objects import HsmObject, PrivateKey, require_capability
from .base import (
    Context,
    _create,
    _header,
    _id_and_rest,
    _object_type,
)


# -- asymmetric keys ---------------------------------------------------------------------------
def generate_asymmetric_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if rest or not keys.is_asymmetric(header.algorithm):
        raise DeviceError(Error.INVALID_DATA, "GENERATE_ASYMMETRIC_KEY takes a header with a key algorithm")
    ctx.device.objects.check_create(
        ctx.permissions, Capability.GENERATE_ASYMMETRIC_KEY, header.domains, header.capabilities
    )
    key = keys.generate(header.algorithm, ctx.device.key_random)
    size = keys.object_size(header.algorithm)
    return _create(
        ctx, Capability.GENERATE_ASYMMETRIC_KEY, header, ObjectType.ASYMMETRIC_KEY, key, size, Origin.GENERATED
    )


def put_asymmetric_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if not keys.is_asymmetric(header.algorithm):
        raise DeviceError(Error.INVALID_DATA, f"{header.algorithm.name} is not an asymmetric key algorithm")
    ctx.device.objects.check_create(ctx.permissions, Capability.PUT_ASYMMETRIC, header.domains, header.capabilities)
    key = keys.import_private(header.algorithm, rest)
    size = keys.object_size(header.algorithm)
    return _create(ctx, Capability.PUT_ASYMMETRIC, header, ObjectType.ASYMMETRIC_KEY, key, size, Origin.IMPORTED)


def get_public_key(ctx: Context, payload: bytes) -> bytes:
    if len(payload) not in (2, 3):
        raise DeviceError(Error.WRONG_LENGTH, "GET_PUBLIC_KEY takes id(2) [type(1)]")
    object_id = struct.unpack_from("!H", payload)[0]
    object_type = _object_type(payload[2]) if len(payload) == 3 else ObjectType.ASYMMETRIC_KEY
    if object_type not in (ObjectType.ASYMMETRIC_KEY, ObjectType.WRAP_KEY, ObjectType.PUBLIC_WRAP_KEY):
        raise DeviceError(Error.INVALID_DATA, f"{object_type.name} objects have no public key")
    ctx.target = object_id
    obj = ctx.device.objects.visible(ctx.permissions, object_id, object_type)
    if isinstance(obj.material, bytes):
        if object_type is not ObjectType.PUBLIC_WRAP_KEY:
            raise DeviceError(Error.INVALID_DATA, "a symmetric wrap key has no public key")
        return bytes([obj.algorithm]) + obj.material
    return bytes([obj.algorithm]) + keys.public_bytes(obj.algorithm, obj.material)


def _signing_key(ctx: Context, object_id: int, capability: Capability, *mechanisms: Algorithm | None) -> HsmObject:
    obj = ctx.device.objects.use(ctx.permissions, object_id, ObjectType.ASYMMETRIC_KEY, capability)
    ctx.device.require_enabled(obj.algorithm, *mechanisms)
    return obj


def sign_pkcs1(ctx: Context, payload: bytes) -> bytes:
    object_id, digest = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.SIGN_PKCS, keys.PKCS1_MECHANISMS.get(len(digest)))
    assert not isinstance(obj.material, bytes)
    return keys.sign_pkcs1(obj.material, digest)


def sign_pss(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    if len(rest) < 3:
        raise DeviceError(Error.WRONG_LENGTH, "SIGN_PSS takes id(2) mgf1(1) salt(2) digest")
    mgf1, salt = struct.unpack_from("!BH", rest)
    mechanisms = keys.PSS_MECHANISMS.get(len(rest) - 3), keys.mgf1_algorithm(mgf1)
    obj = _signing_key(ctx, object_id, Capability.SIGN_PSS, *mechanisms)
    assert not isinstance(obj.material, bytes)
    return keys.sign_pss(obj.material, mgf1, salt, rest[3:])


def sign_ecdsa(ctx: Context, payload: bytes) -> bytes:
    object_id, digest = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.SIGN_ECDSA, keys.ECDSA_MECHANISMS.get(len(digest)))
    assert not isinstance(obj.material, bytes)
    return keys.sign_ecdsa(obj.material, digest)


def sign_eddsa(ctx: Context, payload: bytes) -> bytes:
    object_id, message = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.SIGN_EDDSA)
    assert not isinstance(obj.material, bytes)
    return keys.sign_eddsa(obj.material, message)


def derive_ecdh(ctx: Context, payload: bytes) -> bytes:
    object_id, point = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.DERIVE_ECDH, Algorithm.EC_ECDH)
    if not isinstance(obj.material, ec.EllipticCurvePrivateKey):
        raise DeviceError(Error.INVALID_DATA, "ECDH needs an EC key")
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(obj.material.curve, point)
        return obj.material.exchange(ec.ECDH(), peer)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, "not a point on the key's curve") from None


def sign_attestation_certificate(ctx: Context, payload: bytes) -> bytes:
    if len(payload) != 4:
        raise DeviceError(Error.WRONG_LENGTH, "SIGN_ATTESTATION_CERTIFICATE takes key id(2) attesting id(2)")
    key_id, attesting_id = struct.unpack("!HH", payload)
    ctx.target, ctx.second = key_id, attesting_id
    store = ctx.device.objects
    require_capability(ctx.permissions, Capability.SIGN_ATTESTATION_CERTIFICATE)
    target = store.visible(ctx.permissions, key_id, ObjectType.ASYMMETRIC_KEY)
    attesting: PrivateKey
    if attesting_id == 0:
        attesting, template = ctx.device.attestation_key, ctx.device.attestation_certificate
    else:
        key = store.use(
            ctx.permissions, attesting_id, ObjectType.ASYMMETRIC_KEY, Capability.SIGN_ATTESTATION_CERTIFICATE
        )
        certificate = store.visible(ctx.permissions, attesting_id, ObjectType.OPAQUE)
        assert not isinstance(key.material, bytes) and isinstance(certificate.material, bytes)
        attesting, template = key.material, attest.load_template(certificate.material)
    serial = (int.from_bytes(ctx.device.random(16), "big") >> 1) | 1
    return attest.attest(target, attesting, template, ctx.device.version, ctx.device.config.serial, serial)


# -- RSA decryption ----------------------------------------------------------------------------
def decrypt_pkcs1(ctx: Context, payload: bytes) -> bytes:
    object_id, data = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.DECRYPT_PKCS, Algorithm.RSA_PKCS1_DECRYPT)
    assert not isinstance(obj.material, bytes)
    return keys.decrypt_pkcs1(obj.material, data)


def decrypt_oaep(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.DECRYPT_OAEP)
    if not isinstance(obj.material, rsa.RSAPrivateKey) or not rest:
        raise DeviceError(Error.INVALID_DATA, "OAEP decryption needs an RSA key")
    k = obj.material.key_size // 8
    ctx.device.require_enabled(keys.OAEP_MECHANISMS.get(len(rest) - 1 - k), keys.mgf1_algorithm(rest[0]))
    return keys.decrypt_oaep(obj.material, rest[0], rest[1 : 1 + k], rest[1 + k :])
