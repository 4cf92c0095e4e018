"""IAM over the emulator's model: policy evaluation, SigV4, per-account enforcement, STS web identity, expiry.

Off by default (any credentials work, as on plain moto); an account of the model, or ``iam=True``
for the default one, is enforced. Each test makes its own account with its own clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import jwt
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_kmsconform.emulators.aws_kms import KmsEmulator
from pytest_kmsconform.emulators.aws_kms.iam.errors import MalformedPolicyDocument, PolicyNotModelled
from pytest_kmsconform.emulators.aws_kms.iam.policy import Decision, PolicyDocument, evaluate

REGION = "us-east-1"
ISSUER = "https://token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _client(emu: KmsEmulator, service: str, env: dict[str, str] | None = None) -> Any:
    env = env or {"AWS_ACCESS_KEY_ID": "anyone", "AWS_SECRET_ACCESS_KEY": "anything"}
    return boto3.client(
        service,
        endpoint_url=emu.url,
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
    )


@pytest.fixture(scope="module")
def emu() -> Iterator[KmsEmulator]:
    with KmsEmulator() as emulator:
        yield emulator


# -- evaluation (pure) --------------------------------------------------------------------------------
def test_explicit_deny_wins_and_default_is_deny() -> None:
    allow = PolicyDocument.parse(_policy({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}))
    deny = PolicyDocument.parse(_policy({"Effect": "Deny", "Action": "kms:DescribeKey", "Resource": "arn:aws:kms:*"}))
    assert evaluate([allow], "kms:Sign", "arn:aws:kms:us-east-1:1:key/k", {}) is Decision.ALLOW
    assert evaluate([allow, deny], "kms:describekey", "arn:aws:kms:us-east-1:1:key/k", {}) is Decision.EXPLICIT_DENY
    assert evaluate([deny], "kms:Sign", "arn:aws:kms:us-east-1:1:key/k", {}) is Decision.IMPLICIT_DENY


def test_resources_match_case_sensitively_with_iam_wildcards() -> None:
    doc = PolicyDocument.parse(_policy({"Effect": "Allow", "Action": "kms:Sign", "Resource": "arn:aws:kms:*:key/a?c"}))
    assert evaluate([doc], "kms:Sign", "arn:aws:kms:us-east-1:1:key/abc", {}) is Decision.ALLOW
    assert evaluate([doc], "kms:Sign", "arn:aws:kms:us-east-1:1:key/ABC", {}) is Decision.IMPLICIT_DENY
    assert evaluate([doc], "kms:Sign", "arn:aws:kms:us-east-1:1:key/abcd", {}) is Decision.IMPLICIT_DENY


def test_not_action_and_conditions() -> None:
    doc = PolicyDocument.parse(
        _policy(
            {
                "Effect": "Allow",
                "NotAction": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringLike": {"example.com:sub": "repo:a/*"}},
            }
        )
    )
    assert evaluate([doc], "kms:Sign", "*", {"example.com:sub": "repo:a/b"}) is Decision.ALLOW
    assert evaluate([doc], "kms:Sign", "*", {"example.com:sub": "repo:x/b"}) is Decision.IMPLICIT_DENY
    assert evaluate([doc], "kms:Sign", "*", {}) is Decision.IMPLICIT_DENY, "an absent key fails a positive operator"
    assert evaluate([doc], "kms:Decrypt", "*", {"example.com:sub": "repo:a/b"}) is Decision.IMPLICIT_DENY


def test_what_is_not_modelled_is_refused_never_ignored() -> None:
    with pytest.raises(PolicyNotModelled, match="NumericLessThan"):
        PolicyDocument.parse(
            _policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"NumericLessThan": {"a": "1"}}})
        )
    with pytest.raises(PolicyNotModelled, match="policy variables"):
        PolicyDocument.parse(_policy({"Effect": "Allow", "Action": "*", "Resource": "${aws:username}"}))
    with pytest.raises(MalformedPolicyDocument, match="Principal"):
        PolicyDocument.parse(_policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Principal": "*"}))


# -- over HTTP ------------------------------------------------------------------------------------------
def test_off_by_default_any_credentials_work(emu: KmsEmulator) -> None:
    assert "KeyMetadata" in _client(emu, "kms").create_key(Description="no IAM")


def test_a_user_gets_exactly_its_policy_on_its_key(emu: KmsEmulator) -> None:
    account = emu.iam.new_account()
    admin = _client(emu, "kms", account.create_user("admin", {"all": ADMIN}).env())
    key = admin.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    other = admin.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert key["Arn"].startswith(f"arn:aws:kms:{REGION}:{account.account_id}:key/"), "the key is in the account"
    policy = _policy({"Effect": "Allow", "Action": ["kms:Sign", "kms:GetPublicKey"], "Resource": key["Arn"]})
    signer = _client(emu, "kms", account.create_user("signer", {"seed": policy}).env())
    signer.get_public_key(KeyId=key["KeyId"])
    signer.sign(KeyId=key["Arn"], Message=b"\0" * 32, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    for call in (
        lambda: signer.describe_key(KeyId=key["Arn"]),
        signer.list_keys,
        lambda: signer.sign(KeyId=other["Arn"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256"),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert _code(denied) == "AccessDeniedException"
    assert "is not authorized to perform: kms:DescribeKey on resource: " + key["Arn"] in str(
        [
            f"User: {d.principal} is not authorized to perform: {d.action} on resource: {d.resource}"
            for d in account.denials
        ]
    )


def test_an_alias_is_authorized_on_the_key_it_names(emu: KmsEmulator) -> None:
    account = emu.iam.new_account()
    admin = _client(emu, "kms", account.create_user("admin", {"all": ADMIN}).env())
    key = admin.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    admin.create_alias(AliasName="alias/audit", TargetKeyId=key["KeyId"])
    policy = _policy({"Effect": "Allow", "Action": "kms:GetPublicKey", "Resource": key["Arn"]})
    reader = _client(emu, "kms", account.create_user("reader", {"seed": policy}).env())
    assert reader.get_public_key(KeyId="alias/audit")["KeyId"] == key["Arn"]


def test_a_wrong_secret_or_unknown_key_is_refused_in_an_enforced_account(emu: KmsEmulator) -> None:
    account = emu.iam.new_account()
    keys = account.create_user("admin", {"all": ADMIN})
    with pytest.raises(ClientError) as bad:
        _client(emu, "kms", {**keys.env(), "AWS_SECRET_ACCESS_KEY": "not-it"}).list_keys()
    assert _code(bad) == "InvalidSignatureException"


def test_iam_on_enforces_the_default_account_while_it_runs(emu: KmsEmulator) -> None:
    with KmsEmulator(iam=True) as enforcing:
        assert "KeyMetadata" in _client(enforcing, "kms", enforcing.env()).create_key()
        with pytest.raises(ClientError) as unknown:
            _client(enforcing, "kms").list_keys()
        assert _code(unknown) == "UnrecognizedClientException"
        with pytest.raises(ClientError) as unknown:
            _client(emu, "kms").list_keys()  # one process, one model: the other emulator's too
        assert _code(unknown) == "UnrecognizedClientException"
        enforcing.reset()  # as POST /moto-api/reset: the administrator survives it
        assert _client(enforcing, "kms", enforcing.env()).list_keys()["Keys"] == []
    assert _client(emu, "kms").list_keys()["Keys"] == [], "enforcement ends with the emulator that asked for it"


# -- STS web identity ------------------------------------------------------------------------------------
class Oidc:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.key = ec.generate_private_key(ec.SECP256R1())

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "k1", "alg": "ES256"}]}

    def token(self, *, sub: str = "repo:o/r:ref:refs/heads/main", aud: str = AUDIENCE, key: Any = None) -> str:
        now = int(self.clock().timestamp())
        claims = {"iss": ISSUER, "aud": aud, "sub": sub, "iat": now, "exp": now + 300}
        return jwt.encode(claims, key or self.key, algorithm="ES256", headers={"kid": "k1"})


@pytest.fixture
def web_role(emu: KmsEmulator) -> Iterator[tuple[Any, Any, Oidc, Clock]]:
    clock = Clock()
    account = emu.iam.new_account(clock=clock)
    oidc = Oidc(clock)
    provider = account.add_oidc_provider(ISSUER, [AUDIENCE], oidc.jwks())
    host = ISSUER.removeprefix("https://")
    trust = _policy(
        {
            "Effect": "Allow",
            "Principal": {"Federated": provider.arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:aud": AUDIENCE}, "StringLike": {f"{host}:sub": "repo:o/r:*"}},
        }
    )
    role = account.create_role(
        "ci", trust, {"kms": _policy({"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"})}
    )
    yield account, role, oidc, clock


def _assume(emu: KmsEmulator, role: Any, token: str) -> dict[str, str]:
    answer = _client(emu, "sts").assume_role_with_web_identity(
        RoleArn=role.arn, RoleSessionName="run-1", WebIdentityToken=token
    )
    c = answer["Credentials"]
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{role.account_id}:assumed-role/ci/run-1"
    return {
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
    }


def test_web_identity_credentials_work_then_expire(emu: KmsEmulator, web_role: tuple[Any, Any, Oidc, Clock]) -> None:
    account, role, oidc, clock = web_role
    creds = _assume(emu, role, oidc.token())
    identity = _client(emu, "sts", creds).get_caller_identity()
    assert identity["Account"] == account.account_id and identity["Arn"].endswith(":assumed-role/ci/run-1")
    _client(emu, "kms", creds).list_keys()
    clock.now += timedelta(seconds=3600)
    with pytest.raises(ClientError) as expired:
        _client(emu, "kms", creds).list_keys()
    assert _code(expired) == "ExpiredTokenException"
    _client(emu, "kms", _assume(emu, role, oidc.token())).list_keys()  # a new token, a new session


@pytest.mark.parametrize(
    ("token_kwargs", "code"),
    [
        ({"aud": "someone-else"}, "InvalidIdentityToken"),
        ({"sub": "repo:other/r:ref:refs/heads/main"}, "AccessDenied"),
        ({"key": ec.generate_private_key(ec.SECP256R1())}, "InvalidIdentityToken"),
    ],
    ids=["audience", "subject", "signature"],
)
def test_assume_role_refuses_tokens_the_trust_policy_or_issuer_does_not_vouch_for(
    emu: KmsEmulator, web_role: tuple[Any, Any, Oidc, Clock], token_kwargs: dict[str, Any], code: str
) -> None:
    _, role, oidc, _ = web_role
    with pytest.raises(ClientError) as refused:
        _assume(emu, role, oidc.token(**token_kwargs))
    assert _code(refused) == code


def test_an_expired_id_token_is_refused(emu: KmsEmulator, web_role: tuple[Any, Any, Oidc, Clock]) -> None:
    _, role, oidc, clock = web_role
    token = oidc.token()
    clock.now += timedelta(seconds=301)
    with pytest.raises(ClientError) as refused:
        _assume(emu, role, token)
    assert _code(refused) == "ExpiredTokenException"
