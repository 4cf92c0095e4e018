"""The ``localstack`` backend: LocalStack's KMS, in Docker or on the host, for differential runs.

* Docker reachable: testcontainers' ``LocalStackContainer`` on the pinned image :data:`IMAGE`.
* No Docker (this project's machines): the host runtime, ``localstack-core`` 4.13.1 under Python 3.12
  with the pins in :data:`HOST_PINS` (``tox -e localstack`` makes that venv). The interpreter is
  ``$KMSCONFORM_LOCALSTACK_PYTHON``, else this one if it can import LocalStack, else
  ``<repo>/.tox/localstack/bin/python``. Each start gets its own ``FILESYSTEM_ROOT`` in a temp dir;
  the service catalog (``python -m localstack.aws.spec``, ~4 s) is built once into a cache dir
  and copied into each root, which saves a ~370 MB, ~2.5 s spike on the first request.
* Neither: :meth:`LocalStackProvider.unavailable_reason` says why.

Facts behind the recipe (versions, pins, variables): ``shared/notes/localstack.md``; remaining
differences from real KMS and from our moto layer: ``docs/emulators/aws-kms.md``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pytest_kmsconform.emulators.containers import docker_unreachable_reason
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.errors import ConfigurationError

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from .defaults import DEFAULT_REGION
from .provider import AwsKmsDetails

VERSION = "4.13.1"
IMAGE = f"localstack/localstack:{VERSION}"
HOST_PINS = (f"localstack-core[base-runtime]=={VERSION}", "cbor2<6", "pyOpenSSL<26.2")
PYTHON_ENV = "KMSCONFORM_LOCALSTACK_PYTHON"
CACHE_ENV = "KMSCONFORM_CACHE_DIR"
START_TIMEOUT = 60.0
STOP_GRACE = 5.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
REPO_ROOT = Path(__file__).resolve().parents[2]
# kmsconform algorithm -> why LocalStack cannot do it (handles carry it as AwsKmsDetails.unsupported)
UNSUPPORTED = {
    "ed25519": f"LocalStack {VERSION} has no ECC_NIST_EDWARDS25519 key spec (issue #13886)",
    **{
        f"ml-dsa-{n}": f"LocalStack {VERSION} has no ML_DSA_{n} key spec (AWS added ML-DSA in 2025-06)"
        for n in (44, 65, 87)
    },
}


class LocalStackError(RuntimeError):
    """LocalStack did not start (the log tail is in the message)."""


def _can_import_localstack(python: str) -> bool:
    if python == sys.executable:
        return importlib.util.find_spec("localstack") is not None
    probe = subprocess.run(
        [python, "-c", "import localstack.runtime.main, cbor2, OpenSSL"], capture_output=True, timeout=60, check=False
    )
    return probe.returncode == 0


@cache
def host_python() -> str | None:
    """The interpreter that runs LocalStack on the host, or ``None`` (module docstring)."""
    configured = os.environ.get(PYTHON_ENV)
    if configured:
        return configured if _can_import_localstack(configured) else None
    if importlib.util.find_spec("localstack") is not None:
        return sys.executable
    tox_python = REPO_ROOT / ".tox" / "localstack" / "bin" / "python"
    if tox_python.exists() and _can_import_localstack(str(tox_python)):
        return str(tox_python)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_env(root: Path, port: int) -> dict[str, str]:
    """The variables that make LocalStack run as a host process bound to 127.0.0.1 only."""
    return {
        "OVERRIDE_IN_DOCKER": "0",  # /.dockerenv exists here; without this LocalStack uses shared dirs
        "FILESYSTEM_ROOT": str(root),
        "LOCALSTACK_VOLUME_DIR": str(root / "volume"),
        "GATEWAY_SERVER": "hypercorn",  # twisted would bind 0.0.0.0 and needs service_identity
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "SERVICES": "kms",
        "EAGER_SERVICE_LOADING": "1",
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
    }


def _catalog_cache(python: str) -> Path:
    base = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "kmsconform")
    # one catalog per interpreter: it depends on that venv's botocore
    return base / f"localstack-{VERSION}-{hashlib.sha256(str(Path(python).absolute()).encode()).hexdigest()[:12]}"


def _prepare_root(python: str, root: Path) -> None:
    """Copy (building once if needed) the prebuilt service catalog into ``root``."""
    cache_root = _catalog_cache(python)
    catalog_dir = Path("usr") / "lib" / "localstack"
    if not list((cache_root / catalog_dir).glob("service-catalog-*.dill")):
        (cache_root / catalog_dir).mkdir(parents=True, exist_ok=True)
        # build in a private root, then move into place atomically (xdist workers may race here)
        scratch = Path(tempfile.mkdtemp(prefix="catalog-", dir=cache_root))
        (scratch / catalog_dir).mkdir(parents=True)  # the spec module writes only into an existing dir
        try:
            env = {**os.environ, "OVERRIDE_IN_DOCKER": "0", "FILESYSTEM_ROOT": str(scratch)}
            subprocess.run(
                [python, "-m", "localstack.aws.spec"], env=env, capture_output=True, timeout=180, check=False
            )
            for built in (scratch / catalog_dir).glob("service-catalog-*.dill"):
                os.replace(built, cache_root / catalog_dir / built.name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    (root / catalog_dir).mkdir(parents=True, exist_ok=True)
    for catalog in (cache_root / catalog_dir).glob("service-catalog-*.dill"):
        shutil.copy2(catalog, root / catalog_dir / catalog.name)


def _kms_running(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_localstack/health", timeout=1) as response:
            return bool(json.load(response).get("services", {}).get("kms") == "running")
    except (OSError, ValueError):
        return False


@contextmanager
def run_on_host(python: str, port: int = 0) -> Iterator[tuple[str, float]]:
    """Start LocalStack KMS on 127.0.0.1 as a child process; yields ``(url, seconds until ready)``."""
    root = Path(tempfile.mkdtemp(prefix="kmsconform-localstack-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        _prepare_root(python, root)
        port = port or _free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = root / "localstack.log"
        env = {**os.environ, **host_env(root, port)}
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS"):
            env.pop(name, None)
        started = time.monotonic()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [python, "-m", "localstack.runtime.main"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root
            )
        while not _kms_running(url):
            if proc.poll() is not None or time.monotonic() - started > START_TIMEOUT:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise LocalStackError(f"LocalStack KMS not ready (exit code {proc.poll()}); log tail:\n{tail}")
            time.sleep(0.1)
        yield url, time.monotonic() - started
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                # hypercorn waits for clients' keep-alive connections; its state is in the temp root anyway
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def run_in_docker(port: int = 0) -> Iterator[tuple[str, float]]:
    """LocalStack KMS in a container (testcontainers); yields ``(url, seconds until ready)``."""
    try:
        from testcontainers.community.localstack import LocalStackContainer
    except ImportError:
        from testcontainers.localstack import LocalStackContainer
    started = time.monotonic()
    container = LocalStackContainer(image=IMAGE, region_name=DEFAULT_REGION).with_services("kms")
    if port:
        container = container.with_bind_ports(4566, port)
    with container as running:
        yield str(running.get_url()), time.monotonic() - started


def _client_factory(url: str, region: str) -> Any:
    def factory() -> Any:
        from pytest_kmsconform.reference_impl.backends.aws_kms import kms_client

        return kms_client(
            endpoint_url=url,
            region_name=region,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    return factory


@dataclass(frozen=True)
class LocalStackRun:
    """How this LocalStack was run: ``mode`` (``docker`` or ``host``) and its start-up time."""

    mode: str
    startup_seconds: float


@dataclass(frozen=True)
class LocalStackProvider:
    name: str = "localstack"
    kind: str = kinds.AWS_KMS
    description: str = (
        f"LocalStack {VERSION} KMS (Docker via testcontainers, else the host runtime from tox -e localstack)"
    )
    embedded: bool = False
    container: bool = True  # in the default run where Docker answers; else listed as skipped

    @property
    def unsupported_algorithms(self) -> Mapping[str, str]:
        """Algorithms of the aws-kms kind LocalStack cannot sign, with the reason (checks: not applicable)."""
        return dict(UNSUPPORTED)

    def unavailable_reason(self) -> str | None:
        docker_reason = docker_unreachable_reason()
        if docker_reason is None or host_python() is not None:
            return None
        return (
            f"{docker_reason}; and no host LocalStack runtime: run `tox -e localstack` (Python 3.12 venv with "
            f"{', '.join(HOST_PINS)}) or set {PYTHON_ENV} to a Python that has them"
        )

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        options = dict(options or {})
        unknown = sorted(set(options) - {"mode"})
        if unknown:
            raise ConfigurationError(f"localstack: unknown option(s) {', '.join(unknown)}; known: mode")
        mode = options.get("mode") or ("docker" if docker_unreachable_reason() is None else "host")
        if mode == "docker":
            runner = run_in_docker(port)
        elif mode == "host":
            python = host_python()
            if python is None:
                raise ConfigurationError(f"localstack: {self.unavailable_reason() or 'no host runtime'}")
            runner = run_on_host(python, port)
        else:
            raise ConfigurationError(f"localstack: option mode must be docker or host, not {mode!r}")
        with runner as (url, seconds):
            env = {
                "AWS_ENDPOINT_URL": url,
                "AWS_ENDPOINT_URL_KMS": url,
                "AWS_REGION": DEFAULT_REGION,
                "AWS_DEFAULT_REGION": DEFAULT_REGION,
                **CREDENTIALS,
            }
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=env,
                version=f"LocalStack {VERSION} ({mode})",
                namespace=namespace,
                url=url,
                details=(
                    AwsKmsDetails(
                        client_factory=_client_factory(url, DEFAULT_REGION),
                        unsupported={Algorithm.parse(name): why for name, why in UNSUPPORTED.items()},
                    ),
                    LocalStackRun(mode=mode, startup_seconds=seconds),
                ),
            )


PROVIDER = LocalStackProvider()
