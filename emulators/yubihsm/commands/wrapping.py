"""Wrap keys: AES-CCM export/import of objects, wrapping data, and asymmetric (RSA) wrap."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .. import keys, rsawrap, wrap
from ..defs import (
    AES_ALGORITHMS,
    AES_WRAP_ALGORITHMS,
    RSA_ALGORITHMS,
    Algorithm,
    Capability,
    Error,
    ObjectType,
    Origin,
)
from ..errors import DeviceError
from ..objects import HsmObject, Material
from .base import (
    Context,
    Header,
    _algorithm,
    _create,
    _header,
    _id_and_rest,
    _object_type,
)


# -- wrap keys and wrapped objects ---------------------------------------------------------------
def generate_wrap_key(ctx: Context, payload: bytes) -> bytes:
    """An AES-CCM wrap key, or (firmware 2.4.0) an RSA wrap key for asymmetric wrap."""
    header, rest = _header(payload)
    rsa_wrap = header.algorithm in RSA_ALGORITHMS and ctx.device.version >= (2, 4, 0)
    if len(rest) != 8 or not (rsa_wrap or header.algorithm in AES_WRAP_ALGORITHMS):
        raise DeviceError(
            Error.INVALID_DATA, "GENERATE_WRAP_KEY takes a header with an AES-CCM or RSA algorithm and DC(8)"
        )
    (delegated,) = struct.unpack("!Q", rest)
    ctx.device.objects.check_create(
        ctx.permissions, Capability.GENERATE_WRAP_KEY, header.domains, header.capabilities, delegated
    )
    ctx.device.require_enabled(header.algorithm)
    material: Material
    if rsa_wrap:
        material, size = keys.generate(header.algorithm, ctx.device.key_random), keys.object_size(header.algorithm)
    else:
        length = AES_WRAP_ALGORITHMS[header.algorithm]
        material, size = ctx.device.key_bytes(length), 8 + length
    return _create(
        ctx, Capability.GENERATE_WRAP_KEY, header, ObjectType.WRAP_KEY, material, size, Origin.GENERATED, delegated
    )


def put_wrap_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if len(rest) < 8:
        raise DeviceError(Error.WRONG_LENGTH, "delegated capabilities missing")
    (delegated,) = struct.unpack_from("!Q", rest)
    if header.algorithm in RSA_ALGORITHMS and ctx.device.version >= (2, 4, 0):
        ctx.device.objects.check_create(
            ctx.permissions, Capability.PUT_WRAP_KEY, header.domains, header.capabilities, delegated
        )
        key = keys.import_private(header.algorithm, rest[8:])
        size = keys.object_size(header.algorithm)
        return _create(ctx, Capability.PUT_WRAP_KEY, header, ObjectType.WRAP_KEY, key, size, Origin.IMPORTED, delegated)
    if header.algorithm not in AES_WRAP_ALGORITHMS:
        raise DeviceError(Error.INVALID_DATA, f"{header.algorithm.name} is not a wrap key algorithm")
    length = AES_WRAP_ALGORITHMS[header.algorithm]
    if len(rest) != 8 + length:
        raise DeviceError(Error.INVALID_DATA, f"{header.algorithm.name} needs DC(8) and a {length}-byte key")
    return _create(
        ctx, Capability.PUT_WRAP_KEY, header, ObjectType.WRAP_KEY, rest[8:], 8 + length, Origin.IMPORTED, delegated
    )


def _aes_wrap_key(ctx: Context, wrap_id: int, capability: Capability) -> HsmObject:
    # The key type is checked before the capability: an RSA wrap key is the wrong kind of key.
    visible = ctx.device.objects.visible(ctx.permissions, wrap_id, ObjectType.WRAP_KEY)
    if visible.algorithm not in AES_WRAP_ALGORITHMS:
        raise DeviceError(Error.INVALID_DATA, "an RSA wrap key only imports under asymmetric wrap")
    key = ctx.device.objects.use(ctx.permissions, wrap_id, ObjectType.WRAP_KEY, capability)
    ctx.device.require_enabled(key.algorithm)
    return key


def _exportable(ctx: Context, wrap_key: HsmObject, object_id: int, otype: int) -> HsmObject:
    obj = ctx.device.objects.visible(ctx.permissions, object_id, _object_type(otype))
    if not obj.capabilities & Capability.EXPORTABLE_UNDER_WRAP:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "object is not exportable under wrap")
    if obj.capabilities & ~wrap_key.delegated:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "object capabilities exceed the wrap key's delegated ones")
    return obj


def export_wrapped(ctx: Context, payload: bytes) -> bytes:
    if len(payload) not in (5, 6):
        raise DeviceError(Error.WRONG_LENGTH, "EXPORT_WRAPPED takes wrap id(2) type(1) id(2) [flags(1)]")
    wrap_id, otype, object_id = struct.unpack_from("!HBH", payload)
    with_seed = len(payload) == 6 and payload[5] & 1 == 1
    ctx.target, ctx.second = wrap_id, object_id
    wrap_key = _aes_wrap_key(ctx, wrap_id, Capability.EXPORT_WRAPPED)
    obj = _exportable(ctx, wrap_key, object_id, otype)
    return wrap.export(wrap_key, obj, ctx.device.random(wrap.NONCE_LENGTH), with_seed)


def import_wrapped(ctx: Context, payload: bytes) -> bytes:
    wrap_id, blob = _id_and_rest(ctx, payload)
    store = ctx.device.objects
    wrap_key = _aes_wrap_key(ctx, wrap_id, Capability.IMPORT_WRAPPED)
    unwrapped = wrap.unwrap(wrap_key, blob)
    obj = unwrapped.obj
    if unwrapped.wrap_algorithm != wrap_key.algorithm:
        raise DeviceError(Error.INVALID_DATA, "blob was wrapped with another wrap algorithm")
    if obj.capabilities & ~wrap_key.delegated:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "object capabilities exceed the wrap key's delegated ones")
    if obj.domains & ~ctx.permissions.domains:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "object domains outside the session's domains")
    ctx.second = obj.id
    ctx.device.require_enabled(obj.algorithm)
    stored = store.add(obj)
    return struct.pack("!BH", stored.type, stored.id)


def _data_wrap_key(ctx: Context, wrap_id: int, capability: Capability) -> HsmObject:
    try:
        return _aes_wrap_key(ctx, wrap_id, capability)
    except DeviceError as exc:
        # Firmware before 2.5.0 reports a missing WRAP_DATA/UNWRAP_DATA capability as INVALID_DATA.
        if exc.code is Error.INSUFFICIENT_PERMISSIONS and ctx.device.version < (2, 5, 0):
            raise DeviceError(Error.INVALID_DATA, exc.detail) from None
        raise


def wrap_data(ctx: Context, payload: bytes) -> bytes:
    wrap_id, data = _id_and_rest(ctx, payload)
    key = _data_wrap_key(ctx, wrap_id, Capability.WRAP_DATA)
    assert isinstance(key.material, bytes)
    nonce = ctx.device.random(wrap.NONCE_LENGTH)
    # The device encrypts a leading NUL byte with the data (and UNWRAP_DATA checks it): the
    # blob is nonce(13) || CCM(00 || data) || tag(16), data + 30 bytes (YH_CCM_WRAP_OVERHEAD).
    return nonce + AESCCM(key.material, tag_length=wrap.TAG_LENGTH).encrypt(nonce, b"\x00" + data, None)


def unwrap_data(ctx: Context, payload: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    wrap_id, blob = _id_and_rest(ctx, payload)
    key = _data_wrap_key(ctx, wrap_id, Capability.UNWRAP_DATA)
    assert isinstance(key.material, bytes)
    if len(blob) < wrap.NONCE_LENGTH + 1 + wrap.TAG_LENGTH:
        raise DeviceError(Error.INVALID_DATA, "wrapped data too short")
    try:
        plain = AESCCM(key.material, tag_length=wrap.TAG_LENGTH).decrypt(
            blob[: wrap.NONCE_LENGTH], blob[wrap.NONCE_LENGTH :], None
        )
    except InvalidTag:
        raise DeviceError(Error.INVALID_DATA, "wrapped data does not authenticate") from None
    if plain[:1] != b"\x00":
        raise DeviceError(Error.INVALID_DATA, "wrapped data lacks its leading NUL byte")
    return plain[1:]


# -- asymmetric (RSA) wrap, firmware 2.4.0 ---------------------------------------------------------
def put_public_wrap_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    bits = RSA_ALGORITHMS.get(header.algorithm)
    if bits is None or len(rest) != 8 + bits // 8:
        raise DeviceError(Error.INVALID_DATA, "a public wrap key is DC(8) and an RSA modulus of its algorithm")
    (delegated,) = struct.unpack_from("!Q", rest)
    modulus = rest[8:]
    if int.from_bytes(modulus, "big").bit_length() != bits:
        raise DeviceError(Error.INVALID_DATA, "RSA modulus has the wrong size")
    return _create(
        ctx,
        Capability.PUBLIC_WRAP_KEY_WRITE,
        header,
        ObjectType.PUBLIC_WRAP_KEY,
        modulus,
        len(modulus),
        Origin.IMPORTED,
        delegated,
    )


def _rsa_export(ctx: Context, payload: bytes, raw_key: bool) -> bytes:
    fixed = struct.Struct("!HBHBBB")
    if len(payload) < fixed.size:
        raise DeviceError(Error.WRONG_LENGTH, "asymmetric wrap takes id(2) type(1) id(2) aes(1) oaep(1) mgf1(1) hash")
    wrap_id, otype, object_id, aes_alg, oaep_alg, mgf1 = fixed.unpack_from(payload)
    ctx.target, ctx.second = wrap_id, object_id
    pad = rsawrap.oaep(oaep_alg, mgf1, payload[fixed.size :])
    wrap_key = ctx.device.objects.use(ctx.permissions, wrap_id, ObjectType.PUBLIC_WRAP_KEY, Capability.EXPORT_WRAPPED)
    ctx.device.require_enabled(wrap_key.algorithm, Algorithm.AES_KWP, Algorithm(oaep_alg))  # oaep() checked it
    obj = _exportable(ctx, wrap_key, object_id, otype)
    assert isinstance(wrap_key.material, bytes)
    if raw_key:
        if obj.type is ObjectType.ASYMMETRIC_KEY:
            data = rsawrap.pkcs8(obj.material)
        elif obj.type is ObjectType.SYMMETRIC_KEY:
            assert isinstance(obj.material, bytes)
            data = obj.material
        else:
            raise DeviceError(Error.INVALID_DATA, "only asymmetric and symmetric keys are wrapped raw")
    else:
        data = wrap.plaintext(wrap_key.algorithm, obj, with_seed=True)
    length = AES_ALGORITHMS.get(Algorithm(aes_alg)) if aes_alg in set(Algorithm) else None
    if length is None:
        raise DeviceError(Error.INVALID_DATA, "the ephemeral key algorithm must be AES128/192/256")
    public = rsawrap.public_from_modulus(wrap_key.material)
    return rsawrap.wrap(public, pad, aes_alg, ctx.device.random(length), data)


def wrap_key_rsa(ctx: Context, payload: bytes) -> bytes:
    return _rsa_export(ctx, payload, raw_key=True)


def export_wrapped_rsa(ctx: Context, payload: bytes) -> bytes:
    return _rsa_export(ctx, payload, raw_key=False)


def _rsa_unwrap(ctx: Context, wrap_id: int, oaep_alg: int, mgf1: int, rest: bytes) -> tuple[HsmObject, bytes]:
    hash_length = rsawrap.label_hash_length(oaep_alg)
    if len(rest) <= hash_length:
        raise DeviceError(Error.WRONG_LENGTH, "wrapped data and OAEP label hash missing")
    pad = rsawrap.oaep(oaep_alg, mgf1, rest[-hash_length:])
    wrap_key = ctx.device.objects.use(ctx.permissions, wrap_id, ObjectType.WRAP_KEY, Capability.IMPORT_WRAPPED)
    ctx.device.require_enabled(wrap_key.algorithm, Algorithm.AES_KWP)
    if not isinstance(wrap_key.material, rsa.RSAPrivateKey):
        raise DeviceError(Error.INVALID_DATA, "asymmetric unwrap needs an RSA wrap key")
    return wrap_key, rsawrap.unwrap(wrap_key.material, pad, rest[:-hash_length])


def unwrap_key_rsa(ctx: Context, payload: bytes) -> bytes:
    fixed = struct.Struct("!HBH40sHQBBB")
    if len(payload) < fixed.size:
        raise DeviceError(Error.WRONG_LENGTH, "UNWRAP_KEY_RSA header is incomplete")
    wrap_id, otype, object_id, label, domains, caps, alg, oaep_alg, mgf1 = fixed.unpack_from(payload)
    ctx.target, ctx.second = wrap_id, object_id
    wrap_key, data = _rsa_unwrap(ctx, wrap_id, oaep_alg, mgf1, payload[fixed.size :])
    header = Header(object_id, label, domains, caps, _algorithm(alg))
    object_type = _object_type(otype)
    material: Material
    if object_type is ObjectType.ASYMMETRIC_KEY and keys.is_asymmetric(header.algorithm):
        material = keys.import_pkcs8(header.algorithm, data)
        size = keys.object_size(header.algorithm)
    elif object_type is ObjectType.SYMMETRIC_KEY and AES_ALGORITHMS.get(header.algorithm) == len(data):
        material, size = data, len(data)
    else:
        raise DeviceError(Error.INVALID_DATA, "unwrapped key does not match the given type and algorithm")
    if caps & ~wrap_key.delegated:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "capabilities exceed the wrap key's delegated ones")
    ctx.device.objects.check_create(ctx.permissions, Capability.IMPORT_WRAPPED, domains, 0)
    ctx.device.require_enabled(header.algorithm)
    obj = ctx.device.objects.add(
        HsmObject(
            id=object_id,
            type=object_type,
            algorithm=header.algorithm,
            label=label,
            domains=domains,
            capabilities=caps,
            delegated=0,
            origin=Origin.IMPORTED | Origin.IMPORTED_WRAPPED,
            size=size,
            material=material,
        )
    )
    ctx.second = obj.id
    return struct.pack("!BH", obj.type, obj.id)


def import_wrapped_rsa(ctx: Context, payload: bytes) -> bytes:
    if len(payload) < 4:
        raise DeviceError(Error.WRONG_LENGTH, "IMPORT_WRAPPED_RSA takes id(2) oaep(1) mgf1(1) data hash")
    wrap_id, oaep_alg, mgf1 = struct.unpack_from("!HBB", payload)
    ctx.target = wrap_id
    wrap_key, data = _rsa_unwrap(ctx, wrap_id, oaep_alg, mgf1, payload[4:])
    obj = wrap.parse_plaintext(data).obj
    if obj.capabilities & ~wrap_key.delegated:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "object capabilities exceed the wrap key's delegated ones")
    if obj.domains & ~ctx.permissions.domains:
        raise DeviceError(Error.INSUFFICIENT_PERMISSIONS, "object domains outside the session's domains")
    ctx.device.require_enabled(obj.algorithm)
    stored = ctx.device.objects.add(obj)
    ctx.second = stored.id
    return struct.pack("!BH", stored.type, stored.id)
