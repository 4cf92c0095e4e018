"""The five fail-closed gates of seed 003 in front of signing: auth -> decode -> policy -> replay -> sign.

:class:`PolicyGate` is called by the routes (``responses``) for ``/sign/hash`` and
``/sign/canonical``; the routes do the decoding and report decode refusals here. Every decision
is appended to the hash-chained audit log (signed by the proxy's audit key) and counted in the
Prometheus counters *before* the answer leaves; an accept whose audit record cannot be written is
refused (``AUDIT_UNAVAILABLE``) and its signature withheld. In ``monitor`` mode nothing after auth
is refused: what would have been is audited as ``would-deny``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pytest_kmsconform.reference_impl.clock import Clock, format_time, utc_now

from .errors import ErrorCode
from .policy import PolicyDenied, PolicyEngine, ReplayCache, SignRequest
from .policy_audit import AuditKeySigner, load_or_create_audit_key, open_audit_store
from .policy_config import Client, Mode, PolicyConfig, ReplayMode
from .policy_metrics import PolicyMetrics

log = logging.getLogger("pytest_kmsconform.signing_proxy")

T = TypeVar("T")
EngineFactory = Callable[..., PolicyEngine]
REPLAY_WAIT_S = 30.0
MAX_REASON = 200

GATES: dict[ErrorCode, str] = {
    ErrorCode.UNAUTHORIZED: "auth",
    ErrorCode.KILL_SWITCH_ENGAGED: "policy",
    ErrorCode.ENDPOINT_NOT_ALLOWED: "policy",
    ErrorCode.TYPE_NOT_ALLOWED: "policy",
    ErrorCode.RULE_VIOLATION: "policy",
    ErrorCode.KEY_NOT_ALLOWED: "policy",
    ErrorCode.AMOUNT_INVALID: "policy",
    ErrorCode.CAP_EXCEEDED: "policy",
    ErrorCode.RATE_LIMITED: "policy",
    ErrorCode.DAILY_CAP_EXCEEDED: "policy",
    ErrorCode.REPLAYED: "replay",
}
"""The gate that refuses with each code; others are the decode gate's (4xx) or the sign gate's (5xx, key state)."""


def gate_of(code: ErrorCode) -> str:
    if code in GATES:
        return GATES[code]
    if code.status >= 500 or code in (ErrorCode.NO_ACTIVE_KEY, ErrorCode.KEY_REVOKED):
        return "sign"
    return "decode"


class PolicyGate:
    """Policy engine, replay cache, audit log and metrics of one proxy.

    :param engine_factory: builds the :class:`PolicyEngine` (tests pass variants).
    """

    def __init__(
        self, config: PolicyConfig, *, clock: Clock = utc_now, engine_factory: EngineFactory = PolicyEngine
    ) -> None:
        self.config = config
        self._clock = clock
        self.engine = engine_factory(config, clock=clock)
        self.replay = ReplayCache(config.replay_window, clock=clock)
        self.audit_signer = AuditKeySigner(load_or_create_audit_key(config.audit_key_file))
        self.audit = open_audit_store(config.audit_path, self.audit_signer, clock=clock)
        try:
            self.metrics = PolicyMetrics(self.engine.kill_switch_engaged)
            restored = self.engine.restore(record.payload for record in self.audit.records())
        except BaseException:
            self.audit.close()
            raise
        log.info("policy gate: %d clients, mode %s, %d signatures restored", len(config.clients), config.mode, restored)

    @property
    def monitor(self) -> bool:
        return self.config.mode is Mode.MONITOR

    # -- auth and admin --------------------------------------------------------------------------
    def authenticate(self, presented: str | None) -> Client:
        return self.engine.authenticate(presented)

    def is_admin(self, presented: str | None) -> bool:
        return self.engine.is_admin(presented)

    def set_kill_switch(self, engaged: bool, reason: str, request_id: str | None) -> None:
        self.engine.set_kill_switch(engaged, reason)
        self._append({"type": "policy.kill_switch", "engaged": engaged, "reason": reason, "request_id": request_id})
        log.warning("kill switch %s: %s", "engaged" if engaged else "released", reason)

    def audit_records(self) -> list[dict[str, Any]]:
        return [record.to_json() for record in self.audit.records()]

    def audit_jwks(self) -> dict[str, Any]:
        return self.audit_signer.jwks()

    # -- decisions -------------------------------------------------------------------------------
    def _append(self, payload: Mapping[str, Any]) -> None:
        body = {k: v for k, v in payload.items() if v is not None}
        body["at"] = format_time(self._clock())
        try:
            self.audit.append(body)
        except Exception as exc:  # the log is a gate too: no answer without its record
            log.error("audit log append failed: %s", exc)
            raise PolicyDenied(ErrorCode.AUDIT_UNAVAILABLE, "the audit log cannot be written", gate="sign") from None

    def record(
        self,
        decision: str,
        gate: str,
        code: str,
        client: Client | None,
        endpoint: str,
        request_id: str | None,
        **extra: Any,
    ) -> None:
        """Audit one decision and count it."""
        name = client.name if client is not None else None
        self._count(endpoint, name or "", gate, decision, code)
        self._log(
            {
                "type": "policy.decision",
                "decision": decision,
                "gate": gate,
                "code": code,
                "client": name,
                "endpoint": endpoint,
                "request_id": request_id,
                **extra,
            }
        )

    def _count(self, endpoint: str, client: str, gate: str, decision: str, code: str) -> None:
        self.metrics.decisions.labels(endpoint, client, gate, decision, code).inc()

    def _log(self, decision: Mapping[str, Any]) -> None:
        self._append(decision)

    def refused(
        self, code: ErrorCode, message: str, client: Client | None, endpoint: str, request_id: str | None
    ) -> None:
        """Audit and count a refusal made outside :meth:`sign` (auth and decode gates)."""
        self.record("deny", gate_of(code), code.wire_name, client, endpoint, request_id, reason=message[:MAX_REASON])

    def _deny(self, exc: PolicyDenied, client: Client, request: SignRequest, request_id: str | None) -> None:
        if self.monitor and exc.gate in ("policy", "replay"):
            self.record("would-deny", exc.gate, exc.code.wire_name, client, request.endpoint, request_id)
            return
        self.refused(exc.code, exc.message, client, request.endpoint, request_id)
        raise exc

    def _replay_key(self, client: Client, request: SignRequest) -> bytes:
        h = hashlib.sha256()
        for part in (client.name.encode(), request.endpoint.encode(), request.material):
            h.update(len(part).to_bytes(8, "big") + part)
        return h.digest()

    def sign(
        self,
        client: Client,
        request: SignRequest,
        request_id: str | None,
        do_sign: Callable[[], T],
        describe: Callable[[T], Mapping[str, Any]],
    ) -> tuple[T, bool]:
        """Policy, replay, then ``do_sign()``; returns (result, replayed). Refusals raise :class:`PolicyDenied`
        after being audited; ``describe(result)`` gives the audit members of an accept (kid, digest)."""
        permit = None
        try:
            permit = self.engine.check(client, request)
        except PolicyDenied as exc:
            self._deny(exc, client, request, request_id)
        key = self._replay_key(client, request)
        try:
            for _ in range(3):
                earlier = self.replay.begin(key)
                if earlier is None:
                    return self._sign_first(client, request, request_id, key, do_sign, describe, permit), False
                if client.replay is ReplayMode.REJECT or self.monitor:
                    self._deny(
                        PolicyDenied(ErrorCode.REPLAYED, "request seen within the replay window", gate="replay"),
                        client,
                        request,
                        request_id,
                    )
                    # monitor mode: sign it again, outside the cache
                    result = self._backend(request, do_sign)
                    self.record("accept", "sign", "OK", client, request.endpoint, request_id, **describe(result))
                    return result, False
                if earlier.done.wait(REPLAY_WAIT_S) and earlier.result is not None:
                    result = earlier.result
                    extra = {"replayed": True, **describe(result)}
                    self.record("accept", "replay", "OK", client, request.endpoint, request_id, **extra)
                    return result, True
            raise PolicyDenied(ErrorCode.REPLAYED, "the original request did not complete", gate="replay")
        finally:
            if permit is not None:
                self.engine.settle(permit, signed=False)  # no-op when settled as signed

    def _backend(self, request: SignRequest, do_sign: Callable[[], T]) -> T:
        self.metrics.backend_calls.labels(request.endpoint).inc()
        return do_sign()

    def _sign_first(
        self,
        client: Client,
        request: SignRequest,
        request_id: str | None,
        key: bytes,
        do_sign: Callable[[], T],
        describe: Callable[[T], Mapping[str, Any]],
        permit: Any,
    ) -> T:
        try:
            result = self._backend(request, do_sign)
        except BaseException:
            self.replay.fail(key)
            raise
        if permit is not None:
            self.engine.settle(permit, signed=True)
        amount = permit.amount if permit is not None else None
        try:
            self.record("accept", "sign", "OK", client, request.endpoint, request_id, amount=amount, **describe(result))
        except PolicyDenied:
            self.replay.fail(key)  # never hand out (now or as a replay) a signature that was not logged
            raise
        self.replay.finish(key, result)
        return result

    def close(self) -> None:
        self.audit.close()
