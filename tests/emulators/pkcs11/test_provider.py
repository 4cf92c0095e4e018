"""The ``pkcs11`` providers: a SoftHSM2 token made per process, env lines, the opt-in module backend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_kmsconform.emulators.pkcs11 import softhsm
from pytest_kmsconform.emulators.pkcs11.provider import MODULE_PROVIDER, PROVIDER

from pytest_kmsconform import backend_registry, kinds

pytestmark = pytest.mark.skipif(softhsm.unavailable_reason() is not None, reason=str(softhsm.unavailable_reason()))


def test_the_kind_is_registered_and_embedded_when_softhsm_is_installed() -> None:
    assert backend_registry.get("pkcs11") is PROVIDER and PROVIDER.kind == kinds.PKCS11
    assert "pkcs11" in backend_registry.embedded_names()
    assert "pkcs11-module" not in backend_registry.embedded_names()


def test_start_gives_a_private_token_and_the_client_variables() -> None:
    with PROVIDER.start(namespace="t1") as first, PROVIDER.start(namespace="t2") as second:
        env = first.env
        assert set(env) >= {"PKCS11_MODULE", "PKCS11_TOKEN_LABEL", "PKCS11_PIN", "SOFTHSM2_CONF"}
        conf = Path(env["SOFTHSM2_CONF"])
        assert conf.is_file() and "directories.tokendir" in conf.read_text()
        assert Path(env["PKCS11_MODULE"]).is_file() and first.version.startswith("SoftHSM2")
        # one token per process: SoftHSM2 reads SOFTHSM2_CONF once, at C_Initialize
        assert second.env["SOFTHSM2_CONF"] == env["SOFTHSM2_CONF"]
        token = softhsm.process_token()
        assert token.pin not in repr(token) and token.so_pin not in repr(token)


def test_a_fresh_token_directory_is_made_and_initialised(tmp_path: Path) -> None:
    token = softhsm.create_token(tmp_path, label="fresh")
    try:
        listed = subprocess.run(
            ["softhsm2-util", "--show-slots"],
            env={**os.environ, "SOFTHSM2_CONF": str(token.conf)},
            capture_output=True,
            text=True,
            check=True,
        )
        assert "Label:            fresh" in listed.stdout
        assert token.directory.parent == tmp_path
    finally:
        import shutil

        shutil.rmtree(token.directory)


def test_options_are_refused() -> None:
    with pytest.raises(ValueError, match="takes no options"), PROVIDER.start(namespace="x", options={"seed": "1"}):
        pass


def test_module_backend_needs_a_module_label_and_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KMSCONFORM_PKCS11_MODULE", "KMSCONFORM_PKCS11_TOKEN_LABEL", "KMSCONFORM_PKCS11_PIN"):
        monkeypatch.delenv(name, raising=False)
    reason = MODULE_PROVIDER.unavailable_reason()
    assert reason is not None and "--kmsconform-pkcs11-module" in reason
    monkeypatch.setenv("KMSCONFORM_PKCS11_MODULE", str(softhsm.find_module()))
    assert "KMSCONFORM_PKCS11_PIN" in str(MODULE_PROVIDER.unavailable_reason())
    missing = {"module": "/nonexistent/libnothing.so"}
    with pytest.raises(RuntimeError, match="no PKCS#11 module"), MODULE_PROVIDER.start(namespace="m", options=missing):
        pass


def test_kmsconform_emulate_prints_the_env_lines_and_removes_the_token_on_sigterm() -> None:
    argv = [sys.executable, "-m", "pytest_kmsconform.cli", "emulate", "pkcs11"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        wanted = {"PKCS11_MODULE", "PKCS11_TOKEN_LABEL", "PKCS11_PIN", "SOFTHSM2_CONF"}
        env: dict[str, str] = {}
        while not wanted <= set(env):
            line = process.stdout.readline()
            assert line, f"emulate ended before printing {sorted(wanted - set(env))}"
            if "=" in line and not line.startswith("#"):
                key, _, value = line.strip().partition("=")
                env[key] = value
        conf = Path(env["SOFTHSM2_CONF"])
        assert conf.is_file()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert not conf.parent.exists(), "the token directory outlived the emulate process"
