"""The subprocess implementation: protocol ops mapped onto the adapter protocol.

One main child serves signers, audit logs and the guard. Verifiers use a second child started in
an empty network namespace (``unshare -n``) when that is permitted, so an air-gapped check proves
the verifier needs no network. Where it is not permitted, the verifier child runs normally and a
check that blocks the network (``airgap.network_blocked``) is skipped with the reason, since
blocking sockets in this process says nothing about the child.
"""

from __future__ import annotations

import itertools
import shlex
import socket
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform import protocol
from pytest_kmsconform.adapter import (
    AdapterError,
    ImplAuditLog,
    ImplChainVerifier,
    ImplementationBase,
    ImplIssuer,
    ImplMultisig,
    ImplPolicyGate,
    ImplSigner,
    ServiceHandle,
)
from pytest_kmsconform.airgap import offline_argv, unshare_unavailable_reason
from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.capabilities import Capabilities, Capability
from pytest_kmsconform.loader import AdapterSettings, ImplLoadError
from pytest_kmsconform.protocol import PROTOCOL_MINOR, PROTOCOL_VERSION
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.clock import format_time
from pytest_kmsconform.reference_impl.errors import KmsConformError
from pytest_kmsconform.reference_impl.signature import Signature

from .child import ChildProcess, child_env
from .delegation import CmdChainVerifier, CmdIssuer
from .errors import ProtocolViolation
from .policy import CmdPolicyGate

_UNPATCHED_CONNECT = socket.create_connection


def _network_blocked_here() -> bool:
    """Whether ``airgap.network_blocked`` is active in this process (it replaces this function)."""
    return socket.create_connection is not _UNPATCHED_CONNECT


