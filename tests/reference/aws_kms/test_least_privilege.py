"""The env signer under least privilege, on the emulator's IAM model: seed 002's policy is enough to start
and sign (no DescribeKey), and web identity credentials are re-assumed when they expire."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_kmsconform.emulators.aws_kms import KmsEmulator
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.aws_kms import signer_from_env
from pytest_kmsconform.reference_impl.errors import ConfigurationError
from pytest_kmsconform.suites._privilege import (
    ADMINISTRATOR,
    GITHUB_AUDIENCE,
    GITHUB_ISSUER,
    GithubOidc,
    ManualClock,
    seed_policy,
    write_token,
)

DIGEST = hashlib.sha256(b"audit record").digest()


@pytest.fixture(scope="module")
def emu() -> Iterator[KmsEmulator]:
    with KmsEmulator() as emulator:
        yield emulator


def _base_env(emu: KmsEmulator) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": emu.url, "AWS_REGION": emu.region}


def _key(emu: KmsEmulator, account: Any, spec: str, usage: str) -> str:
    keys = account.create_user("admin", {"all": ADMINISTRATOR})
    admin = boto3.client(
        "kms",
        endpoint_url=emu.url,
        region_name=emu.region,
        aws_access_key_id=keys.access_key_id,
        aws_secret_access_key=keys.secret_access_key,
    )
    return str(admin.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"])


@pytest.mark.parametrize(
    ("alg", "spec", "usage"),
    [
        (Algorithm.ED25519, "ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        (Algorithm.HMAC_SHA256, "HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
    ids=str,
)
@pytest.mark.parametrize("give_alg", [True, False], ids=["alg-given", "alg-from-key"])
def test_the_seed_policy_is_enough(emu: KmsEmulator, alg: Algorithm, spec: str, usage: str, give_alg: bool) -> None:
    account = emu.iam.new_account()
    key_arn = _key(emu, account, spec, usage)
    keys = account.create_user("signer", {"seed": seed_policy(alg, key_arn)})
    env = {**_base_env(emu), **keys.env(), "AUDIT_SIGNING_KMS_KEY_ID": key_arn}
    if give_alg:
        env["AUDIT_SIGNING_ALG"] = alg.value
    signer = signer_from_env(env)
    assert signer.alg is alg and signer.kid == f"aws-kms:{key_arn.rpartition('/')[2]}"
    signer.verify_signature(DIGEST, signer.sign_digest(DIGEST))
    refused = {d.action for d in account.denials}
    # with no algorithm given, an HMAC key is told apart by GetPublicKey's refusal: that one is expected
    assert refused <= ({"kms:GetPublicKey"} if alg.is_symmetric and not give_alg else set()), refused


def test_without_the_policy_the_error_names_the_key(emu: KmsEmulator) -> None:
    account = emu.iam.new_account()
    key_arn = _key(emu, account, "ECC_NIST_P256", "SIGN_VERIFY")
    keys = account.create_user("nobody", {"nothing": seed_policy(Algorithm.ED25519, key_arn + "-other")})
    with pytest.raises(ConfigurationError, match=r"allow neither kms:GetPublicKey .* nor kms:GenerateMac"):
        signer_from_env({**_base_env(emu), **keys.env(), "AUDIT_SIGNING_KMS_KEY_ID": key_arn})


def test_web_identity_credentials_are_reassumed_when_they_expire(emu: KmsEmulator, tmp_path: Path) -> None:
    clock = ManualClock()
    account = emu.iam.new_account(clock=clock)
    key_arn = _key(emu, account, "ECC_NIST_P256", "SIGN_VERIFY")
    oidc = GithubOidc(clock)
    provider = account.add_oidc_provider(GITHUB_ISSUER, [GITHUB_AUDIENCE], oidc.jwks())
    role = account.create_role(
        "ci", oidc.trust_policy(provider.arn), {"seed": seed_policy(Algorithm.ECDSA_P256_SHA256, key_arn)}
    )
    token = tmp_path / "token"
    write_token(token, oidc.token())
    env = {
        **_base_env(emu),
        "AUDIT_SIGNING_KMS_KEY_ID": key_arn,
        "AWS_ROLE_ARN": role.arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
    }
    signer = signer_from_env(env, clock=clock)
    signer.sign_digest(DIGEST)
    assert len(account.sessions_of("ci")) == 1
    clock.advance(3600 - 14 * 60)  # inside botocore's 15-minute advisory window
    write_token(token, oidc.token())
    signer.sign_digest(DIGEST)
    assert len(account.sessions_of("ci")) == 2, "not refreshed before expiry"
    assert account.sessions_of("ci")[-1].name == "kmsconform-signer", "the default session name"


def test_a_role_without_its_token_file_is_a_configuration_error(emu: KmsEmulator) -> None:
    env = {**_base_env(emu), "AUDIT_SIGNING_KMS_KEY_ID": "alias/x", "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/r"}
    with pytest.raises(ConfigurationError, match="AWS_ROLE_ARN is set without AWS_WEB_IDENTITY_TOKEN_FILE"):
        signer_from_env(env)
