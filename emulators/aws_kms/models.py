"""KMS semantics of the fidelity layer: moto's ``KmsBackend`` with AWS's rules, assembled from one
module per concern (all pure: bytes in, typed errors of :mod:`.errors` out; the wire layer,
:mod:`.responses`, only parses and serialises):

* :mod:`.key_states` -- AWS's key-state table as data; every operation passes it first;
* :mod:`.store` -- key lookup with AWS's NotFound answers, the clock, material expiry;
* :mod:`.lifecycle` -- create, enable/disable, deletion, tags, aliases, rotation, multi-Region;
* :mod:`.access` -- grants and key policies (stored, not enforced);
* :mod:`.crypto_ops` -- sign/verify, MACs, encryption, data keys and pairs, ECDH;
* :mod:`.importing` -- imported key material (``Origin=EXTERNAL``);
* :mod:`.key` / :mod:`.keys` / :mod:`.ciphertext` -- the key record, key material, ciphertext blobs.

ML-DSA (``ML_DSA_44/65/87``, ``ML_DSA_SHAKE_256``, RAW or EXTERNAL_MU) is in :mod:`.keys` and
:mod:`.crypto_ops`. Known gaps (custom key stores, ML-KEM/SM2, policies not enforced, ...) are listed in
``docs/emulators/aws-kms.md``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from moto.core.base_backend import BackendDict, backend_lock

from .access import AccessOps
from .crypto_ops import CryptoOps
from .importing import ImportOps, ImportParameters
from .key import FidelityKey
from .lifecycle import LifecycleOps

__all__ = ["SETTINGS", "FidelityKey", "FidelityKmsBackend", "fidelity_kms_backends", "set_seed"]


@dataclass
class Settings:
    """Process-wide settings of the layer; read when a region backend is (re)created."""

    seed: bytes | None = None


SETTINGS = Settings()
_settings_lock = threading.Lock()


class FidelityKmsBackend(LifecycleOps, AccessOps, CryptoOps, ImportOps):
    """moto's KMS backend with AWS's state, usage, message and algorithm rules (see module doc)."""

    def __init__(self, region_name: str, account_id: str | None = None) -> None:
        super().__init__(region_name, account_id)
        self.seed = SETTINGS.seed
        self.import_parameters: dict[bytes, ImportParameters] = {}


# the stores moto resets (mock_aws start/stop, /moto-api/reset)
_REGISTERED: list[Any] = BackendDict._instances  # type: ignore[misc]


class FidelityBackendDict(BackendDict[FidelityKmsBackend]):
    """moto's per-account/region store, with one addition: while *pinned* (an HTTP emulator is serving
    clients), moto's global resets skip it. ``mock_aws()`` resets every registered store when it
    starts and stops; without this, any in-process moto test would wipe the keys of an emulator other
    processes are using. Pinned state is dropped by :meth:`drop_all` only (``KmsEmulator.reset``,
    ``POST /moto-api/reset``)."""

    def __init__(self) -> None:
        super().__init__(FidelityKmsBackend, "kms")
        self.pins = 0

    def _unregister(self) -> None:
        with backend_lock:
            if self in _REGISTERED:
                _REGISTERED.remove(self)

    def _create_account_specific_backend(self, account_id: str) -> None:
        super()._create_account_specific_backend(account_id)
        if self.pins:
            self._unregister()

    def drop_all(self) -> None:
        """Forget every key, alias and grant of every account and Region (pinned or not)."""
        with backend_lock:
            self.clear()

    def pin(self) -> None:
        with backend_lock:
            self.pins += 1
            self._unregister()

    def unpin(self) -> None:
        with backend_lock:
            self.pins -= 1
            if not self.pins and len(self) and self not in _REGISTERED:
                _REGISTERED.append(self)


fidelity_kms_backends = FidelityBackendDict()


def set_seed(seed: bytes | None) -> None:
    """Seed key material (and moto's id generator) for backends created from now on."""
    from moto.moto_api._internal import mock_random

    with _settings_lock:
        SETTINGS.seed = seed
        if seed is not None:
            mock_random.seed(int.from_bytes(seed[:8].ljust(8, b"\0"), "big"))
