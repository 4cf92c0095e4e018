"""Set-ups of the least-privilege suite: a key made for the check, the seed's policy on exactly that key,
credentials that carry nothing else, and the environment a service would be started with.

AWS KMS runs on kmsconform's emulator, which evaluates IAM policies (``emulators/aws_kms/iam``):
each check instance gets an account of its own (an administrator that makes the key, a user or a
role with the seed's policy) and a clock of its own. Vault runs on any real server of kind
``vault`` (OpenBao here): a policy written from seed 002's text and a token carrying only it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.jwk import public_key_from_der_or_pem
from pytest_kmsconform.reference_impl.primitives import PublicKey

from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.outcomes import backend_unavailable

CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"
GITHUB_SUBJECT = "repo:kmsconform/conformance:ref:refs/heads/main"
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class ManualClock:
    """Aware UTC time that moves only when told (the check's, the emulator's and the signer's)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def seed_actions(alg: Algorithm) -> list[str]:
    """Seed 001's permissions (``kms:Sign``, ``kms:Verify``; HMAC ``kms:GenerateMac``, ``kms:VerifyMac``)
    with seed 002's ``kms:GetPublicKey`` for signing keys: the most any of them grants."""
    if alg.is_symmetric:
        return ["kms:GenerateMac", "kms:VerifyMac"]
    return ["kms:Sign", "kms:Verify", "kms:GetPublicKey"]


def seed_policy(alg: Algorithm, key_arn: str) -> dict[str, Any]:
    """Seed 002's policy shape, scoped to one key ARN."""
    statement = {"Effect": "Allow", "Action": seed_actions(alg), "Resource": key_arn}
    return {"Version": "2012-10-17", "Statement": [statement]}


@dataclass
class AwsSetup:
    """One instance's account, its administrator's client, the key and the service environment."""

    handle: BackendHandle
    account: Any
    admin: Any
    alg: Algorithm
    key_arn: str
    clock: ManualClock
    env: dict[str, str] = field(default_factory=dict)

    def reference_verify(self, digest: bytes, value: bytes) -> None:
        """Check a signature as the suite's own administrator (the public key, or VerifyMac)."""
        from pytest_kmsconform.reference_impl.backends.aws_kms import KMS_ALGORITHMS
        from pytest_kmsconform.reference_impl.primitives import verify_digest

        spec = KMS_ALGORITHMS[self.alg]
        if self.alg.is_symmetric:
            answer = self.admin.verify_mac(KeyId=self.key_arn, Message=digest, MacAlgorithm=spec.kms_name, Mac=value)
            assert answer["MacValid"] is True
            return
        verify_digest(self.alg, self.public_key(), digest, value)

    def public_key(self) -> PublicKey:
        return public_key_from_der_or_pem(bytes(self.admin.get_public_key(KeyId=self.key_arn)["PublicKey"]))

    def denied(self) -> str:
        """What the emulator refused the service so far (for a failure's message)."""
        found = [f"{d.action} on {d.resource}" for d in self.account.denials]
        return "; ".join(found) if found else "nothing"


def aws_setup(handle: BackendHandle, alg: Algorithm) -> AwsSetup:
    """An account of the emulator's IAM model with a key for ``alg`` made by its administrator."""
    from pytest_kmsconform.emulators.aws_kms.provider import AwsKmsDetails
    from pytest_kmsconform.reference_impl.backends.aws_kms import KMS_ALGORITHMS, kms_client

    details = handle.detail(AwsKmsDetails)
    emulator = details.emulator if details is not None else None
    if emulator is None or not hasattr(emulator, "iam"):
        backend_unavailable(
            handle.name,
            "it does not enforce IAM policies here (kmsconform's aws-kms emulator does): the seed's policy "
            "cannot be applied",
        )
    clock = ManualClock()
    account = emulator.iam.new_account(clock=clock)
    keys = account.create_user("kmsconform-admin", {"AdministratorAccess": ADMINISTRATOR})
    admin = kms_client(endpoint_url=handle.url, region_name=emulator.region, **_client_keys(keys.env()))
    spec = KMS_ALGORITHMS[alg]
    created = admin.create_key(KeySpec=spec.key_spec, KeyUsage=spec.key_usage, Description="kmsconform least privilege")
    key_arn = str(created["KeyMetadata"]["Arn"])
    env = {k: v for k, v in handle.env.items() if k not in CREDENTIAL_VARIABLES}
    env.update({"AUDIT_SIGNING_KMS_KEY_ID": key_arn, "AUDIT_SIGNING_ALG": alg.value})
    return AwsSetup(handle, account, admin, alg, key_arn, clock, env)


def _client_keys(env: Mapping[str, str]) -> dict[str, str]:
    names = {"AWS_ACCESS_KEY_ID": "aws_access_key_id", "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key"}
    return {names[k]: v for k, v in env.items() if k in names}


class GithubOidc:
    """A stand-in for GitHub Actions' OIDC issuer: its signing key, and ID tokens for one workflow."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = secrets.token_hex(8)

    def jwks(self) -> dict[str, Any]:
        import jwt

        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "ES256", "use": "sig"})
        return {"keys": [jwk]}

    def token(self, lifetime: int = 300) -> str:
        """An ID token as a workflow run gets it (GitHub's live a few minutes), issued now."""
        import jwt

        now = int(self.clock().timestamp())
        claims = {
            "iss": GITHUB_ISSUER,
            "aud": GITHUB_AUDIENCE,
            "sub": GITHUB_SUBJECT,
            "repository": "kmsconform/conformance",
            "iat": now,
            "nbf": now - 5,
            "exp": now + lifetime,
        }
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid})

    def trust_policy(self, provider_arn: str) -> dict[str, Any]:
        """The trust policy GitHub's and AWS's guides give for a repository's workflows."""
        host = GITHUB_ISSUER.removeprefix("https://")
        condition = {
            "StringEquals": {f"{host}:aud": GITHUB_AUDIENCE},
            "StringLike": {f"{host}:sub": "repo:kmsconform/conformance:*"},
        }
        statement = {
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }
        return {"Version": "2012-10-17", "Statement": [statement]}


