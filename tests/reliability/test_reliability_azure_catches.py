"""The REL checks on Azure Key Vault (through the fault proxy, which terminates TLS in front of the
HTTPS emulator) fail deliberately broken Key Vault signers, each on the checks about its defect, so
their passes on the reference mean something. Key Vault's own errors are injected (429 ``Throttled``
with ``Retry-After``, 500 ``InternalServerError``), connection resets and stalls on ``keys/sign``,
and one bit flipped in a sign answer's ``value``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("azure.keyvault.keys", reason="the azure extra is not installed")

BROKEN = '''
import hashlib

from pytest_kmsconform.reference_adapter import ReferenceImplementation, RingAdapterSigner
from pytest_kmsconform.reference_impl.errors import BackendError
from pytest_kmsconform.reference_impl.keyring import KeyRing, RingSigner
from pytest_kmsconform.reference_impl.signature import Signature


class Wrapped:
    """A KeyBackend forwarding everything to ``inner`` except what a subclass overrides."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, name):
        return getattr(self.inner, name)


class NoRetry(ReferenceImplementation):
    """Gives up on the first throttling (the key backend is not wrapped in retries)."""

    def signer(self, handle, alg, *, label):
        ring = KeyRing(self.key_backend(handle), alg, label)
        ring.rotate()
        return RingAdapterSigner(ring)


class RetriesTooMuch(ReferenceImplementation):
    """Retries every retryable Key Vault error at once, up to 300 times: no backoff (KC-REL-002), no sane
    bound (KC-REL-006)."""

    def signer(self, handle, alg, *, label):
        class Eager(Wrapped):
            def sign(self, key, digest):
                for _ in range(299):
                    try:
                        return self.inner.sign(key, digest)
                    except BackendError as exc:
                        if not exc.retryable:
                            raise
                return self.inner.sign(key, digest)

        ring = KeyRing(Eager(self.key_backend(handle)), alg, label)
        ring.rotate()
        return RingAdapterSigner(ring)


class SignsTheHashOfTheDigest(ReferenceImplementation):
    """Sends SHA-256(digest) to Key Vault instead of the digest (the log cannot verify)."""

    def signer(self, handle, alg, *, label):
        class Rehash(Wrapped):
            def sign(self, key, digest):
                return self.inner.sign(key, hashlib.sha256(digest).digest())

        ring = KeyRing(Rehash(self.key_backend(handle)), alg, label)
        ring.rotate()
        return RingAdapterSigner(ring)


class AcksFailedAppends(NoRetry):
    """No retries, and an audit log that answers a failed append with the record it meant to write
    (nothing is stored): every fault becomes a lost acknowledged record."""

    def audit_log(self, signer, path):
        log = super().audit_log(signer, path)
        append = log.append

        def acking(payload):
            try:
                return append(payload)
            except Exception:
                return {"payload": dict(payload), "sig": {"kid": signer.kid, "alg": signer.alg.value, "sig": ""}}

        log.append = acking
        return log


class TrustsBackend(ReferenceImplementation):
    """Commits whatever signature Key Vault returns, unchecked against the key."""

    def signer(self, handle, alg, *, label):
        class Unchecked(RingSigner):
            def sign_digest(self, digest):
                version = self.ring.active()
                value = self.ring.backend.sign(version.key, digest)
                return Signature(kid=version.kid, alg=version.key.alg, value=value)

        s = super().signer(handle, alg, label=label)
        s.inner = Unchecked(s.ring)
        return s


NO_RETRY = NoRetry()
RETRIES_TOO_MUCH = RetriesTooMuch()
SIGNS_THE_HASH = SignsTheHashOfTheDigest()
ACKS_FAILED_APPENDS = AcksFailedAppends()
TRUSTS_BACKEND = TrustsBackend()
'''


def run_suite(tmp_path: Path, impl: str) -> tuple[set[str], str]:
    (tmp_path / "broken_azure_impls.py").write_text(BROKEN)
    from pytest_kmsconform import suites

    suite = Path(suites.__file__).parent / "test_reliability.py"
    cmd = [sys.executable, "-m", "pytest", "--kmsconform", f"--kmsconform-impl={impl}", str(suite)]
    cmd += ["--kmsconform-backend=azure-keyvault", "-k", "ecdsa", "-q", "-p", "no:cacheprovider", "-rf"]
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env, check=False)
    failed = set(re.findall(r"^FAILED (KC-REL-\d{3}) ", result.stdout, re.MULTILINE))
    passed = re.search(r"(\d+) passed", result.stdout)
    return failed, f"{passed[0] if passed else 'none passed'}\n" + result.stdout[-3000:] + result.stderr[-2000:]


ALL_CHECKS = {f"KC-REL-00{i}" for i in range(1, 9)}


@pytest.mark.parametrize(
    ("impl", "expected"),
    [
        ("reference", set()),
        ("broken_azure_impls:NO_RETRY", {"KC-REL-002"}),
        ("broken_azure_impls:RETRIES_TOO_MUCH", {"KC-REL-002", "KC-REL-006"}),
        ("broken_azure_impls:SIGNS_THE_HASH", {"KC-REL-001", "KC-REL-002"}),
        ("broken_azure_impls:ACKS_FAILED_APPENDS", ALL_CHECKS - {"KC-REL-001"}),
        ("broken_azure_impls:TRUSTS_BACKEND", {"KC-REL-007", "KC-REL-008"}),
    ],
)
def test_azure_keyvault_variants_fail_exactly_their_checks(tmp_path: Path, impl: str, expected: set[str]) -> None:
    failed, output = run_suite(tmp_path, impl)
    assert failed == expected, output
    if impl == "reference":
        assert "8 passed" in output, output  # every REL check ran on azure-keyvault, none not applicable
