"""Fixtures for the YubiHSM simulator tests: a fresh device per test, both transports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.yubihsm import Device, DeviceConfig, ManualClock
from pytest_kmsconform.emulators.yubihsm.transports import LockedDevice
from pytest_kmsconform.emulators.yubihsm.transports.http import ConnectorServer
from pytest_kmsconform.emulators.yubihsm.transports.inprocess import SimulatorBackend


@pytest.fixture
def clock() -> ManualClock:
    """A manual clock (function scope): the device only sees time move when a test advances it."""
    return ManualClock(1000.0)


@pytest.fixture
def device(clock: ManualClock) -> Device:
    """A factory-fresh simulated device (function scope) on the manual clock."""
    return Device(DeviceConfig(), clock=clock)


@pytest.fixture
def locked(device: Device) -> LockedDevice:
    return LockedDevice(device)


@pytest.fixture(params=["in-process", "http"])
def connect(request: pytest.FixtureRequest, locked: LockedDevice) -> Iterator[Callable[[], Any]]:
    """Opens a ``yubihsm.YubiHsm`` to the test's device over each transport (the connector shim is
    stopped at teardown)."""
    yubihsm = pytest.importorskip("yubihsm")
    if request.param == "in-process":
        yield lambda: yubihsm.YubiHsm(SimulatorBackend(locked))
        return
    with ConnectorServer(locked) as server:
        yield lambda: yubihsm.YubiHsm.connect(server.url)


@pytest.fixture
def session(connect: Callable[[], Any]) -> Iterator[Any]:
    """An authenticated session with the factory key (key 1, ``password``), closed at teardown."""
    hsm = connect()
    session = hsm.create_session_derived(1, "password")
    yield session
    session.close()
    hsm.close()
