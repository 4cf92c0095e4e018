"""The REL suite fails deliberately broken variants of the reference implementation (and only on
the checks about their defect), so its passes mean something."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BROKEN = '''
from pytest_kmsconform.reference_adapter import ReferenceImplementation


class NoRetry(ReferenceImplementation):
    """Gives up on the first transient error (no retry, no backoff)."""

    def signer(self, handle, alg, *, label):
        s = super().signer(handle, alg, label=label)
        s.inner = s.inner.inner  # unwrap RetryingSigner
        return s


class NoBackoff(ReferenceImplementation):
    """Retries at once: the same bounded attempts, no wait between them."""

    def signer(self, handle, alg, *, label):
        from pytest_kmsconform.reference_impl.retry import RetryPolicy

        s = super().signer(handle, alg, label=label)
        s.inner.retrier.policy = RetryPolicy(base_delay_s=0.0)
        return s


class TrustsBackend(ReferenceImplementation):
    """Commits whatever signature the backend returns, unchecked."""

    def signer(self, handle, alg, *, label):
        s = super().signer(handle, alg, label=label)
        client = s.inner.inner
        client._checked = lambda digest, response: client._parse_signature(response)
        return s


NO_RETRY = NoRetry()
NO_BACKOFF = NoBackoff()
TRUSTS_BACKEND = TrustsBackend()
'''


def run_suite(tmp_path: Path, impl: str) -> tuple[set[str], str]:
    (tmp_path / "broken_impls.py").write_text(BROKEN)
    from pytest_kmsconform import suites

    suite = Path(suites.__file__).parent / "test_reliability.py"
    cmd = [sys.executable, "-m", "pytest", "--kmsconform", f"--kmsconform-impl={impl}", str(suite)]
    cmd += ["--kmsconform-backend=signing-proxy", "-k", "ed25519", "-q", "-p", "no:cacheprovider", "-rf"]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env, check=False)
    failed = set(re.findall(r"^FAILED (KC-REL-\d{3}) ", result.stdout, re.MULTILINE))
    return failed, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize(
    ("impl", "expected"),
    [
        ("broken_impls:NO_RETRY", {"KC-REL-002"}),
        ("broken_impls:NO_BACKOFF", {"KC-REL-002", "KC-REL-006"}),
        ("broken_impls:TRUSTS_BACKEND", {"KC-REL-007", "KC-REL-008"}),
    ],
)
def test_broken_variants_fail_exactly_their_checks(tmp_path: Path, impl: str, expected: set[str]) -> None:
    failed, output = run_suite(tmp_path, impl)
    assert failed == expected, output
