"""Fault injection for every backend: a seeded plan, a loopback HTTP fault proxy, an in-process hook.

* :mod:`.plan` loads and validates plans and decides, per call, which fault applies.
* :mod:`.catalog` holds each backend's realistic errors; :mod:`.wire` names requests and flips
  signature bits; :mod:`.proxy` is the HTTP transport; :mod:`.inprocess` wraps a ``KeyBackend``.
* :mod:`.fixtures` gives pytest fixture factories. See ``docs/reliability.md``.
"""

from __future__ import annotations

from .errors import FaultError, FaultPlanError, FaultProxyError
from .inprocess import FaultyKeyBackend
from .plan import FaultKind, FaultPlan, FaultRule, load_plan, plan_from_dict
from .proxy import FaultProxy, fault_proxy

__all__ = [
    "FaultError",
    "FaultKind",
    "FaultPlan",
    "FaultPlanError",
    "FaultProxy",
    "FaultProxyError",
    "FaultRule",
    "FaultyKeyBackend",
    "fault_proxy",
    "load_plan",
    "plan_from_dict",
]
