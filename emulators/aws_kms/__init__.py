"""AWS KMS emulator: moto 5.2.5 plus a fidelity layer that makes it behave like real KMS.

* :func:`fidelity_kms` -- in-process: ``with mock_aws(), fidelity_kms(): boto3.client("kms")``.
* :class:`KmsEmulator` -- the same layer behind moto's HTTP server on 127.0.0.1 (``endpoint_url``).
* ``provider.PROVIDER`` -- the ``aws-kms`` backend; ``localstack.PROVIDER`` -- LocalStack.

Layers: ``keys``/``ed25519ph`` (material) <- ``models`` (semantics) <- ``responses``/``urls``
(wire) <- ``install``/``server`` (routing, transport). Every fix and every known remaining
difference from real AWS KMS: ``docs/emulators/aws-kms.md``.
"""

from .install import fidelity_kms, install, installed, uninstall
from .server import KmsEmulator

__all__ = ["KmsEmulator", "fidelity_kms", "install", "installed", "uninstall"]
