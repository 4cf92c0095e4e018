"""An in-process backend for ``yubihsm.YubiHsm(backend)``: ``transceive(bytes) -> bytes`` and ``close()``.

The device outlives the backend: the library closes its backend after RESET_DEVICE, and a new
:class:`SimulatorBackend` over the same device reconnects (as a reconnect to a rebooted HSM).
"""

from __future__ import annotations

from ..device import Device
from ..errors import TransportError
from . import LockedDevice


class SimulatorBackend:
    """Duck-typed ``yubihsm.backends.YhsmBackend`` over a (locked) device."""

    def __init__(self, device: Device | LockedDevice) -> None:
        self._device = device if isinstance(device, LockedDevice) else LockedDevice(device)
        self._closed = False

    def transceive(self, msg: bytes) -> bytes:
        if self._closed:
            raise TransportError("the simulator backend has been closed")
        return self._device.transceive(bytes(msg))

    def close(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"SimulatorBackend(serial={self._device.device.config.serial}, closed={self._closed})"
