"""The policy gate: its file format (validated at start-up), the engine's decisions on an injected clock,
the replay cache, and the wire (codes, audit, metrics, kill switch) through a running proxy."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_kmsconform.emulators.signing_proxy.errors import ErrorCode
from pytest_kmsconform.emulators.signing_proxy.policy import (
    PolicyDenied,
    PolicyEngine,
    ReplayCache,
    SignRequest,
    resolve_pointer,
)
from pytest_kmsconform.emulators.signing_proxy.policy_config import (
    PolicyConfigError,
    load_policy,
    policy_from_mapping,
)
from pytest_kmsconform.emulators.signing_proxy.provider import run_proxy
from pytest_kmsconform.reference_impl.canonical import canonicalize_payload
from pytest_kmsconform.reference_impl.policy_client import PolicyClient
from pytest_kmsconform.reference_impl.policy_client import PolicyDenied as ClientDenied

TRADER, ADMIN = "trader-token-0123456789", "admin-token-0123456789"


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def policy(**trader: Any) -> dict[str, Any]:
    client = {
        "token_sha256": sha(TRADER),
        "endpoints": ["/sign/canonical", "/sign/hash"],
        "rate": {"requests": 3, "per_seconds": 60},
        "canonical": {
            "types": ["trade"],
            "amount": {"pointer": "/amount", "per_request": 100, "per_day": 150},
        },
        "hash": {"kids": ["signing-proxy-v*"]},
        **trader,
    }
    return {
        "format": "kmsconform-policy/1",
        "admin": {"token_sha256": sha(ADMIN)},
        "kill_switch": {"file": "kill"},
        "audit": {"path": "audit.sqlite"},
        "clients": {"trader": client},
    }


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def canonical_request(payload: Any, kid: str = "signing-proxy-v1") -> SignRequest:
    data = canonicalize_payload(payload)
    return SignRequest("/sign/canonical", data, payload, kid)


# -- the file ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "kmsconform-policy/2"}, "format: must be 'kmsconform-policy/1'"),
        ({"mode": "off"}, "mode: must be enforce or monitor"),
        ({"kill_switch": None}, "kill_switch: required table is missing"),
        ({"surprise": 1}, "unknown key(s) surprise"),
        ({"clients": {}}, "at least one client"),
    ],
)
def test_policy_file_errors_name_the_key(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = {k: v for k, v in {**policy(), **change}.items() if v is not None}
    with pytest.raises(PolicyConfigError, match=re.escape(message)):
        policy_from_mapping(data, tmp_path)


@pytest.mark.parametrize(
    ("trader", "message"),
    [
        ({"endpoints": ["/sign/everything"]}, "clients.trader.endpoints: '/sign/everything' is not one of"),
        ({"canonical": {}}, "canonical.types and canonical.rules allow nothing"),
        ({"hash": None}, "hash.kids names no key"),
        ({"rate": None}, "clients.trader.rate: required table is missing"),
        ({"rate": {"requests": 0, "per_seconds": 1}}, "clients.trader.rate.requests: must be a positive integer"),
        ({"replay": "maybe"}, "replay: must be reject or return"),
        ({"token_sha256": "ABC"}, "token_sha256: must be 64 lower-case hex"),
        ({"canonical": {"rules": [{"pointer": "action", "in": ["a"]}]}}, "a JSON pointer"),
        ({"canonical": {"types": ["t"], "amount": {"pointer": "/a"}}}, "set per_request, per_day or both"),
        ({"colour": "red"}, "clients.trader: unknown key(s) colour"),
    ],
)
def test_client_errors_name_the_key(tmp_path: Path, trader: dict[str, Any], message: str) -> None:
    data = policy(**trader)
    data["clients"]["trader"] = {k: v for k, v in data["clients"]["trader"].items() if v is not None}
    with pytest.raises(PolicyConfigError, match=re.escape(message)):
        policy_from_mapping(data, tmp_path)


def test_admin_token_must_differ_from_client_tokens(tmp_path: Path) -> None:
    data = policy()
    data["admin"] = {"token_sha256": sha(TRADER)}
    with pytest.raises(PolicyConfigError, match="admin token must differ"):
        policy_from_mapping(data, tmp_path)


def test_toml_file_and_token_file(tmp_path: Path) -> None:
    (tmp_path / "trader.token").write_text(TRADER + "\n")
    (tmp_path / "policy.toml").write_text(
        "\n".join(
            [
                'format = "kmsconform-policy/1"',
                '[kill_switch]\nfile = "state/kill"',
                '[audit]\npath = "state/audit.sqlite"',
                '[clients.trader]\ntoken_file = "trader.token"\nendpoints = ["/sign/hash"]',
                "rate = { requests = 1, per_seconds = 1 }",
                '[clients.trader.hash]\nkids = ["k-*"]',
            ]
        )
    )
    config = load_policy(tmp_path / "policy.toml")
    assert config.kill_switch_file == tmp_path / "state" / "kill"
    assert config.clients[0].token_sha256 == hashlib.sha256(TRADER.encode()).digest()
    (tmp_path / "broken.toml").write_text("format = ")
    with pytest.raises(PolicyConfigError, match=r"broken\.toml: not valid TOML"):
        load_policy(tmp_path / "broken.toml")


# -- the engine ---------------------------------------------------------------------------------------
def test_json_pointer() -> None:
    doc = {"a/b": {"m~n": [10, 20]}, "": 1}
    assert resolve_pointer(doc, "/a~1b/m~0n/1") == 20
    assert resolve_pointer(doc, "/") == 1
    assert resolve_pointer(doc, "/a~1b/m~0n/01") != 20
    assert resolve_pointer(doc, "/missing") is resolve_pointer(doc, "/a~1b/m~0n/9")


def test_rate_window_and_daily_cap_roll_with_the_clock(tmp_path: Path) -> None:
    clock = Clock()
    engine = PolicyEngine(policy_from_mapping(policy(), tmp_path), clock=clock)
    trader = engine.authenticate(TRADER)
    for n in range(3):
        engine.settle(engine.check(trader, canonical_request({"type": "trade", "amount": 40, "n": n})), signed=True)
    with pytest.raises(PolicyDenied) as rate:
        engine.check(trader, canonical_request({"type": "trade", "amount": 1}))
    assert rate.value.code is ErrorCode.RATE_LIMITED and rate.value.retry_after == 60
    clock.now += timedelta(seconds=60)
    with pytest.raises(PolicyDenied) as cap:  # 120 accepted; 40 more would be 160 > 150
        engine.check(trader, canonical_request({"type": "trade", "amount": 40}))
    assert cap.value.code is ErrorCode.DAILY_CAP_EXCEEDED
    permit = engine.check(trader, canonical_request({"type": "trade", "amount": 30}))
    engine.settle(permit, signed=False)  # a failed signature gives its reservation back
    engine.settle(engine.check(trader, canonical_request({"type": "trade", "amount": 30, "n": 9})), signed=True)
    clock.now += timedelta(days=1)
    engine.settle(engine.check(trader, canonical_request({"type": "trade", "amount": 100})), signed=True)


def test_restore_rebuilds_caps_from_audited_accepts(tmp_path: Path) -> None:
    clock = Clock()
    config = policy_from_mapping(policy(), tmp_path)
    at = clock.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    accepted = {"type": "policy.decision", "decision": "accept", "client": "trader", "at": at, "amount": 150}
    engine = PolicyEngine(config, clock=clock)
    clock.now += timedelta(hours=23)
    assert engine.restore([accepted, {**accepted, "replayed": True}]) == 1
    with pytest.raises(PolicyDenied, match="per 24 h"):
        engine.check(engine.authenticate(TRADER), canonical_request({"type": "trade", "amount": 1}))


def test_kill_switch_file_fails_closed(tmp_path: Path) -> None:
    engine = PolicyEngine(policy_from_mapping(policy(), tmp_path))
    assert not engine.kill_switch_engaged()
    engine.set_kill_switch(True, "incident 7")
    assert json.loads((tmp_path / "kill").read_text())["reason"] == "incident 7"
    assert engine.kill_switch_engaged()
    engine.set_kill_switch(False, "over")
    (tmp_path / "kill").mkdir()  # unreadable as a file, but present: still engaged
    assert engine.kill_switch_engaged()


def test_replay_cache_window(tmp_path: Path) -> None:
    clock = Clock()
    cache = ReplayCache(10, clock=clock)
    assert cache.begin(b"k") is None
    pending = cache.begin(b"k")
    assert pending is not None and not pending.done.is_set()
    cache.finish(b"k", "sig")
    assert cache.begin(b"k") is pending and pending.result == "sig"
    clock.now += timedelta(seconds=11)
    assert cache.begin(b"k") is None  # outside the window: a new request
    cache.fail(b"k")
    assert cache.begin(b"k") is None


# -- the wire ----------------------------------------------------------------------------------------------
@pytest.fixture
def gated(tmp_path: Path) -> Any:
    file = tmp_path / "policy.toml"
    data = policy()
    lines = [
        'format = "kmsconform-policy/1"',
        f'[admin]\ntoken_sha256 = "{sha(ADMIN)}"',
        '[kill_switch]\nfile = "kill"',
        '[audit]\npath = "audit.sqlite"',
        f'[clients.trader]\ntoken_sha256 = "{sha(TRADER)}"\nendpoints = ["/sign/canonical", "/sign/hash"]',
        "rate = { requests = 100, per_seconds = 60 }",
        '[clients.trader.canonical]\ntypes = ["trade"]',
        '[clients.trader.hash]\nkids = ["signing-proxy-v*"]',
    ]
    assert data  # same shape as policy(), written as TOML
    file.write_text("\n".join(lines))
    with run_proxy({"policy": str(file)}) as running:
        yield running, PolicyClient(running.server.url)


def test_wire_codes_audit_and_metrics(gated: Any) -> None:
    running, client = gated
    assert "SIGNING_PROXY_API_KEY" not in running.env and "SIGNING_PROXY_ADMIN_KEY" not in running.env
    sig = client.sign_canonical(TRADER, b'{"type":"trade"}')
    assert sig.kid == "signing-proxy-v1"
    for token, body, code, status in [
        (None, b'{"type":"trade"}', "UNAUTHORIZED", 401),
        (TRADER, b'{"type":"loan"}', "TYPE_NOT_ALLOWED", 403),
        (TRADER, b'{"type":"trade"}', "REPLAYED", 409),
        (TRADER, b'{ "type":"trade"}', "NOT_CANONICAL", 400),
    ]:
        with pytest.raises(ClientDenied) as denied:
            client.sign_canonical(token, body)
        assert (denied.value.code, denied.value.status) == (code, status)
    records, jwks = client.audit(ADMIN)
    gates = [(r["payload"]["gate"], r["payload"]["code"]) for r in records]
    assert gates == [
        ("sign", "OK"),
        ("auth", "UNAUTHORIZED"),
        ("policy", "TYPE_NOT_ALLOWED"),
        ("replay", "REPLAYED"),
        ("decode", "NOT_CANONICAL"),
    ]
    assert jwks["keys"][0]["kid"] == records[0]["signature"]["kid"]
    text = client.metrics()
    assert 'kmsconform_policy_decisions_total{client="trader",code="OK",decision="accept"' in text
    assert 'kmsconform_backend_sign_calls_total{endpoint="/sign/canonical"} 1.0' in text
    with pytest.raises(ClientDenied) as admin:
        client.audit(TRADER)
    assert admin.value.code == "UNAUTHORIZED"
    client.set_kill_switch(ADMIN, True)
    assert client.health()["policy"] == {"kill_switch": True, "mode": "enforce"}
    assert "kmsconform_kill_switch_engaged 1.0" in client.metrics()


def test_emulate_refuses_a_bad_policy_file(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('format = "kmsconform-policy/1"\n[kill_switch]\nfile = "k"\n')
    cli = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]
    proc = subprocess.run(
        [*cli, "emulate", "signing-proxy", "--policy", str(tmp_path / "policy.toml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "policy.toml: audit: required table is missing" in proc.stderr


def test_the_documented_example_is_a_valid_policy(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "policy.md").read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    block = block.replace("<sha256 hex of the admin token>", sha("admin"))
    block = block.replace("<sha256 hex of this client's bearer token>", sha("trader"))
    block = block.replace('token_sha256 = "<sha256 hex>"', f'token_sha256 = "{sha("auditor")}"')
    (tmp_path / "policy.toml").write_text(block)
    config = load_policy(tmp_path / "policy.toml")
    assert [c.name for c in config.clients] == ["auditor", "trader"]
    assert config.clients[0].endpoints == frozenset()
