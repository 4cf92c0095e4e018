"""The commands in README.md and docs/ are commands that work: every ``kmsconform`` and ``pytest``
line of a ``console`` block (read with Sybil's Markdown parser) must parse with today's options and
name backends that exist, and the example run in docs/index.md must print what the page shows.

A line is a command when it starts with ``$ ``; a block with no ``$`` at all is commands only.
Synopsis brackets (``[--port P]``) are read as if given, with their placeholders filled in.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser

from pytest_kmsconform import backend_registry
from pytest_kmsconform.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "examples").rglob("README.md")),
]
PLACEHOLDERS = {"P": "0", "N": "2", "md|html|junit": "md"}
"""Synopsis placeholders that must be a value of a certain form for the parser."""


def _blocks(page: Path) -> list[tuple[int, str]]:
    document = Sybil([CodeBlockParser(language="console")]).parse(page)
    return [(example.line, str(example.parsed)) for example in document]


def _commands(block: str) -> list[str]:
    lines = block.splitlines()
    prompted = any(line.lstrip().startswith("$ ") for line in lines)
    commands: list[str] = []
    continuing = False
    for line in lines:
        text = line.strip()
        if continuing:
            commands[-1] += " " + text.removesuffix("\\")
        elif prompted and text.startswith("$ "):
            commands.append(text[2:].removesuffix("\\"))
        elif not prompted and text and not text.startswith("#"):
            commands.append(text.removesuffix("\\"))
        else:
            continuing = False
            continue
        continuing = text.endswith("\\")
    return commands


def _segments(command: str) -> list[list[str]]:
    """The ``kmsconform``/``pytest`` invocations of a command line (``&&`` chains split)."""
    words = shlex.split(command.replace("[", " ").replace("]", " "), comments=True)
    found, current = [], []
    for word in [*words, "&&"]:
        if word in ("&&", "||", ";", "|"):
            if current and current[0] in ("kmsconform", "pytest"):
                found.append(current)
            current = []
        elif word != "...":  # "[--format F ...]": repeatable
            current.append(PLACEHOLDERS.get(word, word))
    return found


EXAMPLES = [
    pytest.param(words, id=f"{page.relative_to(ROOT)}:{line}:{' '.join(words)[:60]}")
    for page in PAGES
    for line, block in _blocks(page)
    for command in _commands(block)
    for words in _segments(command)
]


def test_the_pages_have_commands() -> None:
    assert len(EXAMPLES) >= 20, [e.id for e in EXAMPLES]


def _backend_values(words: list[str]) -> list[str]:
    values = []
    for i, word in enumerate(words):
        if word in ("--backend", "--kmsconform-backend") and i + 1 < len(words):
            values.append(words[i + 1])
        elif word.startswith("--kmsconform-backend="):
            values.append(word.split("=", 1)[1])
    return [name for value in values for name in value.split(",") if name not in ("NAME", "")]


@pytest.fixture(scope="module")
def pytest_options() -> set[str]:
    """Every long option ``pytest --help`` lists from the repository root (plugins included)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMSCONFORM", "PYTEST_"))}
    help_text = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "xdist", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", help_text))


@pytest.mark.parametrize("words", EXAMPLES)
def test_documented_command_parses(
    words: list[str], pytest_options: set[str], capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = [name for name in _backend_values(words) if name not in backend_registry.names()]
    assert not unknown, f"unknown backend(s) {unknown}; known: {backend_registry.names()}"
    if words[0] == "kmsconform":
        try:
            build_parser().parse_args(words[1:])
        except SystemExit:
            pytest.fail(f"kmsconform does not accept this: {capsys.readouterr().err.strip()}")
        return
    for word in words[1:]:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert option in pytest_options, f"pytest has no option {option}"


# -- the example run of docs/index.md, section 1 ------------------------------------------------

INDEX = ROOT / "docs" / "index.md"
EXAMPLE_COMMAND = "kmsconform run --backend vault --backend aws-kms --report out"


def _documented_ending() -> list[str]:
    """The lines the page shows after ``reports: ...``: the table, the badge, the closing line."""
    block = next(block for _, block in _blocks(INDEX) if block.startswith(f"$ {EXAMPLE_COMMAND}\n"))
    lines = block.rstrip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("reports: "))
    return lines[start + 1 :]


def test_the_example_run_prints_what_the_page_shows(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMSCONFORM", "PYTEST_"))}
    args = shlex.split(EXAMPLE_COMMAND)[1:]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_kmsconform.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = proc.stdout.rstrip("\n").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("reports: "))
    assert lines[start + 1 :] == _documented_ending(), proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0
