"""``unshare`` detection for verifier children: ``-n`` as root, ``-rn`` for unprivileged users."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_kmsconform import airgap


@pytest.fixture
def probe_cache() -> Iterator[None]:
    airgap._unshare_probe.cache_clear()
    yield
    airgap._unshare_probe.cache_clear()


def fake_unshare(monkeypatch: pytest.MonkeyPatch, allowed: set[str]) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.setattr(airgap.shutil, "which", lambda name: "/usr/bin/unshare")

    def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        ok = argv[1] in allowed
        return subprocess.CompletedProcess(argv, 0 if ok else 1, b"", b"" if ok else b"Operation not permitted")

    monkeypatch.setattr(airgap.subprocess, "run", run)
    return calls


def test_root_gets_a_plain_network_namespace(monkeypatch: pytest.MonkeyPatch, probe_cache: None) -> None:
    fake_unshare(monkeypatch, {"-n", "-rn"})
    assert airgap.unshare_unavailable_reason() is None
    assert airgap.offline_argv(["node", "v.js"]) == ["/usr/bin/unshare", "-n", "node", "v.js"]


def test_unprivileged_user_falls_back_to_a_user_namespace(monkeypatch: pytest.MonkeyPatch, probe_cache: None) -> None:
    calls = fake_unshare(monkeypatch, {"-rn"})
    assert airgap.unshare_unavailable_reason() is None
    assert airgap.offline_argv(["node", "v.js"]) == ["/usr/bin/unshare", "-rn", "node", "v.js"]
    assert [c[1] for c in calls] == ["-n", "-rn"], "probed once, in order, then cached"


def test_neither_permitted_names_both(monkeypatch: pytest.MonkeyPatch, probe_cache: None) -> None:
    fake_unshare(monkeypatch, set())
    reason = airgap.unshare_unavailable_reason()
    assert reason is not None and "unshare -n:" in reason and "unshare -rn:" in reason
    assert "Operation not permitted" in reason


def test_no_unshare_command(monkeypatch: pytest.MonkeyPatch, probe_cache: None) -> None:
    monkeypatch.setattr(airgap.shutil, "which", lambda name: None)
    assert airgap.unshare_unavailable_reason() == "the unshare command is not installed"
