"""The ``kmsconform`` command. Subcommands are registered in :data:`SUBCOMMANDS`, one line each:
name -> "module:attribute" of a :class:`Subcommand` (imported only when used)."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Protocol


class Subcommand(Protocol):
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


SUBCOMMANDS: dict[str, str] = {
    "keygen": "pytest_kmsconform.cli.keygen:COMMAND",
    "verify-archive": "pytest_kmsconform.cli.verify_archive:COMMAND",
    "verify-db": "pytest_kmsconform.cli.verify_db:COMMAND",
    "archive": "pytest_kmsconform.cli.archive:COMMAND",
    "emulate": "pytest_kmsconform.cli.emulate:COMMAND",
    "run": "pytest_kmsconform.cli.run:COMMAND",
    "report": "pytest_kmsconform.cli.report:COMMAND",
    "verify-cert": "pytest_kmsconform.cli.verify_cert:COMMAND",
    "verify-chain": "pytest_kmsconform.cli.verify_chain:COMMAND",
}


def _load(path: str) -> Subcommand:
    module_name, _, attr = path.partition(":")
    command: Subcommand = getattr(importlib.import_module(module_name), attr)
    return command


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the other subcommands' modules are not imported
    (they are named but take no arguments: only ``only`` can be parsed)."""
    parser = argparse.ArgumentParser(
        prog="kmsconform", description="Conformance suites and emulators for signing backends."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in sorted(SUBCOMMANDS):
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        command = _load(SUBCOMMANDS[name])
        p = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    # the main parser takes no option but -h: its first other word is the command. Importing only
    # that one's module spares every command the others' imports (0.15 s and more).
    chosen = next((word for word in given if not word.startswith("-")), None)
    parser = build_parser(chosen if chosen in SUBCOMMANDS else None)
    args = parser.parse_args(given)
    run: Callable[[argparse.Namespace], int] = args._run
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


def console_main() -> int:
    """The ``kmsconform`` console script and ``python -m pytest_kmsconform.cli``: :func:`main`
    in a process of its own, which ends with the command."""
    from pytest_kmsconform import process_end

    process_end.declare()
    code = main()
    gc.freeze()  # what is left is the OS's to free: the collector's passes at exit took 0.3 s after a run
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
