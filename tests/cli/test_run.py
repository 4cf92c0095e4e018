"""``kmsconform run``: option handling, backend selection, progress, and (end to end, in a
subprocess) the real suites against the reference implementation on the embedded backends."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_kmsconform import backend_registry, kinds
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.check_meta import PROPERTY as META_PROPERTY
from pytest_kmsconform.check_meta import CheckMeta, NodeidMeta
from pytest_kmsconform.cli import run as run_cli
from pytest_kmsconform.cli.run_observer import RunObserver
from pytest_kmsconform.outcomes import PROPERTY as OUTCOME_PROPERTY
from pytest_kmsconform.outcomes import PhaseOutcome
from pytest_kmsconform.report import json_report
from pytest_kmsconform.results import BackendInfo, Outcome, RunResult


@dataclass(frozen=True)
class _Unavailable:
    name: str = "nowhere"
    kind: str = "local"
    description: str = "cannot start in tests"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        return "needs hardware that is not here"

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        raise AssertionError("an unavailable backend must not be started")
        yield  # pragma: no cover


@pytest.fixture
def unavailable_backend(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(backend_registry._registered, "nowhere", _Unavailable())
    return "nowhere"


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    run_cli.COMMAND.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_default_selection_is_every_embedded_backend() -> None:
    names, _ = run_cli.select_backends([])
    assert names == backend_registry.embedded_names()
    assert {"local", "mock"} <= set(names)


def test_default_selection_lists_a_backend_whose_extra_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = kinds._Registry()  # a fresh table with one more kind, for this test only
    registry.register(
        kinds.BackendKind(
            "needs-extra",
            "a kind whose extra is not installed",
            backends=(kinds.Backend("needs-extra", "pytest_kmsconform_no_such_extra.provider:PROVIDER"),),
        )
    )
    monkeypatch.setattr(kinds, "_REGISTRY", registry)
    names, unavailable = run_cli.select_backends([])
    assert "needs-extra" in names
    assert unavailable["needs-extra"].startswith("cannot import pytest_kmsconform_no_such_extra.provider")


def test_selection_splits_commas_keeps_order_and_drops_duplicates() -> None:
    assert run_cli.select_backends(["mock,local", "mock"])[0] == ["mock", "local"]


def test_unknown_backend_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli.COMMAND.run(_parse("--backend", "no-such-backend")) == run_cli.EXIT_USAGE
    assert "unknown backend(s) no-such-backend; known:" in capsys.readouterr().err


def test_unavailable_backend_is_listed_with_its_reason(unavailable_backend: str) -> None:
    names, unavailable = run_cli.select_backends(["local", unavailable_backend])
    assert names == ["local", "nowhere"]
    assert unavailable == {"nowhere": "needs hardware that is not here"}
    run = RunResult("1", "x", "", "2026-11-22T12:00:00Z", "2026-11-22T12:00:01Z", [], [])
    completed = run_cli.complete_backends(run, names, unavailable)
    assert completed.backends == [BackendInfo("nowhere", "", "skipped", "needs hardware that is not here")]
    listed = RunResult("1", "x", "", "", "", [BackendInfo("nowhere", "", "skipped", "plugin said so")], [])
    assert run_cli.complete_backends(listed, names, unavailable).backends == listed.backends


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--certify", "--report", "out"], "--certify needs --signing-key"),
        (["--certify", "--signing-key", "k"], "--certify needs --signing-key KEY and --report DIR"),
        (["--signing-key", "k"], "only used with --certify"),
        (["--certify", "--signing-key", "missing-key", "--report", "out"], "cannot read key file"),
    ],
)
def test_certify_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli.COMMAND.run(_parse(*argv)) == run_cli.EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "3", "auto"])
def test_worker_counts(value: str) -> None:
    assert _parse("-n", value).workers == value


def test_bad_worker_count() -> None:
    with pytest.raises(SystemExit):
        _parse("-n", "many")


def test_pytest_args_isolate_the_run(tmp_path: Path) -> None:
    argv = run_cli.pytest_args(_parse("--impl", "pkg.mod:make", "-n", "2"), ["local", "mock"], tmp_path)
    assert argv[:2] == ["-c", str(tmp_path / "pytest.ini")]
    assert (tmp_path / "pytest.ini").read_text() == "[pytest]\ntmp_path_retention_policy = failed\n"
    assert "--kmsconform-impl=pkg.mod:make" in argv
    assert argv[-6:] == ["--kmsconform-backend=local", "--kmsconform-backend=mock", "-p", "xdist", "-n", "2"]


def test_observer_prints_one_line_per_finished_group(pytester: pytest.Pytester) -> None:
    """The real suites on mock: one line per (backend, suite) group, with the counts of the result."""
    lines: list[str] = []
    observer = RunObserver(lines.append, ["mock"])
    pytester.inline_run(
        "--kmsconform", "--kmsconform-backend=mock", "-p", "no:cacheprovider", "-k", "test_signing", plugins=[observer]
    )
    assert observer.run is not None
    expected = []
    for (backend, suite), tally in _groups(observer.run).items():
        expected.append(
            f"  {backend or '(none)'} / {suite}: {tally['passed']} passed, {tally['failed'] + tally['error']} failed, "
            f"{tally['not_applicable']} not applicable, {tally['skipped']} skipped"
        )
    group_lines = [line for line in lines if " / " in line and ": running," not in line]
    assert sorted(group_lines) == sorted(expected) and len(expected) >= 2


def _groups(run: RunResult) -> dict[tuple[str, str], dict[str, int]]:
    groups: dict[tuple[str, str], dict[str, int]] = {}
    for check in run.checks:
        tally = groups.setdefault((check.backend, check.suite), {o.value: 0 for o in Outcome})
        tally[check.outcome.value] += 1
    return groups


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _report(nodeid: str, when: str, meta: CheckMeta) -> pytest.TestReport:
    properties = [(META_PROPERTY, meta.to_json()), (OUTCOME_PROPERTY, PhaseOutcome(Outcome.PASSED, "").to_json())]
    return pytest.TestReport(nodeid, ("x", 0, "x"), {}, "passed", None, when, user_properties=properties)


def test_observer_says_what_runs_when_a_group_is_long() -> None:
    """A long group (the reliability suite runs ~30 s) prints a line at least every HEARTBEAT_S."""
    clock, lines = _Clock(), []
    observer = RunObserver(lines.append, ["vault"], clock=clock)
    ids = [
        f"test_reliability.py::test_no_fault_baseline[vault-{alg}]" for alg in ("ed25519", "rsa-sha256", "hmac-sha256")
    ]
    meta = CheckMeta("KC-REL-001", "t", "s", "reliability", "vault", "ed25519")
    observer._expect(ids)
    for nodeid in ids:
        for when in ("setup", "call", "teardown"):
            clock.now += 2.0
            observer.pytest_runtest_logreport(_report(nodeid, when, meta))
    assert lines == [  # 2 s per phase: silent for 6 s at most
        "  vault / reliability: running, 1/3 done",
        "  vault / reliability: running, 2/3 done",
        "  vault / reliability: 3 passed, 0 failed, 0 not applicable, 0 skipped",
    ]


class _CountingMeta(NodeidMeta):
    calls = 0

    def __call__(self, nodeid: str) -> CheckMeta | None:
        type(self).calls += 1
        return super().__call__(nodeid)


_IDS = [f"test_reliability.py::test_no_fault_baseline[vault-{alg}]" for alg in ("ed25519", "rsa-sha256")]
_META = CheckMeta("KC-REL-001", "t", "s", "reliability", "vault", "ed25519")


def test_observer_resolves_ids_after_scheduling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under xdist the collection hook runs before the controller hands out work: resolving there
    holds both workers idle. The ids are resolved at the first report instead, and counted."""
    monkeypatch.setattr(_CountingMeta, "calls", 0)
    monkeypatch.setattr("pytest_kmsconform.cli.run_observer.NodeidMeta", _CountingMeta)
    lines: list[str] = []
    observer = RunObserver(lines.append, ["vault"])
    observer.pytest_xdist_node_collection_finished(node=None, ids=_IDS)
    observer.pytest_xdist_node_collection_finished(node=None, ids=_IDS)
    assert _CountingMeta.calls == 0
    for nodeid in _IDS:
        for when in ("setup", "call", "teardown"):
            observer.pytest_runtest_logreport(_report(nodeid, when, _META))
    assert _CountingMeta.calls == len(_IDS)  # once each, not once per worker
    assert lines == ["  vault / reliability: 2 passed, 0 failed, 0 not applicable, 0 skipped"]


