"""The proxy as a process: ``kmsconform emulate signing-proxy`` and ``python -m ...signing_proxy``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from pytest_kmsconform.reference_impl.backends.signing_proxy import signer_from_env

CLI = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]
MODULE = [sys.executable, "-m", "pytest_kmsconform.emulators.signing_proxy"]
DIGEST = bytes(range(32))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def read_env(proc: subprocess.Popen[str], last: str, timeout: float = 30) -> dict[str, str]:
    """``NAME=value`` lines printed by the process, up to and including the one named ``last``."""
    env: dict[str, str] = {}
    done = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            name, sep, value = line.rstrip("\n").partition("=")
            if sep and not name.startswith("#"):
                env[name] = value
                if name == last:
                    break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout):
        pytest.fail(f"no {last} line within {timeout}s")
    return env


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.returncode is not None, "did not stop on SIGTERM"
    return proc.returncode


def test_kmsconform_emulate_signing_proxy() -> None:
    port = free_port()
    argv = [*CLI, "emulate", "signing-proxy", "--backend", "local", "--port", str(port), "--api-key", "cli-key-123"]
    with process(argv) as proc:
        env = read_env(proc, "SIGNING_PROXY_URL")
        assert env["SIGNING_PROXY_URL"] == f"http://127.0.0.1:{port}"
        assert env["SIGNING_PROXY_API_KEY"] == "cli-key-123"
        assert {"SIGNING_PROXY_ADMIN_KEY", "SIGNING_PROXY_KEYS_PIN"} <= set(env)
        signer = signer_from_env(env)
        signature = signer.sign_digest(DIGEST)
        signer.verify_signature(DIGEST, signature)
        assert signature.kid in {k["kid"] for k in signer.jwks()["keys"]}
        assert stop(proc) == 0


def test_module_runs_as_a_service() -> None:
    env = {"SIGNING_PROXY_API_KEY": "svc-key-456", "SIGNING_PROXY_PORT": "0", "SIGNING_PROXY_ALG": "ecdsa-p256-sha256"}
    with process(MODULE, env) as proc:
        printed = read_env(proc, "SIGNING_PROXY_KEYS_PIN")
        signer = signer_from_env({**printed, "SIGNING_PROXY_API_KEY": "svc-key-456"})
        signature = signer.sign_digest(DIGEST)
        assert signature.alg.value == "ecdsa-p256-sha256"
        signer.verify_signature(DIGEST, signature)
        assert stop(proc) == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "must be secured"),
        ({"SIGNING_PROXY_API_KEY": "k", "SIGNING_PROXY_PORT": "http"}, "SIGNING_PROXY_PORT"),
        ({"SIGNING_PROXY_API_KEY": "k", "SIGNING_PROXY_TLS_CERT": "/x.pem"}, "SIGNING_PROXY_TLS_KEY"),
        ({"SIGNING_PROXY_API_KEY": "k", "SIGNING_PROXY_PORT": "0", "SIGNING_PROXY_BACKEND": "nope"}, "nope"),
    ],
)
def test_module_refuses_bad_configuration(env: dict[str, str], message: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGNING_PROXY_")}
    result = subprocess.run(MODULE, env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


def test_emulate_reports_a_bad_option() -> None:
    result = subprocess.run(
        [*CLI, "emulate", "signing-proxy", "--option", "frob=1"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "unknown signing-proxy option(s) frob" in result.stderr
