"""The key store every operation module builds on: key lookup with AWS's errors, the key-state gate, the clock.

Lookup follows AWS's answers (LocalStack's AWS-validated ``test_get_key_does_not_exist``,
``test_get_key_invalid_uuid``, ``test_get_key_in_different_region``): a malformed key id is
``Invalid keyId '<id>'``, a key ARN of another Region ``Invalid arn <region>``, a missing key
``Key '<ARN>' does not exist``, a missing alias ``Alias <alias ARN> is not found.``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from moto.kms.models import KmsBackend
from moto.utilities.utils import get_partition

from . import key_states
from .errors import NotFoundException
from .key import FidelityKey

KEY_ID = re.compile(r"^(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$", re.IGNORECASE)
KEY_ARN = re.compile(r"^arn:[\w-]+:kms:([\w-]+):(\d{12}):key/(.+)$")
ALIAS_ARN = re.compile(r"^arn:[\w-]+:kms:([\w-]+):(\d{12}):(alias/.+)$")


class KeyStore(KmsBackend):
    """moto's per-account/Region backend with our lookup, gate and clock (see module doc)."""

    seed: bytes | None
    clock: Callable[[], float] = staticmethod(time.time)

    def key_arn(self, key_id: str) -> str:
        return f"arn:{get_partition(self.region_name)}:kms:{self.region_name}:{self.account_id}:key/{key_id}"

    def alias_arn(self, alias_name: str) -> str:
        return f"arn:{get_partition(self.region_name)}:kms:{self.region_name}:{self.account_id}:{alias_name}"

    def resolve(self, key_id: str, *, aliases: bool = True) -> FidelityKey:
        """The key named by a key id, key ARN, alias name or alias ARN (``aliases=False``: id or ARN only)."""
        alias_match = ALIAS_ARN.match(key_id)
        if aliases and (alias_match or key_id.startswith("alias/")):
            name = alias_match.group(3) if alias_match else key_id
            if alias_match and (alias_match.group(1), alias_match.group(2)) != (self.region_name, self.account_id):
                raise NotFoundException(f"Invalid arn {alias_match.group(1)}")
            target = self.get_key_id_from_alias(name)
            if target is None:
                raise NotFoundException(f"Alias {self.alias_arn(name)} is not found.")
            return self._stored(target)
        arn_match = KEY_ARN.match(key_id)
        if arn_match:
            region, account, raw = arn_match.groups()
            if region != self.region_name:
                raise NotFoundException(f"Invalid arn {region}")
            if account != self.account_id or raw not in self.keys:
                raise NotFoundException(f"Key '{key_id}' does not exist")
            return self._stored(raw)
        if not KEY_ID.match(key_id):
            raise NotFoundException(f"Invalid keyId '{key_id}'")
        if key_id not in self.keys:
            raise NotFoundException(f"Key '{self.key_arn(key_id)}' does not exist")
        return self._stored(key_id)

    def _stored(self, raw_id: str) -> FidelityKey:
        key = self.keys[raw_id]
        assert isinstance(key, FidelityKey), "keys are created through FidelityKmsBackend.create_key"
        self.expire_material(key)
        return key

    def expire_material(self, key: FidelityKey) -> None:
        """Imported material past its ValidTo is deleted and the key goes back to PendingImport (AWS)."""
        now = self.clock()
        for material in key.materials:
            if material.valid_to is not None and not material.deleted and material.valid_to <= now:
                material.deleted = True
                if material.state == "CURRENT":
                    key.key_state, key.enabled = key_states.KeyState.PENDING_IMPORT.value, False

    def gated(self, operation: str, key_id: str, *, aliases: bool = True) -> FidelityKey:
        """Look the key up and apply AWS's key-state table for ``operation`` (:mod:`.key_states`)."""
        key = self.resolve(key_id, aliases=aliases)
        self.gate(operation, key)
        return key

    @staticmethod
    def gate(operation: str, key: FidelityKey) -> None:
        key_states.check(operation, state=key.key_state, origin=key.origin, arn=key.arn)

    # moto code paths (CloudFormation, resource groups tagging) call describe_key with any id form
    def describe_key(self, key_id: str) -> FidelityKey:
        return self.resolve(key_id)
