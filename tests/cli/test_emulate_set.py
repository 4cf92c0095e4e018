"""``kmsconform emulate --all`` / ``emulate NAME NAME``: every embedded backend in one process, env
lines for a shell and for ``$GITHUB_ENV``, stopped together by SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform import backend_registry
from pytest_kmsconform.cli import emulate_set, main

CLI = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]


def test_export_and_github_env_lines() -> None:
    env = {"A": "plain", "B": "it's $HOME", "PEM": "-----BEGIN-----\nabc\n-----END-----"}
    assert emulate_set.export_lines(env) == [
        "export A=plain",
        "export B='it'\"'\"'s $HOME'",
        f"export PEM='{env['PEM']}'",
    ]
    lines = emulate_set.github_env_lines(env)
    assert lines[:2] == ["A=plain", "B=it's $HOME"]
    assert lines[2:] == ["PEM<<KMSCONFORM_EOF", env["PEM"], "KMSCONFORM_EOF"]
    tricky = emulate_set.github_env_lines({"X": "KMSCONFORM_EOF\nmore"})
    assert tricky[0] == "X<<KMSCONFORM_EOF_" and tricky[-1] == "KMSCONFORM_EOF_"


def test_selection_errors_and_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(emulate_set.SetError, match="unknown backend 'nope'"):
        emulate_set.select(["mock", "nope"], every=False)
    unavailable = backend_registry.UnavailableProvider(name="ghost", reason="no ghost binary", kind="mock")
    monkeypatch.setitem(backend_registry._registered, "ghost", unavailable)  # type: ignore[arg-type]
    monkeypatch.setattr(backend_registry, "embedded_names", lambda: ["ghost", "mock"])
    with pytest.raises(emulate_set.SetError, match="ghost cannot start here: no ghost binary"):
        emulate_set.select(["ghost"], every=False)  # asked for by name: an error
    assert emulate_set.select([], every=True) == (["mock"], ["ghost: no ghost binary"])  # --all: skipped, said why


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate"]) == 2
    assert main(["emulate", "--all", "mock"]) == 2
    assert main(["emulate", "--all", "--port", "8200"]) == 2
    assert main(["emulate", "mock", "nope"]) == 2
    err = capsys.readouterr().err
    assert "name a backend, several, or --all" in err and "--all or names, not both" in err
    assert "take one backend" in err and "unknown backend 'nope'" in err


def test_conflicting_variables_are_refused() -> None:
    class Handle:
        def __init__(self, env: dict[str, str]) -> None:
            self.env = env

    running: list[Any] = [
        emulate_set.Running("one", None, Handle({"X": "1", "Y": "2"})),  # type: ignore[arg-type]
        emulate_set.Running("two", None, Handle({"X": "1"})),  # type: ignore[arg-type]
    ]
    assert emulate_set.merged_env(running) == {"X": "1", "Y": "2"}
    running.append(emulate_set.Running("three", None, Handle({"Y": "3"})))  # type: ignore[arg-type]
    with pytest.raises(emulate_set.SetError, match="one and three both set Y"):
        emulate_set.merged_env(running)


def test_widened_trust_keeps_the_public_roots(tmp_path: Path) -> None:
    certifi = pytest.importorskip("certifi")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nEMULATOR\n-----END CERTIFICATE-----\n")
    out = emulate_set.widen_trust({"REQUESTS_CA_BUNDLE": str(ca), "OTHER": "x"}, tmp_path)
    bundle = Path(out["REQUESTS_CA_BUNDLE"]).read_text()
    assert "EMULATOR" in bundle and Path(certifi.where()).read_text()[:200] in bundle and out["OTHER"] == "x"


def test_every_embedded_backend_in_one_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env_file, ready = tmp_path / "github_env", tmp_path / "ready"
    env_file.write_text("EARLIER=kept\n")
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            emulate_set.serve([], every=True, namespace="t", env_file=env_file, ready_file=ready, stop_event=stop)
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), capsys.readouterr().err
        started = ready.read_text().split()
        env = _parse_github_env(env_file.read_text())
        assert env["EARLIER"] == "kept"  # appended to, as $GITHUB_ENV is
        out = capsys.readouterr().out
        for name, value in env.items():
            if name != "EARLIER" and "\n" not in value:
                assert f"export {name}=" in out
        assert set(started) >= {"aws-kms", "local", "mock", "signing-proxy", "yubihsm"}
        _reachable(env, started)
    finally:
        stop.set()
        thread.join(60)
    assert result == [0]
    for name in started:  # every server is down
        if name == "vault":
            with pytest.raises(OSError):
                urllib.request.urlopen(env["VAULT_ADDR"] + "/v1/sys/health", timeout=2)


def _parse_github_env(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            name, marker = line.split("<<", 1)
            value = []
            for more in lines:
                if more == marker:
                    break
                value.append(more)
            env[name] = "\n".join(value)
        else:
            name, _, value = line.partition("=")
            env[name] = value
    return env


def _reachable(env: dict[str, str], started: list[str]) -> None:
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=env["AWS_ENDPOINT_URL_KMS"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    assert "Keys" in kms.list_keys()
    with urllib.request.urlopen(env["SIGNING_PROXY_URL"] + "/health", timeout=10) as answer:
        assert answer.status == 200
    if "vault" in started:
        with urllib.request.urlopen(env["VAULT_ADDR"] + "/v1/sys/health", timeout=10) as answer:
            assert json.loads(answer.read())["initialized"] is True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_set(tmp_path: Path, sig: signal.Signals) -> None:
    ready, env_file = tmp_path / "ready", tmp_path / "env"
    proc = subprocess.Popen(
        [*CLI, "emulate", "aws-kms", "signing-proxy", "mock", "--env-file", str(env_file), "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.stderr.read() if proc.poll() is not None else "not ready"  # type: ignore[union-attr]
        url = _parse_github_env(env_file.read_text())["SIGNING_PROXY_URL"]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "# ready: aws-kms, signing-proxy, mock" in out and "export MOCK_AUDIT_SIGNING_KEY=" in out
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=2)
