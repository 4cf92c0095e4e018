"""Switch moto's KMS service to the fidelity layer, for the in-process stub and the HTTP server alike.

moto resolves a service through the ``kms_backends`` attribute of ``moto.kms`` on every request
(``moto.backends.get_backend``), and finds URL handlers next to the backend class's module. So
pointing that attribute at :data:`~.models.fidelity_kms_backends` routes ``mock_aws`` and
``ThreadedMotoServer`` alike through :class:`~.models.FidelityKmsBackend` and
:class:`~.responses.FidelityKmsResponse`. moto's own code also reads the module-level name
``kms_backends`` of ``moto.kms.models`` (ReplicateKey, CloudFormation's ``AWS::KMS::Key`` and
``AWS::KMS::Alias``) and of other services' modules (RDS, SES, ...): every loaded ``moto`` module
whose ``kms_backends`` is moto's store is pointed at ours too, and restored on uninstall. Installs
nest (reference-counted); the KMS state of the layer is dropped on the first install and on the
last uninstall (the IAM model's with it).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .iam.model import IAM
from .models import SETTINGS, FidelityKmsBackend, fidelity_kms_backends, set_seed

_lock = threading.Lock()
_state: dict[str, Any] = {"depth": 0, "original": None}


def _redirect(original: Any, replacement: Any) -> None:
    """Point every loaded moto module's ``kms_backends`` that is ``original`` at ``replacement``."""
    for name, module in list(sys.modules.items()):
        if (name == "moto" or name.startswith("moto.")) and vars(module).get("kms_backends") is original:
            vars(module)["kms_backends"] = replacement


def install(seed: bytes | None = None) -> None:
    """Route moto KMS through the fidelity layer (nestable; nested installs must agree on ``seed``)."""
    import moto.kms

    with _lock:
        if _state["depth"] == 0:
            import moto.kms.models  # loaded, so its module-level name is redirected too

            _state["original"] = vars(moto.kms)["kms_backends"]
            fidelity_kms_backends.clear()
            set_seed(seed)
            _redirect(_state["original"], fidelity_kms_backends)
        elif seed is not None and seed != SETTINGS.seed:
            raise ValueError("the aws-kms fidelity layer is already installed with another seed")
        _state["depth"] += 1


def uninstall() -> None:
    """Undo one :func:`install`; the last one restores plain moto."""
    with _lock:
        if _state["depth"] == 0:
            raise RuntimeError("the aws-kms fidelity layer is not installed")
        _state["depth"] -= 1
        if _state["depth"] == 0:
            # modules imported while installed bound our store too: restore every one that has it
            _redirect(fidelity_kms_backends, _state["original"])
            fidelity_kms_backends.clear()
            IAM.reset()
            set_seed(None)


def installed() -> bool:
    return bool(_state["depth"])


@contextmanager
def fidelity_kms(seed: bytes | None = None) -> Iterator[type[FidelityKmsBackend]]:
    """``with mock_aws(), fidelity_kms(): ...`` -- KMS calls get AWS's semantics."""
    install(seed)
    try:
        yield FidelityKmsBackend
    finally:
        uninstall()
