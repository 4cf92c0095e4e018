"""Handlers of the commands sent inside a session: ``handler(ctx, payload) -> response payload``.

Each handler validates its payload, enforces capabilities and domains through the object store,
and reports the objects it touched in ``ctx`` for the audit log. :data:`HANDLERS` is the dispatch
table; a command missing from it is ``INVALID_COMMAND``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from . import attest, keys, otp, rsawrap, wrap
from .audit import NO_KEY
from .defs import (
    AES_ALGORITHMS,
    AES_WRAP_ALGORITHMS,
    HMAC_ALGORITHMS,
    LABEL_LENGTH,
    MAX_MESSAGE_SIZE,
    OPAQUE_ALGORITHMS,
    OTP_AEAD_ALGORITHMS,
    RSA_ALGORITHMS,
    Algorithm,
    AuditMode,
    Capability,
    Command,
    Error,
    ListFilter,
    ObjectType,
    Option,
    Origin,
)
from .errors import DeviceError
from .objects import HsmObject, ListFilters, Material, PrivateKey, require_capability
from .session import Permissions, Session

if TYPE_CHECKING:
    from .device import Device

OBJECT_HEADER = struct.Struct("!H40sHQB")  # id, label, domains, capabilities, algorithm


class After(enum.Enum):
    """What the device does once the encrypted response is built."""

    NOTHING = "nothing"
    CLOSE_SESSION = "close-session"
    RESET_DEVICE = "reset-device"


@dataclass
class Context:
    device: Device
    session: Session
    target: int = NO_KEY
    second: int = NO_KEY
    after: After = After.NOTHING

    @property
    def permissions(self) -> Permissions:
        return self.session.permissions


Handler = Callable[[Context, bytes], bytes]


@dataclass(frozen=True)
class Header:
    object_id: int
    label: bytes
    domains: int
    capabilities: int
    algorithm: Algorithm


def _u16(payload: bytes, what: str = "payload") -> int:
    if len(payload) != 2:
        raise DeviceError(Error.WRONG_LENGTH, f"{what} must be 2 bytes")
    value: int = struct.unpack("!H", payload)[0]
    return value


def _object_type(value: int) -> ObjectType:
    try:
        return ObjectType(value)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, f"unknown object type {value}") from None


def _algorithm(value: int) -> Algorithm:
    try:
        return Algorithm(value)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, f"unknown algorithm {value}") from None


def _header(payload: bytes) -> tuple[Header, bytes]:
    if len(payload) < OBJECT_HEADER.size:
        raise DeviceError(Error.WRONG_LENGTH, "object header is 53 bytes")
    object_id, label, domains, caps, alg = OBJECT_HEADER.unpack_from(payload)
    return Header(object_id, label, domains, caps, _algorithm(alg)), payload[OBJECT_HEADER.size :]


def _create(
    ctx: Context,
    capability: Capability,
    header: Header,
    object_type: ObjectType,
    material: Material,
    size: int,
    origin: Origin,
    delegated: int = 0,
) -> bytes:
    store = ctx.device.objects
    store.check_create(ctx.permissions, capability, header.domains, header.capabilities, delegated)
    obj = store.add(
        HsmObject(
            id=header.object_id,
            type=object_type,
            algorithm=header.algorithm,
            label=header.label,
            domains=header.domains,
            capabilities=header.capabilities,
            delegated=delegated,
            origin=origin,
            size=size,
            material=material,
        )
    )
    ctx.target = obj.id
    return struct.pack("!H", obj.id)


def _id_and_rest(ctx: Context, payload: bytes) -> tuple[int, bytes]:
    if len(payload) < 2:
        raise DeviceError(Error.WRONG_LENGTH, "object id missing")
    (object_id,) = struct.unpack_from("!H", payload)
    ctx.target = object_id
    return object_id, payload[2:]


# -- device-wide -------------------------------------------------------------------------------
def echo(ctx: Context, payload: bytes) -> bytes:
    return payload


def device_info(ctx: Context, payload: bytes) -> bytes:
    return ctx.device.device_info(payload)


def get_pseudo_random(ctx: Context, payload: bytes) -> bytes:
    require_capability(ctx.permissions, Capability.GET_PSEUDO_RANDOM)
    length = _u16(payload, "length")
    if length > MAX_MESSAGE_SIZE - 64:
        raise DeviceError(Error.INVALID_DATA, f"cannot return {length} random bytes in one message")
    return ctx.device.random(length)


def close_session(ctx: Context, payload: bytes) -> bytes:
    if payload:
        raise DeviceError(Error.WRONG_LENGTH, "CLOSE_SESSION takes no data")
    ctx.after = After.CLOSE_SESSION
    return b""


def reset_device(ctx: Context, payload: bytes) -> bytes:
    require_capability(ctx.permissions, Capability.RESET_DEVICE)
    if payload:
        raise DeviceError(Error.WRONG_LENGTH, "RESET_DEVICE takes no data")
    ctx.after = After.RESET_DEVICE
    return b""


def blink_device(ctx: Context, payload: bytes) -> bytes:
    if len(payload) != 1:
        raise DeviceError(Error.WRONG_LENGTH, "BLINK_DEVICE takes 1 byte")
    return b""


def get_storage_info(ctx: Context, payload: bytes) -> bytes:
    from .objects import MAX_OBJECTS

    used = len(ctx.device.objects)
    pages = sum((o.size + 125) // 126 for o in ctx.device.objects)
    return struct.pack("!HHHHH", MAX_OBJECTS, MAX_OBJECTS - used, 1024, max(0, 1024 - pages), 126)


# -- objects -----------------------------------------------------------------------------------
def list_objects(ctx: Context, payload: bytes) -> bytes:
    values: dict[str, int | bytes] = {}
    widths = {
        ListFilter.ID: ("object_id", 2),
        ListFilter.TYPE: ("object_type", 1),
        ListFilter.DOMAINS: ("domains", 2),
        ListFilter.CAPABILITIES: ("capabilities", 8),
        ListFilter.ALGORITHM: ("algorithm", 1),
        ListFilter.LABEL: ("label", LABEL_LENGTH),
    }
    offset = 0
    while offset < len(payload):
        try:
            name, width = widths[ListFilter(payload[offset])]
        except ValueError:
            raise DeviceError(Error.INVALID_DATA, f"unknown list filter {payload[offset]}") from None
        raw = payload[offset + 1 : offset + 1 + width]
        if len(raw) != width:
            raise DeviceError(Error.WRONG_LENGTH, f"list filter {name} needs {width} bytes")
        values[name] = raw if name == "label" else int.from_bytes(raw, "big")
        offset += 1 + width
    filters = ListFilters(**values)  # type: ignore[arg-type]
    found = ctx.device.objects.list(ctx.permissions, filters)
    return b"".join(struct.pack("!HBB", o.id, o.type, o.sequence) for o in found)


def get_object_info(ctx: Context, payload: bytes) -> bytes:
    if len(payload) != 3:
        raise DeviceError(Error.WRONG_LENGTH, "GET_OBJECT_INFO takes id(2) type(1)")
    object_id, otype = struct.unpack("!HB", payload)
    ctx.target = object_id
    return ctx.device.objects.visible(ctx.permissions, object_id, _object_type(otype)).info_bytes()


def delete_object(ctx: Context, payload: bytes) -> bytes:
    if len(payload) != 3:
        raise DeviceError(Error.WRONG_LENGTH, "DELETE_OBJECT takes id(2) type(1)")
    object_id, otype = struct.unpack("!HB", payload)
    ctx.target = object_id
    ctx.device.objects.delete(ctx.permissions, object_id, _object_type(otype))
    return b""


def put_opaque(ctx: Context, payload: bytes) -> bytes:
    header, data = _header(payload)
    if header.algorithm not in OPAQUE_ALGORITHMS or not data:
        raise DeviceError(Error.INVALID_DATA, "opaque objects need an opaque algorithm and data")
    return _create(ctx, Capability.PUT_OPAQUE, header, ObjectType.OPAQUE, data, len(data), Origin.IMPORTED)


def get_opaque(ctx: Context, payload: bytes) -> bytes:
    object_id = _u16(payload, "object id")
    ctx.target = object_id
    # Only the session needs GET_OPAQUE: opaque objects are readable data, not keys.
    require_capability(ctx.permissions, Capability.GET_OPAQUE)
    obj = ctx.device.objects.visible(ctx.permissions, object_id, ObjectType.OPAQUE)
    assert isinstance(obj.material, bytes)
    return obj.material


# -- authentication keys -----------------------------------------------------------------------
def _auth_material(algorithm: Algorithm, data: bytes) -> bytes:
    if algorithm is Algorithm.AES128_YUBICO_AUTHENTICATION:
        if len(data) != 32:
            raise DeviceError(Error.WRONG_LENGTH, "K-ENC || K-MAC is 32 bytes")
        return data
    if algorithm is Algorithm.EC_P256_YUBICO_AUTHENTICATION:
        if len(data) != 64:
            raise DeviceError(Error.WRONG_LENGTH, "a P-256 public key is X || Y, 64 bytes")
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + data)
        except ValueError:
            raise DeviceError(Error.INVALID_DATA, "not a P-256 point") from None
        return data
    raise DeviceError(Error.INVALID_DATA, f"{algorithm.name} is not an authentication key algorithm")


def put_authentication_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if len(rest) < 8:
        raise DeviceError(Error.WRONG_LENGTH, "delegated capabilities missing")
    (delegated,) = struct.unpack_from("!Q", rest)
    material = _auth_material(header.algorithm, rest[8:])
    size = 40 if header.algorithm is Algorithm.AES128_YUBICO_AUTHENTICATION else 64
    return _create(
        ctx,
        Capability.PUT_AUTHENTICATION_KEY,
        header,
        ObjectType.AUTHENTICATION_KEY,
        material,
        size,
        Origin.IMPORTED,
        delegated,
    )


def change_authentication_key(ctx: Context, payload: bytes) -> bytes:
    if len(payload) < 3:
        raise DeviceError(Error.WRONG_LENGTH, "CHANGE_AUTHENTICATION_KEY takes id(2) alg(1) key")
    object_id, alg = struct.unpack_from("!HB", payload)
    ctx.target = object_id
    if object_id != ctx.session.key_id:
        raise DeviceError(Error.INVALID_ID, "only the session's own authentication key can be changed")
    algorithm = _algorithm(alg)
    store = ctx.device.objects
    obj = store.use(ctx.permissions, object_id, ObjectType.AUTHENTICATION_KEY, Capability.CHANGE_AUTHENTICATION_KEY)
    if algorithm is not obj.algorithm:
        raise DeviceError(Error.INVALID_DATA, "the key type cannot change")
    store.replace_material(obj, _auth_material(algorithm, payload[3:]), algorithm)
    return struct.pack("!H", object_id)


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


def _signing_key(ctx: Context, object_id: int, capability: Capability) -> HsmObject:
    return ctx.device.objects.use(ctx.permissions, object_id, ObjectType.ASYMMETRIC_KEY, capability)


def sign_pkcs1(ctx: Context, payload: bytes) -> bytes:
    object_id, digest = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.SIGN_PKCS)
    assert not isinstance(obj.material, bytes)
    return keys.sign_pkcs1(obj.material, digest)


def sign_pss(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    if len(rest) < 3:
        raise DeviceError(Error.WRONG_LENGTH, "SIGN_PSS takes id(2) mgf1(1) salt(2) digest")
    mgf1, salt = struct.unpack_from("!BH", rest)
    obj = _signing_key(ctx, object_id, Capability.SIGN_PSS)
    assert not isinstance(obj.material, bytes)
    return keys.sign_pss(obj.material, mgf1, salt, rest[3:])


def sign_ecdsa(ctx: Context, payload: bytes) -> bytes:
    object_id, digest = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.SIGN_ECDSA)
    assert not isinstance(obj.material, bytes)
    return keys.sign_ecdsa(obj.material, digest)


def sign_eddsa(ctx: Context, payload: bytes) -> bytes:
    object_id, message = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.SIGN_EDDSA)
    assert not isinstance(obj.material, bytes)
    return keys.sign_eddsa(obj.material, message)


def derive_ecdh(ctx: Context, payload: bytes) -> bytes:
    object_id, point = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.DERIVE_ECDH)
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
    return _hmac(obj, data)


def verify_hmac(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    obj = ctx.device.objects.use(ctx.permissions, object_id, ObjectType.HMAC_KEY, Capability.VERIFY_HMAC)
    length = HMAC_HASHES[obj.algorithm]().digest_size
    if len(rest) < length:
        raise DeviceError(Error.WRONG_LENGTH, f"VERIFY_HMAC needs a {length}-byte MAC")
    return b"\x01" if hmac.compare_digest(rest[:length], _hmac(obj, rest[length:])) else b"\x00"


# -- wrap keys and wrapped objects ---------------------------------------------------------------
def generate_wrap_key(ctx: Context, payload: bytes) -> bytes:
    header, rest = _header(payload)
    if len(rest) != 8 or header.algorithm not in AES_WRAP_ALGORITHMS:
        raise DeviceError(Error.INVALID_DATA, "GENERATE_WRAP_KEY takes a header with an AES-CCM algorithm and DC(8)")
    (delegated,) = struct.unpack("!Q", rest)
    length = AES_WRAP_ALGORITHMS[header.algorithm]
    ctx.device.objects.check_create(
        ctx.permissions, Capability.GENERATE_WRAP_KEY, header.domains, header.capabilities, delegated
    )
    secret = ctx.device.key_bytes(length)
    return _create(
        ctx, Capability.GENERATE_WRAP_KEY, header, ObjectType.WRAP_KEY, secret, 8 + length, Origin.GENERATED, delegated
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
    return ctx.device.objects.use(ctx.permissions, wrap_id, ObjectType.WRAP_KEY, capability)


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
    return nonce + AESCCM(key.material, tag_length=wrap.TAG_LENGTH).encrypt(nonce, data, None)


def unwrap_data(ctx: Context, payload: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    wrap_id, blob = _id_and_rest(ctx, payload)
    key = _data_wrap_key(ctx, wrap_id, Capability.UNWRAP_DATA)
    assert isinstance(key.material, bytes)
    if len(blob) < wrap.NONCE_LENGTH + wrap.TAG_LENGTH:
        raise DeviceError(Error.INVALID_DATA, "wrapped data too short")
    try:
        return AESCCM(key.material, tag_length=wrap.TAG_LENGTH).decrypt(
            blob[: wrap.NONCE_LENGTH], blob[wrap.NONCE_LENGTH :], None
        )
    except InvalidTag:
        raise DeviceError(Error.INVALID_DATA, "wrapped data does not authenticate") from None


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
    stored = ctx.device.objects.add(obj)
    ctx.second = stored.id
    return struct.pack("!BH", stored.type, stored.id)


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


# -- RSA decryption ----------------------------------------------------------------------------
def decrypt_pkcs1(ctx: Context, payload: bytes) -> bytes:
    object_id, data = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.DECRYPT_PKCS)
    assert not isinstance(obj.material, bytes)
    return keys.decrypt_pkcs1(obj.material, data)


def decrypt_oaep(ctx: Context, payload: bytes) -> bytes:
    object_id, rest = _id_and_rest(ctx, payload)
    obj = _signing_key(ctx, object_id, Capability.DECRYPT_OAEP)
    if not isinstance(obj.material, rsa.RSAPrivateKey) or not rest:
        raise DeviceError(Error.INVALID_DATA, "OAEP decryption needs an RSA key")
    k = obj.material.key_size // 8
    return keys.decrypt_oaep(obj.material, rest[0], rest[1 : 1 + k], rest[1 + k :])


# -- audit log and options -----------------------------------------------------------------------
def get_log_entries(ctx: Context, payload: bytes) -> bytes:
    require_capability(ctx.permissions, Capability.GET_LOG_ENTRIES)
    log = ctx.device.audit
    head = struct.pack("!HHB", log.unlogged_boot, log.unlogged_auth, len(log.entries))
    return head + b"".join(e.to_bytes() for e in log.entries)


def set_log_index(ctx: Context, payload: bytes) -> bytes:
    require_capability(ctx.permissions, Capability.GET_LOG_ENTRIES)
    ctx.device.audit.set_index(_u16(payload, "log index"))
    return b""


def _pairs(value: bytes) -> list[tuple[int, int]]:
    if len(value) % 2:
        raise DeviceError(Error.INVALID_DATA, "option value must be (code, mode) pairs")
    return [(value[i], value[i + 1]) for i in range(0, len(value), 2)]


def _audit_mode(value: int) -> AuditMode:
    try:
        return AuditMode(value)
    except ValueError:
        raise DeviceError(Error.INVALID_DATA, f"unknown audit mode {value}") from None


def set_option(ctx: Context, payload: bytes) -> bytes:
    require_capability(ctx.permissions, Capability.SET_OPTION)
    if len(payload) < 3:
        raise DeviceError(Error.WRONG_LENGTH, "SET_OPTION takes option(1) length(2) value")
    option, length = struct.unpack_from("!BH", payload)
    value = payload[3:]
    if len(value) != length:
        raise DeviceError(Error.WRONG_LENGTH, "option length does not match its value")
    log = ctx.device.audit
    if option == Option.FORCE_AUDIT and len(value) == 1:
        log.set_force(_audit_mode(value[0]))
        return b""
    if option == Option.COMMAND_AUDIT:
        changes: list[tuple[Command, AuditMode]] = []
        for code, mode in _pairs(value):
            try:
                changes.append((Command(code), _audit_mode(mode)))
            except ValueError:
                raise DeviceError(Error.INVALID_DATA, f"unknown command {code:#04x}") from None
        for command, audit_mode in changes:
            log.set_command(command, audit_mode)
        return b""
    raise DeviceError(Error.INVALID_DATA, f"option {option:#04x} cannot be set on this device")


def get_option(ctx: Context, payload: bytes) -> bytes:
    require_capability(ctx.permissions, Capability.GET_OPTION)
    if len(payload) != 1:
        raise DeviceError(Error.WRONG_LENGTH, "GET_OPTION takes option(1)")
    log = ctx.device.audit
    if payload[0] == Option.FORCE_AUDIT:
        return bytes([log.force])
    if payload[0] == Option.COMMAND_AUDIT:
        return b"".join(bytes([cmd, log.command_audit.get(cmd, AuditMode.OFF)]) for cmd in sorted(log.command_audit))
    # ALGORITHM_TOGGLE and FIPS_MODE: not a FIPS device, no algorithm toggles.
    raise DeviceError(Error.INVALID_DATA, f"option {payload[0]:#04x} is not available on this device")


HANDLERS: dict[Command, Handler] = {
    Command.ECHO: echo,
    Command.DEVICE_INFO: device_info,
    Command.GET_PSEUDO_RANDOM: get_pseudo_random,
    Command.CLOSE_SESSION: close_session,
    Command.RESET_DEVICE: reset_device,
    Command.BLINK_DEVICE: blink_device,
    Command.GET_STORAGE_INFO: get_storage_info,
    Command.LIST_OBJECTS: list_objects,
    Command.GET_OBJECT_INFO: get_object_info,
    Command.DELETE_OBJECT: delete_object,
    Command.PUT_OPAQUE: put_opaque,
    Command.GET_OPAQUE: get_opaque,
    Command.PUT_AUTHENTICATION_KEY: put_authentication_key,
    Command.CHANGE_AUTHENTICATION_KEY: change_authentication_key,
    Command.GENERATE_ASYMMETRIC_KEY: generate_asymmetric_key,
    Command.PUT_ASYMMETRIC_KEY: put_asymmetric_key,
    Command.GET_PUBLIC_KEY: get_public_key,
    Command.SIGN_PKCS1: sign_pkcs1,
    Command.SIGN_PSS: sign_pss,
    Command.SIGN_ECDSA: sign_ecdsa,
    Command.SIGN_EDDSA: sign_eddsa,
    Command.DERIVE_ECDH: derive_ecdh,
    Command.SIGN_ATTESTATION_CERTIFICATE: sign_attestation_certificate,
    Command.DECRYPT_PKCS1: decrypt_pkcs1,
    Command.DECRYPT_OAEP: decrypt_oaep,
    Command.GENERATE_HMAC_KEY: generate_hmac_key,
    Command.PUT_HMAC_KEY: put_hmac_key,
    Command.SIGN_HMAC: sign_hmac,
    Command.VERIFY_HMAC: verify_hmac,
    Command.GENERATE_WRAP_KEY: generate_wrap_key,
    Command.PUT_WRAP_KEY: put_wrap_key,
    Command.EXPORT_WRAPPED: export_wrapped,
    Command.IMPORT_WRAPPED: import_wrapped,
    Command.WRAP_DATA: wrap_data,
    Command.PUT_PUBLIC_WRAP_KEY: put_public_wrap_key,
    Command.WRAP_KEY_RSA: wrap_key_rsa,
    Command.UNWRAP_KEY_RSA: unwrap_key_rsa,
    Command.EXPORT_WRAPPED_RSA: export_wrapped_rsa,
    Command.IMPORT_WRAPPED_RSA: import_wrapped_rsa,
    Command.UNWRAP_DATA: unwrap_data,
    Command.PUT_SYMMETRIC_KEY: put_symmetric_key,
    Command.GENERATE_SYMMETRIC_KEY: generate_symmetric_key,
    Command.ENCRYPT_ECB: encrypt_ecb,
    Command.DECRYPT_ECB: decrypt_ecb,
    Command.ENCRYPT_CBC: encrypt_cbc,
    Command.DECRYPT_CBC: decrypt_cbc,
    Command.PUT_OTP_AEAD_KEY: put_otp_aead_key,
    Command.GENERATE_OTP_AEAD_KEY: generate_otp_aead_key,
    Command.CREATE_OTP_AEAD: create_otp_aead,
    Command.RANDOMIZE_OTP_AEAD: randomize_otp_aead,
    Command.DECRYPT_OTP: decrypt_otp,
    Command.REWRAP_OTP_AEAD: rewrap_otp_aead,
    Command.GET_LOG_ENTRIES: get_log_entries,
    Command.SET_LOG_INDEX: set_log_index,
    Command.SET_OPTION: set_option,
    Command.GET_OPTION: get_option,
}
