"""Backends for the suites: a session-wide pool that starts each selected backend once.

* :class:`BackendPool` is usable without pytest: ``with BackendPool(namespace=...) as pool:
  pool.get("vault")``. Each backend starts on 127.0.0.1 with a free port the first time a check
  needs it and stops when the pool closes (after calling the handle's ``check()`` if it has one).
  :meth:`BackendPool.start_all` starts several at once, each in its own thread, and returns when
  all are up (the session does so for every backend its collected checks use, before the first
  check): their start-ups, much of it spent waiting for a server to listen, overlap instead of
  adding up, and no check runs beside a starting backend.
* A backend whose provider says it cannot start here (no Docker, a missing extra) is *skipped*
  when it came with the default selection: its checks are reported ``skipped`` with the
  provider's reason. When the user named it (``required``), it is an *error*, as is a provider
  that claims it can start and then fails: its checks are reported ``error`` with the reason, so
  a gate never passes on a backend it did not reach.
* Under pytest-xdist every worker has its own pool, so its own emulators, and a namespace made of
  the run id and the worker id, so names never collide on shared (external) backends.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pytest

from pytest_kmsconform import backend_registry, process_end
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.options import get_config
from pytest_kmsconform.outcomes import backend_unavailable
from pytest_kmsconform.reference_impl import rsa_supply
from pytest_kmsconform.results import BackendInfo


class BackendStartError(Exception):
    """A backend that should have started did not; every check on it is an error."""


@dataclass(frozen=True)
class BackendState:
    """What happened when a backend was asked for: a handle, a skip reason, or a start error."""

    name: str
    handle: BackendHandle | None
    skip_reason: str | None
    error: str | None
    duration_s: float

    def info(self) -> BackendInfo:
        if self.handle is not None:
            return BackendInfo(name=self.name, version=self.handle.version, status="started")
        if self.skip_reason is not None:
            return BackendInfo(name=self.name, version="", status="skipped", reason=self.skip_reason)
        return BackendInfo(name=self.name, version="", status="error", reason=str(self.error))


Listener = Callable[[BackendState], None]


@dataclass(frozen=True)
class _Started:
    """What a start-up hands back: the entered context (to exit at close), a skip reason or the error."""

    context: AbstractContextManager[BackendHandle] | None
    handle: BackendHandle | None
    skip_reason: str | None
    error: str | None
    duration_s: float


class BackendPool:
    """Starts backends on demand and stops them all on :meth:`close`."""

    def __init__(
        self,
        *,
        namespace: str,
        on_event: Listener | None = None,
        on_starting: Listener | None = None,
        options: Mapping[str, Mapping[str, str]] | None = None,
        required: Collection[str] = (),
    ):
        """:param required: backends the user named: one that cannot start here is an error."""
        self.namespace = namespace
        self._required = frozenset(required)
        self._options = {name: dict(opts) for name, opts in (options or {}).items()}
        self._states: dict[str, BackendState] = {}
        self._stack = contextlib.ExitStack()
        self._on_event = on_event
        self._on_starting = on_starting
        self._checks: list[Callable[[], object]] = []
        self._dedicated = 0
        self._pending: dict[str, Future[_Started]] = {}

    def __enter__(self) -> BackendPool:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def states(self) -> list[BackendState]:
        return list(self._states.values())

    def _start(self, name: str) -> _Started:
        """Start ``name`` unless its provider says it cannot run here; failures are returned, to be
        reported on every check of the backend."""
        provider = backend_registry.get(name)
        options = self._options.get(name, {})
        # options given by the user (e.g. a device URL) make it available; start() then decides
        reason = None if options else provider.unavailable_reason()
        if reason is not None:
            if name in self._required:
                return _Started(None, None, None, f"cannot start here: {reason}", 0.0)
            return _Started(None, None, reason, None, 0.0)
        ns = f"{self.namespace}-{name}".replace("_", "-")
        start = time.monotonic()
        try:
            context = provider.start(namespace=ns, port=0, options=options)
            handle = context.__enter__()
        except Exception as exc:  # any start failure is reported on every check of this backend
            error = f"failed to start: {type(exc).__name__}: {exc}"
            return _Started(None, None, None, error, time.monotonic() - start)
        return _Started(context, handle, None, None, time.monotonic() - start)

    def start_all(self, names: Iterable[str]) -> None:
        """Start every backend of ``names`` not started yet, each in its own thread, and return when
        all have started (or failed): start-ups overlap each other, never a check. :meth:`get` then
        reports each one when first asked for it, as on a lazy start."""
        for name in names:
            if name in self._states or name in self._pending:
                continue
            future: Future[_Started] = Future()

            def run(name: str = name, future: Future[_Started] = future) -> None:
                try:
                    future.set_result(self._start(name))
                except BaseException as exc:  # handed to get(), which raises it in the session
                    future.set_exception(exc)

            self._pending[name] = future
            threading.Thread(target=run, name=f"kmsconform-start-{name}", daemon=True).start()
        for future in list(self._pending.values()):
            future.exception()  # waits; an exception is raised again by get()

    def _adopt(self, started: _Started) -> None:
        if started.context is not None:
            self._stack.push(started.context.__exit__)
        if started.handle is not None and started.handle.check is not None:
            self._checks.append(started.handle.check)

    def get(self, name: str) -> BackendState:
        """The state of backend ``name``, starting it the first time (or waiting for its start)."""
        if name in self._states:
            return self._states[name]
        pending = self._pending.pop(name, None)
        if self._on_starting is not None and (pending is not None or self._start_expected(name)):
            self._on_starting(BackendState(name, None, None, None, 0.0))
        started = pending.result() if pending is not None else self._start(name)
        if pending is not None and started.error is not None:
            # a start beside others can trip over their imports (a concurrent circular import is a
            # RuntimeError): once more, alone, and that result is the verdict
            started = self._start(name)
        self._adopt(started)
        state = BackendState(name, started.handle, started.skip_reason, started.error, started.duration_s)
        return self._record(state)

    def _start_expected(self, name: str) -> bool:
        return bool(self._options.get(name)) or backend_registry.get(name).unavailable_reason() is None

    def _record(self, state: BackendState) -> BackendState:
        self._states[state.name] = state
        if self._on_event is not None:
            self._on_event(state)
        return state

    def dedicated(self, name: str, options: dict[str, str]) -> BackendHandle:
        """A separate instance of ``name`` started with ``options`` (for backends that hold their own
        keys, like the signing proxy, so a check that rotates or revokes does not disturb others).
        It stops with the pool. Raises :class:`BackendStartError` when it cannot start."""
        shared = self.get(name)
        if shared.handle is None:
            raise BackendStartError(f"backend {name}: {shared.skip_reason or shared.error}")
        self._dedicated += 1
        ns = f"{self.namespace}-{name}-d{self._dedicated}".replace("_", "-")
        try:
            return self._stack.enter_context(backend_registry.get(name).start(namespace=ns, port=0, options=options))
        except Exception as exc:  # translated once: the check reports it as an error
            raise BackendStartError(f"backend {name} with {options} failed to start: {exc}") from exc

    def close(self) -> None:
        """Run each handle's ``check()`` (server-side assertion errors surface here), then stop all
        (backends started by :meth:`start_all` that no check asked for included)."""
        for name in list(self._pending):
            with contextlib.suppress(BaseException):  # never asked for: only its stop matters
                self._adopt(self._pending.pop(name).result())
        try:
            for check in self._checks:
                check()
        finally:
            self._stack.close()


def run_namespace(config: pytest.Config) -> str:
    """``kc-<run id>-<worker>``: the same run id on every xdist worker, a different worker suffix."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        run_id = str(workerinput.get("testrunuid", uuid.uuid4().hex))[:8]
        worker = str(workerinput.get("workerid", "gw"))
    else:
        run_id, worker = uuid.uuid4().hex[:8], "main"
    return f"kc-{run_id}-{worker}".lower()


