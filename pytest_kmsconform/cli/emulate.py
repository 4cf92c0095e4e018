"""``kmsconform emulate NAME [--port P]``: run a backend in the foreground on 127.0.0.1 and print
the env lines a client in any language needs. Stops on Ctrl-C / SIGTERM, also while it starts.

Exit codes: 0 stopped by a signal; 1 the backend failed to start; 2 usage error (unknown name, a
port out of range or in use, a bad or unknown ``--option``), always as one line on stderr."""

from __future__ import annotations

import argparse
import signal
import sys
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendProvider, iter_env_lines
from pytest_kmsconform.emulators.ports import PortError, check_free, check_range
from pytest_kmsconform.reference_impl.errors import ConfigurationError


class _Stop(BaseException):
    """Raised by the first SIGTERM/SIGINT, wherever the main thread is (a start that waits too)."""


def _stop(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop; clean-up is not interrupted again
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Stop


def _fail(message: str, status: int = 2) -> int:
    print(f"kmsconform emulate: {message}", file=sys.stderr)
    return status


class EmulateCommand:
    help = "run an emulator or server in the foreground and print the env lines that reach it"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name", nargs="*", help=f"backend name, or several in one process ({', '.join(backend_registry.names())})"
        )
        parser.add_argument("--all", action="store_true", help="every embedded backend in one process (CI)")
        parser.add_argument(
            "--env-file", type=Path, default=None, help='with several: append NAME=value lines (e.g. "$GITHUB_ENV")'
        )
        parser.add_argument("--ready-file", type=Path, default=None, help="with several: written once all are up")
        parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
        parser.add_argument("--namespace", default="kmsconform", help="prefix for names created on the backend")
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="backend-specific option (repeatable), e.g. --option seed=1",
        )
        parser.add_argument(
            "--backend", default=None, help="backend a front-end wraps (signing-proxy); same as --option backend=NAME"
        )
        parser.add_argument("--api-key", default=None, help="API key a server requires; same as --option api_key=KEY")
        parser.add_argument(
            "--policy",
            default=None,
            metavar="FILE",
            help="signing-proxy policy gate (TOML, docs/policy.md); same as --option policy=FILE",
        )
        parser.add_argument(
            "--faults",
            default=None,
            metavar="PLAN",
            help="fault plan (JSON/YAML file or inline JSON): put a fault proxy in front and print env lines "
            "that point at it (--port then sets the proxy's port); see docs/reliability.md",
        )

    def run(self, args: argparse.Namespace) -> int:
        if args.all or len(args.name) != 1:
            return self._run_set(args)
        args.name = args.name[0]
        try:
            provider = backend_registry.get(args.name)
        except KeyError as exc:
            return _fail(str(exc.args[0]))
        reason = provider.unavailable_reason()
        if reason is not None:
            return _fail(f"{args.name} cannot start here: {reason}")
        options: dict[str, str] = {}
        for item in args.option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                return _fail(f"--option needs KEY=VALUE, got {item!r}")
            options[key] = value
        # Shortcut flags feed the same options mapping, so every provider reads them alike.
        for key, value in (("backend", args.backend), ("api_key", args.api_key), ("policy", args.policy)):
            if value is not None:
                options[key] = value
        faults = None
        if args.faults is not None:
            from pytest_kmsconform.emulators.faults import FaultPlanError, load_plan

            try:
                faults = load_plan(args.faults)
            except FaultPlanError as exc:
                return _fail(f"--faults: {exc}")
        try:
            check_free(check_range(args.port))
        except PortError as exc:
            return _fail(str(exc))
        previous = signal.signal(signal.SIGTERM, _stop), signal.signal(signal.SIGINT, _stop)
        try:
            return self._serve(args, provider, options, faults)
        except _Stop:
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])

    def _serve(self, args: argparse.Namespace, provider: BackendProvider, options: dict[str, str], faults: Any) -> int:
        with ExitStack() as stack:
            backend_port = args.port if faults is None else 0
            try:
                handle = stack.enter_context(
                    provider.start(namespace=args.namespace, port=backend_port, options=options)
                )
            except (ValueError, ConfigurationError) as exc:  # configuration: a bad --option or port
                return _fail(f"{args.name}: {str(exc).removeprefix(f'{args.name}: ')}")
            except Exception as exc:  # the backend itself did not come up: said in one line
                return _fail(f"{args.name} failed to start: {type(exc).__name__}: {exc}", 1)
            if faults is not None:
                from pytest_kmsconform.emulators.faults import FaultPlanError
                from pytest_kmsconform.emulators.faults.handles import FaultProxyDetails, faulted_handle

                try:
                    handle = stack.enter_context(faulted_handle(handle, faults, port=args.port))
                except FaultPlanError as exc:
                    return _fail(f"--faults: {exc}")
                print(
                    f"# fault proxy {handle.url} -> {handle.require_detail(FaultProxyDetails).upstream_url}", flush=True
                )
            print(f"# {handle.name} ({handle.version}) running; Ctrl-C stops it", flush=True)
            for line in iter_env_lines(handle):
                print(line, flush=True)
            while True:  # until a signal raises _Stop
                signal.pause()

    def _run_set(self, args: argparse.Namespace) -> int:
        from .emulate_set import serve

        if not args.all and not args.name:
            print("kmsconform emulate: name a backend, several, or --all", file=sys.stderr)
            return 2
        if args.all and args.name:
            print("kmsconform emulate: --all or names, not both", file=sys.stderr)
            return 2
        if args.port or args.option or args.faults or args.backend or args.api_key:
            print(
                "kmsconform emulate: --port, --option, --faults, --backend and --api-key take one backend",
                file=sys.stderr,
            )
            return 2
        return serve(
            args.name, every=args.all, namespace=args.namespace, env_file=args.env_file, ready_file=args.ready_file
        )


COMMAND = EmulateCommand()
