"""The ``kmsconform`` entry point: a command imports its own module only; ``--help`` lists all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_kmsconform import cli, process_end
from pytest_kmsconform.cli import SUBCOMMANDS, main

_LOADED = """
import json, sys
from pytest_kmsconform import cli, process_end
from pytest_kmsconform.cli import SUBCOMMANDS, main
try:
    main([*sys.argv[1:], "--help"])
except SystemExit:
    pass
mods = {path.partition(":")[0] for path in SUBCOMMANDS.values()}
print(json.dumps(sorted(m for m in mods if m in sys.modules)))
"""


@pytest.mark.parametrize("command", ["verify-cert", "report"])
def test_a_command_imports_only_its_own_module(command: str) -> None:
    """The others' imports (the archiver's clients, the database verifier) cost every run ~0.15 s."""
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED, command], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(proc.stdout.splitlines()[-1]) == [SUBCOMMANDS[command].partition(":")[0]]


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in SUBCOMMANDS)


def test_an_unknown_command_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["no-such-command"])
    err = capsys.readouterr().err
    assert "invalid choice" in err and all(name in err for name in SUBCOMMANDS)


_PROBE = """
import gc, os, pathlib

def pytest_unconfigure(config):
    out = pathlib.Path(os.environ["KMSCONFORM_TEST_FREEZE_OUT"])
    out.write_text(str(gc.get_freeze_count()))
"""


def test_the_command_leaves_the_run_frozen_to_its_end(tmp_path: Path) -> None:
    """``kmsconform run`` ends its process with the session: what the backend pool froze stays
    frozen (not walked again by pytest's last collection and the interpreter's exit, ~1 s)."""
    (tmp_path / "freeze_probe.py").write_text(_PROBE)
    out = tmp_path / "frozen.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "KMSCONFORM"))}
    env |= {"PYTHONPATH": str(tmp_path), "PYTEST_PLUGINS": "freeze_probe", "KMSCONFORM_TEST_FREEZE_OUT": str(out)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_kmsconform.cli", "run", "-q", "--backend", "mock"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert int(out.read_text()) > 0, "the pool unfroze its heap in a process that ends with the run"


def test_main_called_in_process_declares_nothing() -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert not process_end.declared()


def test_the_console_script_declares_then_freezes_at_its_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the command, what is left is the OS's to free (the collector's passes at exit: 0.3 s)."""
    calls: list[str] = []
    monkeypatch.setattr(process_end, "_declared", False)
    monkeypatch.setattr(cli, "main", lambda: calls.append(f"main, declared={process_end.declared()}") or 0)
    monkeypatch.setattr(cli.gc, "freeze", lambda: calls.append("freeze"))
    assert cli.console_main() == 0
    assert calls == ["main, declared=True", "freeze"]
