"""The KMS key record of the fidelity layer: moto's ``Key`` plus versioned key material.

A key holds a list of :class:`KeyMaterial`: the ``CURRENT`` one encrypts and signs, ``NON_CURRENT``
ones (after a rotation) still decrypt, and an imported ``PENDING_ROTATION`` one waits for
RotateKeyOnDemand. Keys with ``Origin=EXTERNAL`` start with no material, in ``PendingImport``.
Related multi-Region keys share one :class:`MultiRegionGroup` and one material list.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from moto.kms.models import Key
from moto.moto_api._internal import mock_random
from moto.utilities.utils import get_partition

from . import keys
from .key_states import KeyState, Origin

SIGN_VERIFY = "SIGN_VERIFY"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"

CURRENT, NON_CURRENT, PENDING_ROTATION = "CURRENT", "NON_CURRENT", "PENDING_ROTATION"


@dataclass
class KeyMaterial:
    """One version of a key's material (``KeyMaterialId`` is 64 hex digits, as AWS's)."""

    material_id: str
    secret: bytes | None = None  # SYMMETRIC_DEFAULT (AES-256) and HMAC keys
    asymmetric: keys.AsymmetricMaterial | None = None
    state: str = CURRENT
    rotation_date: float | None = None
    rotation_type: str | None = None  # AUTOMATIC | ON_DEMAND
    imported: bool = False
    expiration_model: str | None = None
    valid_to: float | None = None
    description: str | None = None
    deleted: bool = False  # imported material deleted or expired (ImportState PENDING_IMPORT)


@dataclass
class MultiRegionGroup:
    """The related multi-Region keys: the primary's Region and every replica's ARN."""

    primary_region: str
    arns: dict[str, str] = field(default_factory=dict)  # region -> key ARN, primary included

    def configuration(self, region: str) -> dict[str, Any]:
        return {
            "MultiRegionKeyType": "PRIMARY" if region == self.primary_region else "REPLICA",
            "PrimaryKey": {"Arn": self.arns[self.primary_region], "Region": self.primary_region},
            "ReplicaKeys": [
                {"Arn": arn, "Region": other} for other, arn in self.arns.items() if other != self.primary_region
            ],
        }


def allowed_usages(key_spec: str) -> tuple[str, ...]:
    """KeyUsage values a key spec allows (AWS's order; the first is not a default but for messages)."""
    if key_spec in keys.RSA_SPECS:
        return (ENCRYPT_DECRYPT, SIGN_VERIFY)
    if key_spec in keys.KEY_AGREEMENT_SPECS:
        return (SIGN_VERIFY, KEY_AGREEMENT)
    if key_spec in keys.EC_SPECS or key_spec == keys.ED25519_SPEC or key_spec in keys.ML_DSA_SPECS:
        return (SIGN_VERIFY,)
    if key_spec in keys.HMAC_SPECS:
        return (GENERATE_VERIFY_MAC,)
    return (ENCRYPT_DECRYPT,)


class FidelityKey(Key):
    """A moto ``Key`` whose material, state and metadata follow AWS KMS."""

    def __init__(
        self,
        policy: str | None,
        key_usage: str,
        key_spec: str,
        description: str,
        account_id: str,
        region: str,
        multi_region: bool = False,
        origin: str = Origin.AWS_KMS.value,
        seed: bytes | None = None,
    ) -> None:
        # moto's constructor makes an RSA-2048 pair for every non-ECC spec; give it a cheap spec
        # and replace the material right after.
        super().__init__(policy, key_usage, "ECC_NIST_P256", description, account_id, region, multi_region, origin)
        if multi_region:  # AWS: "mrk-" and 32 hex digits (moto: "mrk-" and a dashed UUID)
            self.id = "mrk-" + mock_random.uuid4().hex
            self.arn = f"arn:{get_partition(region)}:kms:{region}:{account_id}:key/{self.id}"
        self.key_spec = key_spec
        self.seed = seed
        self.private_key = None  # type: ignore[assignment]  # moto's material is never used
        self.materials: list[KeyMaterial] = []
        self.ever_had_material = False
        self.rotation_period_days: int | None = None
        self.next_rotation_date: float | None = None
        self.on_demand_rotations = 0
        self.group: MultiRegionGroup | None = None
        if multi_region:
            self.group = MultiRegionGroup(region, {region: self.arn})
        if origin == Origin.EXTERNAL.value:
            self.enabled = False
            self.key_state = KeyState.PENDING_IMPORT.value
        else:
            self.add_generated_material()

    # -- material ---------------------------------------------------------------------------------
    def add_generated_material(self, rotation_type: str | None = None, now: float | None = None) -> KeyMaterial:
        label = f"{self.id}/{len(self.materials)}" if self.materials else self.id
        material = KeyMaterial(keys.new_material_id(self.seed, label))
        if keys.is_asymmetric(self.key_spec):
            material.asymmetric = keys.new_asymmetric(self.key_spec, self.seed, label)
        else:
            material.secret = keys.new_secret(self.key_spec, self.seed, label)
        self.make_current(material, rotation_type, now)
        return material

    def make_current(self, material: KeyMaterial, rotation_type: str | None, now: float | None) -> None:
        for old in self.materials:
            if old.state == CURRENT:
                old.state = NON_CURRENT
        if rotation_type is not None:
            material.rotation_type, material.rotation_date = rotation_type, now
        material.state = CURRENT
        if material not in self.materials:
            self.materials.append(material)
        self.ever_had_material = True

    @property
    def current(self) -> KeyMaterial | None:
        return next((m for m in self.materials if m.state == CURRENT and not m.deleted), None)

    @property
    def current_material_id(self) -> str | None:
        latest = next((m for m in self.materials if m.state == CURRENT), None)
        return latest.material_id if latest else None

    def material_by_id(self, material_id: str) -> KeyMaterial | None:
        return next((m for m in self.materials if m.material_id == material_id and not m.deleted), None)

    @property
    def material(self) -> keys.AsymmetricMaterial | None:
        current = self.current
        return current.asymmetric if current else None

    @property
    def secret(self) -> bytes:
        current = self.current
        assert current is not None and current.secret is not None, "callers check the key state first"
        return current.secret

    # -- algorithm lists ----------------------------------------------------------------------------
    @property
    def signing_algorithms(self) -> list[str]:
        return keys.signing_algorithms(self.key_spec) if self.key_usage == SIGN_VERIFY else None  # type: ignore[return-value]

    @property
    def mac_algorithms(self) -> list[str] | None:
        if self.key_usage != GENERATE_VERIFY_MAC:
            return None
        return [keys.HMAC_SPECS[self.key_spec]]

    @property
    def encryption_algorithms(self) -> list[str] | None:
        if self.key_usage != ENCRYPT_DECRYPT:
            return None
        return ["SYMMETRIC_DEFAULT"] if self.key_spec == keys.SYMMETRIC_SPEC else list(keys.RSA_ENCRYPTION)

    @property
    def key_agreement_algorithms(self) -> list[str] | None:
        return ["ECDH"] if self.key_usage == KEY_AGREEMENT else None

    # -- metadata ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """DescribeKey's ``KeyMetadata``, with the members AWS sends and no others."""
        current = next((m for m in self.materials if m.state == CURRENT), None)
        imported = current if current is not None and current.imported and not current.deleted else None
        metadata: dict[str, Any] = {
            "AWSAccountId": self.account_id,
            "KeyId": self.id,
            "Arn": self.arn,
            "CreationDate": self.creation_date,
            "Enabled": self.enabled,
            "Description": self.description,
            "KeyUsage": self.key_usage,
            "KeyState": self.key_state,
            "DeletionDate": self.deletion_date_unix if self.key_state == KeyState.PENDING_DELETION.value else None,
            "ValidTo": imported.valid_to if imported else None,
            "Origin": self.origin,
            "ExpirationModel": imported.expiration_model if imported else None,
            "KeyManager": self.key_manager,
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
            "EncryptionAlgorithms": self.encryption_algorithms,
            "SigningAlgorithms": self.signing_algorithms,
            "KeyAgreementAlgorithms": self.key_agreement_algorithms,
            "MultiRegion": self.multi_region,
            "MultiRegionConfiguration": self.group.configuration(self.region) if self.group else None,
            "MacAlgorithms": self.mac_algorithms,
            # only symmetric encryption keys, once they have (had) material
            "CurrentKeyMaterialId": self.current_material_id if self.key_spec == keys.SYMMETRIC_SPEC else None,
        }
        return {"KeyMetadata": {k: v for k, v in metadata.items() if v is not None}}

    @property
    def deletion_date_unix(self) -> float | None:
        from moto.core.utils import unix_time

        return unix_time(self.deletion_date) if self.deletion_date else None

    def replica(self, region: str) -> FidelityKey:
        """A multi-Region replica in ``region``: same key id and material, its own state, tags and grants."""
        assert self.group is not None
        replica = copy.copy(self)
        replica.region = region
        replica.arn = f"arn:{get_partition(region)}:kms:{region}:{self.account_id}:key/{self.id}"
        replica.grants, replica.aliases, replica.rotations = {}, {}, []
        replica.description = ""
        replica.key_state, replica.enabled, replica.deletion_date = KeyState.ENABLED.value, True, None
        self.group.arns[region] = replica.arn
        return replica
