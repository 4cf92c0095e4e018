"""``kmsconform emulate NAME --port P`` fails cleanly and always stops: a bad or busy port or an
unknown option is one line and exit status 2 (no traceback, never a hang), and every emulator
that runs here stops on SIGTERM and on SIGINT.

Each case runs the command as a user would, in a subprocess on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pytest_kmsconform import backend_registry

EMBEDDED = backend_registry.embedded_names()
NEVER_HANGS_S = 60.0
"""A generous bound for a subprocess that must end by itself (the machine may be loaded)."""
STOPS_S = 10.0
"""How long a stopped emulator may take to exit here; the target is 2 s (measured, not asserted)."""


def _emulate(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KMSCONFORM")}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_kmsconform.cli", "emulate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(proc: subprocess.Popen[str], timeout: float = NEVER_HANGS_S) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"did not end within {timeout:.0f} s; stderr: {err[-2000:]}")
    return proc.returncode, out, err


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _usage_error(args: tuple[str, ...]) -> str:
    code, out, err = _finish(_emulate(*args))
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmsconform emulate: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("name", EMBEDDED)
def test_a_busy_port_is_one_line_and_exit_2(name: str, busy_port: int) -> None:
    if name in ("local", "mock"):
        pytest.skip(f"{name} runs in the client's process: it listens on no port")
    line = _usage_error((name, "--port", str(busy_port)))
    assert f"port {busy_port}" in line and "in use" in line, line


@pytest.mark.parametrize("port", ["-5", "65536", "99999"])
def test_a_port_out_of_range_is_one_line_and_exit_2(port: str) -> None:
    line = _usage_error(("aws-kms", "--port", port))
    assert line == f"kmsconform emulate: --port {port}: must be 0..65535 (0 picks a free one)", line


@pytest.mark.parametrize("name", EMBEDDED)
def test_an_unknown_option_is_one_line_and_exit_2(name: str) -> None:
    line = _usage_error((name, "--option", "unknown=1"))
    assert line.startswith(f"kmsconform emulate: {name}: ") and re.search(
        r"\bunknown\b.*\bunknown\b|takes no options, got unknown", line
    ), line
    line = _usage_error((name, "--option", "nonsense"))
    assert line == "kmsconform emulate: --option needs KEY=VALUE, got 'nonsense'"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("name", EMBEDDED)
def test_every_emulator_stops_on_a_signal(name: str, signum: signal.Signals) -> None:
    proc = _emulate(name)
    assert proc.stdout is not None
    first = proc.stdout.readline()  # "# NAME (...) running; Ctrl-C stops it" once it is up
    assert first.startswith(f"# {name} "), (first, proc.stderr.read() if proc.stderr else "")
    proc.send_signal(signum)
    code, _, err = _finish(proc, STOPS_S)
    assert code == 0, err
    assert "Traceback" not in err
