"""Run the signing proxy as a small real service: ``python -m pytest_kmsconform.emulators.signing_proxy``.

Configuration comes from the environment (``docs/signing-proxy.md`` lists it); the proxy refuses to
start without an API key or a client CA ("must be secured via mTLS or API key", seed 001).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from .credentials import AuthPolicy
from .errors import ProxyConfigError
from .provider import run_proxy
from .server import TlsConfig

DEFAULT_PORT = 8081


def _metadata_key(path: str | None) -> ed25519.Ed25519PrivateKey | None:
    if not path:
        return None
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ProxyConfigError(f"cannot load SIGNING_PROXY_METADATA_KEY_FILE: {exc}") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ProxyConfigError("SIGNING_PROXY_METADATA_KEY_FILE must hold an Ed25519 private key (PEM)")
    return key


def _tls(env: Mapping[str, str]) -> TlsConfig | None:
    cert, key, ca = (
        env.get("SIGNING_PROXY_TLS_CERT"),
        env.get("SIGNING_PROXY_TLS_KEY"),
        env.get("SIGNING_PROXY_TLS_CLIENT_CA"),
    )
    if not cert and not key:
        if ca:
            raise ProxyConfigError("SIGNING_PROXY_TLS_CLIENT_CA needs SIGNING_PROXY_TLS_CERT and SIGNING_PROXY_TLS_KEY")
        return None
    if not cert or not key:
        raise ProxyConfigError("set both SIGNING_PROXY_TLS_CERT and SIGNING_PROXY_TLS_KEY")
    return TlsConfig(Path(cert), Path(key), Path(ca) if ca else None)


def options_from_env(env: Mapping[str, str]) -> dict[str, str]:
    names = {
        "SIGNING_PROXY_BACKEND": "backend",
        "SIGNING_PROXY_ALG": "alg",
        "SIGNING_PROXY_SIGNING_KEY_FILE": "key_file",
        "SIGNING_PROXY_KEY_LABEL": "label",
        "SIGNING_PROXY_MAX_BODY": "max_body",
        "SIGNING_PROXY_POLICY": "policy",
    }
    return {option: env[var] for var, option in names.items() if env.get(var)}


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_kmsconform.emulators.signing_proxy")
    parser.add_argument(
        "--port", type=int, default=None, help=f"TCP port (env SIGNING_PROXY_PORT, default {DEFAULT_PORT})"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ) if env is None else env
    # A service logs its signing operations (seed 000: correlation ids in the audit trail).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        tls = _tls(env)
        api_key = env.get("SIGNING_PROXY_API_KEY") or None
        policy = env.get("SIGNING_PROXY_POLICY") or None
        if api_key is not None and policy is not None:
            raise ProxyConfigError(
                "set SIGNING_PROXY_API_KEY or SIGNING_PROXY_POLICY, not both: the policy's clients carry the tokens"
            )
        if api_key is None and policy is None and (tls is None or tls.client_ca is None):
            raise ProxyConfigError(
                "set SIGNING_PROXY_API_KEY, SIGNING_PROXY_POLICY or mTLS (SIGNING_PROXY_TLS_CLIENT_CA): "
                "the proxy must be secured"
            )
        port_text = env.get("SIGNING_PROXY_PORT", str(DEFAULT_PORT))
        if not port_text.isdigit():
            raise ProxyConfigError(f"SIGNING_PROXY_PORT must be a number, got {port_text!r}")
        port = args.port if args.port is not None else int(port_text)
        auth = AuthPolicy(api_key=api_key, admin_key=env.get("SIGNING_PROXY_ADMIN_KEY") or None)
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        with run_proxy(
            options_from_env(env),
            host=env.get("SIGNING_PROXY_BIND", "127.0.0.1"),
            port=port,
            tls=tls,
            metadata_key=_metadata_key(env.get("SIGNING_PROXY_METADATA_KEY_FILE")),
            env=env,
            auth=auth,
        ) as running:
            print(f"# signing proxy over {running.description} listening on {running.server.url}", flush=True)
            print(f"SIGNING_PROXY_URL={running.server.url}", flush=True)
            print(f"SIGNING_PROXY_KEYS_PIN={running.service.keys_pin}", flush=True)
            stop.wait()
    except ProxyConfigError as exc:
        print(f"signing proxy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
