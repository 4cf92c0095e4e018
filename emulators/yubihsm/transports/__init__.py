"""Transports in front of one :class:`~..device.Device`: the connector HTTP shim and an in-process
backend. Both serialise calls through a :class:`LockedDevice`, because the device is not re-entrant."""

from __future__ import annotations

import threading
import time

from ..device import Device


class LockedDevice:
    """A device shared by threads: one frame at a time (the real connector serialises USB too)."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self._lock = threading.Lock()

    def transceive(self, frame: bytes) -> bytes:
        with self._lock:
            return self.device.handle(frame)


def real_clock() -> float:
    """The clock transports give the device (monotonic seconds)."""
    return time.monotonic()
