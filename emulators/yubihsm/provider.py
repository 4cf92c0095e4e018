"""Backend providers: ``yubihsm`` (the simulator behind a connector shim on 127.0.0.1) and
``yubihsm-connector`` (a real YubiHSM 2 behind a yubihsm-connector, opt-in via ``KMSCONFORM_YUBIHSM_URL``).

Options of ``yubihsm``: ``seed`` (reproducible EC/Ed25519/HMAC/wrap key generation),
``version`` (firmware, default 2.4.0), ``serial``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from .defs import FACTORY_AUTH_KEY_ID, FACTORY_PASSWORD
from .device import DEFAULT_SERIAL, DEFAULT_VERSION, Device, DeviceConfig, Version
from .transports import LockedDevice, real_clock
from .transports.http import ConnectorServer
from .transports.inprocess import SimulatorBackend

OPTIONS = ("seed", "version", "serial")
URL_ENV = "KMSCONFORM_YUBIHSM_URL"


def parse_version(text: str) -> Version:
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"version must look like 2.4.0, got {text!r}")
    major, minor, patch = (int(p) for p in parts)
    if not all(0 <= v <= 255 for v in (major, minor, patch)):
        raise ValueError(f"version parts must be 0..255, got {text!r}")
    return major, minor, patch


def config_from_options(options: Mapping[str, str]) -> DeviceConfig:
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown yubihsm option(s) {', '.join(unknown)}; known: {', '.join(OPTIONS)}")
    version = parse_version(options["version"]) if "version" in options else DEFAULT_VERSION
    serial_text = options.get("serial")
    if serial_text is not None and not serial_text.isdigit():
        raise ValueError(f"serial must be a positive integer, got {serial_text!r}")
    serial = int(serial_text) if serial_text is not None else DEFAULT_SERIAL
    seed = options["seed"].encode() if "seed" in options else None
    return DeviceConfig(version=version, serial=serial, seed=seed)


@dataclass(frozen=True)
class YubiHsmDetails:
    """In-process details of the simulator's handle.

    :param device: the simulated device.
    :param locked_device: the device behind the lock the connector shim serves through.
    :param backend_factory: makes an in-process ``yubihsm`` backend object on the device (``None``
        behind a proxy, where clients use the connector URL of the handle's env).
    :param server: the connector shim.
    """

    device: Device
    locked_device: LockedDevice
    backend_factory: Callable[[], SimulatorBackend] | None
    server: ConnectorServer

    def behind_proxy(self) -> YubiHsmDetails:
        return replace(self, backend_factory=None)


@dataclass(frozen=True)
class SimulatorProvider:
    name: str = kinds.YUBIHSM
    kind: str = kinds.YUBIHSM
    description: str = "YubiHSM 2 simulator behind a yubihsm-connector shim on 127.0.0.1"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        config = config_from_options(options or {})
        locked = LockedDevice(Device(config, clock=real_clock))
        with ConnectorServer(locked, port=port) as server:
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env={
                    "YUBIHSM_CONNECTOR_URL": server.url,
                    "YUBIHSM_AUTH_KEY_ID": str(FACTORY_AUTH_KEY_ID),
                    "YUBIHSM_PASSWORD": FACTORY_PASSWORD,
                },
                version="kmsconform YubiHSM 2 simulator, firmware " + ".".join(map(str, config.version)),
                namespace=namespace,
                url=server.url,
                details=(YubiHsmDetails(locked.device, locked, lambda: SimulatorBackend(locked), server),),
            )
            server.check()  # a simulator defect met while serving fails the run that saw it


@dataclass(frozen=True)
class ConnectorProvider:
    name: str = "yubihsm-connector"
    kind: str = kinds.YUBIHSM
    description: str = f"a real YubiHSM 2 behind a yubihsm-connector at ${URL_ENV} (destructive tests excluded)"
    embedded: bool = False

    def unavailable_reason(self) -> str | None:
        if not os.environ.get(URL_ENV):
            return (
                f"{URL_ENV} is not set and --kmsconform-yubihsm-url not given "
                "(the URL of a yubihsm-connector with a device attached)"
            )
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        url = (options or {}).get("url") or os.environ.get(URL_ENV)
        if not url:
            raise RuntimeError(f"backend {self.name} cannot start: {self.unavailable_reason()}")
        yield BackendHandle(
            name=self.name,
            kind=self.kind,
            env={
                "YUBIHSM_CONNECTOR_URL": url,
                "YUBIHSM_AUTH_KEY_ID": os.environ.get("KMSCONFORM_YUBIHSM_AUTH_KEY_ID", str(FACTORY_AUTH_KEY_ID)),
                "YUBIHSM_PASSWORD": os.environ.get("KMSCONFORM_YUBIHSM_PASSWORD", FACTORY_PASSWORD),
            },
            version="YubiHSM 2 via yubihsm-connector",
            namespace=namespace,
            url=url,
        )


PROVIDER = SimulatorProvider()
CONNECTOR_PROVIDER = ConnectorProvider()
