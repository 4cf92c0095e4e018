"""Suite 10, the policy gate (seed 003): deny by default, five fail-closed gates (auth, decode, policy,
replay, sign), each refusal typed, audited and counted, and no refusal reaching the key backend.

Every check opens a gate (``policy_gate``) under the conformance policy of ``_policy.py`` with fresh
tokens, signing through a counting wrapper of the implementation's own signer on the ``local``
backend, or uses a running service's gate under the policy it enforces (``http://``; clients are
found by role, ``_policy_roles.py``); codes are those of ``docs/policy.md``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import partial

import pytest
from pytest_kmsconform.suites import _policy as pol
from pytest_kmsconform.suites._policy import PolicyEnv, logged, refused
from pytest_kmsconform.suites._policy_roles import MISSING, other_json_type
from pytest_kmsconform.suites._rendezvous import Rendezvous

from pytest_kmsconform import kinds
from pytest_kmsconform.asserts import assert_accepts
from pytest_kmsconform.capabilities import Capability

SIGN, POLICY = Capability.SIGN, Capability.POLICY
SOURCE = "seed 003 (Five gates between the strategy and your keys)"
KINDS = [kinds.LOCAL]
DAY_S = 24 * 3600.0

policy_env = pol.policy_env  # the fixture, for the checks of this module


def check(check_id: str, title: str, *flags: str, source: str = SOURCE) -> pytest.MarkDecorator:
    return pytest.mark.kmsconform_check(
        id=check_id,
        title=title,
        source=source,
        requires=[SIGN, POLICY],
        scope="backend",
        algs="all",
        kinds=KINDS,
        flags=list(flags),
    )


@check("KC-POL-001", "An allowed request is signed once, by the backend key, on both endpoints", "BASIC")
def test_allowed_requests_sign(policy_env: PolicyEnv) -> None:
    env = policy_env
    canonical = env.payload("trader", 1)
    sig = env.sign_canonical("trader", canonical)
    assert_accepts(lambda: pol.verify_canonical(env, canonical, sig), "/sign/canonical signature")
    digest = env.digest(2)
    sig2 = env.g.sign_hash(env.token("trader"), digest)
    assert_accepts(lambda: env.verify(digest, sig2), "/sign/hash signature")
    assert sig2.kid == env.kid, f"/sign/hash signed with {sig2.kid}, the key in use is {env.kid}"
    assert env.calls() == 2, f"2 signatures took {env.calls()} backend calls"


@check("KC-POL-002", "Deny by default: a client may call only the endpoints its policy lists", "POLICY_BYPASS")
def test_deny_by_default(policy_env: PolicyEnv) -> None:
    env = policy_env
    reader, hash_only = env.who("reader"), env.who("hash_only")
    before = len(env.decisions())
    refused(lambda: env.sign_hash("reader", 1), "ENDPOINT_NOT_ALLOWED", "client with no endpoints, /sign/hash")
    refused(
        lambda: env.sign_canonical("reader", env.payload("trader", 2)),
        "ENDPOINT_NOT_ALLOWED",
        "no endpoints, /sign/canonical",
    )
    refused(
        lambda: env.sign_canonical("hash_only", env.payload("trader", 3)),
        "ENDPOINT_NOT_ALLOWED",
        "hash-only client, /sign/canonical",
    )
    logged(
        env,
        before,
        [(reader, "ENDPOINT_NOT_ALLOWED"), (reader, "ENDPOINT_NOT_ALLOWED"), (hash_only, "ENDPOINT_NOT_ALLOWED")],
        "deny by default",
    )


@check("KC-POL-003", "Auth refuses no token, an unknown one and the admin token; a client is no admin", "AUTH_BYPASS")
def test_auth_gate(policy_env: PolicyEnv) -> None:
    env = policy_env
    trader = env.token("trader")
    before = len(env.decisions())
    digest = env.digest("auth")
    refused(lambda: env.g.sign_hash(None, digest), "UNAUTHORIZED", "no token")
    refused(lambda: env.g.sign_hash(trader + "x", digest), "UNAUTHORIZED", "unknown token")
    as_admin = env.payload("trader", 1)
    refused(lambda: env.g.sign_canonical(env.admin, as_admin), "UNAUTHORIZED", "the admin token signing")
    refused(lambda: env.g.set_kill_switch(trader, True), "UNAUTHORIZED", "client token, kill switch")
    assert not env.kill_switch_engaged(), "a client token engaged the kill switch"
    logged(env, before, [(None, "UNAUTHORIZED")] * 3, "auth gate")


@check("KC-POL-004", "Payload allowlists: a type not listed or a JSON-pointer rule not met is refused", "POLICY_BYPASS")
def test_payload_allowlists(policy_env: PolicyEnv) -> None:
    env = policy_env
    trader = env.who("trader")
    allowed = env.client("trader")["canonical"]["rules"][0]["in"][0]
    before = len(env.decisions())
    refused(
        lambda: env.sign_canonical("trader", env.payload("trader", 1, kind="kc-unlisted-type")),
        "TYPE_NOT_ALLOWED",
        "type not listed",
    )
    refused(lambda: env.sign_canonical("trader", b"[1,2]"), "TYPE_NOT_ALLOWED", "payload not an object")
    refused(
        lambda: env.sign_canonical("trader", env.payload("trader", 2, rule="kc-not-allowed")),
        "RULE_VIOLATION",
        "rule value not allowed",
    )
    refused(
        lambda: env.sign_canonical("trader", env.payload("trader", 3, rule=MISSING)), "RULE_VIOLATION", "rule missing"
    )
    refused(
        lambda: env.sign_canonical("trader", env.payload("trader", 4, rule=other_json_type(allowed))),
        "RULE_VIOLATION",
        "rule value of another JSON type",
    )
    expected = ["TYPE_NOT_ALLOWED", "TYPE_NOT_ALLOWED"] + ["RULE_VIOLATION"] * 3
    logged(env, before, [(trader, c) for c in expected], "payload allowlists")


@check("KC-POL-005", "/sign/hash signs only with the keys the client's policy names", "POLICY_BYPASS")
def test_hash_key_allowlist(policy_env: PolicyEnv) -> None:
    env = policy_env
    narrow = env.who("narrow")
    before = len(env.decisions())
    refused(lambda: env.sign_hash("narrow", 1), "KEY_NOT_ALLOWED", "key not in the client's hash.kids")
    logged(env, before, [(narrow, "KEY_NOT_ALLOWED")], "hash key allowlist")


@check("KC-POL-006", "The per-request amount cap refuses a larger or unreadable amount", "POLICY_BYPASS")
def test_per_request_cap(policy_env: PolicyEnv) -> None:
    env = policy_env
    trader = env.who("trader")
    cap = int(env.amount_caps("trader")["per_request"])
    before = len(env.decisions())
    at_cap = env.payload("trader", 1, amount=cap)
    assert_accepts(lambda: env.sign_canonical("trader", at_cap), "amount at the cap")
    for n, amount, code, what in (
        (2, cap + 1, "CAP_EXCEEDED", "over the cap"),
        (3, "10", "AMOUNT_INVALID", "amount as a string"),
        (4, -1, "AMOUNT_INVALID", "negative amount"),
        (5, MISSING, "AMOUNT_INVALID", "amount missing"),
        (6, 10.5, "AMOUNT_INVALID", "fractional amount"),
    ):
        payload = env.payload("trader", n, amount=amount)
        refused(partial(env.sign_canonical, "trader", payload), code, what)
    codes = ["CAP_EXCEEDED"] + ["AMOUNT_INVALID"] * 4
    logged(env, before, [(trader, c) for c in codes], "per-request cap")


def _fill_daily_caps(env: PolicyEnv) -> None:
    """Use up what is left of the daily role's amount cap and the counted role's signature cap."""
    caps = env.amount_caps("daily")
    per_day = int(caps["per_day"])
    step = int(caps.get("per_request") or per_day)
    left = per_day - env.used("daily", DAY_S)[1]
    n = 0
    while left > 0:
        amount = min(step, left)
        canonical = env.payload("daily", f"d{n}", amount=amount)
        assert_accepts(partial(env.sign_canonical, "daily", canonical), f"under the daily cap ({left} left)")
        left -= amount
        n += 1
    cap = int(env.client("counted")["daily_signatures"])
    for i in range(cap - env.used("counted", DAY_S)[0]):
        assert_accepts(partial(env.sign_hash, "counted", f"d{i}"), "under the daily signature cap")


@check("KC-POL-007", "Rolling 24-hour caps: amounts and signature counts stop at the cap", "POLICY_BYPASS")
def test_daily_caps(policy_env: PolicyEnv) -> None:
    env = policy_env
    daily, counted = env.who("daily"), env.who("counted")
    _fill_daily_caps(env)
    before = len(env.decisions())
    over = env.payload("daily", "over", amount=1)
    refused(lambda: env.sign_canonical("daily", over), "DAILY_CAP_EXCEEDED", "amount over 24 h")
    refused(lambda: env.sign_hash("counted", "over"), "DAILY_CAP_EXCEEDED", "signatures over 24 h")
    logged(env, before, [(daily, "DAILY_CAP_EXCEEDED"), (counted, "DAILY_CAP_EXCEEDED")], "daily caps")


@check("KC-POL-008", "A rate limit holds under 8 concurrent clients: exactly the limit is signed", "CONCURRENCY")
def test_rate_limit_concurrent(policy_env: PolicyEnv) -> None:
    env = policy_env
    rate = env.who("rate")
    limit = env.client("rate")["rate"]
    left = max(0, int(limit["requests"]) - env.used("rate", float(limit["per_seconds"]))[0])
    threads_n = 8
    per_thread = max(3, -(-(left + threads_n) // threads_n))
    env.hold(Rendezvous(threads_n, pol.HOLD_S))
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(t: int) -> None:
        for i in range(per_thread):
            try:
                env.sign_hash("rate", f"rate-{t}-{i}")
                result = "signed"
            except Exception as exc:  # collected and judged below
                result = str(getattr(exc, "code", type(exc).__name__))
            with lock:
                outcomes.append(result)

    before = len(env.decisions())
    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads_n)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    env.hold(None)
    signed = outcomes.count("signed")
    limited = outcomes.count("RATE_LIMITED")
    assert signed == left, f"{signed} of {len(outcomes)} concurrent requests signed; {left} left of the limit"
    assert limited == len(outcomes) - signed, f"refusals other than RATE_LIMITED: {sorted(set(outcomes))}"
    assert env.calls() == left, f"{env.calls()} backend calls for {left} signatures"
    logged(env, before, [(rate, "RATE_LIMITED")] * limited, "rate limit")


@check("KC-POL-009", "The kill switch (admin endpoint or file) stops every client's signing at once", "FAIL_OPEN")
def test_kill_switch(policy_env: PolicyEnv) -> None:
    env = policy_env
    trader, idem = env.who("trader"), env.who("idem")
    kill_file = env.kill_file
    before = len(env.decisions())
    env.g.set_kill_switch(env.admin, True)
    try:
        refused(lambda: env.sign_hash("trader", 1), "KILL_SWITCH_ENGAGED", "first request after engaging, /sign/hash")
        refused(
            lambda: env.sign_canonical("idem", env.payload("idem", 2)),
            "KILL_SWITCH_ENGAGED",
            "another client, /sign/canonical",
        )
    finally:
        env.g.set_kill_switch(env.admin, False)
    assert_accepts(lambda: env.sign_hash("trader", 3), "after release")
    kill_file.write_text("operator\n")  # an operator's `touch`, no API call
    try:
        refused(lambda: env.sign_hash("idem", 4), "KILL_SWITCH_ENGAGED", "kill-switch file created")
    finally:
        kill_file.unlink()
    assert_accepts(lambda: env.sign_hash("idem", 5), "kill-switch file removed")
    assert env.calls() == 2, f"{env.calls()} backend calls for 2 signatures"
    logged(
        env,
        before,
        [(trader, "KILL_SWITCH_ENGAGED"), (idem, "KILL_SWITCH_ENGAGED"), (idem, "KILL_SWITCH_ENGAGED")],
        "kill switch",
    )


@check("KC-POL-010", "An engaged kill switch survives a restart of the gate", "FAIL_OPEN")
def test_kill_switch_survives_restart(policy_env: PolicyEnv) -> None:
    env = policy_env
    env.require_restart()
    env.g.set_kill_switch(env.admin, True)
    env.restart()
    refused(lambda: env.sign_hash("trader", 1), "KILL_SWITCH_ENGAGED", "after a restart")
    env.g.set_kill_switch(env.admin, False)
    assert_accepts(lambda: env.sign_hash("trader", 2), "released after the restart")


@check("KC-POL-011", "A replay is refused or answered from the cache, per the policy, never re-signed", "POLICY_BYPASS")
def test_replay(policy_env: PolicyEnv) -> None:
    env = policy_env
    trader = env.who("trader")
    env.who("idem")
    before = len(env.decisions())
    env.sign_hash("trader", 1)
    refused(lambda: env.sign_hash("trader", 1), "REPLAYED", "replay under replay=reject")
    canonical = env.payload("idem", 2)
    first = env.sign_canonical("idem", canonical)
    again = env.sign_canonical("idem", canonical)
    assert again == first, "replay=return must answer with the signature made the first time"
    assert env.calls() == 2, f"{env.calls()} backend calls for 2 distinct requests and 2 replays"
    logged(env, before, [(trader, "REPLAYED")], "replay")


@check("KC-POL-012", "No refused request reaches the key backend", "POLICY_BYPASS")
def test_no_denial_reaches_backend(policy_env: PolicyEnv) -> None:
    env = policy_env
    cap = int(env.amount_caps("trader")["per_request"])
    env.who("reader"), env.who("narrow")
    attempts: list[Callable[[], object]] = [
        lambda: env.g.sign_hash(None, env.digest("x")),
        lambda: env.sign_hash("reader", 1),
        lambda: env.sign_canonical("trader", env.payload("trader", 2, kind="kc-unlisted-type")),
        lambda: env.sign_canonical("trader", env.payload("trader", 3, rule="kc-not-allowed")),
        lambda: env.sign_canonical("trader", env.payload("trader", 4, amount=cap + 1)),
        lambda: env.sign_canonical("trader", env.payload("trader", 5, amount="1")),
        lambda: env.sign_hash("narrow", 6),
    ]
    for n, attempt in enumerate(attempts):
        refused_at_all = False
        try:
            attempt()
        except Exception:  # any refusal will do here; the codes are other checks' business
            refused_at_all = True
        assert refused_at_all, f"attempt {n} was signed"
    limit = env.client("rate")["rate"]
    left = max(0, int(limit["requests"]) - env.used("rate", float(limit["per_seconds"]))[0])
    for n in range(left + 2):
        with contextlib.suppress(Exception):  # the requests over the limit
            env.sign_hash("rate", f"r{n}")
    env.sign_hash("trader", "once")
    with contextlib.suppress(Exception):  # the replay
        env.sign_hash("trader", "once")
    env.g.set_kill_switch(env.admin, True)
    try:
        with contextlib.suppress(Exception):  # the kill switch
            env.sign_hash("trader", "killed")
    finally:
        env.g.set_kill_switch(env.admin, False)
    expected = left + 1
    assert env.calls() == expected, f"{env.calls()} backend calls; {expected} requests were allowed"


@check("KC-POL-013", "Every decision, accept or deny, is in the hash-chained audit log, in order", "CHAIN_INTEGRITY")
def test_audit_log(policy_env: PolicyEnv) -> None:
    env = policy_env
    trader, reader, idem = env.who("trader"), env.who("reader"), env.who("idem")
    before = len(env.decisions())
    env.sign_hash("trader", 1)
    refused(lambda: env.sign_hash("reader", 2), "ENDPOINT_NOT_ALLOWED", "reader")
    env.sign_canonical("idem", env.payload("idem", 3))
    refused(lambda: env.sign_hash("trader", 1), "REPLAYED", "replay")
    refused(lambda: env.g.sign_hash(None, env.digest("y")), "UNAUTHORIZED", "no token")
    records, jwks = env.audit()
    problems = pol.chain_and_signatures(records, jwks)
    assert problems == [], f"the audit log does not verify: {problems}"
    decisions = [(d.get("decision"), d.get("client"), d.get("code")) for d in env.decisions()[before:]]
    assert decisions == [
        ("accept", trader, "OK"),
        ("deny", reader, "ENDPOINT_NOT_ALLOWED"),
        ("accept", idem, "OK"),
        ("deny", trader, "REPLAYED"),
        ("deny", None, "UNAUTHORIZED"),
    ], f"audit decisions: {decisions}"


@check("KC-POL-014", "/metrics counts every accept and every denial by code (Prometheus text)", "FAIL_OPEN")
def test_metrics(policy_env: PolicyEnv) -> None:
    env = policy_env
    env.who("reader"), env.who("narrow"), env.who("idem")
    start = pol.decision_counts(env.g.metrics())
    env.sign_hash("trader", 1)
    env.sign_hash("idem", 2)
    refused(lambda: env.sign_hash("reader", 3), "ENDPOINT_NOT_ALLOWED", "reader")
    refused(lambda: env.sign_hash("narrow", 4), "KEY_NOT_ALLOWED", "narrow")
    refused(lambda: env.sign_hash("trader", 1), "REPLAYED", "replay")
    end = pol.decision_counts(env.g.metrics())
    grew = {key: end.get(key, 0.0) - start.get(key, 0.0) for key in set(end) | set(start)}
    expected = {
        ("accept", "OK"): 2.0,
        ("deny", "ENDPOINT_NOT_ALLOWED"): 1.0,
        ("deny", "KEY_NOT_ALLOWED"): 1.0,
        ("deny", "REPLAYED"): 1.0,
    }
    assert {k: v for k, v in grew.items() if v} == expected, f"{pol.DECISIONS_TOTAL} grew by {grew}"


@check("KC-POL-015", "Rolling 24-hour caps survive a restart of the gate", "POLICY_BYPASS")
def test_daily_caps_survive_restart(policy_env: PolicyEnv) -> None:
    env = policy_env
    env.require_restart()
    _fill_daily_caps(env)
    env.restart()
    over = env.payload("daily", "over", amount=1)
    refused(lambda: env.sign_canonical("daily", over), "DAILY_CAP_EXCEEDED", "amount after restart")
    refused(lambda: env.sign_hash("counted", "over"), "DAILY_CAP_EXCEEDED", "signatures after restart")
