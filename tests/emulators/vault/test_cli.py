"""``kmsconform emulate vault`` in a subprocess: env lines, a real hvac client, clean shutdown."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time

import pytest
from pytest_kmsconform.emulators.vault import admin
from pytest_kmsconform.emulators.vault.openbao import free_port_pair
from pytest_kmsconform.emulators.vault.testing import children_of, process_alive

hvac = pytest.importorskip("hvac")
pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="child process lookup needs Linux /proc")


def _kmsconform() -> list[str]:
    script = shutil.which("kmsconform", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-c", "from pytest_kmsconform.cli import main; main()"]


def _read_env(proc: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    assert proc.stdout is not None
    env: dict[str, str] = {}
    while not {"VAULT_ADDR", "VAULT_TOKEN", "VAULT_TRANSIT_MOUNT"} <= env.keys():
        if time.monotonic() > deadline:
            raise AssertionError(f"no env lines in time; got {env}")
        line = proc.stdout.readline()
        if not line:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"kmsconform emulate exited ({proc.wait()}): {stderr}")
        key, sep, value = line.strip().partition("=")
        if sep and not line.startswith("#"):
            env[key] = value
    return env


def test_emulate_vault_serves_transit_and_stops_cleanly() -> None:
    port = free_port_pair()
    proc = subprocess.Popen(
        [*_kmsconform(), "emulate", "vault", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        env = _read_env(proc, time.monotonic() + 60)
        assert env["VAULT_ADDR"] == f"http://127.0.0.1:{port}"
        assert env["VAULT_TRANSIT_MOUNT"] == "transit"
        bao = [pid for pid in children_of(proc.pid) if process_alive(pid)]
        assert len(bao) == 1, bao

        client = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"])
        assert client.is_authenticated()
        client.secrets.transit.create_key(name="cli-key", key_type="ed25519")
        data = base64.b64encode(b"\x01" * 32).decode()
        signed = client.secrets.transit.sign_data(name="cli-key", hash_input=data)["data"]["signature"]
        assert signed.startswith("vault:v1:")
        verified = client.secrets.transit.verify_signed_data(name="cli-key", hash_input=data, signature=signed)
        assert verified["data"]["valid"] is True
        client.adapter.close()

        proc.terminate()
        assert proc.wait(30) == 0
        assert not process_alive(bao[0])
        with pytest.raises(admin.ServerRequestError):
            admin.health(env["VAULT_ADDR"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
