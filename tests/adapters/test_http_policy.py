"""KC-POL over ``--kmsconform-impl=http://``: the reference proxy started with a policy passes every
check that can run against a running service, the same proxy with the gate switched off (monitor
mode) fails them, and what cannot run (a restart) is not applicable with the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.suites._policy_roles import SERVICE_CLIENTS, write_service_policy

from pytest_kmsconform import backend_registry
from pytest_kmsconform.adapters.http import load
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.loader import AdapterSettings

POL = {f"KC-POL-{n:03d}" for n in range(1, 16)}
RESTART = {"KC-POL-010", "KC-POL-015"}
CLIENTS = SERVICE_CLIENTS


@pytest.fixture
def gated_proxy(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """``gated_proxy(mode)`` -> (url, policy file): a reference proxy behind its gate on 127.0.0.1:0."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def start(mode: str) -> tuple[str, Path]:
            policy = write_service_policy(tmp_path / f"policy-{mode}", mode=mode)
            provider = backend_registry.get("signing-proxy")
            options = {"alg": "ed25519", "policy": str(policy)}
            handle = stack.enter_context(provider.start(namespace="policy", port=0, options=options))
            return handle.env["SIGNING_PROXY_URL"], policy

        yield start


def test_the_gate_passes_over_http_and_fails_when_switched_off(
    run_suites: Callable[..., Any], gated_proxy: Callable[[str], tuple[str, Path]]
) -> None:
    url, policy = gated_proxy("enforce")
    run = run_suites(url, "-k", "test_policy", f"--kmsconform-policy={policy}")
    assert run.counts()["failed"] == 0 and run.counts()["error"] == 0, run.describe("failed") + run.describe("error")
    assert run.ids("passed") == POL - RESTART, run.describe("not_applicable")
    na = [c for c in run.with_outcome("not_applicable") if c["suite"] == "policy" and c["alg"] == "ed25519"]
    assert {c["check_id"] for c in na} == RESTART
    assert all("restart of a running service" in c["message"] for c in na), na

    url, policy = gated_proxy("monitor")
    off = run_suites(url, "-k", "test_policy", f"--kmsconform-policy={policy}")
    # authentication is still on in monitor mode, and the basic check only signs what is allowed
    assert off.ids("failed") == POL - RESTART - {"KC-POL-001", "KC-POL-003"}, off.describe("failed")
    assert off.ids("passed") == {"KC-POL-001", "KC-POL-003"}
    assert off.returncode != 0


def test_without_a_policy_file_the_checks_say_what_is_missing(
    run_suites: Callable[..., Any], gated_proxy: Callable[[str], tuple[str, Path]]
) -> None:
    url, _ = gated_proxy("enforce")
    impl = load(url, AdapterSettings())
    assert Capability.POLICY in impl.capabilities().features, "detected from /health"
    run = run_suites(url, "-k", "test_policy")
    na = [c for c in run.with_outcome("not_applicable") if c["suite"] == "policy" and c["alg"] == "ed25519"]
    assert {c["check_id"] for c in na} == POL
    assert all("--kmsconform-policy" in c["message"] for c in na), na


def test_a_policy_without_the_roles_makes_the_checks_not_applicable_by_role(
    run_suites: Callable[..., Any], gated_proxy: Callable[[str], tuple[str, Path]], tmp_path: Path
) -> None:
    url, policy = gated_proxy("enforce")
    # the same policy, but the suite holds only the reader's token
    partial = tmp_path / "policy-partial"
    partial.mkdir()
    text = policy.read_text()
    for name in CLIENTS:
        token = (policy.parent / f"{name}.token").read_text().strip()
        if name != "reader":
            import hashlib

            digest = hashlib.sha256(token.encode()).hexdigest()
            text = text.replace(f'token_file = "{name}.token"', f'token_sha256 = "{digest}"')
    for name in ("reader", "admin"):
        (partial / f"{name}.token").write_text((policy.parent / f"{name}.token").read_text())
    (partial / "state").symlink_to(policy.parent / "state")
    (partial / "policy.toml").write_text(text)
    run = run_suites(url, "-k", "test_policy", f"--kmsconform-policy={partial / 'policy.toml'}")
    assert run.counts()["failed"] == 0 and run.counts()["error"] == 0, run.describe("failed")
    na = {
        c["check_id"]: c["message"]
        for c in run.with_outcome("not_applicable")
        if c["suite"] == "policy" and c["alg"] == "ed25519"
    }
    assert set(na) == POL
    assert "no client (with a token the suite holds) that signs both endpoints" in na["KC-POL-001"]
