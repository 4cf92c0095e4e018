"""``kmsconform run``: the conformance suites against an implementation, on the chosen backends.

Runs pytest in-process with the kmsconform plugin and a :class:`RunObserver`, in an isolated
configuration (an empty ini file in a temporary root), so the caller's own pytest settings do not
leak in. pytest's own terminal output is kept in memory and shown only when the harness itself
breaks. Exit codes: 0 every applicable check passed; 1 a check failed or errored (or nothing
passed); 2 usage error; 3 the harness broke (collection error, no result); 4 ``--certify`` refused
a run that had no failure (skipped checks or backends).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import io
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from pytest_kmsconform import backend_registry, loader
from pytest_kmsconform.emulators.containers import docker_unreachable_reason
from pytest_kmsconform.options import ENV_KEYS
from pytest_kmsconform.report import certificate, json_report, summary, terminal, write_reports
from pytest_kmsconform.report.errors import KeyFileError, NotCertifiable, ReportFormatError
from pytest_kmsconform.results import BackendInfo, RunResult

from .run_observer import RunObserver

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_HARNESS = 3
EXIT_NOT_CERTIFIED = 4


class UsageError(Exception):
    """Bad command-line input; printed and exit code 2."""


def _workers(value: str) -> str:
    if value == "auto" or (value.isdigit() and int(value) >= 0):
        return value
    raise argparse.ArgumentTypeError(f"expected a worker count or 'auto', got {value!r}")


def default_backends() -> list[str]:
    """The default selection (:func:`~pytest_kmsconform.backend_registry.default_selection`)."""
    return backend_registry.default_selection()


def opt_in_backends() -> list[tuple[str, str]]:
    """The backends left out of the default selection, with why: containers (whether Docker answers
    here), external services and real devices (what they need)."""
    listed = []
    for name in backend_registry.names():
        provider = backend_registry.get(name)
        if provider.embedded or isinstance(provider, backend_registry.UnavailableProvider):
            continue
        if getattr(provider, "container", False):
            reason = docker_unreachable_reason()
            listed.append((name, f"container; {reason}" if reason else "container; Docker answers here"))
        else:
            reason = provider.unavailable_reason()
            listed.append((name, reason or "opt-in; available here"))
    return listed


def requested_backends(args: argparse.Namespace) -> list[str]:
    """The names the user gave: ``--backend``, else ``KMSCONFORM_BACKEND`` (as the plugin reads it);
    empty for the default selection."""
    if args.backend:
        return list(args.backend)
    env = os.environ.get(ENV_KEYS["backend"], "")
    return [env] if env.strip() else []


def select_backends(requested: list[str]) -> tuple[list[str], dict[str, str]]:
    """``(names in order, {name: reason it cannot start here})``; default: every embedded backend.

    :raises UsageError: for an unknown backend name.
    """
    names: list[str] = []
    for item in requested:
        names += [n.strip() for n in item.split(",") if n.strip()]
    if not requested:
        names = default_backends()
    known = backend_registry.names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(known)}")
    names = list(dict.fromkeys(names))
    unavailable = {}
    for name in names:
        reason = backend_registry.get(name).unavailable_reason()
        if reason is not None:
            unavailable[name] = reason
    return names, unavailable


def check_report_dir(directory: Path) -> None:
    """Make sure the reports can be written, before anything runs.

    :raises UsageError: when ``directory`` cannot be created or written into.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise UsageError(f"--report {directory}: cannot write there: {exc.strerror or exc}") from None


def check_impl(spec: str) -> None:
    """A ``package.module:attribute`` spec must import and name something, before anything runs
    (the other forms are checked when the run loads them).

    :raises UsageError: naming what is wrong.
    """
    if loader.scheme_of(spec) != "python":
        return
    try:
        loader.resolve_python(spec)
    except loader.ImplLoadError as exc:
        raise UsageError(str(exc).replace("--kmsconform-impl=", "--impl ", 1)) from None


