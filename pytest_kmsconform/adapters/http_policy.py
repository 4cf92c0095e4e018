"""The ``policy`` capability of an already running ``http(s)://`` service (``docs/policy.md``).

A service reports its policy gate in ``GET /health`` (``"policy": {"mode", "kill_switch"}``). The
suite cannot hand such a service its own signer or policy, so the KC-POL checks work from what the
service publishes and what the user gives: the policy file it enforces (``--kmsconform-policy``,
its ``token_file`` tokens are the clients the suite may act as), its admin token (the policy's
``[admin]`` token file, or ``--kmsconform-admin-key``) for the kill switch and the audit log,
``/metrics`` for the calls that reach the key backend, and ``/keys`` (or ``/verify``) to check
signatures. A restart is out of reach: those checks are not applicable, with the reason.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_kmsconform.emulators.signing_proxy.policy_config import PolicyConfigError, policy_from_mapping
from pytest_kmsconform.loader import AdapterSettings
from pytest_kmsconform.reference_impl.backends.signing_proxy import SigningProxySigner
from pytest_kmsconform.reference_impl.policy_client import PolicyClient
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.verifier import Verifier

BACKEND_CALLS_TOTAL = "kmsconform_backend_sign_calls_total"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
RESTART_REASON = (
    "a restart of a running service (http://) is out of the suite's reach; certify the gate's restarts "
    "through a Python or cmd: adapter"
)


class PolicyClientGate:
    """:class:`PolicyClient` with the ``ImplPolicyGate`` shape (``close`` releases nothing: the
    service keeps running)."""

    def __init__(self, client: PolicyClient) -> None:
        self.client = client

    def sign_hash(self, token: str | None, digest: bytes) -> Signature:
        return self.client.sign_hash(token, digest)

    def sign_canonical(self, token: str | None, canonical: bytes, prev_hash: str | None = None) -> Signature:
        return self.client.sign_canonical(token, canonical, prev_hash)

    def set_kill_switch(self, admin_token: str | None, engaged: bool) -> None:
        self.client.set_kill_switch(admin_token, engaged, reason="kmsconform KC-POL check")

    def audit(self, admin_token: str | None) -> tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]]:
        return self.client.audit(admin_token)

    def metrics(self) -> str:
        return self.client.metrics()

    def close(self) -> None:
        """The service is not ours to stop."""


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_file(table: Mapping[str, Any], base: Path) -> str | None:
    name = table.get("token_file")
    if not isinstance(name, str):
        return None
    return (base / name).read_text(encoding="utf-8").strip()


class HttpRunningPolicy:
    """The policy gate of the service at ``url`` (see the module docstring)."""

    restart_reason = RESTART_REASON

    def __init__(self, url: str, settings: AdapterSettings, client: SigningProxySigner) -> None:
        self.url = url
        self._client = client
        self._settings = settings
        self.gate = PolicyClientGate(PolicyClient(url, timeout=settings.timeout_s))
        self.policy: dict[str, Any] = {}
        self.tokens: dict[str, str] = {}
        self.kill_file: Path | None = None
        self.kill_file_reason = "no policy file given"
        self._reason: str | None = None
        try:
            self._load(settings.policy_file)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, PolicyConfigError) as exc:
            self._reason = f"the policy file {settings.policy_file} cannot be used: {type(exc).__name__}: {exc}"

    def _load(self, file: Path | None) -> None:
        if file is None:
            self._reason = (
                f"{self.url}/health reports a policy gate; give the policy it enforces with --kmsconform-policy FILE "
                "(clients with token_file tokens the suite may present) to certify it"
            )
            return
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        base = file.resolve().parent
        config = policy_from_mapping(data, base)  # the same validation the proxy makes at start-up
        self.policy = data
        for name, table in sorted((data.get("clients") or {}).items()):
            token = _token_file(table, base)
            if token is not None:
                self.tokens[name] = token
        admin = data.get("admin")
        admin_token = _token_file(admin, base) if isinstance(admin, Mapping) else None
        given = self._settings.admin_key
        if admin_token is None and given is not None:
            expected = admin.get("token_sha256") if isinstance(admin, Mapping) else None
            if expected is not None and expected != _sha(given):
                self._reason = "--kmsconform-admin-key is not the admin token of the policy file ([admin] token_sha256)"
            admin_token = given
        if admin_token is None:
            self._reason = (
                "the policy checks read the audit log and use the kill switch: give the admin token "
                "(the policy's [admin] token_file, or --kmsconform-admin-key)"
            )
        else:
            self.tokens["admin"] = admin_token
        host = urlsplit(self.url).hostname or ""
        if host not in LOOPBACK:
            self.kill_file_reason = f"the kill-switch file of a service on {host} is not on this machine"
        elif not config.kill_switch_file.parent.is_dir():
            folder = config.kill_switch_file.parent
            self.kill_file_reason = f"the kill-switch file's directory {folder} does not exist here"
        else:
            self.kill_file = config.kill_switch_file

    def unavailable_reason(self) -> str | None:
        return self._reason

    @property
    def kid(self) -> str:
        return self._client.kid

    def backend_calls(self) -> int:
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.gate.metrics()):
            for sample in family.samples:
                if sample.name == BACKEND_CALLS_TOTAL:
                    total += sample.value
        return int(total)

    def verify(self, digest: bytes, signature: Signature) -> None:
        if not signature.alg.is_symmetric:
            Verifier(self._client.jwks()).verify_signature(digest, signature)
            return
        token = next((t for name, t in sorted(self.tokens.items()) if name != "admin"), None)
        verifier = SigningProxySigner(self.url, token, timeout=self._settings.timeout_s)
        try:
            verifier.verify_signature(digest, signature)
        finally:
            verifier.close()

    def kill_switch_engaged(self) -> bool:
        policy = self._client.health().get("policy")
        return isinstance(policy, Mapping) and policy.get("kill_switch") is True
