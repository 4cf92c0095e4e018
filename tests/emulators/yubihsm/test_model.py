"""Model-level tests: constants, SCP03 known answers, object store rules, audit log, session table,
and the layering rule (the device core imports no sockets, threads or clocks)."""

from __future__ import annotations

import ast
import enum
import hashlib
import itertools
import struct
from pathlib import Path

import pytest
from pytest_kmsconform.emulators.yubihsm import defs, scp03
from pytest_kmsconform.emulators.yubihsm.audit import AuditLog, LogEntry
from pytest_kmsconform.emulators.yubihsm.defs import AuditMode, Capability, Command, Error, ObjectType
from pytest_kmsconform.emulators.yubihsm.device import Device, ManualClock
from pytest_kmsconform.emulators.yubihsm.errors import DeviceError
from pytest_kmsconform.emulators.yubihsm.objects import HsmObject, ListFilters, ObjectStore, encode_label
from pytest_kmsconform.emulators.yubihsm.session import Permissions, Session, SessionState, SessionTable

PACKAGE = Path(__file__).resolve().parents[3] / "emulators" / "yubihsm"
ALL = int(defs.ALL_CAPABILITIES)


# -- defs against the client library ---------------------------------------------------------------
PAIRS = [
    ("Error", "ERROR"),
    ("Command", "COMMAND"),
    ("Algorithm", "ALGORITHM"),
    ("ObjectType", "OBJECT"),
    ("ListFilter", "LIST_FILTER"),
    ("Option", "OPTION"),
    ("AuditMode", "AUDIT"),
    ("Origin", "ORIGIN"),
    ("Capability", "CAPABILITY"),
]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS)
def test_defs_match_yubihsm_library(ours: str, theirs: str) -> None:
    library = pytest.importorskip("yubihsm.defs")
    mine: type[enum.Enum] = getattr(defs, ours)
    client: type[enum.Enum] = getattr(library, theirs)
    assert {m.name: m.value for m in mine} == {m.name: m.value for m in client}


def test_all_capabilities_is_the_union() -> None:
    library = pytest.importorskip("yubihsm.defs")
    assert int(defs.ALL_CAPABILITIES) == int(library.CAPABILITY.ALL)


# -- SCP03 known answers (the library's own unit-test vector) ----------------------------------------
K_ENC = bytes.fromhex("090b47dbed595654901dee1cc655e420")
K_MAC = bytes.fromhex("592fd483f759e29909a04c4505d2ce0a")
CONTEXT = b"\x00" * 8 + bytes.fromhex("054d5631c9186f80")


def test_password_derivation() -> None:
    assert scp03.password_to_keys("password") == (K_ENC, K_MAC)


def test_cryptograms_known_answer() -> None:
    s_mac = scp03.derive(K_MAC, scp03.KEY_MAC, CONTEXT)
    assert scp03.derive(s_mac, scp03.CARD_CRYPTOGRAM, CONTEXT, 0x40).hex() == "3225ed8a3224f2cf"
    assert scp03.derive(s_mac, scp03.HOST_CRYPTOGRAM, CONTEXT, 0x40).hex() == "1ce7552e0f7976db"


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 31, 32])
def test_padding_round_trip(length: int) -> None:
    data = bytes(range(length))
    padded = scp03.pad(data)
    assert len(padded) % 16 == 0 and len(padded) > length
    assert scp03.unpad(padded) == data


@pytest.mark.parametrize("bad", [b"\x00" * 16, b"\x01" * 16, b"\x80" + b"\x00" * 16])
def test_unpad_rejects_garbage(bad: bytes) -> None:
    with pytest.raises(ValueError):
        scp03.unpad(bad)


# -- object store ---------------------------------------------------------------------------------
def _perm(caps: int = ALL, delegated: int = ALL, domains: int = 0xFFFF, key_id: int = 1) -> Permissions:
    return Permissions(key_id, caps, delegated, domains)


