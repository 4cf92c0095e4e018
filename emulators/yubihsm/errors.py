"""Typed errors of the YubiHSM simulator.

:class:`DeviceError` is a refusal the device reports on the wire (an ``ERROR`` frame with its
code); :class:`EmulatorBug` is a broken simulator invariant and is never turned into a frame.
"""

from __future__ import annotations

from .defs import Error


class YubiHsmSimulatorError(Exception):
    """Base class of every error raised by the simulator."""


class DeviceError(YubiHsmSimulatorError):
    """The device refuses a command with ``code`` (sent as ``7F 00 01 <code>``)."""

    def __init__(self, code: Error, detail: str = "") -> None:
        super().__init__(f"{code.name}: {detail}" if detail else code.name)
        self.code = code
        self.detail = detail


class EmulatorBug(YubiHsmSimulatorError):
    """A simulator invariant is broken; this is a defect in the simulator, not in the client."""


class TransportError(YubiHsmSimulatorError):
    """The HTTP connector shim could not start or was used wrongly."""
