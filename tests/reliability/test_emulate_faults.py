"""``kmsconform emulate NAME --faults PLAN``: the env lines point at the fault proxy, which injects."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
from pytest_kmsconform.emulators.faults.handles import rewrite_env

KMSCONFORM = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]


def test_rewrite_env_only_touches_the_upstream_url() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "VAULT_ADDR": "http://localhost:4566/",
        "OTHER": "http://127.0.0.1:9999",
        "AWS_REGION": "us-east-1",
    }
    out = rewrite_env(env, "http://127.0.0.1:4566", "http://127.0.0.1:5000")
    assert out == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "VAULT_ADDR": "http://127.0.0.1:5000/",
        "OTHER": "http://127.0.0.1:9999",
        "AWS_REGION": "us-east-1",
    }


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KMSCONFORM, *args], capture_output=True, text=True, timeout=60, check=False)


def test_bad_plan_and_in_process_backend_exit_2() -> None:
    bad = run_cli("emulate", "local", "--faults", '{"rules": [{"operation": "Sign", "fault": "boom"}]}')
    assert bad.returncode == 2 and "unknown fault 'boom'" in bad.stderr
    plan = json.dumps({"seed": 1, "rules": [{"operation": "Sign", "fault": "reset"}]})
    local = run_cli("emulate", "local", "--faults", plan)
    assert local.returncode == 2 and "in-process" in local.stderr


def test_emulate_aws_kms_behind_the_fault_proxy() -> None:
    pytest.importorskip("moto.server", reason="aws extra not installed")
    boto3 = pytest.importorskip("boto3")
    from botocore.config import Config
    from botocore.exceptions import ClientError

    plan = json.dumps(
        {"seed": 1, "rules": [{"operation": "ListKeys", "fault": "error", "error": "AccessDeniedException"}]}
    )
    proc = subprocess.Popen(
        [*KMSCONFORM, "emulate", "aws-kms", "--faults", plan],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        header = proc.stdout.readline()
        assert header.startswith("# fault proxy http://127.0.0.1:"), header + (
            proc.stderr.read() if proc.stderr else ""
        )
        proxy_url, _, upstream = header[len("# fault proxy ") :].strip().partition(" -> ")
        env: dict[str, Any] = {}
        for line in iter(proc.stdout.readline, ""):
            if line.startswith("#"):
                continue
            key, _, value = line.strip().partition("=")
            env[key] = value
            if key == "AWS_SECRET_ACCESS_KEY" or len(env) >= 5:
                break
        endpoint = env.get("AWS_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL_KMS")
        assert endpoint is not None and endpoint.rstrip("/") == proxy_url and proxy_url != upstream
        client = boto3.client(
            "kms",
            endpoint_url=endpoint,
            region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": 1}),
        )
        client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")  # passes through
        with pytest.raises(ClientError) as info:
            client.list_keys()
        assert info.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert proc.returncode == 0
