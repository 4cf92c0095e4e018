"""Mutants of least privilege: signers that need more than the seeds' policies grant, or that keep
temporary credentials past their expiry. Each is code a developer ships because it works with the
broad credentials of a laptop or of an emulator that checks nothing."""

from __future__ import annotations

from typing import Any

from pytest_kmsconform.mutation import mutant

SELECT = "least_privilege"
VIOLATES = (
    "seed 000 (Production: grant signer service minimal access; CI: least-privileged credentials); "
    "seed 001 (IAM permissions required); seed 002 (Required IAM policy, Vault policy)"
)
AWS_SIGNER_OPEN = "pytest_kmsconform.reference_impl.backends.aws_kms_signer:AwsKmsSigner.open"


@mutant(
    AWS_SIGNER_OPEN,
    bug="least privilege: DescribeKey at start-up to learn the key's spec and id (kms:DescribeKey not granted)",
    violates=VIOLATES,
    backends=("aws-kms",),
    select=SELECT,
    fast=True,
)
def describe_key_at_startup(original: Any) -> Any:
    def open(cls: Any, backend: Any, key_id: str, alg: Any = None) -> Any:
        backend.client.describe_key(KeyId=key_id)
        return original.__func__(cls, backend, key_id, alg)

    return classmethod(open)


@mutant(
    AWS_SIGNER_OPEN,
    bug="least privilege: ListKeys at start-up as a connectivity check (kms:ListKeys not granted)",
    violates=VIOLATES,
    backends=("aws-kms",),
    select=SELECT,
)
def list_keys_at_startup(original: Any) -> Any:
    def open(cls: Any, backend: Any, key_id: str, alg: Any = None) -> Any:
        backend.client.list_keys(Limit=1)
        return original.__func__(cls, backend, key_id, alg)

    return classmethod(open)


@mutant(
    AWS_SIGNER_OPEN,
    bug="least privilege: ListAliases at start-up to log the key's alias names (kms:ListAliases not granted)",
    violates=VIOLATES,
    backends=("aws-kms",),
    select=SELECT,
)
def list_aliases_at_startup(original: Any) -> Any:
    def open(cls: Any, backend: Any, key_id: str, alg: Any = None) -> Any:
        signer = original.__func__(cls, backend, key_id, alg)
        backend.client.list_aliases(KeyId=signer._key.ref)
        return signer

    return classmethod(open)


@mutant(
    "pytest_kmsconform.reference_impl.backends.vault_signer:VaultTransitSigner.__init__",
    bug="least privilege: lists the Transit keys to find its key (LIST transit/keys not granted)",
    violates=VIOLATES,
    backends=("vault",),
    select=SELECT,
)
def vault_lists_keys(original: Any) -> Any:
    def __init__(self: Any, backend: Any, name: str, alg: Any = None) -> None:
        backend.client.secrets.transit.list_keys(mount_point=backend.mount)
        original(self, backend, name, alg)

    return __init__


@mutant(
    "pytest_kmsconform.reference_impl.backends.vault_signer:VaultTransitSigner.__init__",
    bug="least privilege: reads sys/mounts to check the Transit mount (no sys/ path granted)",
    violates=VIOLATES,
    backends=("vault",),
    select=SELECT,
)
def vault_reads_sys_mounts(original: Any) -> Any:
    def __init__(self: Any, backend: Any, name: str, alg: Any = None) -> None:
        backend.client.sys.list_mounted_secrets_engines()
        original(self, backend, name, alg)

    return __init__


@mutant(
    "pytest_kmsconform.reference_impl.backends.aws_kms:web_identity_credentials",
    bug="short-lived credentials: the role is assumed once and its credentials kept for good",
    violates="seed 000 (CI/CD: ephemeral credentials via GitHub Actions OIDC); AWS STS (temporary credentials expire)",
    backends=("aws-kms",),
    select=SELECT,
    fast=True,
)
def credentials_cached_forever(original: Any) -> Any:
    def web_identity_credentials(env: Any, *, region: str, clock: Any) -> Any:
        from botocore.credentials import Credentials

        frozen = original(env, region=region, clock=clock).get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token)

    return web_identity_credentials
