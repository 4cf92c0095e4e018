"""``kmsconform emulate gcp-kms`` in a subprocess: env lines, the unmodified client, clean shutdown."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from google.cloud import kms
from pytest_kmsconform.reference_impl.backends.gcp_kms_client import client_from_env


def _kmsconform() -> list[str]:
    script = shutil.which("kmsconform", path=os.path.dirname(sys.executable))
    return [script] if script else [sys.executable, "-c", "from pytest_kmsconform.cli import main; main()"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_emulate_gcp_kms_prints_env_and_serves_both_fronts() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*_kmsconform(), "emulate", "gcp-kms", "--port", str(port), "--option", "seed=cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        env: dict[str, str] = {}
        deadline = time.monotonic() + 60
        wanted = {"KMS_EMULATOR_HOST", "KMS_EMULATOR_GRPC_HOST", "A1_GCP_PROJECT", "A1_GCP_LOCATION", "A1_GCP_KEY_RING"}
        while not wanted <= env.keys():
            assert time.monotonic() < deadline, env
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            key, sep, value = line.strip().partition("=")
            if sep and not line.startswith("#"):
                env[key] = value
        assert env["KMS_EMULATOR_HOST"] == f"http://127.0.0.1:{port}"
        ring = f"projects/{env['A1_GCP_PROJECT']}/locations/{env['A1_GCP_LOCATION']}/keyRings/{env['A1_GCP_KEY_RING']}"
        for transport in ("rest", "grpc"):
            client = client_from_env({**env, "KMS_EMULATOR_TRANSPORT": transport})
            key = client.create_crypto_key(
                request={
                    "parent": ring,
                    "crypto_key_id": f"cli-{transport}",
                    "crypto_key": {
                        "purpose": kms.CryptoKey.CryptoKeyPurpose.MAC,
                        "version_template": {"algorithm": kms.CryptoKeyVersion.CryptoKeyVersionAlgorithm.HMAC_SHA256},
                    },
                }
            )
            mac = client.mac_sign(
                request={"name": f"{key.name}/cryptoKeyVersions/1", "data": hashlib.sha256().digest()}
            )
            assert len(mac.mac) == 32
            client.transport.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
