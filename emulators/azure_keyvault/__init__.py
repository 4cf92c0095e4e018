"""Azure Key Vault emulator (keys), HTTPS only, driven unmodified by azure-keyvault-keys.

Layers: :mod:`.material` (key material, algorithms) and :mod:`.policy` (rotation policies) <-
:mod:`.records` (what a vault holds) <- :mod:`.models` (the service's rules) <- :mod:`.shapes` /
:mod:`.wire` (JSON and routes, sans-I/O; :mod:`.operations` names requests) <- :mod:`.server` (TLS,
threads). Faults: the fault proxy in front (:mod:`.fault_vocabulary`). :mod:`.provider` registers the
``azure-keyvault`` backend. Every known difference from the real service: ``docs/emulators/azure-keyvault.md``.
"""

from .server import DEV_TOKEN, KeyVaultEmulator

__all__ = ["DEV_TOKEN", "KeyVaultEmulator"]
