"""Fixtures that reach the implementation under test: ``kmsconform_impl`` and the signer factories.

``--kmsconform-impl`` is loaded once per process in ``pytest_configure`` (a bad value is a
``pytest.UsageError``); the ``kmsconform_impl`` fixture returns it and may be overridden in a
``conftest.py`` to supply an implementation directly.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from pytest_kmsconform import kinds
from pytest_kmsconform.adapter import AdapterError, Implementation, ImplSigner
from pytest_kmsconform.backends import BackendPool, BackendStartError, require_backend
from pytest_kmsconform.checks import Target, spec_of
from pytest_kmsconform.loader import AdapterSettings, load_implementation
from pytest_kmsconform.options import get_config

IMPL_KEY = pytest.StashKey[Implementation]()


class ImplementationFault(AdapterError):
    """The implementation raised while a check was being set up (a signer could not be made, a
    rotation raised, ...). Reported as a *failure* of the check, not as a harness error."""


@contextmanager
def implementation_calls(what: str) -> Iterator[None]:
    """Turn an exception raised by the implementation into :class:`ImplementationFault`.

    Harness problems (a backend that did not start, :class:`BackendStartError`) pass unchanged.
    """
    try:
        yield
    except (BackendStartError, ImplementationFault):
        raise
    except Exception as exc:  # translated once, here: the check then fails instead of erroring
        raise ImplementationFault(f"{what}: {type(exc).__name__}: {exc}") from exc


T = TypeVar("T")

_ALG_CODES = {
    "ed25519": "ed",
    "rsa-sha256": "rs",
    "rsa-pss-sha256": "ps",
    "ecdsa-p256-sha256": "es",
    "hmac-sha256": "hs",
    "ml-dsa-44": "m44",
    "ml-dsa-65": "m65",
    "ml-dsa-87": "m87",
}


def pytest_configure(config: pytest.Config) -> None:
    kc = get_config(config)
    if not kc.enabled:
        return
    try:
        settings = AdapterSettings(
            api_key=kc.api_key, admin_key=kc.admin_key, timeout_s=kc.impl_timeout_s, policy_file=kc.policy_file
        )
        config.stash[IMPL_KEY] = load_implementation(kc.impl, settings)
    except AdapterError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_unconfigure(config: pytest.Config) -> None:
    impl = config.stash.get(IMPL_KEY, None)
    if impl is not None:
        impl.close()


@pytest.fixture(scope="session")
def kmsconform_impl(pytestconfig: pytest.Config) -> Implementation:
    """The implementation under test (session scope; each xdist worker loads its own).

    Comes from ``--kmsconform-impl`` / ``kmsconform_impl`` (ini) / ``KMSCONFORM_IMPL``, default
    ``reference``. Override it in ``conftest.py`` to hand over an object directly::

        @pytest.fixture(scope="session")
        def kmsconform_impl():
            return MyImplementation()
    """
    impl = pytestconfig.stash.get(IMPL_KEY, None)
    if impl is None:
        raise pytest.UsageError("the kmsconform suites need --kmsconform (or kmsconform = true in the ini file)")
    return impl


def short_label(check_id: str, target: Target, n: int) -> str:
    """A key label short enough for every backend (YubiHSM labels hold 40 bytes)."""
    # an algorithm without a code keeps its own name: two algorithms must never share a label
    alg = _ALG_CODES.get(target.alg.value, target.alg.value.replace("-", "")) if target.alg else "na"
    return f"{check_id.lower().replace('kc-', '').replace('-', '')}-{alg}-{n}"


class SignerFactory:
    """Makes fresh signers for the current check instance and closes them at teardown."""

    def __init__(self, impl: Implementation, pool: BackendPool, target: Target, check_id: str) -> None:
        self.impl, self.pool, self.target, self.check_id = impl, pool, target, check_id
        self._made: list[ImplSigner] = []
        self._counter = itertools.count(1)

    def __call__(self, *, owned_by: Memo | None = None) -> ImplSigner:
        """A fresh signer; closed at the end of the check, or with ``owned_by`` when it outlives it."""
        if self.target.alg is None or not self.target.backend:
            raise AdapterError(f"{self.check_id}: a signer needs a backend x algorithm target")
        handle = require_backend(self.pool, self.target.backend)
        if kinds.dedicated(self.target.kind):
            handle = self.pool.dedicated(self.target.backend, {"alg": self.target.alg.value})
        label = short_label(self.check_id, self.target, next(self._counter))
        with implementation_calls(f"{self.impl.name}.signer({self.target.backend}, {self.target.alg.value})"):
            signer = self.impl.signer(handle, self.target.alg, label=label)
        if owned_by is None:
            self._made.append(signer)
        else:
            owned_by.closers.append(signer.close)
        return signer

    def close(self) -> None:
        for signer in self._made:
            signer.close()


@pytest.fixture
def kmsconform_new_signer(
    request: pytest.FixtureRequest,
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_backend_pool: BackendPool,
) -> Iterator[SignerFactory]:
    """A factory of fresh signers on the current target's backend (function scope; closed at teardown).

    Use it when the check rotates or revokes; otherwise prefer ``kmsconform_signer`` (shared).
    """
    spec = spec_of(request.node) if isinstance(request.node, pytest.Item) else None
    check_id = spec.check_id if spec else "kc-x-000"
    factory = SignerFactory(kmsconform_impl, kmsconform_backend_pool, kmsconform_target, check_id)
    yield factory
    factory.close()


class Memo:
    """Session memo of expensive set-ups (a signer per target, a rotation scenario, ...).

    A set-up that raised raises again, the same way, for every check that needs it.
    """

    def __init__(self) -> None:
        self._values: dict[Any, tuple[bool, Any]] = {}
        self._lock = threading.Lock()
        self.closers: list[Callable[[], None]] = []

    def get(self, key: Any, build: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._values:
                try:
                    self._values[key] = (True, build())
                except Exception as exc:  # re-raised below and on every later use
                    self._values[key] = (False, exc)
            ok, value = self._values[key]
        if not ok:
            raise value
        result: T = value
        return result

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()


@pytest.fixture(scope="session")
def kmsconform_memo(kmsconform_backend_pool: BackendPool) -> Iterator[Memo]:
    """Session memo for set-ups shared by several checks (session scope; per xdist worker).

    It depends on the backend pool so that what it holds is closed before the backends stop.
    """
    memo = Memo()
    yield memo
    memo.close()


@pytest.fixture(scope="module")
def kmsconform_module_memo(kmsconform_backend_pool: BackendPool) -> Iterator[Memo]:
    """Memo for set-ups shared by the checks of one suite module (module scope; per xdist worker).

    What it holds (a rotation scenario's signer, say) is closed when the module's checks are done,
    so backends with few sessions (a YubiHSM 2 has 16) are not exhausted by later suites.
    """
    memo = Memo()
    yield memo
    memo.close()


@pytest.fixture
def kmsconform_signer(
    kmsconform_target: Target,
    kmsconform_impl: Implementation,
    kmsconform_backend_pool: BackendPool,
    kmsconform_memo: Memo,
) -> ImplSigner:
    """A signer shared by every non-mutating check on the current backend x algorithm (function
    scope handle to a session-lived signer). Never rotate or revoke it: use ``kmsconform_new_signer``.
    """
    target = kmsconform_target
    require_backend(kmsconform_backend_pool, target.backend)

    def build() -> ImplSigner:
        factory = SignerFactory(kmsconform_impl, kmsconform_backend_pool, target, "KC-SHARED-000")
        return factory(owned_by=kmsconform_memo)

    return kmsconform_memo.get(("signer", target), build)