def pytest_args(args: argparse.Namespace, backends: list[str], root: Path) -> list[str]:
    """pytest's command line; ``backends`` empty means the plugin's default selection."""
    ini = root / "pytest.ini"
    # a passed check's temporary directory goes at its teardown, while its files are fresh and
    # spread over the workers; pytest's default keeps them all, then deletes the oldest run's
    # (2,400 entries, cold by then: 0.4 to 3 s at the end of every run). A failed one's stays.
    ini.write_text("[pytest]\ntmp_path_retention_policy = failed\n", encoding="utf-8")
    argv = [
        "-c",
        str(ini),
        "--rootdir",
        str(root),
        "-p",
        "no:cacheprovider",
        # no suite uses Hypothesis; its plugin imports the whole package at the end of a run, about
        # a second where bytecode is not cached (PYTHONDONTWRITEBYTECODE, common in CI images)
        "-p",
        "no:hypothesispytest",
        "--import-mode=importlib",
        "--kmsconform",
        f"--kmsconform-impl={args.impl}",
    ]
    argv += [f"--kmsconform-backend={name}" for name in backends]
    if args.workers is not None:
        argv += ["-p", "xdist", "-n", args.workers]
    return argv


def complete_backends(
    run: RunResult, names: list[str], unavailable: dict[str, str], *, named: bool = False
) -> RunResult:
    """Make sure every backend that could not start is listed with its reason: skipped in the
    default selection, an error when the user ``named`` it."""
    listed = {b.name for b in run.backends}
    missing = [
        BackendInfo(n, "", "error", f"cannot start here: {unavailable[n]}")
        if named
        else BackendInfo(n, "", "skipped", unavailable[n])
        for n in names
        if n in unavailable and n not in listed
    ]
    return replace(run, backends=[*run.backends, *missing]) if missing else run


_HELP = {
    "impl": "implementation: 'reference' (default), 'package.module:factory', 'http://host:port' or 'cmd:<command>'",
    "backend": "backend to run on (repeatable or comma list; default: $KMSCONFORM_BACKEND, else every embedded "
    "backend); a named backend that cannot start is an error",
    "workers": "pytest-xdist workers: a number or 'auto'",
    "report": "write report.json, report.md, report.html and junit.xml into DIR",
    "json": "print report.json on stdout (progress and the table go to stderr)",
    "quiet": "no progress lines; only the table and the closing line (for CI logs)",
    "certify": "also sign certificate.json into the --report DIR; needs --signing-key",
    "signing_key": "Ed25519 private key, PKCS#8 PEM (as 'kmsconform keygen --alg ed25519' writes)",
}


