"""Google Cloud KMS emulator: one model, a gRPC front and a REST front, for the unmodified client.

* :class:`GcpKmsEmulator` -- both fronts on 127.0.0.1 (``emu.url`` for REST, ``emu.grpc_host``).
* ``provider.PROVIDER`` -- the ``gcp-kms`` backend (``kmsconform emulate gcp-kms``).
* :mod:`.patch` -- send ``KeyManagementServiceClient()`` (no arguments) to an emulator.

Layers: ``algorithms``/``material`` (keys) <- ``models``/``operations``/``listing`` (state and
rules, pure) <- ``service`` (RPC table, faults) <- ``grpc_front``/``rest_front`` (wire) <-
``server`` (sockets, threads). Known differences from the service: ``docs/emulators/gcp-kms.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import GcpKmsEmulator

__all__ = ["GcpKmsEmulator"]


def __getattr__(name: str) -> Any:
    # lazy: the fault proxy imports rest_routes without loading grpc and google-cloud-kms
    if name == "GcpKmsEmulator":
        from .server import GcpKmsEmulator

        return GcpKmsEmulator
    raise AttributeError(name)
