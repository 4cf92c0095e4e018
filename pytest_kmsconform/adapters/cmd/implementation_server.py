"""The protocol's ops mapped onto a Python :class:`~pytest_kmsconform.adapter.Implementation`: the
inverse of :mod:`.adapter`. Objects the child makes are named by handles (``s1``, ``l2``, ``g3``...);
host signers become :class:`HostSigner` objects that call back to the host.

Only what the implementation declares and the protocol has ops for is offered in ``hello`` (not
``envelope_persistence``, ``signing_events``, ``db_verifier``). Capabilities of protocol 1.1
(``policy``, ``delegation``) are offered only to a host that announced 1.1
(:data:`~pytest_kmsconform.protocol.PROTOCOL_ENV`).
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_kmsconform import protocol
from pytest_kmsconform.adapter import Implementation, ImplSigner
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capability
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.clock import format_time, parse_time, utc_now
from pytest_kmsconform.reference_impl.errors import BackendError, KeyStateError
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.verifier import Verifier

from .serve import Handler, OpError, ProtocolServer, host_minor

NO_OPS = frozenset({Capability.ENVELOPE})
"""Capabilities ``hello`` may name but the protocol has no ops for; capabilities it cannot name at
all (``signing_events``, ``db_verifier``: not in ``schemas/hello.json``) are not offered either."""


class HostSigner:
    """A signer of the host (``host_signer``): signs with ``host.sign``, reads its key with
    ``host.keyset`` (1.1), verifies offline against that key set."""

    def __init__(self, server: ProtocolServer, host_id: str, alg: Algorithm) -> None:
        self._server, self.id, self._alg = server, host_id, alg

    @property
    def backend(self) -> str:
        return "host"

    @property
    def alg(self) -> Algorithm:
        return self._alg

    def _keyset(self) -> dict[str, Any]:
        return self._server.callback("host.keyset", signer=self.id)

    @property
    def kid(self) -> str:
        return str(self._keyset()["kid"])

    def sign_digest(self, digest: bytes) -> Signature:
        answer = self._server.callback("host.sign", signer=self.id, digest=digest.hex())
        return Signature.from_json(answer["signature"])

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        Verifier(self.jwks()).verify_signature(digest, signature)

    def jwks(self) -> dict[str, Any]:
        jwks: dict[str, Any] = self._keyset()["jwks"]
        return jwks

    def rotate(self) -> str:
        raise KeyStateError("a host signer is rotated by the host")

    def revoke(self, kid: str, reason: str) -> None:
        raise KeyStateError("a host signer is revoked by the host")

    def close(self) -> None:
        """The host owns it."""


def _code_of(exc: BaseException) -> str | None:
    """The wire code a refusal carries (``code`` attribute, enum or string), if any."""
    code = getattr(exc, "code", None)
    code = getattr(code, "value", code)
    return code if isinstance(code, str) and code else None


def _finding(finding: Any) -> dict[str, Any]:
    code = getattr(finding.code, "value", finding.code)
    return {"code": str(code), "index": finding.index, "message": str(getattr(finding, "message", ""))}


class ImplementationServer:
    """Handles of one child and the handler of every op."""

    def __init__(self, impl: Implementation, env: Mapping[str, str]) -> None:
        self.impl = impl
        self.minor = host_minor(env)
        self.namespace = f"cmd{os.getpid()}"
        self._handles: dict[str, tuple[str, Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server: ProtocolServer | None = None

    # -- handles -----------------------------------------------------------------------------------
    def _add(self, kind: str, value: Any) -> str:
        with self._lock:
            handle = f"{kind[0]}{next(self._ids)}"
            self._handles[handle] = (kind, value)
            return handle

    def _get(self, kind: str, handle: Any) -> Any:
        with self._lock:
            found = self._handles.get(str(handle))
        if found is None or found[0] != kind:
            raise OpError("NOT_FOUND", f"no {kind} {handle!r}")
        return found[1]

    def _drop(self, handle: Any) -> Any:
        with self._lock:
            return self._handles.pop(str(handle), (None, None))[1]

    def _signer(self, m: Mapping[str, Any]) -> ImplSigner:
        """The request's ``signer`` (a handle) or ``host_signer`` (calls back to the host)."""
        if "signer" in m:
            signer: ImplSigner = self._get("signer", m["signer"])
            return signer
        host = m["host_signer"]
        assert self.server is not None
        return HostSigner(self.server, str(host["id"]), Algorithm(host["alg"]))

    # -- ops ---------------------------------------------------------------------------------------
    def hello(self, m: Mapping[str, Any]) -> dict[str, Any]:
        if m.get("protocol") != protocol.PROTOCOL_VERSION:
            raise OpError("UNSUPPORTED", f"protocol {m.get('protocol')!r} is not {protocol.PROTOCOL_VERSION}")
        caps = self.impl.capabilities()
        minor = min(self.minor or 0, protocol.PROTOCOL_MINOR)
        offered = {c.value for c in caps.features - NO_OPS} & protocol.capability_names()
        features = sorted(c for c in offered if protocol.since(c) <= minor)
        answer: dict[str, Any] = {
            "protocol": protocol.PROTOCOL_VERSION,
            "implementation": {"name": self.impl.name, "version": self.impl.version},
            "capabilities": features,
            "algorithms": sorted(a.value for a in caps.algorithms),
            "backends": sorted(caps.backends),
        }
        if self.minor is not None:
            answer["minor"] = minor
        if Capability.SERVICE_COMMAND.value in features:
            answer["service_command"] = list(self.impl.service_command())
        if Capability.VERIFIER_COMMAND.value in features:
            answer["verifier_command"] = list(self.impl.verifier_command(Path("{archive}"), Path("{jwks}")))
        return answer

    def open_signer(self, m: Mapping[str, Any]) -> dict[str, Any]:
        b = m["backend"]
        handle = BackendHandle(
            name=b["name"], kind=b["kind"], env=dict(b["env"]), version="cmd", namespace=self.namespace, url=b["url"]
        )
        signer = self.impl.signer(handle, Algorithm(m["alg"]), label=str(m["label"]))
        return {"signer": self._add("signer", signer), "kid": signer.kid}

    def signer_info(self, m: Mapping[str, Any]) -> dict[str, Any]:
        signer = self._get("signer", m["signer"])
        return {"kid": signer.kid, "alg": signer.alg.value}

    def sign(self, m: Mapping[str, Any]) -> dict[str, Any]:
        signature = self._get("signer", m["signer"]).sign_digest(bytes.fromhex(m["digest"]))
        return {"signature": signature.to_json()}

    def verify(self, m: Mapping[str, Any]) -> dict[str, Any]:
        signer = self._get("signer", m["signer"])
        signer.verify_signature(bytes.fromhex(m["digest"]), Signature.from_json(m["signature"]))
        return {}

    def keyset(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"jwks": self._get("signer", m["signer"]).jwks()}

    def rotate(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"kid": self._get("signer", m["signer"]).rotate()}

    def revoke(self, m: Mapping[str, Any]) -> dict[str, Any]:
        signer = self._get("signer", m["signer"])
        kid = str(m["kid"])
        signer.revoke(kid, str(m["reason"]))
        for key in signer.jwks().get("keys", []):
            if key.get("kid") == kid and key.get("revoked_at"):
                return {"kid": kid, "revoked_at": key["revoked_at"]}
        # symmetric keys are never published: the revocation took effect within this call
        return {"kid": kid, "revoked_at": format_time(utc_now())}

    def close_signer(self, m: Mapping[str, Any]) -> dict[str, Any]:
        self._get("signer", m["signer"])
        self._drop(m["signer"]).close()
        return {}

    def audit_open(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"log": self._add("log", self.impl.audit_log(self._signer(m), Path(m["path"])))}

    def audit_append(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"record": dict(self._get("log", m["log"]).append(m["payload"]))}

    def audit_records(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"records": [dict(r) for r in self._get("log", m["log"]).records()]}

    def audit_export(self, m: Mapping[str, Any]) -> dict[str, Any]:
        self._get("log", m["log"]).export_archive(Path(m["dest"]))
        return {}

    def audit_close(self, m: Mapping[str, Any]) -> dict[str, Any]:
        self._get("log", m["log"])
        self._drop(m["log"]).close()
        return {}

    def verifier_verify(self, m: Mapping[str, Any]) -> dict[str, Any]:
        at = None if m.get("at") is None else parse_time(m["at"])
        verifier = self.impl.verifier(m["jwks"])
        verifier.verify_signature(bytes.fromhex(m["digest"]), Signature.from_json(m["signature"]), at=at)
        return {}

    def verifier_verify_archive(self, m: Mapping[str, Any]) -> dict[str, Any]:
        findings = self.impl.verifier(m["jwks"]).verify_archive(Path(m["path"]))
        return {"findings": [_finding(f) for f in findings]}

    def multisig_verify(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"kids": list(self.impl.multisig().verify_manifest(m["manifest"], m["jwks"]))}

    def start_service(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"service": self._add("service", self.impl.start_service(dict(m["env"])))}

    def stop_service(self, m: Mapping[str, Any]) -> dict[str, Any]:
        self._get("service", m["service"])
        self._drop(m["service"]).close()
        return {}

    # -- policy (1.1) ------------------------------------------------------------------------------
    def _gate_call(self, m: Mapping[str, Any], call: Any) -> Any:
        try:
            return call(self._get("gate", m["gate"]))
        except (OpError, BackendError):
            raise
        except Exception as exc:  # a refusal with a wire code is POLICY_DENIED; anything else as usual
            code = _code_of(exc)
            if code is None:
                raise
            raise OpError("POLICY_DENIED", f"{type(exc).__name__}: {exc}", policy_code=code) from exc

    def policy_open(self, m: Mapping[str, Any]) -> dict[str, Any]:
        gate = self.impl.policy_gate(self._signer(m), m["policy"], Path(m["state_dir"]))
        return {"gate": self._add("gate", gate)}

    def policy_sign_hash(self, m: Mapping[str, Any]) -> dict[str, Any]:
        sig = self._gate_call(m, lambda g: g.sign_hash(m["token"], bytes.fromhex(m["digest"])))
        return {"signature": sig.to_json()}

    def policy_sign_canonical(self, m: Mapping[str, Any]) -> dict[str, Any]:
        canonical = str(m["canonical"]).encode("utf-8")
        sig = self._gate_call(m, lambda g: g.sign_canonical(m["token"], canonical, m.get("prev_hash")))
        return {"signature": sig.to_json()}

    def policy_kill_switch(self, m: Mapping[str, Any]) -> dict[str, Any]:
        self._gate_call(m, lambda g: g.set_kill_switch(m["admin_token"], bool(m["engaged"])))
        return {"engaged": bool(m["engaged"])}

    def policy_audit(self, m: Mapping[str, Any]) -> dict[str, Any]:
        records, jwks = self._gate_call(m, lambda g: g.audit(m["admin_token"]))
        return {"records": [dict(r) for r in records], "jwks": dict(jwks)}

    def policy_metrics(self, m: Mapping[str, Any]) -> dict[str, Any]:
        return {"text": self._get("gate", m["gate"]).metrics()}

    def policy_close(self, m: Mapping[str, Any]) -> dict[str, Any]:
        self._get("gate", m["gate"])
        self._drop(m["gate"]).close()
        return {}

    # -- delegation (1.1) --------------------------------------------------------------------------
    def delegation_issue(self, m: Mapping[str, Any]) -> dict[str, Any]:
        issuer = self.impl.delegation_issuer(self._signer(m), str(m["name"]))
        certificate = issuer.issue(
            subject=str(m["subject"]),
            subject_key=m["subject_key"],
            capabilities=list(m["capabilities"]),
            not_before=parse_time(m["not_before"]),
            not_after=parse_time(m["not_after"]),
            parent=m["parent"],
        )
        return {"certificate": dict(certificate)}

    def delegation_verify(self, m: Mapping[str, Any]) -> dict[str, Any]:
        at = None if m.get("at") is None else parse_time(m["at"])
        caps = self.impl.delegation_verifier(m["roots"]).verify_chain(m["chain"], at=at)
        return {"capabilities": [str(c) for c in caps]}

    # -- the table ---------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        table: dict[str, Handler] = {"shutdown": lambda m: {}}
        for op in protocol.OPS:
            if op != "shutdown":
                table[op] = getattr(self, op.replace(".", "_"))
        return table

    def close(self) -> None:
        with self._lock:
            handles = list(self._handles.values())
            self._handles.clear()
        for _, value in reversed(handles):
            try:
                value.close()
            except Exception as exc:  # closing everything matters more than one failure
                print(f"closing {type(value).__name__}: {type(exc).__name__}: {exc}", file=sys.stderr)
        self.impl.close()


def serve(impl: Implementation) -> None:
    """Serve ``impl`` on this process's stdin/stdout until ``shutdown``."""
    from .serve import protocol_streams

    inp, out = protocol_streams()
    ops = ImplementationServer(impl, os.environ)
    server = ProtocolServer(ops.handlers(), close=ops.close, out=out, inp=inp)
    ops.server = server
    server.run()
    # The reader thread is still blocked on stdin: leave without the interpreter's shutdown (which
    # would wait for that read), once everything is written.
    out.flush()
    sys.stderr.flush()
    os._exit(0)