def write_token(path: Path, token: str) -> None:
    """Replace the token file as the CI runner (or kubelet) does: a new file moved over the old one."""
    staging = path.with_suffix(".new")
    staging.write_text(token, encoding="utf-8")
    staging.replace(path)


# -- Vault -------------------------------------------------------------------------------------------
def seed_vault_policy(mount: str, key: str) -> str:
    """Seed 002's Vault policy, with the mount and key of the check."""
    return (
        f'path "{mount}/sign/{key}" {{\n  capabilities = ["update"]\n}}\n'
        f'path "{mount}/keys/{key}" {{\n  capabilities = ["read"]\n}}\n'
    )


@dataclass
class VaultSetup:
    handle: BackendHandle
    mount: str
    key: str
    key_type: str
    policy: str
    token: str
    env: dict[str, str]

    def request(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, Any]:
        from pytest_kmsconform.emulators.vault.admin import request

        return request(self.handle.env["VAULT_ADDR"], method, path, token or self.handle.env["VAULT_TOKEN"], body)

    def public_key(self) -> PublicKey:
        from pytest_kmsconform.reference_impl.backends.vault_transit import load_public_key

        status, body = self.request("GET", f"/v1/{self.mount}/keys/{self.key}")
        assert status == 200, f"reading {self.key} as root: {status} {body}"
        return load_public_key(self.key_type, body["data"]["keys"]["1"]["public_key"])

    def close(self) -> None:
        self.request("POST", "/v1/auth/token/revoke", {"token": self.token})
        self.request("DELETE", f"/v1/sys/policies/acl/{self.policy}")
        self.request("POST", f"/v1/{self.mount}/keys/{self.key}/config", {"deletion_allowed": True})
        self.request("DELETE", f"/v1/{self.mount}/keys/{self.key}")


def vault_setup(handle: BackendHandle, alg: Algorithm) -> VaultSetup:
    """A Transit key for ``alg``, seed 002's policy on it, and a token with exactly that policy."""
    from pytest_kmsconform.reference_impl.backends.vault_transit import KEY_TYPES

    mount = handle.env.get("VAULT_TRANSIT_MOUNT") or "transit"
    suffix = secrets.token_hex(6)
    key, policy = f"{handle.namespace}-lp-{suffix}", f"kmsconform-lp-{suffix}"
    setup = VaultSetup(handle, mount, key, KEY_TYPES[alg], policy, "", {})
    steps = [
        ("POST", f"/v1/{mount}/keys/{key}", {"type": KEY_TYPES[alg]}),
        ("PUT", f"/v1/sys/policies/acl/{policy}", {"policy": seed_vault_policy(mount, key)}),
    ]
    for method, path, body in steps:
        status, answer = setup.request(method, path, body)
        if status not in (200, 204):
            backend_unavailable(handle.name, f"its token cannot {method} {path}: {status} {answer}")
    status, answer = setup.request(
        "POST", "/v1/auth/token/create", {"policies": [policy], "no_default_policy": True, "ttl": "30m"}
    )
    if status != 200:
        backend_unavailable(handle.name, f"its token cannot create tokens: {status} {answer}")
    setup.token = str(answer["auth"]["client_token"])
    setup.env = {
        "VAULT_ADDR": handle.env["VAULT_ADDR"],
        "VAULT_TOKEN": setup.token,
        "VAULT_TRANSIT_MOUNT": mount,
        "AUDIT_SIGNING_VAULT_KEY": key,
        "AUDIT_SIGNING_ALG": alg.value,
    }
    return setup
