"""A software YubiHSM 2 that the unmodified ``yubihsm`` library (Yubico) talks to.

Layers, innermost first (imports point inward; ``tests/emulators/yubihsm`` enforces it):
``defs`` (constants) <- ``frames``/``scp03`` (wire format and SCP03 crypto) <- ``session``,
``objects``, ``audit``, ``keys``, ``wrap`` (state) <- ``commands``/``device`` (``Device.handle``)
<- ``transports`` (HTTP connector shim, in-process backend) <- ``provider``.
"""

from .device import Device, DeviceConfig, ManualClock

__all__ = ["Device", "DeviceConfig", "ManualClock"]