def _obj(object_id: int = 0, domains: int = 1, caps: int = 0, otype: ObjectType = ObjectType.OPAQUE) -> HsmObject:
    return HsmObject(
        id=object_id,
        type=otype,
        algorithm=defs.Algorithm.OPAQUE_DATA,
        label=encode_label(b"x"),
        domains=domains,
        capabilities=caps,
        delegated=0,
        origin=defs.Origin.IMPORTED,
        size=1,
        material=b"x",
    )


def test_ids_are_allocated_and_unique_per_type() -> None:
    store = ObjectStore()
    first = store.add(_obj())
    second = store.add(_obj())
    assert (first.id, second.id) == (1, 2)
    same_id_other_type = store.add(_obj(1, otype=ObjectType.HMAC_KEY))
    assert same_id_other_type.id == 1  # an explicit id may be shared by objects of other types
    with pytest.raises(DeviceError) as caught:
        store.add(_obj(1))
    assert caught.value.code is Error.OBJECT_EXISTS


def test_id_zero_picks_an_id_free_across_all_types() -> None:
    store = ObjectStore()
    store.add(_obj(1, otype=ObjectType.AUTHENTICATION_KEY))
    store.add(_obj(2, otype=ObjectType.OPAQUE))
    generated = store.add(_obj(0, otype=ObjectType.ASYMMETRIC_KEY))
    assert generated.id == 3  # not 1 or 2, though no asymmetric key uses them


def test_sequence_grows_when_an_id_is_reused() -> None:
    store = ObjectStore()
    first = store.add(_obj(7))
    store.remove(first)
    assert store.add(_obj(7)).sequence == first.sequence + 1


def test_foreign_domain_looks_absent_and_missing_capability_is_refused() -> None:
    store = ObjectStore()
    store.add(_obj(5, domains=2, caps=int(Capability.GET_OPAQUE)))
    with pytest.raises(DeviceError) as absent:
        store.visible(_perm(domains=1), 5, ObjectType.OPAQUE)
    assert absent.value.code is Error.OBJECT_NOT_FOUND
    with pytest.raises(DeviceError) as refused:
        store.use(_perm(domains=2), 5, ObjectType.OPAQUE, Capability.SIGN_HMAC)
    assert refused.value.code is Error.INSUFFICIENT_PERMISSIONS
    with pytest.raises(DeviceError) as session_lacks:
        store.use(_perm(caps=0, domains=2), 5, ObjectType.OPAQUE, Capability.GET_OPAQUE)
    assert session_lacks.value.code is Error.INSUFFICIENT_PERMISSIONS
    assert store.use(_perm(domains=2), 5, ObjectType.OPAQUE, Capability.GET_OPAQUE).id == 5


@pytest.mark.parametrize(
    ("perm", "domains", "caps", "code"),
    [
        (_perm(caps=0), 1, 0, Error.INSUFFICIENT_PERMISSIONS),  # no create capability
        (_perm(domains=1), 2, 0, Error.INSUFFICIENT_PERMISSIONS),  # domain outside the session's
        (_perm(delegated=0), 1, int(Capability.SIGN_ECDSA), Error.INSUFFICIENT_PERMISSIONS),
        (_perm(), 0, 0, Error.INVALID_DATA),  # no domain at all
    ],
)
def test_create_rules(perm: Permissions, domains: int, caps: int, code: Error) -> None:
    with pytest.raises(DeviceError) as caught:
        ObjectStore().check_create(perm, Capability.PUT_OPAQUE, domains, caps)
    assert caught.value.code is code


def test_delete_needs_the_type_capability_only() -> None:
    store = ObjectStore()
    store.add(_obj(3, caps=0))
    with pytest.raises(DeviceError) as caught:
        store.delete(_perm(caps=int(Capability.DELETE_HMAC_KEY)), 3, ObjectType.OPAQUE)
    assert caught.value.code is Error.INSUFFICIENT_PERMISSIONS
    store.delete(_perm(caps=int(Capability.DELETE_OPAQUE)), 3, ObjectType.OPAQUE)
    assert store.find(3, ObjectType.OPAQUE) is None


