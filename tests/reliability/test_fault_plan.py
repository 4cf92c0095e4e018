"""The fault plan model: parsing, validation, seeded decisions, limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_kmsconform.emulators.faults import FaultPlanError, load_plan, plan_from_dict
from pytest_kmsconform.emulators.faults.catalog import wire_error
from pytest_kmsconform.emulators.faults.plan import FaultKind, Phase
from pytest_kmsconform.reference_impl.errors import BackendErrorCode

MINIMAL = {
    "seed": 1,
    "rules": [{"operation": "Sign", "fault": "error", "error": "ThrottlingException", "probability": 1.0}],
}


def test_minimal_plan_from_the_issue_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(MINIMAL))
    plan = load_plan(path)
    decision = plan.decide("aws-kms", ["Sign"])
    assert decision.fault is not None
    assert decision.fault.rule.fault is FaultKind.ERROR
    assert decision.fault.rule.error == "ThrottlingException"
    assert plan.decide("aws-kms", ["Verify"]).fault is None
    assert plan.stats()[0] == {"rule": 0, "fault": "error", "operations": ["Sign"], "seen": 1, "fired": 1}


def test_inline_json_and_yaml(tmp_path: Path) -> None:
    assert load_plan(json.dumps(MINIMAL)).rules[0].operations == frozenset({"Sign"})
    pytest.importorskip("yaml")
    path = tmp_path / "plan.yaml"
    path.write_text("seed: 3\nrules:\n  - operation: [Sign, GenerateMac]\n    fault: latency\n    ms: 5\n")
    plan = load_plan(path)
    assert plan.seed == 3 and plan.rules[0].operations == frozenset({"Sign", "GenerateMac"})
    assert plan.decide(None, ["GenerateMac"]).delay_s == pytest.approx(0.005)


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([], "object"),
        ({"rules": {}}, "'rules' must be a list"),
        ({"seed": "x", "rules": []}, "'seed'"),
        ({"rules": [{"operation": "Sign", "fault": "explode"}]}, "unknown fault 'explode'"),
        ({"rules": [{"operation": "Sign", "fault": "error"}]}, "needs an 'error'"),
        ({"rules": [{"operation": "Sign", "fault": "error", "error": "Nope"}]}, "unknown error 'Nope'"),
        ({"rules": [{"operation": "Sign", "fault": "error", "error": "sealed", "backend": "aws-kms"}]}, "unknown"),
        ({"rules": [{"operation": "", "fault": "reset"}]}, "'operation'"),
        ({"rules": [{"operation": "Sign", "fault": "reset", "probability": 2}]}, "within [0, 1]"),
        ({"rules": [{"operation": "Sign", "fault": "latency", "ms": -1}]}, "negative"),
        ({"rules": [{"operation": "Sign", "fault": "reset", "count": 1.5}]}, "integer"),
        ({"rules": [{"operation": "Sign", "fault": "reset", "colour": "red"}]}, "unknown field(s) colour"),
        ({"rules": [{"operation": "Sign", "fault": "reset", "backend": "gcp"}]}, "unknown backend"),
        ({"rules": [{"operation": "Sign", "fault": "latency", "phase": "response"}]}, "'phase'"),
    ],
)
def test_bad_plans_raise_typed_errors(plan: object, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        plan_from_dict(plan)


def test_bad_text_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FaultPlanError, match="not valid JSON"):
        load_plan("{nope")
    with pytest.raises(FaultPlanError, match="cannot read"):
        load_plan(tmp_path / "absent.json")


def test_seeded_probability_is_reproducible() -> None:
    spec = {"seed": 7, "rules": [{"operation": "*", "fault": "reset", "probability": 0.3}]}
    runs = []
    for _ in range(2):
        plan = plan_from_dict(spec)
        runs.append([plan.decide("vault", ["transit/sign"]).fault is not None for _ in range(200)])
    assert runs[0] == runs[1]
    hits = sum(runs[0])
    assert 30 < hits < 90  # 0.3 of 200, loosely
    other = plan_from_dict({**spec, "seed": 8})
    assert [other.decide("vault", ["x"]).fault is not None for _ in range(200)] != runs[0]


def test_count_after_and_backend_limits() -> None:
    plan = plan_from_dict(
        {"rules": [{"operation": "Sign", "fault": "reset", "after": 2, "count": 3, "backend": "aws-kms"}]}
    )
    fired = [plan.decide("aws-kms", ["Sign"]).fault is not None for _ in range(8)]
    assert fired == [False, False, True, True, True, False, False, False]
    assert plan.decide("vault", ["Sign"]).fault is None
    plan.reset()
    assert plan.fired() == 0


def test_latency_accumulates_and_jitter_is_bounded() -> None:
    plan = plan_from_dict(
        {
            "rules": [
                {"operation": "*", "fault": "latency", "ms": 10, "jitter_ms": 5},
                {"operation": "Sign", "fault": "latency", "ms": 1},
                {"operation": "Sign", "fault": "timeout", "phase": "response"},
            ]
        }
    )
    for _ in range(50):
        d = plan.decide("aws-kms", ["Sign"])
        assert 0.011 <= d.delay_s <= 0.016
        assert d.fault is not None and d.fault.rule.phase is Phase.RESPONSE
        assert d.fault.delay_s == pytest.approx(30.0)  # timeout default


def test_errors_translate_between_backends_by_class() -> None:
    kms = wire_error("aws-kms", "ThrottlingException")
    assert (kms.status, json.loads(kms.body)["__type"]) == (400, "ThrottlingException")
    assert wire_error("aws-kms", "KMSInternalException").status == 500
    assert wire_error("aws-kms", "DependencyTimeoutException").status == 503
    sealed = wire_error("vault", "sealed")
    assert (sealed.status, json.loads(sealed.body)) == (503, {"errors": ["Vault is sealed"]})
    assert wire_error("vault", "ThrottlingException").status == 429
    assert wire_error("yubihsm", "SESSIONS_FULL").body == bytes([0x7F, 0x00, 0x01, 0x05])
    assert wire_error("signing-proxy", "KMSInternalException").status == 500
    assert wire_error("signing-proxy", "sealed").code is BackendErrorCode.UNAVAILABLE


def test_in_process_operation_names_per_backend() -> None:
    from pytest_kmsconform.emulators.faults.inprocess import wire_operation
    from pytest_kmsconform.reference_impl.algorithms import Algorithm

    assert wire_operation("aws-kms", "sign", Algorithm.HMAC_SHA256) == "GenerateMac"
    assert wire_operation("aws-kms", "sign", Algorithm.RSA_PSS_SHA256) == "Sign"
    assert wire_operation("vault", "sign", Algorithm.HMAC_SHA256) == "transit/hmac"
    assert wire_operation("vault", "create_key", Algorithm.ED25519, rotating=True) == "transit/rotate"
    assert wire_operation("yubihsm", "sign", Algorithm.ED25519) == "SIGN_EDDSA"
    assert wire_operation("yubihsm", "sign", Algorithm.RSA_SHA256) == "SIGN_PKCS1"
    assert wire_operation("signing-proxy", "sign", Algorithm.ED25519) == "/sign/hash"
    assert wire_operation("local", "sign", Algorithm.ED25519) is None


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({"fault": "error", "error": "SESSIONS_FULL"}, BackendErrorCode.UNAVAILABLE),
        ({"fault": "reset"}, BackendErrorCode.UNAVAILABLE),
        ({"fault": "timeout", "ms": 7}, BackendErrorCode.TIMEOUT),
    ],
)
def test_faulty_key_backend_raises_what_the_client_would(rule: dict[str, object], code: BackendErrorCode) -> None:
    from pytest_kmsconform.emulators.faults import FaultyKeyBackend
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend
    from pytest_kmsconform.reference_impl.errors import BackendError

    slept: list[float] = []
    plan = plan_from_dict({"rules": [{"operation": "SIGN_EDDSA", **rule}]})
    backend = FaultyKeyBackend(LocalKeyBackend(seed=b"y"), plan, kind="yubihsm", sleep=slept.append)
    key = backend.create_key(Algorithm.ED25519, "y", None)  # not matched: passes through
    with pytest.raises(BackendError) as info:
        backend.sign(key, b"\x00" * 32)
    assert info.value.code is code and info.value.backend == "local"
    assert slept == ([0.007] if rule["fault"] == "timeout" else [])


def test_corrupt_signature_in_process_flips_one_bit() -> None:
    from pytest_kmsconform.emulators.faults import FaultyKeyBackend
    from pytest_kmsconform.reference_impl.algorithms import Algorithm
    from pytest_kmsconform.reference_impl.backends.local import LocalKeyBackend

    inner = LocalKeyBackend(seed=b"c")
    plan = plan_from_dict({"seed": 3, "rules": [{"operation": "sign", "fault": "corrupt_signature", "count": 1}]})
    backend = FaultyKeyBackend(inner, plan)
    key = backend.create_key(Algorithm.ED25519, "c", None)
    bad, good = backend.sign(key, b"\x01" * 32), backend.sign(key, b"\x01" * 32)
    assert sum(bin(a ^ b).count("1") for a, b in zip(bad, good, strict=True)) == 1