def test_quiet_observer_follows_no_progress(monkeypatch: pytest.MonkeyPatch) -> None:
    """``-q``: no id is resolved, nothing printed, but a skip for an unselected backend is still noted."""
    monkeypatch.setattr(_CountingMeta, "calls", 0)
    monkeypatch.setattr("pytest_kmsconform.cli.run_observer.NodeidMeta", _CountingMeta)
    observer = RunObserver(None, ["vault"])
    observer.pytest_xdist_node_collection_finished(node=None, ids=_IDS)
    skipped = PhaseOutcome(Outcome.SKIPPED, "not selected", needs_backend="aws-kms").to_json()
    report = pytest.TestReport(
        _IDS[0], ("x", 0, "x"), {}, "skipped", None, "setup", user_properties=[(OUTCOME_PROPERTY, skipped)]
    )
    observer.pytest_runtest_logreport(report)
    observer.pytest_sessionfinish(session=None)  # type: ignore[arg-type]
    assert _CountingMeta.calls == 0
    assert observer.backends_to_add == {"aws-kms"}


def test_observer_records_collection_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken="import no_such_module_here\n")
    observer = RunObserver(lambda line: None, ["local"])
    pytester.inline_run("-p", "no:kmsconform", plugins=[observer])
    assert len(observer.collect_errors) == 1 and "no_such_module_here" in observer.collect_errors[0]


