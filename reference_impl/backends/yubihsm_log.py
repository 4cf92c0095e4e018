"""The YubiHSM 2 device audit log, checked with our own code (pure: no device, no I/O).

Entries are parsed with Yubico's own parser (``yubihsm.core.LogEntry``), not the simulator's: the
simulator writes the log, so its code must not also be the one that checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from yubihsm.core import LogEntry as DeviceLogEntry


def _log_entry_type() -> Any:
    """Yubico's own parser of the 32-byte log entry (``yubihsm.core.LogEntry``), not the simulator's:
    the simulator writes the log, so its code must not also be the one that checks it."""
    try:
        from yubihsm.core import LogEntry
    except ImportError as exc:
        raise ConfigurationError(f"YubiHSM support needs the yubihsm package (the 'yubihsm' extra): {exc}") from None
    return LogEntry


def parse_device_log_entry(raw: bytes) -> DeviceLogEntry:
    """One 32-byte YubiHSM audit log entry."""
    entry_type = _log_entry_type()
    if len(raw) != entry_type.LENGTH:
        raise ValueError(f"a device log entry is {entry_type.LENGTH} bytes, got {len(raw)}")
    entry: DeviceLogEntry = entry_type.parse(raw)
    return entry


class DeviceLogError(ValueError):
    """The device audit log's chain is broken at entry ``index`` (0-based in the given list)."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def verify_device_log(entries: Sequence[DeviceLogEntry], previous: DeviceLogEntry | None = None) -> None:
    """Check numbering and digests: ``digest_i = SHA-256(entry_i[0:16] || digest_{i-1})[:16]``.

    Without ``previous`` the first entry is the anchor (its own digest is taken on trust, as the
    device's first entry chains from state the host never saw). Raises :class:`DeviceLogError`.
    """
    chain = list(entries)
    if previous is not None:
        chain.insert(0, previous)
    offset = 0 if previous is None else 1
    for i in range(1, len(chain)):
        before, entry = chain[i - 1], chain[i]
        if (entry.number - before.number) & 0xFFFF != 1:
            raise DeviceLogError(f"entry {entry.number} does not follow entry {before.number}", i - offset)
        if not entry.validate(before):
            raise DeviceLogError(f"entry {entry.number} has a wrong digest", i - offset)
