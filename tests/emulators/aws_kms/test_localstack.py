"""LocalStack provider and the differential test (our moto layer vs LocalStack, same script).

Runs where LocalStack can start (Docker, or the host runtime from ``tox -e localstack``); else it
is skipped with the provider's reason. ``KMSCONFORM_REQUIRE_LOCALSTACK=1`` (set by the tox env)
turns that skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from pytest_kmsconform.emulators.aws_kms import differential
from pytest_kmsconform.emulators.aws_kms.localstack import PROVIDER, LocalStackRun
from pytest_kmsconform.emulators.aws_kms.provider import PROVIDER as OURS

from pytest_kmsconform import backend_registry
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.key_backends import kms_client_for

REASON = PROVIDER.unavailable_reason()
REQUIRED = os.environ.get("KMSCONFORM_REQUIRE_LOCALSTACK") == "1"


def test_registered_not_embedded() -> None:
    provider = backend_registry.get("localstack")
    assert provider is PROVIDER
    assert (provider.kind, provider.embedded) == ("aws-kms", False)
    if REASON is not None:
        assert "tox -e localstack" in REASON and not REQUIRED, REASON


@pytest.fixture(scope="module")
def localstack() -> Iterator[BackendHandle]:
    if REASON is not None:
        pytest.skip(f"localstack unavailable: {REASON}")
    with PROVIDER.start(namespace="diff") as handle:
        yield handle


def test_starts_and_serves_kms(localstack: BackendHandle) -> None:
    assert localstack.url is not None and localstack.url.startswith("http://127.0.0.1:")
    assert set(localstack.env) >= {"AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID"}
    client = kms_client_for(localstack)
    assert "Keys" in client.list_keys()
    run = localstack.require_detail(LocalStackRun)
    print(f"localstack {run.mode} ready in {run.startup_seconds:.2f} s")


def test_differential_same_outcomes_except_documented(localstack: BackendHandle) -> None:
    with OURS.start(namespace="diff") as ours:
        rows = differential.compare(
            differential.run(kms_client_for(ours)),
            differential.run(kms_client_for(localstack)),
        )
    unexpected = [row for row in rows if not row[3] and row[0] not in differential.KNOWN_DIFFERENCES]
    stale = [row for row in rows if row[3] and row[0] in differential.KNOWN_DIFFERENCES]
    assert not unexpected, f"undocumented differences: {unexpected}"
    assert not stale, f"documented differences that no longer differ (update KNOWN_DIFFERENCES and docs): {stale}"
    same = sum(1 for row in rows if row[3])
    print(f"differential: {same}/{len(rows)} steps identical, {len(rows) - same} documented differences")