def test_list_filters() -> None:
    store = ObjectStore()
    store.add(_obj(1, domains=1, caps=int(Capability.GET_OPAQUE)))
    store.add(_obj(2, domains=2))
    store.add(_obj(1, otype=ObjectType.HMAC_KEY, domains=3))
    perm = _perm()
    assert [o.id for o in store.list(perm, ListFilters(domains=2))] == [1, 2]
    assert [(o.id, o.type) for o in store.list(perm, ListFilters(object_id=1, object_type=ObjectType.OPAQUE))] == [
        (1, ObjectType.OPAQUE)
    ]
    assert [o.id for o in store.list(perm, ListFilters(capabilities=int(Capability.GET_OPAQUE)))] == [1]
    assert [o.id for o in store.list(_perm(domains=2), ListFilters())] == [1, 2]  # domain 3 includes 2


# -- audit log ------------------------------------------------------------------------------------
def test_reset_writes_reset_and_boot_lines() -> None:
    log = AuditLog()
    log.reset()
    assert [e.data for e in log.entries] == [
        b"\x00\x01" + b"\xff" * 14,
        struct.pack("!HBHHHHBL", 2, 0, 0, 0xFFFF, 0, 0, 0, 0),
    ]


def _chain_ok(entries: list[LogEntry]) -> bool:
    return all(
        hashlib.sha256(b.data + a.digest).digest()[:16] == b.digest and b.number == a.number + 1
        for a, b in itertools.pairwise(entries)
    )


def test_entries_chain_and_wrap_around() -> None:
    log = AuditLog()
    log.reset()
    log.set_command(Command.SIGN_HMAC, AuditMode.ON)
    for tick in range(100):
        log.record(Command.SIGN_HMAC, 34, 1, 7, 0xFFFF, Command.SIGN_HMAC.response_code, tick)
    assert log.used == 62 and log.entries[-1].number == 102
    assert _chain_ok(log.entries)
    assert log.entries[-1].result == 0xD3 and log.entries[-1].target_key == 7


def test_unaudited_commands_are_not_logged() -> None:
    log = AuditLog()
    log.reset()
    assert log.record(Command.SIGN_HMAC, 1, 1, 1, 1, 0xD3, 0) is None
    # ECHO's setting is accepted (a real device takes it) but ECHO is still never written
    log.set_command(Command.ECHO, AuditMode.ON)
    assert log.command_audit[Command.ECHO] is AuditMode.ON
    assert log.record(Command.ECHO, 1, 1, 1, 1, 0x81, 0) is None
    with pytest.raises(DeviceError):
        log.set_command(0x02, AuditMode.ON)  # no such command code on the device


def test_command_audit_knows_the_65_codes_of_the_device_in_its_order() -> None:
    # Yubico's "Set Command Audit Option" guide: GET_OPTION command-audit on a fresh device
    documented = (
        "0100030004000500060007000900080040004100420043004400450046004700550056004800490057004a004b004c004d00"
        "67004e004f0050005100520053005400580059005a005b005c005d005e005f00600061006200630064006500660068006900"
        "6a006b006c000a006d006e006f0070007100720073007400750076007700"
    )
    log = AuditLog()
    log.reset()
    reported = b"".join(bytes([code, mode]) for code, mode in log.command_audit.items())
    assert reported.hex() == documented and len(log.command_audit) == 65
    for code in (Command.GET_LOG_ENTRIES, Command.SESSION_MESSAGE, Command.DEVICE_INFO, 0x07, 0x09):
        log.set_command(code, AuditMode.ON)


