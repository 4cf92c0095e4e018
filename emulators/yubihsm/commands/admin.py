"""Device-wide commands, object management, authentication keys, the audit log and options."""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ec

from ..defs import (
    LABEL_LENGTH,
    MAX_MESSAGE_SIZE,
    OPAQUE_ALGORITHMS,
    Algorithm,
    AuditMode,
    Capability,
    Error,
    ListFilter,
    ObjectType,
    Option,
    Origin,
)
from ..errors import DeviceError
from ..objects import MAX_OBJECTS, ListFilters, require_capability
from .base import (
    After,
    Context,
    _algorithm,
    _create,
    _header,
    _object_type,
    _u16,
)


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
        changes = [(code, _audit_mode(mode)) for code, mode in _pairs(value)]
        for code, audit_mode in changes:
            log.check_command(code, audit_mode)
        for code, audit_mode in changes:
            log.set_command(code, audit_mode)
        return b""
    if option == Option.ALGORITHM_TOGGLE and ctx.device.version >= (2, 2, 0):
        toggles: dict[Algorithm, bool] = {}
        for code, enabled in _pairs(value):
            if code not in set(Algorithm) or enabled not in (0, 1):
                raise DeviceError(Error.INVALID_DATA, f"bad algorithm toggle {code}={enabled}")
            toggles[Algorithm(code)] = bool(enabled)
        if len(ctx.device.objects) > 1:
            # Toggles apply only to a fresh device (after reset, before objects are added).
            raise DeviceError(Error.INVALID_DATA, "algorithms can only be toggled on a freshly reset device")
        ctx.device.enabled_algorithms.update(toggles)
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
        return b"".join(bytes([code, mode]) for code, mode in log.command_audit.items())
    if payload[0] == Option.ALGORITHM_TOGGLE and ctx.device.version >= (2, 2, 0):
        return b"".join(bytes([alg, enabled]) for alg, enabled in sorted(ctx.device.enabled_algorithms.items()))
    # FIPS_MODE: not a FIPS device.
    raise DeviceError(Error.INVALID_DATA, f"option {payload[0]:#04x} is not available on this device")
