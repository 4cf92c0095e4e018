"""The reference implementation as a ``cmd:`` child (``pytest_kmsconform.adapters.cmd.reference_child``):
it passes every applicable check through the subprocess adapter, protocol 1.1 included (policy gate
and delegation), and the versioning keeps a 1.0 host and a 1.0 child working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.clock import utc_now
from pytest_kmsconform.reference_impl.delegation import ChainCode, DelegationError

from pytest_kmsconform import protocol
from pytest_kmsconform.adapters.cmd.adapter import CmdImplementation, load
from pytest_kmsconform.adapters.cmd.errors import PolicyRefused
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.loader import AdapterSettings, ImplLoadError

CHILD = [sys.executable, "-m", "pytest_kmsconform.adapters.cmd.reference_child"]
IMPL = "cmd:" + " ".join(CHILD)
FAKE = Path(__file__).resolve().parent / "fake_child.py"
HANDLE = BackendHandle(name="local", kind="local", env={}, version="test", namespace="t", url=None)


@pytest.fixture
def child() -> Iterator[CmdImplementation]:
    impl = load(IMPL, AdapterSettings(timeout_s=60))
    try:
        yield impl
    finally:
        impl.close()


def test_reference_child_passes_the_suites(run_suites: Callable[..., Any]) -> None:
    run = run_suites(IMPL, backend="local,mock")
    counts = run.counts()
    assert counts["failed"] == 0 and counts["error"] == 0, run.describe("failed") + run.describe("error")
    assert run.returncode == 0, run.output[-3000:]
    passed = run.ids("passed")
    for suite in ("SIG", "ROT", "REV", "AUD", "AIR", "GRD", "MS", "POL", "DEL"):
        assert any(i.startswith(f"KC-{suite}-") for i in passed), f"no {suite} check passed"
    assert {f"KC-POL-{n:03d}" for n in range(1, 16)} <= passed, "the policy gate, restarts included, over cmd:"
    assert {f"KC-DEL-{n:03d}" for n in range(1, 12)} <= passed
    # Not applicable: what the protocol has no ops for (envelope persistence, signing audit events,
    # the store verifier), the fault proxy (local, mock are not reached over HTTP) and least privilege
    # (the protocol cannot hand the child credentials, and no aws-kms or vault backend is selected).
    na = run.with_outcome("not_applicable")
    no_ops = {"envelope_persistence", "signing_events", "db_verifier"}
    for c in na:
        if c["suite"] == "reliability":
            assert "fault proxy" in c["message"], c
        elif c["suite"] == "least_privilege":
            reasons = ("configured_signer not declared", "web_identity not declared", "no backend of that kind")
            assert any(why in c["message"] for why in reasons), c["message"]
        else:
            assert any(f"capability {name} not declared" in c["message"] for name in no_ops), c
    assert {"KC-ENV-001", "KC-SIG-017", "KC-AUD-022"} <= {c["check_id"] for c in na}


def test_hello_offers_1_1_capabilities_to_a_1_1_host(child: CmdImplementation) -> None:
    assert child.minor == protocol.PROTOCOL_MINOR == 1
    features = child.capabilities().features
    assert {Capability.POLICY, Capability.DELEGATION} <= features
    assert Capability.ENVELOPE not in features, "the protocol has no envelope ops"


def _hello(env: dict[str, str]) -> dict[str, Any]:
    with subprocess.Popen(CHILD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps({"id": 1, "op": "hello", "protocol": 1}) + "\n")
        proc.stdin.flush()
        answer: dict[str, Any] = json.loads(proc.stdout.readline())
        proc.stdin.write(json.dumps({"id": 2, "op": "shutdown"}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"id": 2, "ok": True}
        assert proc.wait(timeout=60) == 0
    return answer


def test_a_1_0_host_gets_a_1_0_hello() -> None:
    """A host that announces nothing is 1.0: no ``minor`` member (its schema refuses unknown
    members), and no capability of 1.1."""
    env = {k: v for k, v in os.environ.items() if k != protocol.PROTOCOL_ENV}
    answer = _hello(env)
    assert "minor" not in answer
    assert not {"policy", "delegation"} & set(answer["capabilities"])
    assert {"sign", "audit_log", "multisig"} <= set(answer["capabilities"])
    newer = _hello({**env, protocol.PROTOCOL_ENV: "1.1"})
    assert newer["minor"] == 1 and {"policy", "delegation"} <= set(newer["capabilities"])


def test_a_1_0_child_that_declares_1_1_capabilities_is_refused() -> None:
    with pytest.raises(ImplLoadError, match=r"policy need protocol 1\.1; the child speaks 1\.0"):
        load(f"cmd:{sys.executable} {FAKE} declares-policy", AdapterSettings(timeout_s=10))


def test_refusals_keep_their_codes(child: CmdImplementation, tmp_path: Path) -> None:
    from pytest_kmsconform.suites import _policy as pol

    signer = child.signer(HANDLE, Algorithm.ED25519, label="codes")
    tokens = {name: f"kc-{name}-0123456789abcdef" for name in (*pol.CLIENTS, "admin")}
    gate = child.policy_gate(signer, pol.conformance_policy(tokens, signer.kid), tmp_path / "state")
    try:
        with pytest.raises(PolicyRefused) as denied:
            gate.sign_hash(tokens["reader"], bytes(32))
        assert denied.value.code == "ENDPOINT_NOT_ALLOWED"
        assert gate.sign_hash(tokens["trader"], bytes(32)).kid == signer.kid
    finally:
        gate.close()
    issuer = child.delegation_issuer(signer, "root")
    now = utc_now()
    passport = issuer.issue(
        subject="bot",
        subject_key=dict(signer.jwks()["keys"][0]),
        capabilities=["a"],
        not_before=now,
        not_after=now + timedelta(hours=1),
    )
    with pytest.raises(DelegationError) as refused:
        child.delegation_verifier({"keys": []}).verify_chain([passport])
    assert refused.value.code is ChainCode.UNTRUSTED_ROOT and refused.value.index == 0
