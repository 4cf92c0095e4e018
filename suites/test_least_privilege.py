"""Suite 12, least privilege (seed 000: "grant signer service minimal access", "CI uses ephemeral or
least-privileged credentials"; the IAM permissions of seed 001 and the AWS and Vault policies of seed
002): the implementation's signer, started on a key made for it with credentials that carry exactly
the seed's policy on that key and nothing else, signs and verifies; one that also needs
``DescribeKey``, ``ListKeys``, ``kms:*``, a key listing or ``sys/`` fails. Short-lived credentials
(GitHub Actions OIDC through STS AssumeRoleWithWebIdentity) expire, and the signer must refresh them.

The signer comes from :meth:`~pytest_kmsconform.adapter.Implementation.configured_signer`: the
environment a service is started with (the key's ARN or name, the algorithm, the credentials).
Each check first proves the policy is enforced (a call outside it is refused), so a pass means the
signer really ran under it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key, public_key_pem
from pytest_kmsconform.reference_impl.primitives import PublicKey, verify_digest
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.suites._privilege import (
    GITHUB_AUDIENCE,
    GITHUB_ISSUER,
    AwsSetup,
    GithubOidc,
    ManualClock,
    aws_setup,
    seed_policy,
    vault_setup,
    write_token,
)
from pytest_kmsconform.suites._support import digest, jwks_member

from pytest_kmsconform import kinds
from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.asserts import assert_accepts
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.backends import BackendPool, require_backend
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.checks import Target
from pytest_kmsconform.implementation import ImplementationFault, implementation_calls
from pytest_kmsconform.outcomes import backend_not_selected

CONFIGURED = Capability.CONFIGURED_SIGNER
SOURCE = "seed 000 (Production: minimal access; CI: least-privileged credentials)"


def _target(target: Target, pool: BackendPool, kind: str) -> tuple[BackendHandle, Algorithm]:
    if not target.backend:
        backend_not_selected(kind, "no backend of that kind selected with --kmsconform-backend")
    assert target.alg is not None
    return require_backend(pool, target.backend), target.alg


@contextmanager
def _signer(
    impl: Implementation, env: dict[str, str], clock: ManualClock, refused: Callable[[], str]
) -> Iterator[ImplSigner]:
    """The implementation's signer from ``env``; a failure names what the policy refused it."""
    try:
        with implementation_calls(f"{impl.name}.configured_signer(...)"):
            signer = impl.configured_signer(env, clock=clock)
    except ImplementationFault as exc:
        raise ImplementationFault(f"{exc} (refused by the policy: {refused()})") from exc
    try:
        yield signer
    finally:
        signer.close()


def _sign(signer: ImplSigner, n: int, alg: Algorithm, refused: Callable[[], str]) -> tuple[bytes, Signature]:
    try:
        with implementation_calls("sign_digest"):
            signature = signer.sign_digest(digest(n))
    except ImplementationFault as exc:
        raise ImplementationFault(f"{exc} (refused by the policy: {refused()})") from exc
    assert signature.alg is alg, f"a {alg.value} signer signed {signature.alg.value}"
    assert signature.kid == signer.kid, f"signature kid {signature.kid!r} is not the signer's {signer.kid!r}"
    return digest(n), signature


def _publishes(signer: ImplSigner, signature: Signature, public: PublicKey) -> None:
    """The key set carries the backend key's public key under the signature's kid."""
    member = jwks_member(signer.jwks(), signature.kid)
    assert member is not None, f"the key set does not publish {signature.kid!r}"
    assert public_key_pem(jwk_to_public_key(member)) == public_key_pem(public), "the key set publishes another key"


