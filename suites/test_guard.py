"""Suite 6, the production guard (seed 001, Runtime Behavior & Guards): with ``NODE_ENV=production``
(any casing, surrounding blanks ignored) or ``REQUIRE_KMS`` true, the service refuses to start
unless a KMS/HSM-backed signer (AWS KMS, signing proxy) is configured, with an error beginning
``Audit signing is required``; it never falls back to the mock or local signer. Otherwise it starts.
Checked in process (``start_service(env)``) and as a real process (``service_command()``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from pytest_kmsconform import kinds
from pytest_kmsconform.adapter import Implementation
from pytest_kmsconform.backends import SKIP_PREFIX, BackendPool, require_backend
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.implementation import Memo
from pytest_kmsconform.options import get_config

GUARD, SERVICE_COMMAND = Capability.GUARD, Capability.SERVICE_COMMAND
MESSAGE = "Audit signing is required"
SOURCE = "seed 001 (Runtime Behavior & Guards; Troubleshooting: Audit signing is required...)"
TRUE_VALUES = ("true", "1", "yes", "on")

NODE_ENVS: tuple[str | None, ...] = ("production", "development", None, "PRODUCTION", " Production ")
REQUIRE_KMS: tuple[str | None, ...] = (None, "true", "false")
CONFIGURED = ("none", "mock", "local", "kms", "proxy")
STRONG = frozenset({"kms", "proxy"})


def strict(node_env: str | None, require_kms: str | None) -> bool:
    """Whether the seed demands a real signer for this environment."""
    production = node_env is not None and node_env.strip().lower() == "production"
    return production or (require_kms is not None and require_kms.strip().lower() in TRUE_VALUES)


def expected_accept(node_env: str | None, require_kms: str | None, configured: str) -> bool:
    return configured in STRONG or not strict(node_env, require_kms)


def _row_id(node_env: str | None, require_kms: str | None, configured: str) -> str:
    ne = "unset" if node_env is None else node_env.strip() + ("(padded)" if node_env != node_env.strip() else "")
    return f"NODE_ENV={ne}-REQUIRE_KMS={require_kms or 'unset'}-{configured}"


def _rows(node_envs: tuple[str | None, ...], require: tuple[str | None, ...], configured: tuple[str, ...]) -> list[Any]:
    return [
        pytest.param(ne, rk, cfg, id=_row_id(ne, rk, cfg)) for ne in node_envs for rk in require for cfg in configured
    ]


FULL_MATRIX = _rows(NODE_ENVS, REQUIRE_KMS, CONFIGURED)
PROCESS_MATRIX = _rows(("production", "development", None, "PRODUCTION"), (None,), ("none", "mock", "kms")) + _rows(
    ("development",), ("true",), ("local", "kms")
)


def _backend_env(pool: BackendPool, memo: Memo, configured: str, selected: tuple[str, ...]) -> dict[str, str]:
    """The signer variables for one configured-backend column (seed 001 names)."""
    if configured == "none":
        return {}
    if configured == "mock":
        return {"MOCK_AUDIT_SIGNING_KEY": "kmsconform-guard-check"}
    if configured == "local":
        return {"AUDIT_SIGNING_SECRET": "kmsconform-guard-check", "AUDIT_SIGNING_ALG": "hmac-sha256"}
    name = kinds.AWS_KMS if configured == "kms" else kinds.SIGNING_PROXY
    if name not in selected:
        pytest.skip(f"{SKIP_PREFIX}{name}: not selected with --kmsconform-backend (needed for the {configured} column)")
    handle = require_backend(pool, name)
    env = dict(handle.env)
    if configured == "kms":
        env["AUDIT_SIGNING_KMS_KEY_ID"] = memo.get(("guard-kms-key", name), lambda: _create_kms_key(handle.details))
        env["AUDIT_SIGNING_ALG"] = "ecdsa-p256-sha256"
    return env


def _create_kms_key(details: Mapping[str, Any]) -> str:
    client = details["client_factory"]()
    meta = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Description="kmsconform guard check")
    return str(meta["KeyMetadata"]["KeyId"])


def _env(node_env: str | None, require_kms: str | None, backend_env: Mapping[str, str]) -> dict[str, str]:
    env = dict(backend_env)
    if node_env is not None:
        env["NODE_ENV"] = node_env
    if require_kms is not None:
        env["REQUIRE_KMS"] = require_kms
    return env


@pytest.fixture
def guard_env(
    request: pytest.FixtureRequest, kmsconform_backend_pool: BackendPool, kmsconform_memo: Memo
) -> Iterator[tuple[dict[str, str], bool]]:
    node_env, require_kms, configured = (
        request.node.callspec.params[k] for k in ("node_env", "require_kms", "configured")
    )
    selected = get_config(request.config).backends
    backend_env = _backend_env(kmsconform_backend_pool, kmsconform_memo, configured, selected)
    yield _env(node_env, require_kms, backend_env), expected_accept(node_env, require_kms, configured)


@pytest.mark.kmsconform_check(
    id="KC-GRD-001",
    title="start_service refuses or accepts each NODE_ENV x REQUIRE_KMS x backend combination as the seed says",
    source=SOURCE,
    requires=[GUARD],
    flags=["FAIL_OPEN"],
)
@pytest.mark.parametrize(("node_env", "require_kms", "configured"), FULL_MATRIX)
def test_guard_in_process(
    kmsconform_impl: Implementation,
    guard_env: tuple[dict[str, str], bool],
    node_env: str | None,
    require_kms: str | None,
    configured: str,
) -> None:
    env, accept = guard_env
    try:
        service = kmsconform_impl.start_service(env)
    except Exception as exc:  # a refusal: judged below against the expected verdict
        assert not accept, f"refused to start although the seed allows it: {type(exc).__name__}: {exc}"
        assert MESSAGE in str(exc), f"refusal without the descriptive '{MESSAGE}' message: {exc}"
        return
    service.close()
    assert accept, f"started with {configured} signer configured although the seed requires a KMS/HSM signer"


@pytest.mark.kmsconform_check(
    id="KC-GRD-002",
    title="The real service process exits non-zero with the guard message exactly when the seed says",
    source=SOURCE,
    requires=[SERVICE_COMMAND],
    flags=["FAIL_OPEN"],
)
@pytest.mark.parametrize(("node_env", "require_kms", "configured"), PROCESS_MATRIX)
def test_guard_process(
    kmsconform_impl: Implementation,
    guard_env: tuple[dict[str, str], bool],
    node_env: str | None,
    require_kms: str | None,
    configured: str,
) -> None:
    env, accept = guard_env
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    proc = subprocess.run(
        list(kmsconform_impl.service_command()), env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if accept:
        assert proc.returncode == 0, f"refused (exit {proc.returncode}) although allowed: {proc.stderr.strip()}"
    else:
        assert proc.returncode != 0, f"started (exit 0) with {configured} signer configured: {proc.stdout.strip()}"
        assert MESSAGE in proc.stderr, f"exit {proc.returncode} without '{MESSAGE}' on stderr: {proc.stderr.strip()}"
