"""The HTTP adapter: the reference signing proxy passes the suites through ``--kmsconform-impl=http://``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_kmsconform.adapters.http import load
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.loader import AdapterSettings, ImplLoadError, load_implementation

ADMIN_ONLY = {"KC-ROT-001", "KC-ROT-002", "KC-ROT-003", "KC-ROT-004", "KC-REV-001", "KC-REV-002", "KC-REV-003"}


def _env(handle: BackendHandle, *, admin: bool) -> dict[str, str]:
    env = {"SIGNING_PROXY_API_KEY": handle.env["SIGNING_PROXY_API_KEY"]}
    if admin:
        env["SIGNING_PROXY_ADMIN_KEY"] = handle.env["SIGNING_PROXY_ADMIN_KEY"]
    return env


def test_reference_proxy_passes_with_admin(
    run_suites: Callable[..., Any], signing_proxy: Callable[..., BackendHandle]
) -> None:
    handle = signing_proxy(alg="ed25519")
    run = run_suites(handle.env["SIGNING_PROXY_URL"], env=_env(handle, admin=True))
    assert run.counts()["failed"] == 0 and run.counts()["error"] == 0, run.describe("failed") + run.describe("error")
    assert run.returncode == 0, run.output[-3000:]
    passed = run.ids("passed")
    assert {"KC-SIG-001", "KC-SIG-002", "KC-SIG-003", "KC-SIG-005"} <= passed
    assert passed >= ADMIN_ONLY, f"rotation/revocation not certified through /admin: {ADMIN_ONLY - passed}"
    # Everything the proxy API cannot express is not applicable, with the capability named.
    for check in run.with_outcome("not_applicable"):
        assert "not declared" in check["message"], check
    na = {c["check_id"] for c in run.with_outcome("not_applicable")}
    assert {"KC-SIG-006", "KC-AUD-001", "KC-AIR-001", "KC-GRD-001", "KC-GRD-002", "KC-MS-001"} <= na
    verifier_na = [c for c in run.with_outcome("not_applicable") if c["check_id"] == "KC-SIG-006"]
    assert all("verifier" in c["message"] for c in verifier_na)
    # Only the service's one algorithm runs.
    assert {c["alg"] for c in run.with_outcome("passed") if c["alg"]} == {"ed25519"}


def test_without_admin_key_rotation_is_not_applicable(
    run_suites: Callable[..., Any], signing_proxy: Callable[..., BackendHandle]
) -> None:
    handle = signing_proxy(alg="ecdsa-p256-sha256")
    run = run_suites(handle.env["SIGNING_PROXY_URL"], f"--kmsconform-api-key={handle.env['SIGNING_PROXY_API_KEY']}")
    assert run.counts()["failed"] == 0 and run.counts()["error"] == 0, run.describe("failed") + run.describe("error")
    assert {"KC-SIG-001", "KC-SIG-002"} <= run.ids("passed")
    rot = [c for c in run.checks if c["check_id"] in ADMIN_ONLY and c["alg"] == "ecdsa-p256-sha256"]
    assert rot and all(c["outcome"] == "not_applicable" for c in rot), rot
    assert all("rotation" in c["message"] or "revocation" in c["message"] for c in rot)


def test_wrong_api_key_fails_the_signing_checks(
    run_suites: Callable[..., Any], signing_proxy: Callable[..., BackendHandle]
) -> None:
    handle = signing_proxy(alg="ed25519")
    run = run_suites(handle.env["SIGNING_PROXY_URL"], env={"SIGNING_PROXY_API_KEY": "not-the-key"})
    assert "KC-SIG-001" in run.ids("failed") | run.ids("error"), run.output[-2000:]
    assert run.returncode != 0


def test_capabilities_follow_health(signing_proxy: Callable[..., BackendHandle]) -> None:
    handle = signing_proxy(alg="rsa-pss-sha256")
    url = handle.env["SIGNING_PROXY_URL"]
    with_admin = load(url, AdapterSettings(api_key="x", admin_key=handle.env["SIGNING_PROXY_ADMIN_KEY"]))
    without = load(url, AdapterSettings(api_key="x"))
    assert {Capability.ROTATION, Capability.REVOCATION} <= with_admin.capabilities().features
    assert without.capabilities().features == frozenset({Capability.SIGN})
    assert [a.value for a in without.capabilities().algorithms] == ["rsa-pss-sha256"]
    assert without.capabilities().backends == frozenset({"local"}), "checks run once, on one target"


@pytest.mark.parametrize("spec", ["http://", "http://127.0.0.1:1?x=1", "http://127.0.0.1:1"])
def test_bad_or_unreachable_url_is_a_load_error(spec: str) -> None:
    with pytest.raises(ImplLoadError, match="kmsconform-impl"):
        load_implementation(spec, AdapterSettings(timeout_s=2))


def test_https_with_client_certificate(
    run_suites: Callable[..., Any], signing_proxy: Callable[..., BackendHandle]
) -> None:
    handle = signing_proxy(alg="ecdsa-p256-sha256", tls="mtls")
    url = handle.env["SIGNING_PROXY_URL"]
    assert url.startswith("https://")
    tls = {k: v for k, v in handle.env.items() if k.startswith("SIGNING_PROXY_") and k != "SIGNING_PROXY_URL"}
    run = run_suites(url, "-k", "signing or rotation", env=tls)
    assert run.counts()["failed"] == 0 and run.counts()["error"] == 0, run.describe("failed") + run.describe("error")
    assert {"KC-SIG-001", "KC-SIG-002", "KC-ROT-001"} <= run.ids("passed")
    # Without the client certificate the TLS handshake is refused: the service cannot even be loaded.
    no_cert = {k: v for k, v in tls.items() if "CLIENT" not in k}
    refused = run_suites(url, env=no_cert, expect_report=False)
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR, refused.output[-2000:]
    assert "access_denied" in refused.output or "TLS" in refused.output
