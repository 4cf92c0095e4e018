"""Wire handlers for key management: keys, aliases, grants, policies, rotation, multi-Region."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.kms.policy_validator import validate_policy
from moto.kms.utils import RESERVED_ALIASES

from .errors import EmulatorGap, MalformedPolicyDocumentException
from .handlers import Params, dry_run, handler, page, required
from .models import FidelityKmsBackend


# -- keys ------------------------------------------------------------------------------------------
@handler("CreateKey")
def create_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    if p.get("CustomKeyStoreId") or p.get("XksKeyId"):
        raise EmulatorGap("custom key stores are not emulated")
    policy = p.get("Policy")
    if policy is not None:
        try:
            json.loads(policy)
        except ValueError:
            raise MalformedPolicyDocumentException(
                "The new key policy will not allow you to update the key policy in the future."
            ) from None
    key = kms.create_key(
        policy, p.get("KeyUsage"), p.get("KeySpec") or p.get("CustomerMasterKeySpec"), p.get("Description") or "",
        p.get("Tags"), bool(p.get("MultiRegion")), p.get("Origin") or "AWS_KMS",
    )  # fmt: skip
    return key.to_dict()


@handler("DescribeKey")
def describe_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key = kms.gated("DescribeKey", p["KeyId"])
    with contextlib.suppress(AttributeError, TypeError):  # a policy moto cannot read denies nothing
        validate_policy(key, "kms:DescribeKey")  # moto's rudimentary check: an explicit Deny on "*"
    return key.to_dict()


@handler("ListKeys")
def list_keys(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return page([{"KeyId": k.id, "KeyArn": k.arn} for k in kms.keys.values()], p, "Keys")


@handler("EnableKey")
def enable_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.enable_key(p["KeyId"])
    return {}


@handler("DisableKey")
def disable_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.disable_key(p["KeyId"])
    return {}


@handler("ScheduleKeyDeletion")
def schedule_key_deletion(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    days = p.get("PendingWindowInDays")
    days = 30 if days is None else days
    date = kms.schedule_key_deletion(p["KeyId"], days)
    key = kms.resolve(p["KeyId"], aliases=False)
    return {"KeyId": key.arn, "DeletionDate": date, "KeyState": key.key_state, "PendingWindowInDays": days}


@handler("CancelKeyDeletion")
def cancel_key_deletion(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return {"KeyId": kms.cancel_key_deletion(p["KeyId"]).arn}


@handler("UpdateKeyDescription")
def update_key_description(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.update_key_description(p["KeyId"], p["Description"])
    return {}


@handler("TagResource")
def tag_resource(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.tag_key(p["KeyId"], p["Tags"])
    return {}


@handler("UntagResource")
def untag_resource(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.untag_key(p["KeyId"], p["TagKeys"])
    return {}


@handler("ListResourceTags")
def list_resource_tags(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return page(kms.key_tags(p["KeyId"]), p, "Tags")


# -- aliases ---------------------------------------------------------------------------------------
@handler("CreateAlias")
def create_alias(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.add_alias(p["AliasName"], p["TargetKeyId"])
    return {}


@handler("UpdateAlias")
def update_alias(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.change_alias(p["AliasName"], p["TargetKeyId"])
    return {}


@handler("DeleteAlias")
def delete_alias(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.remove_alias(p["AliasName"])
    return {}


@handler("ListAliases")
def list_aliases(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key_id = kms.gated("ListAliases", p["KeyId"], aliases=False).id if p.get("KeyId") else None
    aliases = [
        {"AliasName": a.alias_name, "AliasArn": a.alias_arn, "TargetKeyId": a.target_key_id}
        for a in kms.list_aliases(key_id=key_id)
    ]
    if key_id is None:  # AWS: predefined aliases not yet associated with a key come without TargetKeyId
        taken = {a["AliasName"] for a in aliases}
        aliases += [
            {"AliasName": name, "AliasArn": kms.alias_arn(name)} for name in RESERVED_ALIASES if name not in taken
        ]
    return page(aliases, p, "Aliases")


# -- grants and policies ---------------------------------------------------------------------------
@handler("CreateGrant")
def create_grant(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    if p.get("DryRun"):
        kms.gated("CreateGrant", p["KeyId"], aliases=False)
        dry_run(p)
    grant = kms.add_grant(
        p["KeyId"],
        p["GranteePrincipal"],
        p["Operations"],
        p.get("Name"),
        p.get("Constraints"),
        p.get("RetiringPrincipal"),
    )
    return {"GrantToken": grant.token, "GrantId": grant.id}


@handler("ListGrants")
def list_grants(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    key, grants = kms.grants_of(p["KeyId"], p.get("GrantId"), p.get("GranteePrincipal"))
    entries = [{**g.to_json(), "KeyId": key.arn} for g in grants]
    return page([{k: v for k, v in e.items() if v is not None} for e in entries], p, "Grants")


@handler("ListRetirableGrants")
def list_retirable_grants(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    grants = kms.list_retirable_grants(required(p, "RetiringPrincipal"))
    return page([{k: v for k, v in g.to_json().items() if v is not None} for g in grants], p, "Grants")


@handler("RevokeGrant")
def revoke_grant(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    if p.get("DryRun"):
        kms.gated("RevokeGrant", p["KeyId"], aliases=False)
        dry_run(p)
    kms.revoke(p["KeyId"], p["GrantId"])
    return {}


@handler("RetireGrant")
def retire_grant(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    dry_run(p)
    kms.retire(p.get("KeyId"), p.get("GrantId"), p.get("GrantToken"))
    return {}


@handler("GetKeyPolicy")
def get_key_policy(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return {"Policy": kms.policy_of(p["KeyId"], p.get("PolicyName")), "PolicyName": "default"}


@handler("PutKeyPolicy")
def put_key_policy(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.set_policy(p["KeyId"], p.get("PolicyName"), p["Policy"])
    return {}


@handler("ListKeyPolicies")
def list_key_policies(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return page(kms.policy_names(p["KeyId"]), p, "PolicyNames")


# -- rotation and multi-Region ---------------------------------------------------------------------
@handler("EnableKeyRotation")
def enable_key_rotation(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.enable_key_rotation(p["KeyId"], p.get("RotationPeriodInDays"))
    return {}


@handler("DisableKeyRotation")
def disable_key_rotation(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.disable_key_rotation(p["KeyId"])
    return {}


@handler("GetKeyRotationStatus")
def get_key_rotation_status(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return kms.rotation_status(p["KeyId"])


@handler("RotateKeyOnDemand")
def rotate_key_on_demand(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    return {"KeyId": kms.rotate_key_on_demand(p["KeyId"])}


@handler("ListKeyRotations")
def list_key_rotations(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    include_all = p.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    return page(kms.rotations(p["KeyId"], include_all), p, "Rotations")


@handler("ReplicateKey")
def replicate_key(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    replica = kms.replicate(p["KeyId"], p["ReplicaRegion"], p.get("Description"))
    if p.get("Policy"):
        replica.policy = p["Policy"]
    tags = p.get("Tags") or []
    if tags:
        from .models import fidelity_kms_backends

        fidelity_kms_backends[kms.account_id][replica.region].tagger.tag_resource(replica.id, tags)
    # AWS answers while the replica is still being created (AWS-validated snapshot of test_replicate_key);
    # here creation completes at once, so the next DescribeKey shows it Enabled
    metadata = {**replica.to_dict()["KeyMetadata"], "KeyState": "Creating", "Enabled": False}
    metadata.pop("CurrentKeyMaterialId", None)
    body: dict[str, Any] = {"ReplicaKeyMetadata": metadata, "ReplicaPolicy": replica.policy}
    if tags:
        body["ReplicaTags"] = tags
    return body


@handler("UpdatePrimaryRegion")
def update_primary_region(kms: FidelityKmsBackend, p: Params) -> dict[str, Any]:
    kms.update_primary_region(p["KeyId"], p["PrimaryRegion"])
    return {}
