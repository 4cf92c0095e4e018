"""A backend that declares an algorithm it cannot sign (``unsupported_algorithms`` on its provider:
Azure Key Vault and ed25519/hmac-sha256) gets those check instances all the same, and they are
reported not applicable with the backend's reason: never silently absent, never passed."""

from __future__ import annotations

import pytest
from pytest_kmsconform.reference_impl.algorithms import CLASSIC

from pytest_kmsconform.checks import spec_from_kwargs, targets_for
from pytest_kmsconform.results import Outcome

from .conftest import Capture


def test_declared_unsupported_algorithms_still_get_instances() -> None:
    spec = spec_from_kwargs({"id": "KC-SIG-901", "title": "t", "source": "s", "scope": "backend"}, "here")
    algs = {t.alg for t in targets_for(spec, ["azure-keyvault"])}
    assert algs == set(CLASSIC)  # ML-DSA is not in the kind's set at all: no instances


def test_they_are_reported_not_applicable_with_the_reason(pytester: pytest.Pytester) -> None:
    pytest.importorskip("azure.keyvault.keys", reason="needs the azure extra (azure-keyvault-keys)")
    capture = Capture()
    pytester.inline_run(
        "--kmsconform",
        "--kmsconform-impl=reference",
        "--kmsconform-backend=azure-keyvault",
        "-p",
        "no:cacheprovider",
        "-k",
        "test_sign_basic",
        plugins=[capture],
    )
    (run,) = capture.runs
    by_alg = {c.alg: c for c in run.checks if c.check_id == "KC-SIG-001" and c.backend == "azure-keyvault"}
    assert set(by_alg) == {a.value for a in CLASSIC}
    for alg in ("ed25519", "hmac-sha256"):
        assert by_alg[alg].outcome is Outcome.NOT_APPLICABLE
        assert f"backend azure-keyvault cannot sign {alg}" in by_alg[alg].message
    assert "OKP" in by_alg["ed25519"].message
    for alg in ("rsa-sha256", "rsa-pss-sha256", "ecdsa-p256-sha256"):
        assert by_alg[alg].outcome is Outcome.PASSED, by_alg[alg].message
