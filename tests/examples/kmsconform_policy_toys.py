"""Policy-gate mutants: the reference signing proxy's gate with one rule forgotten, each a plausible bug.

Every toy is the reference implementation (``policy`` over the real proxy and its HTTP API) with one
change to the policy engine or the gate; ``tests/plugin/test_policy_toys.py`` asserts that exactly the
KC-POL checks about that rule fail. ``GateOff`` is the same proxy with the gate switched off
(``mode = "monitor"``: nothing refused after auth).

Use: ``pytest --kmsconform --kmsconform-impl=kmsconform_policy_toys:NoReplayCache --kmsconform-backend=local``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_kmsconform.emulators.signing_proxy.errors import ErrorCode
from pytest_kmsconform.emulators.signing_proxy.gate import PolicyGate
from pytest_kmsconform.emulators.signing_proxy.policy import (
    PolicyDenied,
    PolicyEngine,
    ReplayCache,
    SignRequest,
    _Usage,
)
from pytest_kmsconform.emulators.signing_proxy.policy_config import Client, PolicyConfig
from pytest_kmsconform.reference_impl.algorithms import Algorithm

from pytest_kmsconform.adapter import ImplPolicyGate, ImplSigner
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.reference_adapter import ReferenceImplementation
from pytest_kmsconform.reference_policy import ReferencePolicyGate


class PolicyCorrect(ReferenceImplementation):
    """The reference gate, declared for ``sign`` + ``policy`` on ``local`` / ed25519 only."""

    name = "policy toy"
    engine: type[PolicyEngine] = PolicyEngine
    gate: type[PolicyGate] = PolicyGate
    mode: str | None = None

    def capabilities(self) -> Capabilities:
        return Capabilities(
            features=frozenset({Capability.SIGN, Capability.POLICY}),
            algorithms=frozenset({Algorithm.ED25519}),
            backends=frozenset({"local"}),
        )

    def policy_gate(self, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path) -> ImplPolicyGate:
        changed = dict(policy)
        if self.mode is not None:
            changed["mode"] = self.mode
        engine, gate = self.engine, self.gate

        def factory(config: PolicyConfig) -> PolicyGate:
            return gate(config, engine_factory=engine)

        return ReferencePolicyGate(signer, changed, state_dir, gate_factory=factory)


class GateOff(PolicyCorrect):
    """The policy gate switched off: monitor mode signs whatever authenticates."""

    mode = "monitor"


# -- engines that forget one rule -------------------------------------------------------------------
class _AllowsUnlistedEndpoint(PolicyEngine):
    def _check_endpoint(self, client: Client, request: SignRequest) -> None:
        """Forgot: deny by default (every client may call every endpoint)."""


class _IgnoresPayloadTypes(PolicyEngine):
    def _check_payload(self, client: Client, payload: Any) -> None:
        if client.types is not None and not isinstance(payload, dict):
            raise PolicyDenied(ErrorCode.TYPE_NOT_ALLOWED, "not an object")
        super()._check_payload(dataclasses.replace(client, types=None), payload)


class _IgnoresRules(PolicyEngine):
    def _check_payload(self, client: Client, payload: Any) -> None:
        super()._check_payload(dataclasses.replace(client, rules=()), payload)


class _IgnoresHashKeys(PolicyEngine):
    def _check_key(self, client: Client, kid: str) -> None:
        """Forgot: which keys a client may sign hashes with."""


class _NoPerRequestCap(PolicyEngine):
    def _check_amount(self, client: Client, request: SignRequest) -> int | None:
        caps = client.amount
        if caps is None:
            return super()._check_amount(client, request)
        uncapped = dataclasses.replace(caps, per_request=None)
        return super()._check_amount(dataclasses.replace(client, amount=uncapped), request)


class _NoDailyCap(PolicyEngine):
    def _reserve_daily(self, client: Client, usage: _Usage, amount: int | None) -> None:
        usage.reserved_amount += amount or 0  # reserves, never refuses
        usage.reserved_count += 1


class _RateCountedAfterSigning(PolicyEngine):
    """Counts a request against the rate limit once it was signed: concurrent requests overshoot."""

    def _take_rate(self, client: Client, usage: _Usage, now: Any) -> None:
        if len(usage.requests) >= client.rate.requests:
            raise PolicyDenied(ErrorCode.RATE_LIMITED, "rate limited")

    def settle(self, permit: Any, *, signed: bool) -> None:
        if signed and not permit.settled:
            with self._lock:
                self._usage[permit.client.name].requests.append(permit.at)
        super().settle(permit, signed=signed)


class _KillSwitchInMemory(PolicyEngine):
    """Keeps the kill switch in a variable: no file, lost on restart."""

    def __init__(self, config: PolicyConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._killed = False

    def kill_switch_engaged(self) -> bool:
        return self._killed

    def set_kill_switch(self, engaged: bool, reason: str) -> None:
        self._killed = engaged


class _KillSwitchClearedAtStart(PolicyEngine):
    """Removes a 'stale' kill-switch file when it starts."""

    def __init__(self, config: PolicyConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        config.kill_switch_file.unlink(missing_ok=True)


class _KillSwitchAlwaysOn(PolicyEngine):
    """Looks at the kill switch's directory instead of its file: engaged whenever the directory exists."""

    def kill_switch_engaged(self) -> bool:
        return self.config.kill_switch_file.parent.exists()


