"""Helpers for the adapter tests: run the bundled suites in a child pytest and read its JSON report."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle

SUITE_RUN_TIMEOUT_S = 540


@dataclass(frozen=True)
class SuiteRun:
    """A finished suite run: exit code, output, and the checks of its JSON report."""

    returncode: int
    output: str
    report: dict[str, Any]

    @property
    def checks(self) -> list[dict[str, Any]]:
        checks: list[dict[str, Any]] = self.report["checks"]
        return checks

    def with_outcome(self, outcome: str) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["outcome"] == outcome]

    def ids(self, outcome: str) -> set[str]:
        return {c["check_id"] for c in self.with_outcome(outcome)}

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.report["counts"]
        return counts

    def describe(self, outcome: str) -> str:
        return "\n".join(f"{c['nodeid']}: {c['message'][:400]}" for c in self.with_outcome(outcome))


def _run_suites(
    tmp_path: Path,
    impl: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    backend: str = "local",
    expect_report: bool = True,
) -> SuiteRun:
    """``pytest --kmsconform --kmsconform-impl=IMPL`` in a child process (its own plugin state)."""
    report = tmp_path / "report.json"
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-q",
        "--kmsconform",
        f"--kmsconform-impl={impl}",
        f"--kmsconform-backend={backend}",
        f"--kmsconform-report={report}",
        *args,
    ]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("KMSCONFORM", "SIGNING_PROXY_"))}
    child_env.update(env or {})
    proc = subprocess.run(
        argv, cwd=tmp_path, env=child_env, capture_output=True, text=True, timeout=SUITE_RUN_TIMEOUT_S, check=False
    )
    output = proc.stdout + proc.stderr
    if not expect_report:
        return SuiteRun(proc.returncode, output, {"checks": [], "counts": {}})
    assert report.exists(), f"no report written (exit {proc.returncode}):\n{output[-4000:]}"
    return SuiteRun(proc.returncode, output, json.loads(report.read_text()))


@pytest.fixture
def run_suites(tmp_path: Path) -> Callable[..., SuiteRun]:
    """``run_suites(impl, *pytest_args, env=, backend=)`` -> :class:`SuiteRun` (child pytest in tmp_path)."""
    counter = itertools.count(1)

    def run(
        impl: str, *args: str, env: Mapping[str, str] | None = None, backend: str = "local", expect_report: bool = True
    ) -> SuiteRun:
        out = tmp_path / f"run{next(counter)}"
        out.mkdir()
        return _run_suites(out, impl, *args, env=env, backend=backend, expect_report=expect_report)

    return run


@pytest.fixture
def signing_proxy() -> Iterator[Callable[..., BackendHandle]]:
    """``signing_proxy(alg=...)`` starts a reference proxy on 127.0.0.1:0; all stop at teardown."""
    import contextlib

    with contextlib.ExitStack() as stack:

        def start(**options: str) -> BackendHandle:
            provider = backend_registry.get("signing-proxy")
            handle: BackendHandle = stack.enter_context(provider.start(namespace="adapters", port=0, options=options))
            return handle

        yield start