def _refuses(call: Callable[[], Any], code: str, what: str) -> None:
    """The backend refuses ``call`` with ``code``: the check's own proof that the policy is enforced."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        got = exc.response.get("Error", {}).get("Code")
        assert got == code, f"harness: {what} was refused with {got}, not {code}"
        return
    raise AssertionError(f"harness: {what} was allowed: the backend does not enforce the policy")


def _kms(setup: AwsSetup, env: dict[str, str]) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=setup.handle.url,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
    )


def _signs_on_aws(impl: Implementation, setup: AwsSetup, env: dict[str, str], n: int) -> None:
    with _signer(impl, env, setup.clock, setup.denied) as signer:
        message, signature = _sign(signer, n, setup.alg, setup.denied)
        setup.reference_verify(message, signature.value)
        assert_accepts(lambda: signer.verify_signature(message, signature), "its own signature")
        if not setup.alg.is_symmetric:
            _publishes(signer, signature, setup.public_key())


@pytest.mark.kmsconform_check(
    id="KC-LP-001",
    title="The AWS KMS signer works under exactly the seeds' policy on its key (no DescribeKey, ListKeys, kms:*)",
    source=(
        f"{SOURCE}; seed 001 (IAM permissions required: kms:Sign, kms:Verify or kms:GenerateMac, "
        "kms:VerifyMac); seed 002 (Required IAM policy: kms:Sign, kms:GetPublicKey on the key ARN)"
    ),
    requires=[CONFIGURED],
    scope="backend",
    kinds=[kinds.AWS_KMS],
    flags=["LEAST_PRIVILEGE"],
)
def test_aws_kms_seed_policy(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_backend_pool: BackendPool
) -> None:
    handle, alg = _target(kmsconform_target, kmsconform_backend_pool, kinds.AWS_KMS)
    setup = aws_setup(handle, alg)
    keys = setup.account.create_user("audit-signer", {"seed-policy": seed_policy(alg, setup.key_arn)})
    env = {**setup.env, **keys.env()}
    client = _kms(setup, env)
    _refuses(lambda: client.describe_key(KeyId=setup.key_arn), "AccessDeniedException", "DescribeKey")
    _refuses(client.list_keys, "AccessDeniedException", "ListKeys")
    _signs_on_aws(kmsconform_impl, setup, env, 1)


@pytest.mark.kmsconform_check(
    id="KC-LP-002",
    title="The Vault Transit signer works with a token carrying exactly seed 002's policy (no key listing, no sys/)",
    source=f"{SOURCE}; seed 002 (Vault policy: transit/sign/<key> update, transit/keys/<key> read)",
    requires=[CONFIGURED],
    scope="backend",
    algs="asymmetric",
    kinds=[kinds.VAULT],
    flags=["LEAST_PRIVILEGE"],
)
def test_vault_seed_policy(
    kmsconform_target: Target, kmsconform_impl: Implementation, kmsconform_backend_pool: BackendPool
) -> None:
    handle, alg = _target(kmsconform_target, kmsconform_backend_pool, kinds.VAULT)
    setup = vault_setup(handle, alg)
    try:
        status, _ = setup.request("LIST", f"/v1/{setup.mount}/keys", token=setup.token)
        assert status == 403, f"harness: listing the Transit keys with the seed's token answered {status}, not 403"

        def refused() -> str:
            return "a path outside transit/sign/<key> (update) and transit/keys/<key> (read)"

        with _signer(kmsconform_impl, setup.env, ManualClock(), refused) as signer:
            message, signature = _sign(signer, 2, alg, refused)
            public = setup.public_key()
            verify_digest(alg, public, message, signature.value)
            assert_accepts(lambda: signer.verify_signature(message, signature), "its own signature")
            _publishes(signer, signature, public)
    finally:
        setup.close()


@pytest.mark.kmsconform_check(
    id="KC-LP-003",
    title="With GitHub Actions OIDC credentials the signer keeps signing across their expiry (re-assumes the role)",
    source=(
        f"{SOURCE}; seed 000 (CI/CD: ephemeral credentials via GitHub Actions OIDC or cloud short-lived "
        "credentials); AWS STS AssumeRoleWithWebIdentity (temporary credentials expire)"
    ),
    requires=[CONFIGURED, Capability.WEB_IDENTITY],
    scope="backend",
    kinds=[kinds.AWS_KMS],
    flags=["LEAST_PRIVILEGE"],
)
def test_web_identity_refresh(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_backend_pool: BackendPool,
    tmp_path: Path,
) -> None:
    handle, alg = _target(kmsconform_target, kmsconform_backend_pool, kinds.AWS_KMS)
    setup = aws_setup(handle, alg)
    oidc = GithubOidc(setup.clock)
    provider = setup.account.add_oidc_provider(GITHUB_ISSUER, [GITHUB_AUDIENCE], oidc.jwks())
    role = setup.account.create_role(
        "audit-signer-ci", oidc.trust_policy(provider.arn), {"seed-policy": seed_policy(alg, setup.key_arn)}
    )
    token_file = tmp_path / "web-identity-token"
    write_token(token_file, oidc.token())
    env = {
        **setup.env,
        "AWS_ROLE_ARN": role.arn,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_SESSION_NAME": "kmsconform-ci",
    }
    expired_at = None
    with _signer(kmsconform_impl, env, setup.clock, setup.denied) as signer:
        for period in range(3):
            message, signature = _sign(signer, 30 + period, alg, setup.denied)
            setup.reference_verify(message, signature.value)
            sessions = setup.account.sessions_of(role.name)
            assert sessions, "the signer signed without assuming the role (AWS_ROLE_ARN)"
            if expired_at is not None:
                assert sessions[-1].issued_at >= expired_at, "no new session after the credentials expired"
            current = sessions[-1].credentials
            assert current.expiration is not None
            expired_at = current.expiration
            # past the session's expiry; the runner has a fresh ID token by then, as GitHub's runner does
            setup.clock.advance((current.expiration - setup.clock()).total_seconds() + 60)
            write_token(token_file, oidc.token())
            expired = _kms(setup, {**setup.env, **current.env()})
            _refuses(expired.list_keys, "ExpiredTokenException", "a request with expired credentials")