class HostSigners:
    """Signers of this process that children sign with through ``host.sign`` callbacks."""

    def __init__(self) -> None:
        self._signers: dict[str, ImplSigner] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, signer: ImplSigner) -> str:
        with self._lock:
            host_id = f"h{next(self._ids)}"
            self._signers[host_id] = signer
            return host_id

    def remove(self, host_id: str) -> None:
        with self._lock:
            self._signers.pop(host_id, None)

    def serve(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer a ``host.sign`` or ``host.keyset`` (1.1) callback."""
        with self._lock:
            signer = self._signers.get(str(message["signer"]))
        if signer is None:
            return {"ok": False, "error": {"code": "NOT_FOUND", "message": f"no host signer {message['signer']!r}"}}
        if message["op"] == "host.keyset":
            try:
                return {"ok": True, "kid": signer.kid, "jwks": signer.jwks()}
            except Exception as exc:  # the child gets the refusal, typed
                return {"ok": False, "error": {"code": "BACKEND_ERROR", "message": f"{type(exc).__name__}: {exc}"}}
        try:
            signature = signer.sign_digest(bytes.fromhex(str(message["digest"])))
        except Exception as exc:  # any refusal of the host signer goes back to the child as an error
            return {"ok": False, "error": {"code": "SIGNING_FAILED", "message": f"{type(exc).__name__}: {exc}"}}
        return {"ok": True, "signature": signature.to_json()}


def _signature(data: Any) -> Signature:
    return Signature.from_json(data)


class CmdSigner:
    """A signer living in the child (``open_signer``)."""

    def __init__(self, child: ChildProcess, handle_id: str, alg: Algorithm) -> None:
        self.child, self.id, self._alg = child, handle_id, alg

    @property
    def backend(self) -> str:
        return "cmd"

    @property
    def alg(self) -> Algorithm:
        return self._alg

    @property
    def kid(self) -> str:
        return str(self.child.request("signer_info", signer=self.id)["kid"])

    def sign_digest(self, digest: bytes) -> Signature:
        return _signature(self.child.request("sign", signer=self.id, digest=digest.hex())["signature"])

    def verify_signature(self, digest: bytes, signature: Signature) -> None:
        self.child.request("verify", signer=self.id, digest=digest.hex(), signature=signature.to_json())

    def jwks(self) -> dict[str, Any]:
        jwks: dict[str, Any] = self.child.request("keyset", signer=self.id)["jwks"]
        return jwks

    def rotate(self) -> str:
        return str(self.child.request("rotate", signer=self.id)["kid"])

    def revoke(self, kid: str, reason: str) -> None:
        self.child.request("revoke", signer=self.id, kid=kid, reason=reason)

    def close(self) -> None:
        if self.child.proc.poll() is None:
            self.child.request("close_signer", signer=self.id)


class CmdAuditLog:
    def __init__(self, child: ChildProcess, log_id: str, hosts: HostSigners, host_id: str | None) -> None:
        self.child, self.id, self._hosts, self._host_id = child, log_id, hosts, host_id

    def append(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        record: Mapping[str, Any] = self.child.request("audit.append", log=self.id, payload=dict(payload))["record"]
        return record

    def records(self) -> Sequence[Mapping[str, Any]]:
        records: Sequence[Mapping[str, Any]] = self.child.request("audit.records", log=self.id)["records"]
        return records

    def export_archive(self, dest: Path) -> None:
        self.child.request("audit.export", log=self.id, dest=str(Path(dest).resolve()))

    def close(self) -> None:
        try:
            if self.child.proc.poll() is None:
                self.child.request("audit.close", log=self.id)
        finally:
            if self._host_id is not None:
                self._hosts.remove(self._host_id)


class CmdFinding:
    def __init__(self, code: str, index: int | None, message: str) -> None:
        self.code, self.index, self.message = code, index, message

    def __repr__(self) -> str:
        return f"CmdFinding({self.code!r}, {self.index!r})"


class CmdVerifier:
    """A verifier over a key set, served by the (offline when possible) verifier child."""

    def __init__(self, impl: CmdImplementation, jwks: Mapping[str, Any]) -> None:
        self._impl, self._jwks = impl, dict(jwks)

    def _child(self) -> ChildProcess:
        return self._impl.offline_child()

    def verify_signature(self, digest: bytes, signature: Signature, *, at: datetime | None = None) -> None:
        when = None if at is None else format_time(at)
        self._child().request(
            "verifier.verify", jwks=self._jwks, digest=digest.hex(), signature=signature.to_json(), at=when
        )

    def verify_archive(self, path: Path) -> list[CmdFinding]:
        answer = self._child().request("verifier.verify_archive", jwks=self._jwks, path=str(Path(path).resolve()))
        return [CmdFinding(f["code"], f["index"], f["message"]) for f in answer["findings"]]


class CmdMultisig:
    """Manifest counting, served by the verifier child (it needs only the key set)."""

    def __init__(self, impl: CmdImplementation) -> None:
        self._impl = impl

    def verify_manifest(self, manifest: Mapping[str, Any], jwks: Mapping[str, Any]) -> Sequence[str]:
        answer = self._impl.verifier_child().request("multisig.verify", manifest=dict(manifest), jwks=dict(jwks))
        return [str(k) for k in answer["kids"]]


class CmdService:
    def __init__(self, child: ChildProcess, service_id: str) -> None:
        self.child, self.id = child, service_id

    def close(self) -> None:
        self.child.request("stop_service", service=self.id)


class CmdImplementation(ImplementationBase):
    """An implementation in a child process (``cmd:<command line>``)."""

    def __init__(self, argv: Sequence[str], settings: AdapterSettings) -> None:
        self.argv = list(argv)
        self.settings = settings
        self.hosts = HostSigners()
        self.main = self._start(self.argv)
        self._verifier: ChildProcess | None = None
        self._verifier_lock = threading.Lock()
        try:
            hello = self._hello(self.main)
        except BaseException:
            self.main.close()
            raise
        self.hello = hello
        self.name = str(hello["implementation"]["name"])
        self.version = str(hello["implementation"]["version"])
        self.minor = min(int(hello.get("minor", 0)), PROTOCOL_MINOR)
        features = {Capability(c) for c in hello["capabilities"]}
        newer = sorted(c.value for c in features if protocol.since(c.value) > self.minor)
        if newer:
            self.main.close()
            raise ProtocolViolation(
                f"capabilities {', '.join(newer)} need protocol {PROTOCOL_VERSION}.1; the child speaks "
                f'{PROTOCOL_VERSION}.{self.minor} (answer hello with "minor": 1)'
            )
        # A process-level capability needs its command: without one it is not declared.
        if "service_command" not in hello:
            features.discard(Capability.SERVICE_COMMAND)
        if "verifier_command" not in hello:
            features.discard(Capability.VERIFIER_COMMAND)
        self._caps = Capabilities(
            features=frozenset(features),
            algorithms=frozenset(Algorithm(a) for a in hello["algorithms"]),
            backends=frozenset(hello["backends"]),
        )
        self.offline_reason = unshare_unavailable_reason()

    def _start(self, argv: Sequence[str]) -> ChildProcess:
        env = child_env({protocol.PROTOCOL_ENV: f"{PROTOCOL_VERSION}.{PROTOCOL_MINOR}"})
        return ChildProcess(argv, timeout_s=self.settings.timeout_s, callback=self.hosts.serve, env=env)

    @staticmethod
    def _hello(child: ChildProcess) -> dict[str, Any]:
        hello = child.request("hello", protocol=PROTOCOL_VERSION)
        if hello["protocol"] != PROTOCOL_VERSION:
            raise ProtocolViolation(f"child speaks protocol {hello['protocol']}, not {PROTOCOL_VERSION}")
        return hello

    def capabilities(self) -> Capabilities:
        return self._caps

    def offline_child(self) -> ChildProcess:
        """The verifier child, for a request made while this process may have its network blocked:
        where the child cannot be cut off too, the check is skipped (blocking sockets here proves
        nothing about another process)."""
        if _network_blocked_here() and self.offline_reason is not None:
            pytest.skip(f"the cmd verifier cannot be cut off from the network here: {self.offline_reason}")
        return self.verifier_child()

    def verifier_child(self) -> ChildProcess:
        """The child serving verifiers: started once, in an empty network namespace when permitted."""
        with self._verifier_lock:
            if self._verifier is None:
                argv = self.argv if self.offline_reason is not None else offline_argv(self.argv)
                child = self._start(argv)
                try:
                    self._hello(child)
                except BaseException:
                    child.close()
                    raise
                self._verifier = child
            return self._verifier

    def signer(self, handle: BackendHandle, alg: Algorithm, *, label: str) -> ImplSigner:
        backend = {"name": handle.name, "kind": handle.kind, "env": dict(handle.env), "url": handle.url}
        answer = self.main.request("open_signer", backend=backend, alg=alg.value, label=label)
        return CmdSigner(self.main, str(answer["signer"]), alg)

    def verifier(self, jwks: Mapping[str, Any]) -> CmdVerifier:
        return CmdVerifier(self, jwks)

    def verifier_command(self, archive: Path, jwks: Path) -> Sequence[str]:
        template: list[str] = self.hello["verifier_command"]
        return [a.replace("{archive}", str(archive)).replace("{jwks}", str(jwks)) for a in template]

    def signer_ref(self, signer: ImplSigner) -> tuple[dict[str, Any], str | None]:
        """How a request names ``signer``: one of the child's own (``signer``), or any other (a
        wrapper, another implementation's) registered as a host signer the child calls back to sign
        with (``host_signer``); the second value is that registration, to remove when done."""
        if isinstance(signer, CmdSigner) and signer.child is self.main:
            return {"signer": signer.id}, None
        host_id = self.hosts.add(signer)
        return {"host_signer": {"id": host_id, "alg": signer.alg.value}}, host_id

    def audit_log(self, signer: ImplSigner, path: Path) -> ImplAuditLog:
        ref, host_id = self.signer_ref(signer)
        try:
            answer = self.main.request("audit.open", path=str(Path(path).resolve()), **ref)
        except BaseException:
            if host_id is not None:
                self.hosts.remove(host_id)
            raise
        return CmdAuditLog(self.main, str(answer["log"]), self.hosts, host_id)

    def start_service(self, env: Mapping[str, str]) -> ServiceHandle:
        return CmdService(self.main, str(self.main.request("start_service", env=dict(env))["service"]))

    def service_command(self) -> Sequence[str]:
        command: list[str] = self.hello["service_command"]
        return list(command)

    def multisig(self) -> ImplMultisig:
        return CmdMultisig(self)

    def policy_gate(self, signer: ImplSigner, policy: Mapping[str, Any], state_dir: Path) -> ImplPolicyGate:
        return CmdPolicyGate.open(self, signer, policy, state_dir)

    def delegation_issuer(self, signer: ImplSigner, name: str) -> ImplIssuer:
        return CmdIssuer(self, signer, name)

    def delegation_verifier(self, trusted_roots: Mapping[str, Any]) -> ImplChainVerifier:
        return CmdChainVerifier(self, trusted_roots)

    def close(self) -> None:
        with self._verifier_lock:
            if self._verifier is not None:
                self._verifier.close()
        self.main.close()


def load(spec: str, settings: AdapterSettings) -> CmdImplementation:
    """Loader for the ``cmd`` scheme: ``cmd:<command line>`` split like a POSIX shell would."""
    command = spec.partition(":")[2].strip()
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ImplLoadError(f"--kmsconform-impl={spec!r}: cannot split the command line: {exc}") from None
    if not argv:
        raise ImplLoadError(f"--kmsconform-impl={spec!r}: empty command (expected cmd:<command line>)")
    try:
        return CmdImplementation(argv, settings)
    except (AdapterError, KmsConformError) as exc:
        raise ImplLoadError(f"--kmsconform-impl={spec!r}: {type(exc).__name__}: {exc}") from None
