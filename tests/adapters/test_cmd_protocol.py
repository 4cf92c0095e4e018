"""The subprocess adapter against scripted children: every protocol fault is a typed error within
the timeout (never a hang), typed answers map onto the reference exceptions, and the schemas hold."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import InvalidSignature, KeyRevoked, SigningFailed, UnknownKey
from pytest_kmsconform.reference_impl.signature import Signature

from pytest_kmsconform import protocol
from pytest_kmsconform.adapters.cmd.adapter import CmdImplementation, load
from pytest_kmsconform.adapters.cmd.errors import ChildError, ProtocolViolation
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.loader import AdapterSettings, ImplLoadError

FAKE = Path(__file__).resolve().parent / "fake_child.py"
HANDLE = BackendHandle(name="local", kind="local", env={}, version="test", namespace="t", url=None, details={})
DIGEST = bytes(range(32))
TIMEOUT_S = 5.0  # per answer; generous for a loaded machine, still far below a hang


def spec(mode: str) -> str:
    return f"cmd:{sys.executable} {FAKE} {mode}"


@pytest.fixture
def fake() -> Iterator[Callable[[str], CmdImplementation]]:
    made: list[CmdImplementation] = []

    def start(mode: str) -> CmdImplementation:
        impl = load(spec(mode), AdapterSettings(timeout_s=TIMEOUT_S))
        made.append(impl)
        return impl

    yield start
    for impl in made:
        impl.close()


def test_hello_declares_capabilities(fake: Callable[[str], CmdImplementation]) -> None:
    impl = fake("ok")
    assert (impl.name, impl.version) == ("fake", "0")
    caps = impl.capabilities()
    assert caps.features == frozenset({Capability.SIGN, Capability.AUDIT_LOG})
    assert caps.algorithms == frozenset({Algorithm.ED25519}) and caps.backends == frozenset({"local"})
    sig = impl.signer(HANDLE, Algorithm.ED25519, label="x").sign_digest(DIGEST)
    assert sig == Signature("fake-v1", Algorithm.ED25519, b"\x00\x00\x00")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("garbage", "not a JSON line"),
        ("silent", f"no answer within {TIMEOUT_S:g} s"),
        ("bad-schema", "does not match schemas/sign.json: at signature/alg"),
        ("wrong-id", "answer carries id"),
        ("exit", r"closed its stdout \(exit status 3\)"),
    ],
)
def test_protocol_faults_are_typed_and_bounded(
    fake: Callable[[str], CmdImplementation], mode: str, message: str
) -> None:
    signer = fake(mode).signer(HANDLE, Algorithm.ED25519, label="x")
    started = time.monotonic()
    with pytest.raises(ProtocolViolation, match=message) as info:
        signer.sign_digest(DIGEST)
    assert time.monotonic() - started < 3 * TIMEOUT_S
    if mode == "exit":
        assert "giving up on sign" in str(info.value), "the child's stderr belongs in the error"
    # The child is gone: later requests fail at once with the same cause.
    with pytest.raises(ProtocolViolation, match="no longer usable"):
        signer.sign_digest(DIGEST)


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        ("INVALID_SIGNATURE", InvalidSignature),
        ("UNKNOWN_KEY", UnknownKey),
        ("KEY_REVOKED", KeyRevoked),
        ("SIGNING_FAILED", SigningFailed),
        ("UNSUPPORTED", ChildError),
    ],
)
def test_error_answers_map_to_typed_errors(fake: Callable[[str], CmdImplementation], code: str, exc: type) -> None:
    signer = fake(f"error:{code}").signer(HANDLE, Algorithm.ED25519, label="x")
    with pytest.raises(exc) as info:
        signer.sign_digest(DIGEST)
    if isinstance(info.value, KeyRevoked):
        assert info.value.kid == "fake-v1"
    assert signer.kid == "fake-v1", "the child stays usable after a typed error"


def test_wrong_protocol_version_is_a_load_error() -> None:
    with pytest.raises(ImplLoadError, match=r"schemas/hello\.json"):
        load(spec("protocol-2"), AdapterSettings(timeout_s=5))


def test_missing_command_is_a_load_error() -> None:
    with pytest.raises(ImplLoadError, match="cannot start"):
        load("cmd:/nonexistent/kmsconform-child", AdapterSettings(timeout_s=5))
    with pytest.raises(ImplLoadError, match="empty command"):
        load("cmd:  ", AdapterSettings())


class Refusing:
    """A host signer that refuses (as the audit suite's failing-signer wrapper does)."""

    alg = Algorithm.ED25519
    kid = "host-v1"

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def sign_digest(self, digest: bytes) -> Signature:
        if self.fail:
            raise SigningFailed("injected")
        return Signature("host-v1", Algorithm.ED25519, b"\x01" * 64)


def test_host_signer_callbacks(fake: Callable[[str], CmdImplementation], tmp_path: Path) -> None:
    impl = fake("callback")
    log = impl.audit_log(Refusing(fail=False), tmp_path / "a.db")  # type: ignore[arg-type]
    record = log.append({"type": "approval"})
    assert record["signature"]["kid"] == "host-v1"
    failing = impl.audit_log(Refusing(fail=True), tmp_path / "b.db")  # type: ignore[arg-type]
    with pytest.raises(SigningFailed, match="injected"):
        failing.append({"type": "approval"})
    log.close()
    failing.close()


def test_a_broken_child_fails_checks_without_hanging(run_suites: Callable[..., Any]) -> None:
    started = time.monotonic()
    run = run_suites(spec("silent"), "-k", "test_sign_basic", f"--kmsconform-impl-timeout={TIMEOUT_S:g}")
    assert time.monotonic() - started < 120
    rows = [c for c in run.checks if c["check_id"] == "KC-SIG-001" and c["alg"] == "ed25519"]
    assert rows and rows[0]["outcome"] == "failed", rows
    assert "ProtocolViolation" in rows[0]["message"] and f"no answer within {TIMEOUT_S:g} s" in rows[0]["message"]


# -- schemas -------------------------------------------------------------------------------------
def test_every_op_has_a_valid_schema() -> None:
    folder = Path(protocol.__file__).parent / "schemas"
    names = {p.name[: -len(".json")] for p in folder.glob("*.json")}
    assert names == {"common", "error", *protocol.OPS, *protocol.CALLBACKS}
    for name in names:
        doc = json.loads((folder / f"{name}.json").read_text())
        jsonschema.Draft202012Validator.check_schema(doc)
        assert doc["$id"] == protocol.BASE_URI + f"{name}.json"
        if name in protocol.OPS or name in protocol.CALLBACKS:
            assert set(doc["$defs"]) == {"request", "response"}


@pytest.mark.parametrize(
    "message",
    [
        {"id": 0, "op": "hello", "protocol": 1},
        {"id": 1, "op": "sign", "signer": "s1", "digest": "AB" * 32},
        {"id": 1, "op": "sign", "signer": "s1", "digest": "ab" * 31},
        {"id": 1, "op": "sign", "signer": "s1", "digest": "ab" * 32, "extra": 1},
        {"id": 1, "op": "audit.open", "path": "/x"},
        {"id": 1, "op": "nope"},
    ],
)
def test_malformed_requests_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(protocol.MessageInvalid):
        protocol.validate_request(message)


# -- air gap -------------------------------------------------------------------------------------
def test_verifier_child_runs_in_an_empty_network_namespace(fake: Callable[[str], CmdImplementation]) -> None:
    impl = fake("ok")
    if impl.offline_reason is not None:
        pytest.skip(impl.offline_reason)
    child = impl.verifier_child()
    assert Path(child.argv[0]).name == "unshare" and child.argv[1] == "-n"
    assert child.argv[2:] == impl.argv
    assert impl.main.argv == impl.argv, "signers keep the network (they talk to the backends)"


def test_without_unshare_blocked_network_checks_are_skipped(
    fake: Callable[[str], CmdImplementation], tmp_path: Path
) -> None:
    from pytest_kmsconform.airgap import network_blocked

    impl = fake("ok")
    impl.offline_reason = "unshare -n is not permitted here (simulated)"
    with network_blocked(), pytest.raises(pytest.skip.Exception, match="cannot be cut off from the network"):
        impl.verifier({"keys": []}).verify_archive(tmp_path / "a.jsonl")
