"""The ``signing-proxy`` backend provider: the reference proxy on 127.0.0.1 over any reference signer.

Options (``kmsconform emulate signing-proxy --backend B --api-key K --option k=v``):
``backend`` (default ``local``; any registered backend, or ``env:<module>``), ``alg``,
``api_key`` / ``admin_key`` (default: fresh random dev keys), ``label``, ``seed`` / ``key_file``
(local backend), ``mock_secret``, ``backend.<k>=<v>`` (passed to the wrapped backend's provider),
``tls`` (``off`` default, ``mtls``: throw-away CA, server and client certificates), ``max_body``,
``policy`` (a ``kmsconform-policy/1`` TOML file: the policy gate of ``docs/policy.md``).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519
from pytest_kmsconform.reference_impl.signer import Signer

from pytest_kmsconform import __version__, kinds
from pytest_kmsconform.backend_api import BackendHandle

from .credentials import AuthPolicy
from .devcerts import make_dev_certs
from .errors import ProxyConfigError
from .gate import PolicyGate
from .models import ProxyService
from .policy_config import PolicyConfig, load_policy
from .responses import ProxyApp
from .server import SigningProxyServer, TlsConfig
from .signers import open_signer
from .wire import DEFAULT_MAX_BODY

KIND = kinds.SIGNING_PROXY
OPTIONS = frozenset(
    {"backend", "alg", "api_key", "admin_key", "label", "seed", "key_file", "mock_secret", "tls", "max_body", "policy"}
)


@dataclass(frozen=True)
class RunningProxy:
    server: SigningProxyServer
    service: ProxyService
    description: str
    env: Mapping[str, str]


def check_options(options: Mapping[str, str]) -> None:
    unknown = sorted(k for k in options if k not in OPTIONS and not k.startswith("backend."))
    if unknown:
        raise ProxyConfigError(
            f"unknown signing-proxy option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTIONS))}"
        )


def _max_body(options: Mapping[str, str]) -> int:
    raw = options.get("max_body")
    if raw is None:
        return DEFAULT_MAX_BODY
    if not raw.isdigit() or int(raw) < 1024:
        raise ProxyConfigError("max_body must be an integer of at least 1024 (bytes)")
    return int(raw)


@contextmanager
def serve_proxy(
    signer: Signer,
    auth: AuthPolicy,
    *,
    policy: PolicyConfig | None = None,
    gate_factory: Callable[[PolicyConfig], PolicyGate] = PolicyGate,
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsConfig | None = None,
    metadata_key: ed25519.Ed25519PrivateKey | None = None,
    max_body: int = DEFAULT_MAX_BODY,
) -> Iterator[tuple[SigningProxyServer, ProxyService]]:
    """Serve ``signer`` (not closed here), behind the policy gate when ``policy`` is given."""
    with ExitStack() as stack:
        gate = None
        if policy is not None:
            gate = gate_factory(policy)
            stack.callback(gate.close)
        service = ProxyService(signer, metadata_key=metadata_key)
        app = ProxyApp(service, auth, max_body=max_body, gate=gate)
        server = stack.enter_context(SigningProxyServer(app, host=host, port=port, tls=tls))
        yield server, service


@contextmanager
def run_proxy(
    options: Mapping[str, str],
    *,
    namespace: str = "kmsconform",
    host: str = "127.0.0.1",
    port: int = 0,
    tls: TlsConfig | None = None,
    metadata_key: ed25519.Ed25519PrivateKey | None = None,
    env: Mapping[str, str] | None = None,
    auth: AuthPolicy | None = None,
) -> Iterator[RunningProxy]:
    """Build signer, service and server from ``options``; everything stops on exit.

    ``auth`` overrides the ``api_key``/``admin_key`` options (which default to fresh dev keys).
    """
    check_options(options)
    policy = load_policy(options["policy"]) if options.get("policy") else None
    if auth is None and policy is not None:
        # the clients' tokens replace the API key; the policy's admin token, if set, the admin key
        admin = None if policy.admin_token_sha256 is not None else options.get("admin_key") or secrets.token_urlsafe(24)
        auth = AuthPolicy(api_key=None, admin_key=admin)
    if auth is None:
        auth = AuthPolicy(
            api_key=options.get("api_key") or secrets.token_urlsafe(24),
            admin_key=options.get("admin_key") or secrets.token_urlsafe(24),
        )
    if auth.api_key is not None and auth.api_key == auth.admin_key:
        raise ProxyConfigError("the admin key must differ from the API key")
    max_body = _max_body(options)
    out_env: dict[str, str] = {}
    with ExitStack() as stack:
        tls_mode = options.get("tls", "off")
        if tls_mode == "mtls" and tls is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kmsconform-proxy-tls-")))
            certs = make_dev_certs(directory)
            tls = TlsConfig(certs.server_cert, certs.server_key, certs.ca_cert)
            out_env.update(
                SIGNING_PROXY_CA_FILE=str(certs.ca_cert),
                SIGNING_PROXY_CLIENT_CERT=str(certs.client_cert),
                SIGNING_PROXY_CLIENT_KEY=str(certs.client_key),
            )
        elif tls_mode not in ("off", "mtls"):
            raise ProxyConfigError(f"tls must be off or mtls, got {tls_mode!r}")
        built = stack.enter_context(
            open_signer(
                options.get("backend", kinds.LOCAL),
                options,
                namespace=namespace,
                env=dict(os.environ) if env is None else env,
            )
        )
        server, service = stack.enter_context(
            serve_proxy(
                built.signer,
                auth,
                policy=policy,
                host=host,
                port=port,
                tls=tls,
                metadata_key=metadata_key,
                max_body=max_body,
            )
        )
        out_env.update(SIGNING_PROXY_URL=server.url, SIGNING_PROXY_KEYS_PIN=service.keys_pin)
        if policy is not None:
            out_env["SIGNING_PROXY_POLICY"] = str(Path(options["policy"]).resolve())
        if auth.api_key is not None:
            out_env["SIGNING_PROXY_API_KEY"] = auth.api_key
        if auth.admin_key is not None:
            out_env["SIGNING_PROXY_ADMIN_KEY"] = auth.admin_key
        yield RunningProxy(server=server, service=service, description=built.description, env=out_env)


@dataclass(frozen=True)
class SigningProxyDetails:
    """In-process details of a ``signing-proxy`` handle: the proxy's service model and its server."""

    service: ProxyService
    server: SigningProxyServer


@dataclass(frozen=True)
class SigningProxyProvider:
    name: str = kinds.SIGNING_PROXY
    kind: str = KIND
    description: str = "reference signing proxy (seed 001 API) over any reference signer, on 127.0.0.1"
    embedded: bool = True

    def unavailable_reason(self) -> str | None:
        return None

    @contextmanager
    def start(
        self, *, namespace: str, port: int = 0, options: Mapping[str, str] | None = None
    ) -> Iterator[BackendHandle]:
        with run_proxy(dict(options or {}), namespace=namespace, port=port) as running:
            yield BackendHandle(
                name=self.name,
                kind=self.kind,
                env=dict(running.env),
                version=f"kmsconform signing-proxy {__version__} over {running.description}",
                namespace=namespace,
                url=running.server.url,
                details=(SigningProxyDetails(running.service, running.server),),
            )


PROVIDER = SigningProxyProvider()
