"""``kmsconform emulate --all`` (or ``kmsconform emulate NAME NAME ...``): CI in one line (seed
001's ``ci-env-setup.sh``). Every embedded backend (or the named set) starts in this one process
on free 127.0.0.1 ports; their env lines are printed as ``export`` lines for a shell and, with
``--env-file``, appended in the ``$GITHUB_ENV`` format; ``--ready-file`` is written last, when
everything is up. SIGTERM or SIGINT stops them all, in parallel, within a couple of seconds.

With ``--all`` a backend that cannot run here (a missing extra, no OpenBao binary) is skipped
with its reason on stderr; one asked for by name is an error (exit 2). A backend that fails to
start stops the others and exits 1.
"""

from __future__ import annotations

import shlex
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle

STOP_TIMEOUT = 2.0  # seconds every backend gets to stop, together
LATE_TIMEOUT = 30.0  # then how long one that is late is still waited for
PROG = "kmsconform emulate"


class SetError(Exception):
    """A usage error of the set (exit 2) or a backend that failed to start (exit 1)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Running:
    name: str
    context: AbstractContextManager[BackendHandle]
    handle: BackendHandle


def export_lines(env: Mapping[str, str]) -> list[str]:
    """``export NAME='value'`` lines a POSIX shell can ``eval``."""
    return [f"export {name}={shlex.quote(value)}" for name, value in env.items()]


def github_env_lines(env: Mapping[str, str]) -> list[str]:
    """``NAME=value`` lines for ``$GITHUB_ENV``; a value with a newline uses its heredoc form."""
    lines: list[str] = []
    for name, value in env.items():
        if "\n" in value or "\r" in value:
            marker = "KMSCONFORM_EOF"
            while marker in value:
                marker += "_"
            lines += [f"{name}<<{marker}", value, marker]
        else:
            lines.append(f"{name}={value}")
    return lines


def select(names: Iterable[str], every: bool) -> tuple[list[str], list[str]]:
    """The backends to start and, with ``--all``, the skipped ones as ``name: reason``.

    :raises SetError: an unknown name, or a named backend that cannot run here.
    """
    chosen = backend_registry.embedded_names() if every else list(dict.fromkeys(names))
    start, skipped = [], []
    for name in chosen:
        try:
            provider = backend_registry.get(name)
        except KeyError as exc:
            raise SetError(str(exc.args[0])) from None
        reason = provider.unavailable_reason()
        if reason is None:
            start.append(name)
        elif every:
            skipped.append(f"{name}: {reason}")
        else:
            raise SetError(f"{name} cannot start here: {reason}")
    return start, skipped


def start_all(names: list[str], namespace: str) -> list[Running]:
    """Start each backend on a free port; on a failure stop those already running and raise."""
    running: list[Running] = []
    try:
        for name in names:
            context = backend_registry.get(name).start(namespace=namespace, port=0, options={})
            try:
                handle = context.__enter__()
            except Exception as exc:
                raise SetError(f"{name} failed to start: {type(exc).__name__}: {exc}", 1) from None
            running.append(Running(name, context, handle))
    except BaseException:
        stop_all(running)
        raise
    return running


def stop_all(running: list[Running], timeout: float = STOP_TIMEOUT) -> list[str]:
    """Stop every backend at once (one thread each); return the names still stopping after ``timeout``."""

    def stop(item: Running) -> None:
        try:
            item.context.__exit__(None, None, None)
        except Exception as exc:  # one backend's failure must not keep the others running
            print(f"# {item.name}: error while stopping: {type(exc).__name__}: {exc}", file=sys.stderr)

    threads = {r.name: threading.Thread(target=stop, args=(r,), daemon=True) for r in running}
    for t in threads.values():
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads.values():
        t.join(max(0.0, deadline - time.monotonic()))
    late = [name for name, t in threads.items() if t.is_alive()]
    for name in late:  # reported, then still waited for: never leave a server process behind
        threads[name].join(LATE_TIMEOUT)
    return late


def merged_env(running: list[Running]) -> dict[str, str]:
    """Every backend's env lines; the same variable with two values is an error."""
    env: dict[str, str] = {}
    owner: dict[str, str] = {}
    for item in running:
        for name, value in item.handle.env.items():
            if name in env and env[name] != value:
                raise SetError(f"{owner[name]} and {item.name} both set {name}: start them separately")
            env[name], owner[name] = value, item.name
    return env


REPLACING_TRUST = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")
"""Variables that *replace* a client's trusted CAs: exported for a whole CI job they would break
every other HTTPS call (pip, the cloud). In a set they point at the public roots plus the
emulator's throw-away CA."""


def widen_trust(env: dict[str, str], directory: Path) -> dict[str, str]:
    """``env`` with each replacing CA bundle extended by certifi's public roots (a new file in ``directory``)."""
    out = dict(env)
    for name in REPLACING_TRUST:
        if name not in env:
            continue
        try:
            import certifi

            public = Path(certifi.where()).read_text(encoding="utf-8")
        except (ImportError, OSError):
            continue  # nothing to add: the emulator's CA alone, as the backend gave it
        combined = directory / f"{name.lower()}.pem"
        combined.write_text(public + "\n" + Path(env[name]).read_text(encoding="utf-8"), encoding="utf-8")
        out[name] = str(combined)
    return out


def serve(
    names: Iterable[str],
    *,
    every: bool,
    namespace: str,
    env_file: Path | None,
    ready_file: Path | None,
    stop_event: threading.Event | None = None,
) -> int:
    """Run the set in the foreground until SIGTERM/SIGINT (or ``stop_event``); the exit status."""
    stop = stop_event or threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: list[Any] = []
    if threading.current_thread() is threading.main_thread():
        previous = [signal.signal(signal.SIGTERM, _stop), signal.signal(signal.SIGINT, _stop)]
    try:
        try:
            chosen, skipped = select(names, every)
        except SetError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return exc.status
        if not chosen:
            print(f"{PROG}: no backend can start here", file=sys.stderr)
            return 2
        for line in skipped:
            print(f"# skipped {line}", file=sys.stderr, flush=True)
        try:
            running = start_all(chosen, namespace)
        except SetError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return exc.status
        trust_dir = tempfile.TemporaryDirectory(prefix="kmsconform-emulate-")
        try:
            env = widen_trust(merged_env(running), Path(trust_dir.name))
            for item in running:
                print(f"# {item.name} ({item.handle.version}) at {item.handle.url or '(in process)'}", flush=True)
            for line in export_lines(env):
                print(line, flush=True)
            if env_file is not None:
                with open(env_file, "a", encoding="utf-8") as fh:  # $GITHUB_ENV is appended to
                    fh.write("".join(line + "\n" for line in github_env_lines(env)))
            if ready_file is not None:
                ready_file.write_text("".join(item.name + "\n" for item in running), encoding="utf-8")
            print(f"# ready: {', '.join(item.name for item in running)}; SIGTERM or Ctrl-C stops them", flush=True)
            stop.wait()
        except SetError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return exc.status
        finally:
            trust_dir.cleanup()
            late = stop_all(running)
            if late:
                print(f"# took more than {STOP_TIMEOUT} s to stop: {', '.join(late)}", file=sys.stderr)
        return 0
    finally:
        if previous:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
