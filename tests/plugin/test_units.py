"""Unit tests of the plugin's pieces, without running pytest inside pytest."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from pytest_kmsconform.reference_impl.algorithms import ASYMMETRIC, Algorithm

from pytest_kmsconform.airgap import NetworkBlocked, network_blocked, offline_argv
from pytest_kmsconform.asserts import assert_accepts, assert_rejects, codes_and_indexes, eventually, poll_until
from pytest_kmsconform.backends import BackendStartError
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.check_meta import meta_from_nodeid
from pytest_kmsconform.checks import CheckDefinitionError, Target, spec_from_kwargs, targets_for
from pytest_kmsconform.implementation import ImplementationFault, Memo, short_label
from pytest_kmsconform.outcomes import PROPERTY, backend_unavailable, classify, not_applicable, phase_outcome
from pytest_kmsconform.results import Outcome


def test_network_blocked_records_and_restores() -> None:
    original = socket.getaddrinfo
    with network_blocked() as guard:
        with pytest.raises(NetworkBlocked):
            socket.getaddrinfo("example.invalid", 443)
        with pytest.raises(NetworkBlocked):
            socket.create_connection(("127.0.0.1", 9), timeout=0.1)
        sock = socket.socket()
        try:
            with pytest.raises(NetworkBlocked):
                sock.connect(("127.0.0.1", 9))
        finally:
            sock.close()
    assert len(guard.attempts) == 3
    assert socket.getaddrinfo is original


def test_offline_argv_prefixes_unshare() -> None:
    argv = offline_argv(["python", "-V"])
    assert argv[-3:] == ["-n", "python", "-V"] and argv[0].endswith("unshare")


def test_capabilities_missing_names_what() -> None:
    caps = Capabilities.of(["sign"], algorithms=["ed25519"], backends=["local"])
    assert caps.missing([Capability.SIGN]) is None
    assert caps.missing([Capability.SIGN, Capability.ROTATION]) == "capability rotation not declared"
    assert caps.missing([Capability.SIGN], backend_kind="vault") == "backend kind vault not declared"
    assert caps.missing([Capability.SIGN], alg=Algorithm.RSA_SHA256) == "algorithm rsa-sha256 not declared"
    with pytest.raises(ValueError, match="unknown capability"):
        Capabilities.of(["telepathy"])


def test_targets_follow_backend_kinds() -> None:
    spec = spec_from_kwargs({"id": "KC-SIG-900", "title": "t", "source": "s", "scope": "backend"}, "here")
    ids = [t.id for t in targets_for(spec, ["mock", "local"])]
    assert ids == ["mock-hmac-sha256", *[f"local-{a.value}" for a in Algorithm]]
    asym = spec_from_kwargs(
        {"id": "KC-SIG-901", "title": "t", "source": "s", "scope": "alg", "algs": "asymmetric"}, "h"
    )
    assert [t.id for t in targets_for(asym, ["mock"])] == [
        "ed25519",
        "rsa-sha256",
        "rsa-pss-sha256",
        "ecdsa-p256-sha256",
        "ml-dsa-44",
        "ml-dsa-65",
        "ml-dsa-87",
    ]
    assert targets_for(spec_from_kwargs({"id": "KC-SIG-902", "title": "t", "source": "s"}, "h"), []) == [
        Target("", "", None)
    ]


def test_kinds_limit_backend_targets() -> None:
    base = {"id": "KC-ENV-900", "title": "t", "source": "s", "scope": "backend", "algs": "asymmetric"}
    spec = spec_from_kwargs({**base, "kinds": ["aws-kms"]}, "here")
    assert [t.id for t in targets_for(spec, ["local", "aws-kms"])] == [f"aws-kms-{a.value}" for a in ASYMMETRIC]
    # no backend of the kind selected: one backend-less instance (gated, then skipped by the check)
    assert targets_for(spec, ["local", "mock"]) == [Target("", "aws-kms", None)]
    with pytest.raises(CheckDefinitionError, match="kinds only applies"):
        spec_from_kwargs({**base, "scope": "alg", "kinds": ["aws-kms"]}, "here")
    with pytest.raises(CheckDefinitionError, match="list of backend kind names"):
        spec_from_kwargs({**base, "kinds": "aws-kms"}, "here")


def test_short_labels_fit_a_yubihsm_label() -> None:
    label = short_label("KC-REV-005", Target("yubihsm", "yubihsm", Algorithm.ECDSA_P256_SHA256), 12)
    assert label == "rev005-es-12" and len(label) <= 40


def test_memo_raises_the_same_error_every_time() -> None:
    memo, calls = Memo(), []

    def build() -> int:
        calls.append(1)
        raise RuntimeError("backend down")

    for _ in range(2):
        with pytest.raises(RuntimeError, match="backend down"):
            memo.get("k", build)
    assert len(calls) == 1
    assert memo.get("v", lambda: 5) == 5


def test_assert_helpers() -> None:
    assert_accepts(lambda: None, "ok")
    with pytest.raises(AssertionError, match="rejected with ValueError: no"):
        assert_accepts(lambda: (_ for _ in ()).throw(ValueError("no")), "x")
    assert isinstance(assert_rejects(lambda: 1 / 0, "division"), ZeroDivisionError)
    with pytest.raises(AssertionError, match="accepted"):
        assert_rejects(lambda: 1, "one")
    ticks = iter([False, False, True])
    assert poll_until(lambda: next(ticks), 5, first_interval_s=0.001)
    with pytest.raises(AssertionError, match=r"still not true after 0\.01 s"):
        eventually(lambda: False, 0.01, "never")


class _Finding:
    def __init__(self, code: Any, index: Any) -> None:
        self.code, self.index = code, index


def test_codes_and_indexes_accepts_enums_and_strings() -> None:
    class Code:
        value = "CHAIN_BROKEN"

    assert codes_and_indexes([_Finding(Code(), 2), _Finding("TRUNCATED", None)]) == [
        ("CHAIN_BROKEN", 2),
        ("TRUNCATED", None),
    ]


class _Rep:
    def __init__(self, when: str, outcome: str, longrepr: Any = None) -> None:
        self.when, self.outcome, self.longrepr, self.duration = when, outcome, longrepr, 0.1
        self.passed, self.failed, self.skipped = outcome == "passed", outcome == "failed", outcome == "skipped"
        self.longreprtext = str(longrepr or "")
        self.user_properties: list[tuple[str, object]] = []


def _phase(when: str, outcome: str, error: BaseException | None = None, longrepr: Any = None) -> _Rep:
    """A report of one phase carrying the outcome the plugin records for it."""
    rep = _Rep(
        when, outcome, longrepr if longrepr is not None else (f"{type(error).__name__}: {error}" if error else None)
    )
    excinfo = None
    if error is not None:
        try:
            raise error
        except BaseException:
            excinfo = pytest.ExceptionInfo.from_current()
    rep.user_properties.append((PROPERTY, phase_outcome(rep, excinfo).to_json()))  # type: ignore[arg-type]
    return rep


def _classify(*reports: _Rep) -> tuple[Outcome, str]:
    return classify({r.when: r for r in reports})  # type: ignore[misc]


def _raised(stop: Any, *args: str) -> BaseException:
    try:
        stop(*args)
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_classify_outcomes_from_what_was_raised() -> None:
    ok, done = _phase("setup", "passed"), _phase("teardown", "passed")
    assert _classify(ok, _phase("call", "passed"), done) == (Outcome.PASSED, "")
    na = _phase("setup", "skipped", _raised(not_applicable, "capability x not declared"))
    assert _classify(na, done) == (Outcome.NOT_APPLICABLE, "capability x not declared")
    sk = _phase("setup", "skipped", _raised(backend_unavailable, "vault", "no binary"))
    assert _classify(sk, done) == (Outcome.SKIPPED, "vault: no binary")
    assert _classify(ok, _phase("call", "failed", AssertionError("bad")), done)[0] is Outcome.FAILED
    assert _classify(_phase("setup", "failed", KeyError("x")))[0] is Outcome.ERROR
    fault = _phase("setup", "failed", ImplementationFault("rotate: ToyError: no"))
    assert _classify(fault, done) == (Outcome.FAILED, "rotate: ToyError: no")
    # a message that merely mentions the fault's name is not one
    lookalike = _phase("setup", "failed", KeyError("ImplementationFault: no"))
    assert _classify(lookalike, done)[0] is Outcome.ERROR
    # a backend that did not start is an error wherever it surfaces, also inside the check's body
    unreached = _phase("call", "failed", BackendStartError("backend x: cannot start here: no Docker"))
    assert _classify(ok, unreached, done) == (Outcome.ERROR, "backend error: backend x: cannot start here: no Docker")
    assert (
        _classify(ok, _phase("call", "passed"), _phase("teardown", "failed", RuntimeError("boom")))[0] is Outcome.ERROR
    )
    assert _classify(ok)[0] is Outcome.ERROR
    assert _classify(_Rep("setup", "passed"))[0] is Outcome.ERROR  # no recorded outcome: never a pass


def test_meta_from_nodeid_for_crash_reports() -> None:
    backends = ["signing-proxy", "aws", "aws-kms"]
    meta = meta_from_nodeid(
        "suites/test_rotation.py::test_new_kid_after_rotation[signing-proxy-rsa-pss-sha256]", backends
    )
    assert meta is not None
    assert (meta.check_id, meta.backend, meta.alg) == ("KC-ROT-001", "signing-proxy", "rsa-pss-sha256")
    # "aws" is a backend too: the instance is matched against the targets, not split at a dash
    meta = meta_from_nodeid("test_rotation.py::test_new_kid_after_rotation[aws-kms-ed25519]", backends)
    assert meta is not None and (meta.backend, meta.alg) == ("aws-kms", "ed25519")
    assert meta_from_nodeid("tests/test_x.py::test_y", backends) is None
