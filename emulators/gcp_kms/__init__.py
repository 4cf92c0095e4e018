"""Google Cloud KMS emulator: one model, a gRPC front and a REST front, for the unmodified client.

* :class:`GcpKmsEmulator` -- both fronts on 127.0.0.1 (``emu.url`` for REST, ``emu.grpc_host``).
* ``provider.PROVIDER`` -- the ``gcp-kms`` backend (``kmsconform emulate gcp-kms``).
* :mod:`.patch` -- send ``KeyManagementServiceClient()`` (no arguments) to an emulator.

Layers: ``algorithms``/``material`` (keys) <- ``models``/``operations``/``listing`` (state and
rules, pure) <- ``service`` (RPC table, faults) <- ``grpc_front``/``rest_front`` (wire) <-
``server`` (sockets, threads). Known differences from the service: ``docs/emulators/gcp-kms.md``.
"""

from .server import GcpKmsEmulator

__all__ = ["GcpKmsEmulator"]
