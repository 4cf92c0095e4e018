"""``vault-external`` leaves nothing behind: the Transit keys a run made under its namespace are
deleted when the backend stops; keys it found there, or named otherwise, are never touched.

A throw-away OpenBao dev server plays the server a user runs (``VAULT_ADDR`` + ``VAULT_TOKEN``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_kmsconform.emulators.vault import EXTERNAL_PROVIDER, PROVIDER, OpenBaoServer, admin
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.vault import VaultTransitBackend

from pytest_kmsconform.results import Outcome, RunResult


@pytest.fixture
def external(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenBaoServer]:
    """A fresh OpenBao dev server, exported as the user's external Vault (function scope)."""
    reason = PROVIDER.unavailable_reason()
    if reason is not None:
        pytest.skip(f"backend vault (OpenBao) unavailable: {reason}")
    with OpenBaoServer() as server:
        monkeypatch.setenv("VAULT_ADDR", server.url)
        monkeypatch.setenv("VAULT_TOKEN", server.token)
        monkeypatch.setenv("VAULT_TRANSIT_MOUNT", "transit")
        yield server


def _keys(server: OpenBaoServer) -> set[str]:
    return set(admin.transit_keys(server.url, server.token, "transit"))


def test_keys_made_under_the_namespace_are_deleted_at_stop(external: OpenBaoServer) -> None:
    found = VaultTransitBackend.connect(external.url, external.token, key_prefix="ext-")
    found.create_key(Algorithm.ED25519, "found-before", None)  # the run's prefix, but there already
    VaultTransitBackend.connect(external.url, external.token, key_prefix="other-").create_key(
        Algorithm.ED25519, "app", None
    )
    with EXTERNAL_PROVIDER.start(namespace="ext") as handle:
        backend = VaultTransitBackend.connect(external.url, external.token, key_prefix=f"{handle.namespace}-")
        for alg in (Algorithm.ED25519, Algorithm.HMAC_SHA256):
            key = backend.create_key(alg, f"ring-{alg.value}", None)
            rotated = backend.create_key(alg, f"ring-{alg.value}", key)
            backend.disable(rotated)  # revocation raises the key's minimum versions
        assert len(_keys(external)) == 4
    assert _keys(external) == {"ext-found-before", "other-app"}


def test_a_suite_run_on_vault_external_leaves_no_key(external: OpenBaoServer, pytester: pytest.Pytester) -> None:
    captured: list[RunResult] = []

    class Capture:
        def pytest_kmsconform_run_finished(self, config: pytest.Config, run: RunResult) -> None:
            captured.append(run)

    pytester.inline_run(
        "--kmsconform",
        "--kmsconform-backend=vault-external",
        "-p",
        "no:cacheprovider",
        "-k",
        "test_revocation and ed25519",
        plugins=[Capture()],
    )
    on_vault = [c for c in captured[0].checks if c.backend == "vault-external"]
    assert on_vault and {c.outcome for c in on_vault} == {Outcome.PASSED}, [c.message for c in on_vault]
    assert _keys(external) == set()
