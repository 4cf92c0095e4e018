"""The pytest fixture factories of the fault injector."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from pytest_kmsconform.emulators.faults.handles import FaultProxyDetails


def post(url: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_fault_proxy_factory(fault_proxy_factory: Any, upstream: Any) -> None:
    proxy = fault_proxy_factory(upstream.url, {"rules": [{"operation": "/verify", "fault": "error", "error": "503"}]})
    assert post(proxy.url + "/verify")[0] == 503
    assert post(proxy.url + "/sign/hash")[0] == 200


def test_faulted_backend_fixture(throttled_upstream: Any, upstream: Any) -> None:
    assert throttled_upstream.url != upstream.url
    assert throttled_upstream.env["SIGNING_PROXY_URL"] == throttled_upstream.url
    status, body = post(throttled_upstream.env["SIGNING_PROXY_URL"] + "/sign/hash")
    assert status == 429 and body["error"]["code"] == "THROTTLED"
    assert throttled_upstream.require_detail(FaultProxyDetails).fault_proxy.plan.fired() == 1


def test_in_process_backend_cannot_be_proxied() -> None:
    from pytest_kmsconform.emulators.faults import FaultPlanError, plan_from_dict
    from pytest_kmsconform.emulators.faults.handles import faulted_handle

    from pytest_kmsconform.backend_api import BackendHandle

    handle = BackendHandle(name="local", kind="local", env={}, version="x")
    with pytest.raises(FaultPlanError, match="in-process"), faulted_handle(handle, plan_from_dict({"rules": []})):
        pass
