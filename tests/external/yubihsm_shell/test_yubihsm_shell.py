"""External check: Yubico's own C tool, ``yubihsm-shell`` (libyubihsm 2.6.0, Debian bookworm-backports),
against the simulator behind its connector shim.

libyubihsm is an independent client: it reads ``/connector/status`` first, builds every frame in C,
and parses capabilities, options and wrapped data its own way, so it catches differences that
Yubico's Python library does not (issue 15: ids free across types, RSA wrap keys, the factory key's
delegated capabilities, the command-audit option, the WRAP_DATA layout). Each test starts a fresh
device. Without the binary every test skips with the reason; ``.ci/install-yubihsm-shell.sh``
installs it (CI runs it through ``.ci/run``).
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_kmsconform.emulators.yubihsm import Device, DeviceConfig
from pytest_kmsconform.emulators.yubihsm.transports import LockedDevice
from pytest_kmsconform.emulators.yubihsm.transports.http import ConnectorServer

SHELL = shutil.which("yubihsm-shell")
pytestmark = pytest.mark.skipif(
    SHELL is None,
    reason="yubihsm-shell not installed (Debian bookworm-backports package yubihsm-shell 2.6.0; "
    "bash .ci/install-yubihsm-shell.sh installs it)",
)
TIMEOUT = 120  # seconds per invocation; RSA-4096 generation in the simulator is the slowest step


@dataclass
class Shell:
    """Runs ``yubihsm-shell`` against one simulated device."""

    url: str
    cwd: Path

    def run(
        self, *args: str, authkey: int = 1, password: str = "password", stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """One command-line (or, with ``stdin``, interactive) invocation; raises on a non-zero exit.
        The shell prints results on stdout and progress (created objects, sessions) on stderr."""
        assert SHELL is not None
        argv = [SHELL, "--connector", self.url]
        if stdin is None:
            argv += ["--authkey", str(authkey), "-p", password, *args]
        done = subprocess.run(
            argv, cwd=self.cwd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv[3:])} exited {done.returncode}: {done.stderr.strip()}")
        return done

    def action(self, action: str, *args: str, authkey: int = 1, password: str = "password") -> str:
        """stdout of ``-a action``."""
        return self.run("-a", action, *args, authkey=authkey, password=password).stdout

    def create(self, action: str, *args: str) -> int:
        """The id of the object ``-a action`` created ('Generated Asymmetric key 0x0002', 'Stored ...')."""
        done = self.run("-a", action, *args)
        found = re.findall(r"(?:Generated|Stored)[^\n]*?(0x[0-9a-fA-F]{4})", done.stdout + done.stderr)
        assert found, done.stderr
        return int(found[-1], 16)

    def interactive(self, *lines: str) -> str:
        """stdout of interactive mode (some actions, such as AES-CCM data wrap, exist only there)."""
        script = ["connect", "session open 1 password", *lines, "quit"]
        return self.run(stdin="".join(f"{line}\n" for line in script)).stdout


@pytest.fixture
def shell(tmp_path: Path) -> Iterator[Shell]:
    """A fresh simulated device behind the connector shim, and a way to run yubihsm-shell on it
    (function scope; the connector is stopped and checked for simulator defects at teardown)."""
    with ConnectorServer(LockedDevice(Device(DeviceConfig()))) as server:
        yield Shell(server.url, tmp_path)
        server.check()


def test_device_info_over_libyubihsm(shell: Shell) -> None:
    info = shell.action("get-device-info")
    assert "Version number:\t\t2.4.0" in info and "Serial number:\t\t20260001" in info
    assert "Log used:\t\t2/62" in info


def test_generated_id_is_free_across_all_types(shell: Shell) -> None:
    (shell.cwd / "data").write_bytes(b"opaque data")
    assert shell.create("put-opaque", "-i", "2", "-l", "op", "-A", "opaque-data", "--in", "data") == 2
    generated = shell.create("generate-asymmetric-key", "-i", "0", "-l", "k", "-A", "ecp256", "-c", "sign-ecdsa")
    assert generated == 3  # 1: the factory key, 2: the opaque object


def test_sign_ecdsa_verifies_with_the_public_key(shell: Shell) -> None:
    key_id = shell.create("generate-asymmetric-key", "-i", "0", "-l", "k", "-A", "ecp256", "-c", "sign-ecdsa")
    (shell.cwd / "msg").write_bytes(b"audit digest input")
    signature = shell.action(
        "sign-ecdsa", "-i", str(key_id), "-A", "ecdsa-sha256", "--in", "msg", "--outformat", "base64"
    )
    pem = shell.action("get-public-key", "-i", str(key_id), "--outformat", "PEM")
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(signature.strip()), b"audit digest input", ec.ECDSA(hashes.SHA256()))


@pytest.mark.parametrize("algorithm", ["rsa2048", "rsa3072", "rsa4096"])
def test_generate_rsa_wrap_key(shell: Shell, algorithm: str) -> None:
    key_id = shell.create(
        "generate-wrap-key",
        *("-i", "0", "-l", "rsawrap", "-A", algorithm),
        *("-c", "import-wrapped", "--delegated", "exportable-under-wrap,sign-ecdsa"),
    )
    info = shell.action("get-object-info", "-i", str(key_id), "-t", "wrap-key")
    assert f"algorithm: {algorithm}" in info and "origin: generated" in info


def test_authentication_key_with_all_capabilities_and_all_delegated(shell: Shell) -> None:
    # as Yubico's cmdline_test.sh does it
    key_id = shell.create(
        "put-authentication-key",
        *("-i", "0", "-l", "authkey", "-d", "1,2,3", "-c", "all", "--delegated", "all", "--new-password", "foo123"),
    )
    random = shell.action("get-pseudo-random", "--count", "8", authkey=key_id, password="foo123")
    assert re.fullmatch(r"[0-9a-f]{16}", random.strip().splitlines()[-1])


def test_command_audit_of_get_log_entries_and_the_documented_list(shell: Shell) -> None:
    shell.action("put-option", "--opt-name", "command-audit", "--opt-value", "4d01")
    value = shell.action("get-option", "--opt-name", "command-audit").strip().splitlines()[-1]
    pairs = value.removeprefix("Option value is: ")
    assert len(pairs) == 65 * 4 and "4d01" in [pairs[i : i + 4] for i in range(0, len(pairs), 4)]


def test_wrap_data_is_data_plus_30_bytes_and_round_trips(shell: Shell) -> None:
    shell.action(
        "generate-wrap-key",
        *("-i", "9", "-l", "datawrap", "-A", "aes128-ccm-wrap", "-c", "wrap-data,unwrap-data", "--delegated", "none"),
    )
    out = shell.interactive("encrypt aesccm 0 9 hello")
    (blob,) = re.findall(r"^[A-Za-z0-9+/]{20,}={0,2}$", out, re.MULTILINE)
    assert len(base64.b64decode(blob)) == len(b"hello") + 30  # YH_CCM_WRAP_OVERHEAD, examples/wrap_data.c
    assert "hello" in shell.interactive(f"decrypt aesccm 0 9 {blob}").splitlines()


def test_audit_log_and_reset(shell: Shell) -> None:
    logs = shell.action("get-logs")
    assert "Found 2 items" in logs and "cmd: 0xff" in logs
    shell.action("put-opaque", "-i", "5", "-l", "op", "-A", "opaque-data", "--in", "/dev/null")
    shell.action("reset")
    listing = shell.action("list-objects")
    assert "Found 1 object(s)" in listing and "DEFAULT AUTHKEY CHANGE THIS ASAP" in listing
