"""The few HTTP calls a provider makes before handing a server over: health and the Transit mount.

Plain ``urllib`` on purpose: starting a server must not need ``hvac`` (clients bring their own).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from .errors import ServerRequestError

REQUEST_TIMEOUT = 5.0


def request(url: str, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    """One JSON request to ``url + path``; returns ``(status, parsed body or None)``.

    HTTP error statuses are returned, not raised; only a failure to get any response raises
    :class:`ServerRequestError`.
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method)
    if token is not None:
        req.add_header("X-Vault-Token", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise ServerRequestError(f"{method} {path} on {url}: {exc}") from None
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, parsed


def health(url: str) -> dict[str, Any]:
    """``GET /v1/sys/health`` of an initialized, unsealed, active server; raises otherwise."""
    status, body = request(url, "GET", "/v1/sys/health")
    if status != 200 or not isinstance(body, dict):
        raise ServerRequestError(f"{url}/v1/sys/health answered {status}: {body}", status)
    return body


def wait_healthy(url: str, timeout: float, alive: Callable[[], str | None] = lambda: None) -> dict[str, Any]:
    """Poll :func:`health` until it succeeds; ``alive()`` returns a reason to stop early (process died)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        dead = alive()
        if dead is not None:
            raise ServerRequestError(dead)
        try:
            return health(url)
        except ServerRequestError as exc:
            last = exc
        time.sleep(0.05)
    raise ServerRequestError(f"{url} not healthy after {timeout:.0f} s: {last}")


def enable_transit(url: str, token: str, mount: str) -> None:
    """Mount the Transit engine at ``mount`` (``POST /v1/sys/mounts/<mount>``, 204 expected)."""
    status, body = request(url, "POST", f"/v1/sys/mounts/{mount}", token, {"type": "transit"})
    if status not in (200, 204):
        raise ServerRequestError(f"enabling transit at {mount!r} on {url} failed with {status}: {body}", status)


def transit_mounted(url: str, token: str, mount: str) -> bool:
    """True when ``mount`` is a Transit mount the token can see (``GET /v1/sys/mounts/<mount>``)."""
    status, body = request(url, "GET", f"/v1/sys/mounts/{mount}", token)
    if status != 200 or not isinstance(body, dict):
        return False
    data = body.get("data", body)
    return isinstance(data, dict) and data.get("type") == "transit"


def transit_keys(url: str, token: str, mount: str) -> list[str]:
    """The names of the Transit keys on ``mount`` (``LIST /v1/<mount>/keys``; none gives 404)."""
    status, body = request(url, "GET", f"/v1/{mount}/keys?list=true", token)
    if status == 404:
        return []
    keys = body.get("data", {}).get("keys") if isinstance(body, dict) else None
    if status != 200 or not isinstance(keys, list):
        raise ServerRequestError(f"listing the Transit keys on {mount!r} at {url} failed with {status}: {body}", status)
    return sorted(str(k) for k in keys)


def delete_transit_key(url: str, token: str, mount: str, name: str) -> None:
    """Delete Transit key ``name``: Vault refuses until its config says ``deletion_allowed``."""
    status, body = request(url, "POST", f"/v1/{mount}/keys/{name}/config", token, {"deletion_allowed": True})
    if status in (200, 204):
        status, body = request(url, "DELETE", f"/v1/{mount}/keys/{name}", token)
    if status not in (200, 204):
        raise ServerRequestError(f"deleting Transit key {name!r} on {url} failed with {status}: {body}", status)


def delete_new_transit_keys(url: str, token: str, mount: str, prefix: str, existing: set[str]) -> list[str]:
    """Delete the keys named ``<prefix>...`` that are not in ``existing`` (what a run made); return them.

    :raises ServerRequestError: naming every key that could not be deleted.
    """
    made = [name for name in transit_keys(url, token, mount) if name.startswith(prefix) and name not in existing]
    left = []
    for name in made:
        try:
            delete_transit_key(url, token, mount, name)
        except ServerRequestError as exc:
            left.append(f"{name} ({exc})")
    if left:
        raise ServerRequestError(f"Transit keys left on {url}, mount {mount!r}: {'; '.join(left)}")
    return made