POOL_KEY = pytest.StashKey[BackendPool]()
SPARE_RSA_KEYS = 4
"""RSA-2048 keys kept ready while checks run (a rotation takes one; the filler makes the next)."""
STATES_KEY = pytest.StashKey[list[BackendState]]()


def _progress(config: pytest.Config) -> tuple[Listener, Listener]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    on_worker = hasattr(config, "workerinput")

    def starting(state: BackendState) -> None:
        if reporter is not None and not on_worker:
            reporter.write_line(f"kmsconform: starting backend {state.name} ...")

    def event(state: BackendState) -> None:
        config.stash.setdefault(STATES_KEY, []).append(state)
        config.hook.pytest_kmsconform_backend_started(config=config, backend=state.info(), duration_s=state.duration_s)
        if reporter is not None and not on_worker:
            reporter.write_line(f"kmsconform: backend {state.name}: {describe(state)}")

    return starting, event


def describe(state: BackendState) -> str:
    if state.handle is not None:
        return f"ok, {state.handle.version} ({state.duration_s:.1f} s)"
    if state.skip_reason is not None:
        return f"skipped: {state.skip_reason}"
    return f"ERROR: {state.error}" + (f" ({state.duration_s:.1f} s)" if state.duration_s else "")


def backends_in_use(items: Iterable[pytest.Item], impl: Any) -> list[str]:
    """The backends the collected checks run on (those the implementation is not N/A on), sorted."""
    from pytest_kmsconform.checks import current_target, spec_of

    found: set[str] = set()
    capabilities = impl.capabilities()
    for item in items:
        try:
            spec = spec_of(item)
        except Exception:  # a malformed marker errors in its own check, not here
            continue
        target = current_target(item)
        if spec is None or not target.backend or target.backend in found:
            continue
        alg = target.alg if spec.scope != "none" else None
        if capabilities.missing(spec.requires, backend_kind=target.kind or None, alg=alg) is None:
            found.add(target.backend)
    return sorted(found)