class RunCommand:
    help = "run the conformance suites against an implementation and print (and write) the verdict"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add("--impl", default="reference", metavar="SPEC", help=_HELP["impl"])
        add("--backend", action="append", default=[], metavar="NAME", help=_HELP["backend"])
        add("-n", dest="workers", type=_workers, default=None, metavar="N", help=_HELP["workers"])
        add("--report", type=Path, default=None, metavar="DIR", help=_HELP["report"])
        add("--json", action="store_true", help=_HELP["json"])
        add("-q", "--quiet", action="store_true", help=_HELP["quiet"])
        add("--certify", action="store_true", help=_HELP["certify"])
        add("--signing-key", type=Path, default=None, metavar="KEY", help=_HELP["signing_key"])

    def run(self, args: argparse.Namespace) -> int:
        err = sys.stderr
        try:
            return self._run(args, sys.stdout, err)
        except UsageError as exc:
            print(f"kmsconform run: {exc}", file=err)
            return EXIT_USAGE

    def _run(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        signing_key = None
        if args.certify:
            if args.signing_key is None or args.report is None:
                raise UsageError(
                    "--certify needs --signing-key KEY and --report DIR (certificate.json goes beside report.json)"
                )
            try:
                signing_key = certificate.load_private_key(args.signing_key)
            except KeyFileError as exc:
                raise UsageError(str(exc)) from None
        elif args.signing_key is not None:
            raise UsageError("--signing-key is only used with --certify")
        if args.workers is not None and importlib.util.find_spec("xdist") is None:
            raise UsageError("-n needs pytest-xdist: pip install pytest-xdist")
        requested = requested_backends(args)
        names, unavailable = select_backends(requested)
        if not names:
            raise UsageError("no backend selected")
        named = bool(requested)
        check_impl(args.impl)
        if args.report is not None:
            check_report_dir(args.report)

        text_out = err if args.json else out
        progress: Callable[[str], None] = (lambda line: None) if args.quiet else (lambda line: _say(text_out, line))
        workers = f", {args.workers} workers" if args.workers is not None else ""
        progress(f"kmsconform run: implementation {args.impl}; backends {', '.join(names)}{workers}")
        for name in names:
            if name not in unavailable:
                progress(f"  {name}: will start")
            elif named:
                progress(f"  {name}: ERROR: cannot start here: {unavailable[name]}")
            else:
                progress(f"  {name}: SKIPPED: {unavailable[name]}")
        if not named:
            for name, note in opt_in_backends():
                progress(f"  {name}: not in the default selection ({note}); select it with --backend {name}")

        observer = RunObserver(None if args.quiet else progress, names)
        observer.announced |= set(unavailable)
        pytest_output = io.StringIO()
        with tempfile.TemporaryDirectory(prefix="kmsconform-run-") as tmp:
            argv = pytest_args(args, names if named else [], Path(tmp))
            with contextlib.redirect_stdout(pytest_output):
                code = pytest.main(argv, plugins=[observer])
        if code == pytest.ExitCode.USAGE_ERROR:  # pytest printed the reason on stderr
            print("kmsconform run: usage error (see above)", file=err)
            return EXIT_USAGE
        if observer.run is None or code in (
            pytest.ExitCode.INTERNAL_ERROR,
            pytest.ExitCode.INTERRUPTED,
        ):
            print(f"kmsconform run: the test harness did not produce a result (pytest exit {int(code)})", file=err)
            for line in observer.collect_errors:
                print(line, file=err)
            print(pytest_output.getvalue(), file=err)
            return EXIT_HARNESS
        run = complete_backends(observer.run, names, unavailable, named=named)
        for backend in run.backends:  # under xdist, backends start on workers: announce them now
            if backend.name not in observer.announced and backend.name not in unavailable:
                started = backend.status == "started"
                detail = f"started, {backend.version}" if started else f"{backend.status}: {backend.reason}"
                progress(f"  {backend.name}: {detail}")
        if observer.collect_errors:
            # a suite module that does not import means checks silently missing: never a pass
            print("kmsconform run: collection errors:", file=err)
            for line in observer.collect_errors:
                print(line, file=err)

        if args.report is not None:
            stale = args.report / "certificate.json"
            if stale.exists():  # a certificate from an earlier run must never sit beside this report
                stale.unlink()
                progress(f"removed {stale} from an earlier run")
            written = write_reports(run, args.report)
            progress(f"reports: {', '.join(str(p) for p in written.values())}")
        status = EXIT_OK if summary.verdict(run) == "pass" and not observer.collect_errors else EXIT_FAILED
        if signing_key is not None and observer.collect_errors:
            print("kmsconform run: certificate refused: some suite modules did not load", file=err)
        elif signing_key is not None:
            to_add = sorted(observer.backends_to_add - set(names))
            status = _certify(run, args.report, signing_key, status, err, lambda line: _say(text_out, line), to_add)
        if args.json:
            print(json_report.render(run), end="", file=out)
        for line in terminal.final_lines(run):
            _say(text_out, line)
        return status


def _certify(
    run: RunResult,
    report_dir: Path,
    key: ed25519.Ed25519PrivateKey,
    status: int,
    err: TextIO,
    say: Callable[[str], None],
    backends_to_add: list[str],
) -> int:
    """Sign ``certificate.json`` over the ``report.json`` just written, or say why not."""
    try:
        document, _ = json_report.load(report_dir / "report.json")
    except ReportFormatError as exc:
        print(f"kmsconform run: certificate refused: {exc}", file=err)
        return EXIT_HARNESS
    try:
        cert = certificate.issue(run, document, key, dt.datetime.now(dt.UTC))
    except NotCertifiable as exc:
        print("kmsconform run: certificate refused:", file=err)
        for reason in exc.reasons:
            print(f"  - {reason}", file=err)
        if backends_to_add:
            add = ",".join(backends_to_add)
            print(f"  - the skipped instances need backend(s) not selected: add --backend {add}", file=err)
        return status if status != EXIT_OK else EXIT_NOT_CERTIFIED
    path = certificate.write(cert, report_dir / "certificate.json")
    say(f"certificate: {path} (key id {certificate.key_id(key.public_key())})")
    return status


def _say(stream: TextIO, line: str) -> None:
    print(line, file=stream, flush=True)


COMMAND = RunCommand()
