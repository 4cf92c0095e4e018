"""Suite 6, the production guard (seed 001, Runtime Behavior & Guards): with ``NODE_ENV=production``
(any casing, surrounding blanks ignored) or ``REQUIRE_KMS`` true (``true``, ``1``, ``yes``, ``on``,
any casing, blanks ignored: every spelling is fed), the service refuses to start
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
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.backends import BackendPool, require_backend
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.implementation import Memo
from pytest_kmsconform.key_backends import kms_client_for
from pytest_kmsconform.options import get_config
from pytest_kmsconform.outcomes import backend_not_selected

GUARD, SERVICE_COMMAND = Capability.GUARD, Capability.SERVICE_COMMAND
MESSAGE = "Audit signing is required"
SOURCE = "seed 001 (Runtime Behavior & Guards; Troubleshooting: Audit signing is required...)"
SPELLING_SOURCE = SOURCE + "; docs/spec.md section 10 (the values that turn strict mode on)"
TRUE_VALUES = ("true", "1", "yes", "on")
ASCII_BLANKS = " \t\n\r\x0b\x0c"

NODE_ENVS: tuple[str | None, ...] = ("production", "development", None, "PRODUCTION", " Production ")
REQUIRE_KMS: tuple[str | None, ...] = (None, "true", "false")
CONFIGURED = ("none", "mock", "local", "kms", "proxy")
STRONG = frozenset({"kms", "proxy"})

# Every spelling docs/spec.md section 10 treats as true, and values it treats as false.
REQUIRE_KMS_TRUE = ("true", "TRUE", "True", "1", "yes", "YES", "on", "On", " on ", "\ttrue\n", "yes\r\n")
REQUIRE_KMS_FALSE = ("false", "FALSE", "0", "no", "off", "", "  ", "y", "2", "enabled", "truthy")
NODE_ENV_PRODUCTION = ("production", "PRODUCTION", "Production", " production", "production\n", "\tProduction ")
NODE_ENV_OTHER = ("development", "prod", "", "production-eu", "staging")


def strict(node_env: str | None, require_kms: str | None) -> bool:
    """Whether the seed demands a real signer for this environment (docs/spec.md section 10)."""
    production = node_env is not None and node_env.strip(ASCII_BLANKS).lower() == "production"
    return production or (require_kms is not None and require_kms.strip(ASCII_BLANKS).lower() in TRUE_VALUES)


def expected_accept(node_env: str | None, require_kms: str | None, configured: str) -> bool:
    return configured in STRONG or not strict(node_env, require_kms)


def _show(value: str | None) -> str:
    if value is None:
        return "unset"
    if not value:
        return "empty"
    names = {" ": "_", "\t": "<TAB>", "\n": "<LF>", "\r": "<CR>", "\x0b": "<VT>", "\x0c": "<FF>"}
    return "".join(names.get(c, c) for c in value)


def _row_id(node_env: str | None, require_kms: str | None, configured: str) -> str:
    return f"NODE_ENV={_show(node_env)}-REQUIRE_KMS={_show(require_kms)}-{configured}"


Row = tuple[str | None, str | None, str]


def _cross(
    node_envs: tuple[str | None, ...], require: tuple[str | None, ...], configured: tuple[str, ...]
) -> list[Row]:
    return [(ne, rk, cfg) for ne in node_envs for rk in require for cfg in configured]


def _params(rows: list[Row]) -> list[Any]:
    unique = list(dict.fromkeys(rows))
    return [pytest.param(ne, rk, cfg, id=_row_id(ne, rk, cfg)) for ne, rk, cfg in unique]


SPELLING_ROWS = _cross((None,), REQUIRE_KMS_TRUE + REQUIRE_KMS_FALSE, ("none", "mock", "local")) + _cross(
    NODE_ENV_PRODUCTION + NODE_ENV_OTHER, (None,), ("mock", "local")
)
FULL_MATRIX = _params(_cross(NODE_ENVS, REQUIRE_KMS, CONFIGURED) + SPELLING_ROWS)
PROCESS_MATRIX = _params(
    _cross(("production", "development", None, "PRODUCTION"), (None,), ("none", "mock", "kms"))
    + _cross(("development",), ("true",), ("local", "kms"))
    + _cross((None,), ("TRUE", " yes ", "1", "on", "false", "0", "off", ""), ("mock",))
    + _cross(("\tProduction ", "prod"), (None,), ("local",))
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
        backend_not_selected(name, f"not selected with --kmsconform-backend (needed for the {configured} column)")
    handle = require_backend(pool, name)
    env = dict(handle.env)
    if configured == "kms":
        env["AUDIT_SIGNING_KMS_KEY_ID"] = memo.get(("guard-kms-key", name), lambda: _create_kms_key(handle))
        env["AUDIT_SIGNING_ALG"] = "ecdsa-p256-sha256"
    return env


def _create_kms_key(handle: BackendHandle) -> str:
    client = kms_client_for(handle)
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
    source=SPELLING_SOURCE,
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
    source=SPELLING_SOURCE,
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