# -- end to end: the real suites, the reference implementation, the embedded local/mock backends --


def _kmsconform(*argv: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KMSCONFORM"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest_kmsconform.cli", *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _keypair(directory: Path) -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    private, public = directory / "vendor", directory / "vendor.pub"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


CERT_BACKENDS = "local,mock,aws-kms,vault,signing-proxy"
"""Every backend the guard and least-privilege checks need, so nothing is skipped and a certificate can be issued."""


@pytest.fixture(scope="module")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One real certified run, shared by the end-to-end assertions below."""
    tmp = tmp_path_factory.mktemp("e2e")
    private, public = _keypair(tmp)
    proc = _kmsconform(
        "run", "--backend", CERT_BACKENDS, "--report", tmp / "out", "--certify", "--signing-key", private, cwd=tmp
    )
    return {"proc": proc, "dir": tmp, "pub": public}


def test_e2e_reference_passes_and_is_certified(e2e: dict[str, object]) -> None:
    proc = e2e["proc"]
    assert isinstance(proc, subprocess.CompletedProcess)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.rstrip("\n").splitlines()
    closing = lines[-1]
    passed = int(closing.split(" passed")[0])
    assert passed > 0 and closing == f"{passed} passed, 0 failed"
    assert lines[-2] == f"kmsconform: {passed}/{passed} (local, mock, aws-kms, vault, signing-proxy)"
    assert any(line.startswith("  aws-kms: emulator started, moto") for line in lines), proc.stdout
    assert any(line.startswith("  local / signing: ") for line in lines), "no progress line"
    assert any(line.startswith("certificate: ") for line in lines)
    header = next(line for line in lines if line.startswith("backend "))
    assert header.split()[:4] == ["backend", "suite", "passed", "failed"]


def test_e2e_reports_match_the_output(e2e: dict[str, object]) -> None:
    out = Path(str(e2e["dir"])) / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "certificate.json", "junit.xml", "report.html", "report.json", "report.md",
    ]  # fmt: skip
    document, run = json_report.load(out / "report.json")
    assert document["summary"]["verdict"] == "pass"
    assert [(b.name, b.status) for b in run.backends] == [
        ("local", "started"), ("mock", "started"), ("aws-kms", "started"), ("vault", "started"),
        ("signing-proxy", "started"),
    ]  # fmt: skip
    assert run.implementation and run.catalogue_digest.startswith("sha256:")
    assert {c.backend for c in run.checks} == {"", "local", "mock", "aws-kms", "vault", "signing-proxy"}
    assert document["summary"]["badge"] in (out / "report.md").read_text(encoding="utf-8").splitlines()


def test_e2e_certificate_verifies_offline(e2e: dict[str, object]) -> None:
    tmp, pub = Path(str(e2e["dir"])), Path(str(e2e["pub"]))
    cert, report = tmp / "out" / "certificate.json", tmp / "out" / "report.json"
    ok = _kmsconform("verify-cert", cert, "--key", pub, "--report", report, "--json", cwd=tmp)
    assert ok.returncode == 0, ok.stderr
    claims = json.loads(ok.stdout)
    assert [b["name"] for b in claims["backends"]] == ["local", "mock", "aws-kms", "vault", "signing-proxy"]
    assert claims["catalogue_digest_basis"] == "catalogue"
    edited = json.loads(report.read_text(encoding="utf-8"))
    edited["checks"][0]["outcome"] = "failed"
    (tmp / "edited.json").write_text(json.dumps(edited), encoding="utf-8")
    bad = _kmsconform("verify-cert", cert, "--key", pub, "--report", tmp / "edited.json", cwd=tmp)
    assert bad.returncode == 3, bad.stderr


def test_e2e_local_and_mock_report_skips_and_refuse_a_certificate(tmp_path: Path) -> None:
    private, _ = _keypair(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "certificate.json").write_text("{}", encoding="utf-8")  # from an earlier run
    proc = _kmsconform(
        "run", "--backend", "local", "--backend", "mock", "--report", tmp_path / "out",
        "--certify", "--signing-key", private, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == run_cli.EXIT_NOT_CERTIFIED, proc.stdout + proc.stderr
    closing = proc.stdout.rstrip("\n").splitlines()[-1]
    document, _ = json_report.load(tmp_path / "out" / "report.json")
    counts = document["counts"]
    assert counts["skipped"] > 0 and counts["failed"] == 0
    assert closing == f"{counts['passed']} passed, 0 failed, {counts['skipped']} skipped"
    # guard cells need aws-kms/signing-proxy, envelope checks aws-kms: both are skipped, and named
    assert "certificate refused" in proc.stderr and "skipped: KC-" in proc.stderr
    assert "KC-GRD-001@(none)" in proc.stderr and "KC-ENV-001@(none)" in proc.stderr
    # every skipped instance is named (not a sample), and the refusal says which backends to add
    skipped_line = next(line for line in proc.stderr.splitlines() if " check instance(s) skipped: " in line)
    assert len(skipped_line.split(": ", 1)[1].split(", ")) == counts["skipped"]
    assert "add --backend aws-kms,signing-proxy" in proc.stderr
    assert not (tmp_path / "out" / "certificate.json").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "junit.xml",
        "report.html",
        "report.json",
        "report.md",
    ]


def test_e2e_json_and_quiet(tmp_path: Path) -> None:
    proc = _kmsconform("run", "--backend", "mock", "--json", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    json_report.validate(document)
    assert document["summary"]["verdict"] == "pass"
    err_lines = proc.stderr.rstrip("\n").splitlines()
    counts = document["counts"]
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    assert err_lines[-1] == f"{counts['passed']} passed, 0 failed{skipped}"
    assert not any(line.startswith("  mock / ") for line in err_lines), "-q prints no progress"


def test_e2e_with_xdist_merges_workers(tmp_path: Path) -> None:
    single = _kmsconform("run", "--backend", "local", "--json", "-q", cwd=tmp_path)
    multi = _kmsconform("run", "--backend", "local", "--json", "-q", "-n", "2", cwd=tmp_path)
    assert single.returncode == 0 and multi.returncode == 0, multi.stderr
    one, two = json.loads(single.stdout), json.loads(multi.stdout)
    assert [c["nodeid"] for c in one["checks"]] == [c["nodeid"] for c in two["checks"]]
    assert one["counts"] == two["counts"]
    # under xdist the digest comes from a worker: the same as the one process computes
    assert one["catalogue_digest"].startswith("sha256:") and two["catalogue_digest"] == one["catalogue_digest"]


BROKEN_ADAPTER = '''
from pytest_kmsconform.reference_adapter import ReferenceImplementation


class _AcceptsAnything:
    """Wraps the reference verifier but never rejects a signature: an auth bypass."""

    def __init__(self, inner):
        self._inner = inner

    def verify_signature(self, digest, signature, *, at=None):
        return None

    def verify_archive(self, path):
        return self._inner.verify_archive(path)


class AcceptsAnySignature(ReferenceImplementation):
    name = "accepts-any-signature"

    def verifier(self, jwks):
        return _AcceptsAnything(super().verifier(jwks))
'''


def test_e2e_broken_implementation_fails_and_is_not_certified(tmp_path: Path) -> None:
    (tmp_path / "broken_adapter.py").write_text(BROKEN_ADAPTER, encoding="utf-8")
    private, _ = _keypair(tmp_path)
    env_path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_kmsconform.cli", "run", "--impl", "broken_adapter:AcceptsAnySignature",
         "--backend", "local", "-q", "--report", str(tmp_path / "out"), "--certify", "--signing-key", str(private)],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": env_path}, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert proc.returncode == run_cli.EXIT_FAILED, proc.stdout + proc.stderr
    document, run = json_report.load(tmp_path / "out" / "report.json")
    failed = document["counts"]["failed"] + document["counts"]["error"]
    assert failed > 0 and run.implementation == "accepts-any-signature"
    lines = proc.stdout.rstrip("\n").splitlines()
    assert lines[-1].startswith(f"{document['counts']['passed']} passed, {failed} failed")
    # the verifier accepts anything: the tamper-rejection checks fail, on the backend and off it
    assert {(c.check_id, c.backend) for c in run.checks if c.outcome.value == "failed"} >= {
        ("KC-SIG-007", ""),
        ("KC-ROT-006", "local"),
    }
    assert "certificate refused" in proc.stderr
    assert f"{document['counts']['failed']} check instance(s) failed: KC-REV-004@local/" in proc.stderr
    assert not (tmp_path / "out" / "certificate.json").exists()
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "### failed: KC-ROT-006 (local, " in markdown
    assert (tmp_path / "out" / "report.html").read_text(encoding="utf-8").count('<tr class="failed">') == document[
        "counts"
    ]["failed"]


def test_workers_need_xdist(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "xdist" else real(name, *a))
    assert run_cli.COMMAND.run(_parse("-n", "2", "--backend", "local")) == run_cli.EXIT_USAGE
    assert "-n needs pytest-xdist" in capsys.readouterr().err


def test_in_process_run_fails_on_a_named_backend_that_cannot_start(
    unavailable_backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command in-process (so the test's provider is registered), on mock plus a named backend
    that cannot start: its checks are errors with the reason, the run fails, the closing line says why."""
    status = run_cli.COMMAND.run(_parse("--backend", f"mock,{unavailable_backend}", "--report", str(tmp_path)))
    out = capsys.readouterr().out
    assert status == run_cli.EXIT_FAILED, out
    lines = out.rstrip("\n").splitlines()
    assert "  nowhere: ERROR: cannot start here: needs hardware that is not here" in lines
    _, run = json_report.load(tmp_path / "report.json")
    on_it = [c for c in run.checks if c.backend == "nowhere"]
    errors = [c for c in on_it if c.outcome.value == "error"]
    # none ran: an error with the provider's reason (or not applicable to this kind of backend)
    assert errors and {c.outcome.value for c in on_it} <= {"error", "not_applicable"}
    assert all("needs hardware that is not here" in c.message for c in errors)
    assert ("nowhere", "error") in [(b.name, b.status) for b in run.backends]
    reason = "cannot start here: needs hardware that is not here"
    assert f"ERROR backend nowhere ({len(errors)} check instances not run): {reason}" in lines
    assert not any(line.startswith("ERROR KC-") for line in lines), "one line for the backend, not one per check"
    counts = run.counts()
    assert lines[-1] == (
        f"{counts['passed']} passed, {counts['error']} failed, {counts['skipped']} skipped; "
        "backend nowhere did not start"
    )


def test_in_process_default_run_lists_an_unavailable_backend_as_skipped(
    unavailable_backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the default selection may leave a backend out: SKIPPED with its reason, exit 0."""
    monkeypatch.setattr(backend_registry, "default_selection", lambda: ["mock", unavailable_backend])
    status = run_cli.COMMAND.run(_parse("--report", str(tmp_path)))
    out = capsys.readouterr().out
    assert status == run_cli.EXIT_OK, out
    lines = out.rstrip("\n").splitlines()
    assert "  nowhere: SKIPPED: needs hardware that is not here" in lines
    assert "SKIPPED backend nowhere: needs hardware that is not here" in lines
    _, run = json_report.load(tmp_path / "report.json")
    skipped = [c for c in run.checks if c.backend == "nowhere" and c.outcome.value == "skipped"]
    assert skipped and all("needs hardware that is not here" in c.message for c in skipped)
    assert ("nowhere", "skipped") in [(b.name, b.status) for b in run.backends]
    counts = run.counts()
    assert lines[-1] == f"{counts['passed']} passed, 0 failed, {counts['skipped']} skipped"
    assert lines[-2] == f"kmsconform: {counts['passed']}/{counts['passed'] + counts['skipped']} (mock)"


@pytest.fixture
def no_pytest_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Usage errors are found before anything runs: the suites must not start."""

    def refuse(*args: object, **kwargs: object) -> int:
        raise AssertionError("pytest.main must not run on a usage error")

    monkeypatch.setattr(run_cli.pytest, "main", refuse)


def test_an_unwritable_report_dir_is_a_usage_error_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_pytest_run: None
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n", encoding="utf-8")
    status = run_cli.COMMAND.run(_parse("--backend", "mock", "--report", str(blocker / "out")))
    captured = capsys.readouterr()
    assert status == run_cli.EXIT_USAGE
    assert captured.err.startswith(f"kmsconform run: --report {blocker / 'out'}: cannot write there: ")
    assert captured.out == ""


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch:thing", "--impl 'nosuch:thing': cannot import nosuch: No module named 'nosuch'"),
        ("json:no_such_factory", "--impl 'json:no_such_factory': json has no attribute 'no_such_factory'"),
        ("not a spec", "--impl 'not a spec' is not 'reference', 'package.module:attribute'"),
    ],
)
def test_an_implementation_that_cannot_load_is_a_usage_error(
    spec: str, message: str, capsys: pytest.CaptureFixture[str], no_pytest_run: None
) -> None:
    status = run_cli.COMMAND.run(_parse("--impl", spec, "--backend", "mock"))
    captured = capsys.readouterr()
    assert status == run_cli.EXIT_USAGE
    assert captured.err.startswith(f"kmsconform run: {message}"), captured.err
    assert captured.out == ""


def test_backends_outside_the_default_are_named_with_why() -> None:
    listed = dict(run_cli.opt_in_backends())
    assert set(listed) >= {"vault-container", "localstack", "vault-external", "yubihsm-connector", "aws"}
    assert listed["vault-container"].startswith("container; ")
    assert not any(name in listed for name in run_cli.default_backends())
