"""AWS KMS emulator: moto 5.2.5 plus a fidelity layer that makes it behave like real KMS.

* :func:`fidelity_kms` -- in-process: ``with mock_aws(), fidelity_kms(): boto3.client("kms")``.
* :class:`KmsEmulator` -- the same layer behind moto's HTTP server on 127.0.0.1 (``endpoint_url``).
* ``provider.PROVIDER`` -- the ``aws-kms`` backend; ``localstack.PROVIDER`` -- LocalStack.

Layers: ``keys``/``ed25519ph`` (material) <- ``models`` (semantics) <- ``responses``/``urls``
(wire) <- ``install``/``server`` (routing, transport). Every fix and every known remaining
difference from real AWS KMS: ``docs/emulators/aws-kms.md``.

The names below are imported on first use: asking whether the backend can start here (the
providers) must not import moto.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .install import fidelity_kms, install, installed, uninstall
    from .server import KmsEmulator

__all__ = ["KmsEmulator", "fidelity_kms", "install", "installed", "uninstall"]
_HOMES = {"KmsEmulator": ".server", "fidelity_kms": ".install", "install": ".install"}
_HOMES |= {"installed": ".install", "uninstall": ".install"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
