"""Grants and key policies: stored and listed as AWS does, behind the key-state table, not enforced
(moto's rudimentary policy check for DescribeKey is the only enforcement; see docs/emulators/aws-kms.md)."""

from __future__ import annotations

import hmac
from typing import Any

from moto.kms.models import Grant

from .errors import InvalidGrantIdException, InvalidGrantTokenException, NotFoundException
from .key import FidelityKey
from .store import KeyStore


class AccessOps(KeyStore):
    def add_grant(
        self,
        key_id: str,
        grantee_principal: str,
        operations: list[str],
        name: str | None,
        constraints: dict[str, Any] | None,
        retiring_principal: str | None,
    ) -> Grant:
        key = self.gated("CreateGrant", key_id, aliases=False)
        for grant in key.grants.values():  # AWS: a grant with the same name and properties is returned again
            same = grant.grantee_principal == grantee_principal and sorted(grant.operations) == sorted(operations)
            if name and grant.name == name and same:
                return grant
        return key.add_grant(name, grantee_principal, operations, constraints, retiring_principal)  # type: ignore[arg-type]

    def grants_of(
        self, key_id: str, grant_id: str | None, grantee_principal: str | None
    ) -> tuple[FidelityKey, list[Grant]]:
        key = self.gated("ListGrants", key_id, aliases=False)
        grants = [g for g in key.grants.values() if (not grant_id or g.id == grant_id)]
        if grantee_principal:
            grants = [g for g in grants if g.grantee_principal == grantee_principal]
        return key, grants

    def revoke(self, key_id: str, grant_id: str) -> None:
        key = self.gated("RevokeGrant", key_id, aliases=False)
        if key.grants.pop(grant_id, None) is None:
            raise NotFoundException(f"Grant ID {grant_id} not found")

    def retire(self, key_id: str | None, grant_id: str | None, grant_token: str | None) -> None:
        if grant_token:
            for key in list(self.keys.values()):
                for gid, grant in list(key.grants.items()):
                    if hmac.compare_digest(grant.token, grant_token):
                        del key.grants[gid]
                        return
            raise InvalidGrantTokenException("Grant token is not valid")
        if not key_id or not grant_id:
            raise InvalidGrantIdException("RetireGrant needs a GrantToken, or a KeyId and a GrantId")
        key = self.gated("RetireGrant", key_id, aliases=False)
        if key.grants.pop(grant_id, None) is None:
            raise InvalidGrantIdException(f"Grant ID {grant_id} not found")

    # -- key policies ---------------------------------------------------------------------------------
    @staticmethod
    def _default_policy_name(policy_name: str | None) -> None:
        if policy_name not in (None, "default"):
            raise NotFoundException("No such policy exists")

    def policy_of(self, key_id: str, policy_name: str | None) -> str:
        self._default_policy_name(policy_name)
        return str(self.gated("GetKeyPolicy", key_id, aliases=False).policy)

    def set_policy(self, key_id: str, policy_name: str | None, policy: str) -> None:
        self._default_policy_name(policy_name)
        self.gated("PutKeyPolicy", key_id, aliases=False).policy = policy

    def policy_names(self, key_id: str) -> list[str]:
        self.gated("ListKeyPolicies", key_id, aliases=False)
        return ["default"]
