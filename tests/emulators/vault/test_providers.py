"""The three providers: registry entries, availability reasons, handles, options."""

from __future__ import annotations

import pytest
from pytest_kmsconform.emulators.vault import (
    CONTAINER_PROVIDER,
    EXTERNAL_PROVIDER,
    PROVIDER,
    OpenBaoServer,
    VaultServerError,
    admin,
)
from pytest_kmsconform.emulators.vault.providers import VAULT_IMAGE, VaultDetails
from pytest_kmsconform.emulators.vault.testing import process_alive

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle, BackendProvider


@pytest.mark.parametrize(("name", "embedded"), [("vault", True), ("vault-container", False), ("vault-external", False)])
def test_registered(name: str, embedded: bool) -> None:
    provider = backend_registry.get(name)
    assert isinstance(provider, BackendProvider)
    assert (provider.name, provider.kind, provider.embedded) == (name, "vault", embedded)
    assert (name in backend_registry.embedded_names()) is embedded


def test_container_image_is_pinned() -> None:
    repo, _, tag = VAULT_IMAGE.partition(":")
    assert repo == "hashicorp/vault"
    assert tag.count(".") == 2 and tag.split(".")[0] == "1"


def test_container_provider_reports_missing_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")  # nothing listens on port 1
    reason = CONTAINER_PROVIDER.unavailable_reason()
    assert reason is not None and reason.startswith("Docker is not reachable"), reason
    with pytest.raises(VaultServerError, match="Docker is not reachable"), CONTAINER_PROVIDER.start(namespace="t"):
        pass


def test_openbao_provider_handle() -> None:
    with PROVIDER.start(namespace="prov", options={"mount": "audit-transit"}) as handle:
        assert handle.env["VAULT_TRANSIT_MOUNT"] == "audit-transit" == handle.require_detail(VaultDetails).mount
        assert handle.url == handle.env["VAULT_ADDR"]
        assert handle.namespace == "prov"
        pid = handle.require_detail(VaultDetails).pid
        assert process_alive(pid)
    assert not process_alive(pid)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown option"), PROVIDER.start(namespace="t", options={"colour": "red"}):
        pass


def test_external_unavailable_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    assert EXTERNAL_PROVIDER.unavailable_reason() == (
        "VAULT_ADDR and VAULT_TOKEN not set (vault-external uses a server you run)"
    )
    with pytest.raises(VaultServerError, match="not set"), EXTERNAL_PROVIDER.start(namespace="t"):
        pass


def test_external_uses_the_environment(monkeypatch: pytest.MonkeyPatch, openbao: BackendHandle) -> None:
    for key, value in openbao.env.items():
        monkeypatch.setenv(key, value)
    assert EXTERNAL_PROVIDER.unavailable_reason() is None
    with EXTERNAL_PROVIDER.start(namespace="ext") as handle:
        assert dict(handle.env) == dict(openbao.env)
        assert handle.name == "vault-external"
    monkeypatch.setenv("VAULT_TRANSIT_MOUNT", "no-such-mount")
    with pytest.raises(VaultServerError, match="no Transit mount"), EXTERNAL_PROVIDER.start(namespace="ext"):
        pass
    monkeypatch.setenv("VAULT_TOKEN", "wrong")
    with pytest.raises(VaultServerError, match="no Transit mount"), EXTERNAL_PROVIDER.start(namespace="ext"):
        pass


class OpenBaoAsContainer:
    """Stands in for testcontainers' ``VaultContainer`` (no Docker here): same constructor and the
    methods the provider uses, backed by a real OpenBao dev server, so the provider's own steps
    (token, env, health wait, Transit mount, handle) run for real."""

    made: list[OpenBaoAsContainer] = []

    def __init__(self, image: str, port: int = 8200, root_token: str = "toor") -> None:
        self.image, self.port, self.root_token = image, port, root_token
        self.env: dict[str, str] = {"VAULT_DEV_ROOT_TOKEN_ID": root_token}
        self.bound: dict[int, int] = {}
        self.server = OpenBaoServer(token=root_token, mount=None)
        OpenBaoAsContainer.made.append(self)

    def with_env(self, key: str, value: str) -> OpenBaoAsContainer:
        self.env[key] = value
        return self

    def with_bind_ports(self, container: int, host: int) -> OpenBaoAsContainer:
        self.bound[container] = host
        return self

    def get_connection_url(self) -> str:
        return self.server.url

    def __enter__(self) -> OpenBaoAsContainer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_container_provider_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    import testcontainers.community.vault

    monkeypatch.setattr(testcontainers.community.vault, "VaultContainer", OpenBaoAsContainer)
    with CONTAINER_PROVIDER.start(namespace="ctr", options={"mount": "sign"}) as handle:
        (container,) = OpenBaoAsContainer.made
        assert container.image == VAULT_IMAGE
        assert container.env["SKIP_SETCAP"] == "1"
        assert handle.env["VAULT_TOKEN"] == container.root_token != "toor"
        assert handle.env["VAULT_TRANSIT_MOUNT"] == "sign"
        assert admin.transit_mounted(handle.env["VAULT_ADDR"], container.root_token, "sign")
        assert handle.version.endswith(f"({VAULT_IMAGE})")
        pid = container.server.pid
    assert pid is not None and not process_alive(pid)


def test_one_shared_server_per_session(request: pytest.FixtureRequest, openbao: BackendHandle) -> None:
    from pytest_kmsconform.emulators.vault.testing import shared_openbao

    assert shared_openbao(request.config) is openbao
    assert process_alive(openbao.require_detail(VaultDetails).pid)
