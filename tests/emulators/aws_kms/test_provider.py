"""The ``aws-kms`` provider: in-process handle, and ``kmsconform emulate aws-kms`` as a subprocess."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import boto3
import pytest
from pytest_kmsconform.emulators.aws_kms.provider import PROVIDER
from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendProvider
from pytest_kmsconform.key_backends import kms_client_for

ENV_KEYS = {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def _client(env: dict[str, str]) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def test_registered_and_embedded() -> None:
    provider = backend_registry.get("aws-kms")
    assert provider is PROVIDER
    assert isinstance(provider, BackendProvider)
    assert (provider.kind, provider.embedded, provider.unavailable_reason()) == ("aws-kms", True, None)


def test_handle_env_reaches_the_fidelity_layer() -> None:
    with PROVIDER.start(namespace="t") as handle:
        assert set(handle.env) >= ENV_KEYS
        assert handle.url == handle.env["AWS_ENDPOINT_URL"]
        assert handle.url.startswith("http://127.0.0.1:")
        client = _client(dict(handle.env))
        key = client.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        assert len(client.get_public_key(KeyId=key)["PublicKey"]) == 44
        assert kms_client_for(handle).list_keys()["Keys"]
    with pytest.raises(OSError):  # stopped: nothing listens any more
        socket.create_connection(("127.0.0.1", int(handle.url.rsplit(":", 1)[1])), timeout=1).close()


def test_seed_option_reproduces_keys() -> None:
    def public_key(seed: str) -> tuple[str, bytes]:
        with PROVIDER.start(namespace="t", options={"seed": seed}) as handle:
            client = _client(dict(handle.env))
            key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            return key, bytes(client.get_public_key(KeyId=key)["PublicKey"])

    assert public_key("one") == public_key("one")
    assert public_key("one")[1] != public_key("two")[1]


def test_unknown_option_is_a_typed_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown option"), PROVIDER.start(namespace="t", options={"sed": "1"}):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kmsconform_emulate_subprocess() -> None:
    exe = shutil.which("kmsconform", path=os.path.dirname(sys.executable)) or shutil.which("kmsconform")
    assert exe, "the kmsconform console script is installed with the package"
    port = _free_port()
    stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in finally, outlives the loop)
    proc = subprocess.Popen(
        [exe, "emulate", "aws-kms", "--port", str(port)], stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    stopped = False
    try:
        env: dict[str, str] = {}
        deadline = time.monotonic() + 30
        assert proc.stdout is not None
        while not set(env) >= ENV_KEYS:
            assert time.monotonic() < deadline, f"no env lines in 30 s, got {env}"
            line = proc.stdout.readline()
            if not line:
                stderr.seek(0)
                pytest.fail(f"emulate exited early (rc={proc.wait(5)}): {stderr.read()[-1500:]}")
            if "=" in line and not line.startswith("#"):
                name, _, value = line.strip().partition("=")
                env[name] = value
        assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
        client = _client(env)
        key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        client.disable_key(KeyId=key)
        with pytest.raises(client.exceptions.DisabledException):
            client.sign(KeyId=key, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, "SIGTERM stops the emulator cleanly"
        stopped = True
    finally:
        if not stopped:
            proc.kill()
            proc.wait(timeout=15)
        stderr.close()


def test_emulator_state_survives_mock_aws_in_the_same_process() -> None:
    from moto import mock_aws
    from pytest_kmsconform.emulators.aws_kms import KmsEmulator

    with KmsEmulator() as emulator:
        client = emulator.client()
        key = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        with mock_aws():  # moto resets every registered backend at start and stop
            boto3.client("kms", region_name="us-east-1").list_keys()
        assert client.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"
        emulator.reset()
        with pytest.raises(client.exceptions.NotFoundException):
            client.describe_key(KeyId=key)
