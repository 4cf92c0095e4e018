"""Prometheus counters of the policy gate (``GET /metrics``), with ``prometheus-client``.

One registry per gate (several proxies in one process never share counters). Updated on every
accept and every denial, by gate and code; the backend counter counts signing calls that reached
the key backend. ``prometheus-client`` is the ``policy`` extra; without it a policy cannot load.
"""

from __future__ import annotations

from collections.abc import Callable

from .policy_config import PolicyConfigError

DECISIONS = "kmsconform_policy_decisions"
BACKEND_CALLS = "kmsconform_backend_sign_calls"
KILL_SWITCH = "kmsconform_kill_switch_engaged"


class PolicyMetrics:
    def __init__(self, kill_switch: Callable[[], bool]) -> None:
        try:
            from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge
        except ImportError:
            raise PolicyConfigError(
                "a policy needs prometheus-client for /metrics: pip install 'pytest-kmsconform[policy]'"
            ) from None
        self.content_type = CONTENT_TYPE_LATEST
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter(
            DECISIONS,
            "Signing requests by endpoint, client, deciding gate, decision (accept, deny, would-deny) and code",
            ["endpoint", "client", "gate", "decision", "code"],
            registry=self.registry,
        )
        self.backend_calls = Counter(
            BACKEND_CALLS, "Signing calls that reached the key backend", ["endpoint"], registry=self.registry
        )
        gauge = Gauge(KILL_SWITCH, "1 while the kill switch is engaged", registry=self.registry)
        gauge.set_function(lambda: 1.0 if kill_switch() else 0.0)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
