"""The ``kmsconform`` entry point: a command imports its own module only; ``--help`` lists all."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_kmsconform.cli import SUBCOMMANDS, main

_LOADED = """
import json, sys
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
