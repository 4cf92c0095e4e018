"""Run the suites against each mutant (one fresh pytest process each) and judge the outcome.

A mutant is **killed** only by a check that *failed*; a crash, a harness error or a check in error
does not count. The unmodified reference is run first on every configuration the mutants use and
must give no failure and no error; the control mutant must survive.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import startup
from .core import ENV_LOG, ENV_MUTANT, Mutant, MutantTargetError, applied_in, resolve

RUN_TIMEOUT_S = 900
BASELINE_SELECT = {"http-policy": "test_policy"}
"""Unmodified runs narrower than the whole suites: a policy-gated proxy signs only for the policy's
clients, so only its gate (KC-POL) is certified there."""
PROXY_START_S = 60
STDERR_TAIL = 3000


@dataclass(frozen=True)
class Config:
    """What a run needs besides the mutant: implementation, backends, selection, environment."""

    impl: str
    backends: tuple[str, ...]
    select: str | None
    env: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, m: Mutant, *, with_select: bool = True) -> Config:
        return cls(m.impl, m.backends, m.select if with_select else None, tuple(sorted(m.env.items())))


@dataclass
class RunResult:
    """One pytest run: the checks that failed or erred (ids), and why the run itself broke, if it did."""

    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    broken: str | None = None
    applied: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ran(self) -> int:
        """Check instances that ran to a verdict (passed or failed)."""
        return self.counts.get("passed", 0) + self.counts.get("failed", 0)


@dataclass(frozen=True)
class Verdict:
    mutant: Mutant
    status: str  # killed | survived | error | control-survived | control-killed
    run: RunResult

    @property
    def killed(self) -> bool:
        return self.status == "killed"


def check_targets(mutants: Sequence[Mutant]) -> list[str]:
    """One line per mutant whose target does not exist (the run must stop: fix the target)."""
    problems = []
    for m in mutants:
        try:
            resolve(m.target)
        except MutantTargetError as exc:
            problems.append(f"{m.name}: {exc}")
    return problems


def _pythonpath(zoo: Path) -> str:
    parts = [str(Path(startup.__file__).resolve().parent), str(zoo.resolve())]
    if os.environ.get("PYTHONPATH"):
        parts.append(os.environ["PYTHONPATH"])
    return os.pathsep.join(parts)


def _base_env(zoo: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMSCONFORM", "PYTEST_"))}
    env["PYTHONPATH"] = _pythonpath(zoo)
    env.update(extra)
    return env


@contextlib.contextmanager
def _proxy(env: dict[str, str], workdir: Path, *, policy: bool = False) -> Iterator[tuple[str, list[str]]]:
    """The reference signing proxy as a server process (with the mutant, when ``env`` names one);
    with ``policy``, behind its gate under the certification policy of the policy suite (whose
    token files the run is given with ``--kmsconform-policy``)."""
    api_key, admin_key = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    proxy_env = {"SIGNING_PROXY_BACKEND": "local", "SIGNING_PROXY_ALG": "ed25519", **env}
    if policy:
        from pytest_kmsconform.suites._policy_roles import write_service_policy

        policy_file = write_service_policy(workdir / "policy")
        proxy_env["SIGNING_PROXY_POLICY"] = str(policy_file)
        run_args = [f"--kmsconform-policy={policy_file}"]
    else:
        proxy_env.update({"SIGNING_PROXY_API_KEY": api_key, "SIGNING_PROXY_ADMIN_KEY": admin_key})
        run_args = [f"--kmsconform-api-key={api_key}", f"--kmsconform-admin-key={admin_key}"]
    argv = [sys.executable, "-m", "pytest_kmsconform.emulators.signing_proxy", "--port", "0"]
    stderr = open(workdir / "proxy.stderr", "wb")  # noqa: SIM115 - closed below, after the process
    proc = subprocess.Popen(argv, env=proxy_env, stdout=subprocess.PIPE, stderr=stderr, cwd=workdir)
    try:
        url = None
        deadline = time.monotonic() + PROXY_START_S
        assert proc.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                break
            if line.startswith("SIGNING_PROXY_URL="):
                url = line.strip().partition("=")[2]
        if url is None:
            raise RuntimeError(f"the signing proxy did not start: {(workdir / 'proxy.stderr').read_text()[-800:]}")
        yield url, run_args
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        stderr.close()


def run_suites(config: Config, zoo: Path, workdir: Path, mutant: Mutant | None) -> RunResult:
    """``pytest --kmsconform`` in a fresh process for ``config``, with ``mutant`` applied everywhere."""
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "applied.log"
    extra = dict(config.env)
    if mutant is not None:
        extra.update(mutant.switch)
        extra[ENV_MUTANT] = mutant.spec
        extra[ENV_LOG] = str(log)
    env = _base_env(zoo, extra)
    report = workdir / "report.json"
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        impl, impl_args = config.impl, list[str]()
        if impl in ("http", "http-policy"):
            impl, impl_args = stack.enter_context(_proxy(env, workdir, policy=impl == "http-policy"))
        argv = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "-p",
            "pytest_kmsconform.mutation.plugin",
            "-q",
            "--kmsconform",
            f"--kmsconform-impl={impl}",
            f"--kmsconform-backend={','.join(config.backends)}",
            f"--kmsconform-report={report}",
            "--kmsconform-revocation-window=2",
            *impl_args,
        ]
        if config.select:
            argv += ["-k", config.select]
        try:
            proc = subprocess.run(
                argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return RunResult(broken=f"timed out after {RUN_TIMEOUT_S} s", seconds=time.monotonic() - started)
    result = RunResult(applied=list(applied_in(log)), seconds=time.monotonic() - started)
    if not report.exists():
        tail = (proc.stdout + proc.stderr)[-STDERR_TAIL:]
        result.broken = f"no report (pytest exit {proc.returncode}): {tail}"
        return result
    data: dict[str, Any] = json.loads(report.read_text())
    result.counts = dict(data.get("counts", {}))
    if proc.returncode not in (0, 1):  # 1: some check failed; anything else: the run itself broke
        tail = (proc.stdout + proc.stderr)[-STDERR_TAIL:]
        result.broken = f"pytest exit {proc.returncode}: {tail}"
    for check in data.get("checks", []):
        if check["outcome"] == "failed":
            result.failed.append(check["check_id"])
            result.failures.append(f"{check['nodeid']}: {check['message'][:300]}")
        elif check["outcome"] == "error":
            result.errors.append(check["check_id"])
    return result


def judge(m: Mutant, run: RunResult) -> Verdict:
    if run.broken is not None:
        return Verdict(m, "error", run)
    if not run.ran:
        run.broken = "no check ran (does the selection match anything?)"
        return Verdict(m, "error", run)
    if not run.applied:
        run.broken = "the mutant was applied in no process (its target module was never imported?)"
        return Verdict(m, "error", run)
    if m.control:
        return Verdict(m, "control-killed" if run.failed or run.errors else "control-survived", run)
    if run.failed:
        return Verdict(m, "killed", run)
    return Verdict(m, "error" if run.errors else "survived", run)


def run_mutant(m: Mutant, zoo: Path, workdir: Path) -> Verdict:
    return judge(m, run_suites(Config.of(m), zoo, workdir, m))


def baseline_configs(mutants: Sequence[Mutant]) -> list[Config]:
    """The unmodified runs: per implementation and environment, the whole suites on every backend
    its mutants use (a clean run on the union is clean on each of them)."""
    backends: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for m in mutants:
        key = (m.impl, tuple(sorted(m.env.items())))
        backends.setdefault(key, [])
        backends[key] += [b for b in m.backends if b not in backends[key]]
    return [Config(impl, tuple(names), BASELINE_SELECT.get(impl), env) for (impl, env), names in backends.items()]


def run_baselines(mutants: Sequence[Mutant], zoo: Path, workdir: Path) -> list[tuple[Config, RunResult]]:
    return [
        (config, run_suites(config, zoo, workdir / f"baseline-{n}", None))
        for n, config in enumerate(baseline_configs(mutants))
    ]


def temporary_workdir() -> contextlib.AbstractContextManager[str]:
    return tempfile.TemporaryDirectory(prefix="kmsconform-mutants-")