@pytest.fixture(scope="session")
def kmsconform_backend_pool(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[BackendPool]:
    """The session's :class:`BackendPool` (session scope; one per xdist worker).

    When the session has checks, every backend they run on starts at once, in parallel, as the
    pool is made; any other starts on first use. All stop at the end of the session. Example::

        def test_mine(kmsconform_backend_pool):
            handle = kmsconform_backend_pool.get("local").handle
    """
    starting, event = _progress(pytestconfig)
    kc = get_config(pytestconfig)
    with BackendPool(
        namespace=run_namespace(pytestconfig),
        on_event=event,
        on_starting=starting,
        options=kc.backend_options,
        required=kc.backends if kc.backends_named else (),
    ) as pool:
        pytestconfig.stash[POOL_KEY] = pool
        if not any(item.get_closest_marker("kmsconform_check") is not None for item in request.session.items):
            yield pool
            return
        # checks make a few hundred RSA keys: make them on the core the run leaves idle
        rsa_supply.keep_ready(bits=2048, count=SPARE_RSA_KEYS)
        try:
            pool.start_all(backends_in_use(request.session.items, request.getfixturevalue("kmsconform_impl")))
            # what exists now (the imported clients and models, the started backends) lives until the
            # end: out of the collector's full passes, which walked it again and again (0.5 s a run)
            gc.freeze()
            yield pool
        finally:
            # a process that ends with the session keeps it frozen (pytest_kmsconform.process_end)
            if not (process_end.declared() or hasattr(pytestconfig, "workerinput")):
                gc.unfreeze()
            rsa_supply.SUPPLY.stop()


def backend_fixture(name: str, *, options: dict[str, str] | None = None) -> Any:
    """Make a session-scoped fixture returning the :class:`BackendHandle` of backend ``name``.

    For your own tests against an emulator, in ``conftest.py``::

        vault = backend_fixture("vault")

        def test_transit(vault):
            assert vault.env["VAULT_ADDR"].startswith("http://127.0.0.1:")

    Without ``options`` it is the session's shared instance (one per xdist worker); with them, a
    dedicated instance. A backend that cannot start here skips the test with the provider's reason.
    """

    @pytest.fixture(scope="session")
    def _backend(kmsconform_backend_pool: BackendPool) -> BackendHandle:
        handle = require_backend(kmsconform_backend_pool, name)
        return handle if options is None else kmsconform_backend_pool.dedicated(name, dict(options))

    _backend.__doc__ = f"The running {name} backend (session scope): a BackendHandle."
    return _backend


def require_backend(pool: BackendPool, name: str) -> BackendHandle:
    """The handle of ``name``; skips (unavailable) or raises :class:`BackendStartError` (broken)."""
    state = pool.get(name)
    if state.handle is not None:
        return state.handle
    if state.skip_reason is not None:
        backend_unavailable(name, state.skip_reason)
    raise BackendStartError(f"backend {name}: {state.error}")
