"""Key lifecycle operations: create, enable/disable, deletion, description, tags, aliases, grants,
policies, rotation and multi-Region replication, each behind AWS's key-state table.

Messages are AWS's where an AWS-validated recording has them (LocalStack ``tests/aws/services/kms``
snapshots: tags, rotation limit and pending-rotation errors, replicate-a-replica).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from moto.core.utils import unix_time, utcnow

from . import keys
from .errors import (
    AlreadyExistsException,
    EmulatorGap,
    KMSInvalidStateException,
    LimitExceededException,
    NotAuthorizedException,
    NotFoundException,
    TagException,
    UnsupportedOperationException,
    ValidationException,
)
from .key import ENCRYPT_DECRYPT, PENDING_ROTATION, FidelityKey, allowed_usages
from .key_states import KeyState, Origin
from .store import KeyStore

MAX_TAGS = 50
ON_DEMAND_ROTATION_LIMIT = 25  # AWS API reference, RotateKeyOnDemand (was 10 at launch)
DEFAULT_ROTATION_PERIOD_DAYS = 365
_ALIAS_PREFIX_MESSAGE = (
    'Alias must start with the prefix "alias/". Please see '
    "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
)


def check_tags(tags: list[dict[str, str]], existing: int = 0) -> None:
    """AWS's TagException rules (lengths are the wire validator's)."""
    names = [tag["TagKey"] for tag in tags]
    if len(set(names)) != len(names):
        raise TagException("Duplicate tag keys")
    if any(name.lower().startswith("aws:") for name in names):
        raise TagException("Tags beginning with aws: are reserved")
    if len(tags) + existing > MAX_TAGS:
        raise TagException("Too many tags")


class LifecycleOps(KeyStore):
    # -- create -------------------------------------------------------------------------------------
    def create_key(
        self,
        policy: str | None,
        key_usage: str | None,
        key_spec: str | None,
        description: str,
        tags: list[dict[str, str]] | None,
        multi_region: bool = False,
        origin: str = Origin.AWS_KMS.value,
    ) -> FidelityKey:
        spec = key_spec or keys.SYMMETRIC_SPEC
        if spec in keys.GAP_SPECS or spec.startswith("ML_KEM"):
            raise EmulatorGap(f"key spec {spec} is not emulated by kmsconform's aws-kms layer")
        if spec not in keys.EMULATED_SPECS:
            raise ValidationException(
                f"1 validation error detected: Value '{spec}' at 'keySpec' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {sorted(keys.EMULATED_SPECS | keys.GAP_SPECS)}"
            )
        if key_usage is None and spec != keys.SYMMETRIC_SPEC:
            raise ValidationException(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
            )
        usage = key_usage or ENCRYPT_DECRYPT
        if usage not in allowed_usages(spec):
            raise ValidationException(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        if origin not in (Origin.AWS_KMS.value, Origin.EXTERNAL.value):
            raise EmulatorGap(f"Origin {origin} (custom key stores) is not emulated")
        if tags:
            check_tags(tags)
        if isinstance(policy, dict):  # CloudFormation passes KeyPolicy as a JSON object
            policy = json.dumps(policy)
        key = FidelityKey(  # type: ignore[abstract]
            policy,
            usage,
            spec,
            description or "",
            self.account_id,
            self.region_name,
            bool(multi_region),
            origin,
            seed=self.seed,
        )
        self.keys[key.id] = key
        if tags:
            self.tagger.tag_resource(key.id, tags)
        return key

    # -- state ----------------------------------------------------------------------------------------
    def enable_key(self, key_id: str) -> None:
        key = self.gated("EnableKey", key_id, aliases=False)
        key.enabled, key.key_state = True, KeyState.ENABLED.value

    def disable_key(self, key_id: str) -> None:
        key = self.gated("DisableKey", key_id, aliases=False)
        key.enabled, key.key_state = False, KeyState.DISABLED.value

    def schedule_key_deletion(self, key_id: str, pending_window_in_days: int) -> float:
        if not 7 <= pending_window_in_days <= 30:
            raise ValidationException(
                f"1 validation error detected: Value '{pending_window_in_days}' at 'pendingWindowInDays' failed "
                "to satisfy constraint: Member must have value between 7 and 30"
            )
        key = self.gated("ScheduleKeyDeletion", key_id, aliases=False)
        key.enabled, key.key_state = False, KeyState.PENDING_DELETION.value
        key.deletion_date = utcnow() + timedelta(days=pending_window_in_days)
        return unix_time(key.deletion_date)

    def cancel_key_deletion(self, key_id: str) -> FidelityKey:  # type: ignore[override]
        key = self.gated("CancelKeyDeletion", key_id, aliases=False)
        key.key_state, key.deletion_date = KeyState.DISABLED.value, None
        return key

    def update_key_description(self, key_id: str, description: str) -> None:
        self.gated("UpdateKeyDescription", key_id, aliases=False).description = description

    # -- tags -----------------------------------------------------------------------------------------
    def tag_key(self, key_id: str, tags: list[dict[str, str]]) -> None:
        key = self.gated("TagResource", key_id, aliases=False)
        existing = {t["TagKey"] for t in self.tagger.list_tags_for_resource(key.id)["Tags"]}
        check_tags(tags, len(existing - {t["TagKey"] for t in tags}))
        self.tagger.tag_resource(key.id, tags)

    def untag_key(self, key_id: str, tag_keys: list[str]) -> None:
        key = self.gated("UntagResource", key_id, aliases=False)
        self.tagger.untag_resource_using_names(key.id, tag_keys)

    def key_tags(self, key_id: str) -> list[dict[str, str]]:
        key = self.gated("ListResourceTags", key_id, aliases=False)
        return list(self.tagger.list_tags_for_resource(key.id)["Tags"])

    # -- aliases --------------------------------------------------------------------------------------
    def _alias_name(self, alias_name: str, *, creating: bool = False) -> None:
        if not alias_name.startswith("alias/"):
            raise ValidationException(_ALIAS_PREFIX_MESSAGE)
        if creating and alias_name.startswith("alias/aws/"):  # reserved for AWS managed keys
            raise NotAuthorizedException()
        if ":" in alias_name:
            raise ValidationException(f"{alias_name} contains invalid characters for an alias")

    def _alias_target(self, target_key_id: str, operation: str) -> FidelityKey:
        if target_key_id.startswith("alias/") or ":alias/" in target_key_id:
            raise ValidationException("Aliases must refer to keys. Not aliases")
        return self.gated(operation, target_key_id, aliases=False)

    def add_alias(self, alias_name: str, target_key_id: str) -> None:
        self._alias_name(alias_name, creating=True)
        key = self._alias_target(target_key_id, "CreateAlias")
        if self.alias_exists(alias_name):
            raise AlreadyExistsException(f"An alias with the name {self.alias_arn(alias_name)} already exists")
        self.create_alias(key.id, alias_name)

    def change_alias(self, alias_name: str, target_key_id: str) -> None:
        self._alias_name(alias_name, creating=True)
        key = self._alias_target(target_key_id, "UpdateAlias")  # footnote [10]: the target's state counts
        if not self.alias_exists(alias_name):
            raise NotFoundException(f"Alias {self.alias_arn(alias_name)} is not found.")
        self.update_alias(key.id, alias_name)

    def remove_alias(self, alias_name: str) -> None:
        self._alias_name(alias_name)
        if not self.alias_exists(alias_name):
            raise NotFoundException(f"Alias {self.alias_arn(alias_name)} is not found.")
        self.delete_alias(alias_name)

    # -- rotation -------------------------------------------------------------------------------------
    @staticmethod
    def _symmetric_only(key: FidelityKey) -> None:
        if key.key_spec != keys.SYMMETRIC_SPEC:
            raise UnsupportedOperationException()  # AWS sends no message here (AWS-validated snapshot)

    def enable_key_rotation(self, key_id: str, rotation_period_in_days: int | None = None) -> None:
        key = self.gated("EnableKeyRotation", key_id, aliases=False)
        self._symmetric_only(key)
        period = rotation_period_in_days or DEFAULT_ROTATION_PERIOD_DAYS
        if key.key_rotation_status and key.rotation_period_days == period and key.next_rotation_date:
            return
        key.key_rotation_status, key.rotation_period_days = True, period
        key.next_rotation_date = self.clock() + period * 86400

    def disable_key_rotation(self, key_id: str) -> None:
        key = self.gated("DisableKeyRotation", key_id, aliases=False)
        self._symmetric_only(key)
        key.key_rotation_status, key.rotation_period_days, key.next_rotation_date = False, None, None

    def rotation_status(self, key_id: str) -> dict[str, Any]:
        key = self.gated("GetKeyRotationStatus", key_id, aliases=False)
        status: dict[str, Any] = {"KeyId": key.arn, "KeyRotationEnabled": bool(key.key_rotation_status)}
        if key.key_rotation_status:
            status.update(RotationPeriodInDays=key.rotation_period_days, NextRotationDate=key.next_rotation_date)
        return status

    def rotate_key_on_demand(self, key_id: str) -> str:
        key = self.gated("RotateKeyOnDemand", key_id, aliases=False)
        self._symmetric_only(key)
        if key.origin == Origin.EXTERNAL.value:
            pending = next((m for m in key.materials if m.state == PENDING_ROTATION and not m.deleted), None)
            if pending is None:
                raise KMSInvalidStateException(f"No available key material pending rotation for the key: {key.arn}.")
            key.make_current(pending, "ON_DEMAND", self.clock())
        else:
            if key.on_demand_rotations >= ON_DEMAND_ROTATION_LIMIT:
                raise LimitExceededException(
                    "The on-demand rotations limit has been reached for the given keyId. "
                    f"No more on-demand rotations can be performed for this key: {key.arn}"
                )
            key.add_generated_material("ON_DEMAND", self.clock())
        key.on_demand_rotations += 1
        return key.arn

    def rotations(self, key_id: str, include_all: bool) -> list[dict[str, Any]]:
        key = self.gated("ListKeyRotations", key_id, aliases=False)
        self._symmetric_only(key)
        entries = []
        for material in key.materials:
            if not include_all and material.rotation_date is None:
                continue
            entry: dict[str, Any] = {
                "KeyId": key.id,
                "KeyMaterialId": material.material_id,
                "KeyMaterialDescription": material.description,
                "ImportState": ("PENDING_IMPORT" if material.deleted else "IMPORTED") if material.imported else None,
                "KeyMaterialState": material.state,
                "ExpirationModel": material.expiration_model,
                "ValidTo": material.valid_to,
                "RotationDate": material.rotation_date,
                "RotationType": material.rotation_type,
            }
            entries.append({k: v for k, v in entry.items() if v is not None})
        return entries

    # -- multi-Region ---------------------------------------------------------------------------------
    def replicate(self, key_id: str, replica_region: str, description: str | None) -> FidelityKey:
        from .models import fidelity_kms_backends

        key = self.gated("ReplicateKey", key_id, aliases=False)
        if key.group is None:
            raise UnsupportedOperationException(f"{key.arn} is not a multi-region key.")
        if key.group.primary_region != self.region_name:
            raise UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")
        if replica_region in key.group.arns:
            raise AlreadyExistsException(f"Key '{key.group.arns[replica_region]}' already exists")
        target = fidelity_kms_backends[self.account_id][replica_region]
        replica = key.replica(replica_region)
        replica.description = description or ""
        if key.origin == Origin.EXTERNAL.value:  # replicas of imported keys need their own import
            replica.materials, replica.key_state, replica.enabled = [], KeyState.PENDING_IMPORT.value, False
        target.keys[replica.id] = replica
        return replica

    def update_primary_region(self, key_id: str, primary_region: str) -> None:
        key = self.gated("UpdatePrimaryRegion", key_id, aliases=False)
        if key.group is None or key.group.primary_region != self.region_name:
            raise UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")
        if primary_region not in key.group.arns:
            raise NotFoundException(f"Key '{key.arn.replace(self.region_name, primary_region)}' does not exist")
        key.group.primary_region = primary_region