def test_force_audit_blocks_when_full_and_set_index_frees() -> None:
    log = AuditLog(capacity=4)
    log.reset()
    log.set_command(Command.SIGN_HMAC, AuditMode.ON)
    log.set_force(AuditMode.ON)
    log.record(Command.SIGN_HMAC, 1, 1, 1, 1, 0xD3, 0)
    log.record(Command.SIGN_HMAC, 1, 1, 1, 1, 0xD3, 0)
    assert log.full and log.blocks(Command.SIGN_HMAC)
    assert not log.blocks(Command.SIGN_ECDSA)  # not audited: never blocked
    assert log.record(Command.SIGN_HMAC, 1, 1, 1, 1, 0xD3, 0) is None  # not overwritten
    log.set_index(log.entries[-1].number)
    assert log.used == 0 and not log.blocks(Command.SIGN_HMAC)
    entry = log.record(Command.SIGN_HMAC, 1, 1, 1, 1, 0xD3, 0)
    assert entry is not None and entry.number == 5


def test_fixed_force_audit_cannot_be_turned_off() -> None:
    log = AuditLog()
    log.reset()
    log.set_force(AuditMode.FIXED)
    with pytest.raises(DeviceError):
        log.set_force(AuditMode.OFF)


# -- session table ----------------------------------------------------------------------------------
def _session(sid: int, now: float, state: SessionState = SessionState.OPEN) -> Session:
    session = Session(sid, _perm(), b"e" * 16, b"m" * 16, b"r" * 16, b"c" * 16, now)
    session.state = state
    return session


def test_sixteen_sessions_then_full() -> None:
    table = SessionTable()
    for _ in range(16):
        table.add(_session(table.allocate(0.0), 0.0))
    with pytest.raises(DeviceError) as caught:
        table.allocate(1.0)
    assert caught.value.code is Error.SESSIONS_FULL


def test_half_open_sessions_are_reclaimed_first() -> None:
    table = SessionTable()
    for i in range(16):
        table.add(_session(table.allocate(0.0), float(i), SessionState.HALF_OPEN if i == 5 else SessionState.OPEN))
    assert table.allocate(20.0) == 5


def test_idle_sessions_expire() -> None:
    table = SessionTable(timeout=30.0)
    table.add(_session(table.allocate(0.0), 0.0))
    table.get(0, 29.0)
    with pytest.raises(DeviceError) as caught:
        table.get(0, 60.0)
    assert caught.value.code is Error.INVALID_SESSION


def test_device_reset_restores_factory_state(clock: ManualClock) -> None:
    device = Device(clock=clock)
    device.objects.add(_obj())
    device.reset()
    (only,) = list(device.objects)
    assert (only.id, only.type, only.label.rstrip(b"\x00")) == (
        1,
        ObjectType.AUTHENTICATION_KEY,
        defs.FACTORY_LABEL.encode(),
    )
    # a firmware 2.4.0 device reports C = DC = ff..ff (all 64 bits) for its factory key
    assert only.capabilities == only.delegated == 0xFFFF_FFFF_FFFF_FFFF and only.size == 40


# -- layering ---------------------------------------------------------------------------------------
CORE = sorted(
    str(path.relative_to(PACKAGE).with_suffix(""))
    for path in [*PACKAGE.glob("*.py"), *PACKAGE.glob("commands/*.py")]
    if path.stem not in ("provider", "__init__") or path.parent.name == "commands"
)
FORBIDDEN = {
    "socket",
    "threading",
    "http",
    "socketserver",
    "asyncio",
    "time",
    "urllib",
    "requests",
    "select",
    "yubihsm",
}


@pytest.mark.parametrize("module", CORE)
def test_core_imports_no_io(module: str) -> None:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    depth = module.count("/") + 1  # relative-import level that reaches the package itself
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
            elif node.level == depth and node.module and node.module.split(".")[0] in ("transports", "provider"):
                imported.add(node.module)
    assert not imported & FORBIDDEN, f"{module}.py imports {imported & FORBIDDEN}"
    assert not {m for m in imported if m.startswith(("transports", "provider"))}


def test_docs_session_diagram_is_generated_from_the_table() -> None:
    from pytest_kmsconform.emulators.yubihsm.session import TRANSITIONS, mermaid

    docs = (PACKAGE.parents[1] / "docs" / "emulators" / "yubihsm.md").read_text()
    assert "```mermaid\n" + mermaid() + "```" in docs
    assert all(f": {action}" in mermaid() for _, action in TRANSITIONS)
