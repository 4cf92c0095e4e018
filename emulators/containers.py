"""Whether a Docker engine answers here: container backends (Vault dev container, LocalStack) run
only then, and are listed as skipped with this reason otherwise."""

from __future__ import annotations

from functools import cache


@cache
def docker_unreachable_reason() -> str | None:
    """``None`` when a Docker engine answers; else why not."""
    try:
        import docker
    except ImportError as exc:
        return f"the docker Python package is missing ({exc}); pip install 'pytest-kmsconform[containers]'"
    try:
        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception as exc:  # docker raises DockerException, requests and socket errors alike
        return f"Docker engine not reachable: {type(exc).__name__}: {str(exc)[:160]}"
    return None