class _CapsResetOnRestart(PolicyEngine):
    def restore(self, decisions: Iterable[Mapping[str, Any]]) -> int:
        return 0


class _AdminTokenSigns(PolicyEngine):
    """The admin token signs as the first client ('the admin can do everything')."""

    def authenticate(self, presented: str | None) -> Client:
        if self.is_admin(presented):
            return self.config.clients[0]
        return super().authenticate(presented)


# -- gates that forget one step -----------------------------------------------------------------------
class _NoReplayCache(ReplayCache):
    def begin(self, key: bytes) -> Any:
        return None


class _NoReplayGate(PolicyGate):
    def __init__(self, config: PolicyConfig, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.replay = _NoReplayCache(config.replay_window)


class _SignsBeforePolicyGate(PolicyGate):
    """Asks the backend first and checks the policy after, discarding refused signatures."""

    def sign(
        self,
        client: Client,
        request: SignRequest,
        request_id: str | None,
        do_sign: Callable[[], Any],
        describe: Callable[[Any], Mapping[str, Any]],
    ) -> tuple[Any, bool]:
        early = self._backend(request, do_sign)
        return super().sign(client, request, request_id, lambda: early, describe)


class _DenialsNotLoggedGate(PolicyGate):
    def _log(self, decision: Mapping[str, Any]) -> None:
        if decision.get("decision") == "accept":
            super()._log(decision)


class _AcceptsNotLoggedGate(PolicyGate):
    def _log(self, decision: Mapping[str, Any]) -> None:
        if decision.get("decision") != "accept":
            super()._log(decision)


class _MetricsCountAcceptsOnlyGate(PolicyGate):
    def _count(self, endpoint: str, client: str, gate: str, decision: str, code: str) -> None:
        if decision == "accept":
            super()._count(endpoint, client, gate, decision, code)


def _toy(name: str, *, engine: type[PolicyEngine] = PolicyEngine, gate: type[PolicyGate] = PolicyGate) -> type:
    return type(name, (PolicyCorrect,), {"engine": engine, "gate": gate})


AllowsUnlistedEndpoint = _toy("AllowsUnlistedEndpoint", engine=_AllowsUnlistedEndpoint)
IgnoresPayloadTypes = _toy("IgnoresPayloadTypes", engine=_IgnoresPayloadTypes)
IgnoresRules = _toy("IgnoresRules", engine=_IgnoresRules)
IgnoresHashKeys = _toy("IgnoresHashKeys", engine=_IgnoresHashKeys)
NoPerRequestCap = _toy("NoPerRequestCap", engine=_NoPerRequestCap)
NoDailyCap = _toy("NoDailyCap", engine=_NoDailyCap)
RateCountedAfterSigning = _toy("RateCountedAfterSigning", engine=_RateCountedAfterSigning)
KillSwitchInMemory = _toy("KillSwitchInMemory", engine=_KillSwitchInMemory)
KillSwitchClearedAtStart = _toy("KillSwitchClearedAtStart", engine=_KillSwitchClearedAtStart)
KillSwitchAlwaysOn = _toy("KillSwitchAlwaysOn", engine=_KillSwitchAlwaysOn)
CapsResetOnRestart = _toy("CapsResetOnRestart", engine=_CapsResetOnRestart)
AdminTokenSigns = _toy("AdminTokenSigns", engine=_AdminTokenSigns)
NoReplayCache = _toy("NoReplayCache", gate=_NoReplayGate)
SignsBeforePolicy = _toy("SignsBeforePolicy", gate=_SignsBeforePolicyGate)
DenialsNotLogged = _toy("DenialsNotLogged", gate=_DenialsNotLoggedGate)
AcceptsNotLogged = _toy("AcceptsNotLogged", gate=_AcceptsNotLoggedGate)
MetricsCountAcceptsOnly = _toy("MetricsCountAcceptsOnly", gate=_MetricsCountAcceptsOnlyGate)
