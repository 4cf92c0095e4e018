"""pytest fixture factories for fault injection (import them into a ``conftest.py``).

``fault_proxy_factory`` is a ready fixture; :func:`faulted_backend_fixture` builds one around a
fixture that yields a :class:`~pytest_kmsconform.backend_api.BackendHandle`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform.backend_api import BackendHandle

from .handles import faulted_handle
from .plan import FaultPlan, load_plan
from .proxy import FaultProxy

PlanSource = str | Path | Mapping[str, Any] | FaultPlan


@pytest.fixture
def fault_proxy_factory() -> Iterator[Callable[..., FaultProxy]]:
    """Returns ``start(upstream_url, plan, kind=None) -> FaultProxy``; function-scoped.

    Every proxy started through it is stopped at teardown. ``plan`` is a path, JSON text, a dict or
    a :class:`FaultPlan`. Safe under xdist (each proxy binds its own free loopback port). Example::

        def test_throttled(fault_proxy_factory, kms_url):
            proxy = fault_proxy_factory(kms_url, {"seed": 1, "rules": [...]})
            client = boto3.client("kms", endpoint_url=proxy.url, ...)
    """
    with ExitStack() as stack:

        def start(upstream: str, plan: PlanSource, kind: str | None = None) -> FaultProxy:
            return stack.enter_context(FaultProxy(upstream, load_plan(plan), kind=kind))

        yield start


def faulted_backend_fixture(
    handle_fixture: str, plan: PlanSource, *, scope: str = "function"
) -> Callable[..., Iterator[BackendHandle]]:
    """A fixture yielding the handle of ``handle_fixture`` behind a fault proxy applying ``plan``.

    The plan is loaded afresh for each fixture instance (counters and RNG start over). Example::

        kms_throttled = faulted_backend_fixture("kms_handle", "plans/throttle.json")
    """

    @pytest.fixture(scope=scope)  # type: ignore[call-overload, untyped-decorator]
    def _fixture(request: pytest.FixtureRequest) -> Iterator[BackendHandle]:
        handle: BackendHandle = request.getfixturevalue(handle_fixture)
        with faulted_handle(handle, load_plan(plan)) as faulted:
            yield faulted

    return _fixture  # type: ignore[no-any-return]
