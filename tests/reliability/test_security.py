"""Security: key material never reaches logs, error messages, archives, key sets or CLI output;
servers bind 127.0.0.1; API keys are compared in constant time."""

from __future__ import annotations

import ast
import base64
import hmac
import json
import logging
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pytest_kmsconform.reference_impl.errors import KmsConformError

from pytest_kmsconform import PRODUCER

REPO = Path(__file__).resolve().parents[2]
KMSCONFORM = [sys.executable, "-c", "import sys; from pytest_kmsconform.cli import main; sys.exit(main())"]


def forms(secret: bytes | str) -> set[str]:
    """Every textual form a leaked secret could take (raw, hex, base64, base64url), 12+ chars."""
    raw = secret.encode() if isinstance(secret, str) else secret
    out = {raw.hex(), base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    if isinstance(secret, str):
        out.add(secret)
    # a base64 window from inside the encoding catches PEM bodies split over lines
    b64 = base64.b64encode(raw).decode()
    if len(b64) > 60:
        out.add(b64[20:60])
    return {f for f in out if len(f) >= 12}


def private_forms(key: Any) -> set[str]:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    found = forms(der)
    found |= {line for line in pem.decode().splitlines() if len(line) >= 40 and "PRIVATE" not in line}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        found |= forms(
            key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        )
    if isinstance(key, ec.EllipticCurvePrivateKey):
        found |= forms(key.private_numbers().private_value.to_bytes(32, "big"))
    if isinstance(key, rsa.RSAPrivateKey):
        d = key.private_numbers().d
        found |= forms(d.to_bytes((d.bit_length() + 7) // 8, "big"))
    return found


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def leaks(texts: Iterable[str], secret_forms: set[str]) -> list[str]:
    return sorted({f for t in texts for f in secret_forms if f in t})


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@pytest.fixture
def captured_logs() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def test_the_scanner_finds_a_planted_leak() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    assert leaks([f"oops: {pem(key)}"], private_forms(key))
    assert leaks([f"secret={secrets.token_bytes(32).hex()}"], set()) == []


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_local_key_flow_never_shows_the_private_key(tmp_path: Path, captured_logs: Capture, kind: str) -> None:
    from pytest_kmsconform.reference_impl.audit.archive import export_archive
    from pytest_kmsconform.reference_impl.audit.store import SqliteAuditStore
    from pytest_kmsconform.reference_impl.config import signer_from_env

    key: Any = {
        "ed25519": ed25519.Ed25519PrivateKey.generate,
        "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
        "rsa": lambda: rsa.generate_private_key(65537, 2048),
    }[kind]()
    secret_forms = private_forms(key)
    texts: list[str] = []
    env = {"AUDIT_SIGNING_PRIVATE_KEY": pem(key), "NODE_ENV": "development"}
    signer = signer_from_env(env)
    texts += [json.dumps(signer.jwks()), repr(signer), str(signer.kid)]
    with SqliteAuditStore(tmp_path / "a.db", signer) as store:
        for i in range(3):
            texts.append(repr(store.append({"n": i})))
        archive = tmp_path / "a.jsonl"
        export_archive(store, archive, signer, producer=PRODUCER)
    texts.append(archive.read_text())
    # wrong algorithm, damaged key, key in the wrong variable: the errors must not quote the key
    damaged = pem(key).replace("\n", "\n ", 3)
    bad_envs = [
        {**env, "AUDIT_SIGNING_ALG": "hmac-sha256"},
        {**env, "AUDIT_SIGNING_ALG": "rsa-sha256" if kind != "rsa" else "ed25519"},
        {"AUDIT_SIGNING_PRIVATE_KEY": damaged},
        {"AUDIT_SIGNING_PRIVATE_KEY": pem(key)[:-60]},
        {"AUDIT_SIGNING_PRIVATE_KEY": pem(key), "NODE_ENV": "production"},
    ]
    for bad in bad_envs:
        try:
            from pytest_kmsconform.reference_impl.guard import check_startup

            check_startup(bad)
            signer_from_env(bad)
        except KmsConformError as exc:
            texts += [str(exc), repr(exc), repr(exc.__cause__), repr(exc.__context__)]
    assert len(texts) > 8
    assert leaks(texts + captured_logs.lines, secret_forms) == []


def test_hmac_secret_and_mock_key_never_echoed(captured_logs: Capture) -> None:
    from pytest_kmsconform.reference_impl.config import signer_from_env
    from pytest_kmsconform.reference_impl.guard import check_startup

    secret = secrets.token_hex(32)
    mock = "mock-" + secrets.token_hex(16)
    texts: list[str] = []
    signer = signer_from_env({"AUDIT_SIGNING_SECRET": secret, "AUDIT_SIGNING_ALG": "hmac-sha256"})
    texts += [json.dumps(signer.jwks()), json.dumps(signer.sign_digest(b"\x00" * 32).to_json())]
    for env in (
        {"AUDIT_SIGNING_SECRET": secret, "AUDIT_SIGNING_ALG": "ed25519"},
        {"AUDIT_SIGNING_SECRET": secret, "REQUIRE_KMS": "true"},
        {"MOCK_AUDIT_SIGNING_KEY": mock, "NODE_ENV": "production"},
        {"MOCK_AUDIT_SIGNING_KEY": mock, "AUDIT_SIGNING_ALG": "ed25519"},
    ):
        with pytest.raises(KmsConformError) as info:
            check_startup(env)
            signer_from_env(env)
        texts += [str(info.value), repr(info.value)]
    assert leaks(texts + captured_logs.lines, forms(secret) | forms(mock)) == []


def test_signing_proxy_never_reflects_api_keys(captured_logs: Capture) -> None:
    from pytest_kmsconform.emulators.signing_proxy.provider import PROVIDER

    api_key, admin_key = "api-" + secrets.token_hex(16), "admin-" + secrets.token_hex(16)
    wrong = "wrong-" + secrets.token_hex(16)
    bodies: list[str] = []
    with PROVIDER.start(namespace="sec", options={"api_key": api_key, "admin_key": admin_key}) as handle:
        assert handle.url is not None
        for path, headers, body in [
            ("/sign/hash", {"Authorization": f"Bearer {wrong}"}, {"digest_hex": "00" * 32}),
            ("/sign/hash", {"X-API-Key": wrong, "Authorization": f"Bearer {api_key}"}, {"digest_hex": "00" * 32}),
            ("/sign/hash", {"Authorization": f"Bearer {api_key}"}, {"digest_hex": "zz"}),
            ("/sign/hash", {"Authorization": f"Bearer {api_key}"}, {"digest_hex": api_key}),
            ("/verify", {"Authorization": f"Bearer {api_key}"}, {"digest_hex": "00" * 32, "signature": admin_key}),
            ("/sign/hash", {"Authorization": f"Bearer {api_key}"}, {"digest_hex": "00" * 32}),
        ]:
            req = urllib.request.Request(
                handle.url + path,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", **headers},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    bodies.append(resp.read().decode())
            except urllib.error.HTTPError as exc:
                bodies.append(f"{exc.code} {exc.read().decode()} {dict(exc.headers)}")
    assert any(b.startswith("401") for b in bodies) and not any(b.startswith("500") for b in bodies)
    # a key sent as a field value may be echoed as *that field's* bad value; never the credential header
    assert leaks(bodies[:2] + captured_logs.lines, forms(api_key) | forms(admin_key) | forms(wrong)) == []


def test_api_keys_are_compared_with_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_kmsconform.emulators.signing_proxy.provider import PROVIDER

    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    api_key = "k-" + secrets.token_hex(8)
    with PROVIDER.start(namespace="sec", options={"api_key": api_key}) as handle:
        monkeypatch.setattr(hmac, "compare_digest", spy)
        req = urllib.request.Request(
            f"{handle.url}/sign/hash",
            data=json.dumps({"digest_hex": "11" * 32}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200
    assert any(api_key.encode() in (a, b) for a, b in calls), "the API key was not checked with compare_digest"


SECRET_NAME = ("api_key", "admin_key", "bearer", "token", "secret", "password", "credential", "presented")


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id.lower()
    if isinstance(node, ast.Attribute):
        return node.attr.lower()
    return ""


# Comparisons that are not attacker-timed, with the reason.
ALLOWED_EQUALS = {
    ("emulators/signing_proxy/provider.py", "auth.api_key == auth.admin_key"): "start-up config check, no request",
}


def test_no_secret_is_compared_with_equals() -> None:
    """Static review: ``==``/``!=`` on a value named like a credential is a timing leak."""
    findings = []
    for folder in ("emulators", "reference_impl", "pytest_kmsconform"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Compare) or not any(isinstance(o, ast.Eq | ast.NotEq) for o in node.ops):
                    continue
                operands = [node.left, *node.comparators]
                if any(isinstance(o, ast.Constant) for o in operands):
                    continue  # "is it empty / None / a given literal" leaks nothing secret
                if any(isinstance(o, ast.Call) and _name(o.func) == "len" for o in operands):
                    continue  # a length check (lengths are public)
                operands = [o for o in operands if not (isinstance(o, ast.Name) and o.id.isupper())]  # constants
                if not any(any(s in _name(o) for s in SECRET_NAME) for o in operands):
                    continue
                where = (str(path.relative_to(REPO)), ast.unparse(node))
                if where not in ALLOWED_EQUALS:
                    findings.append(f"{where[0]}:{node.lineno}: {where[1]}")
    assert findings == []


def listening_address(port: int) -> str | None:
    """The local address a LISTEN socket on ``port`` is bound to, from /proc/net/tcp{,6}."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            addr, port_hex = fields[1].split(":")
            if int(port_hex, 16) == port and fields[3] == "0A":
                if len(addr) == 8:
                    return ".".join(str(b) for b in reversed(bytes.fromhex(addr)))
                return "ipv6:" + addr
    return None


@pytest.mark.parametrize("name", ["aws-kms", "signing-proxy", "yubihsm", "vault"])
def test_servers_bind_loopback_only(name: str) -> None:
    import urllib.parse

    from pytest_kmsconform import backend_registry

    provider = backend_registry.get(name)
    reason = provider.unavailable_reason()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    with provider.start(namespace="sec") as handle:
        assert handle.url is not None, f"{name} has no URL"
        port = urllib.parse.urlsplit(handle.url).port
        assert urllib.parse.urlsplit(handle.url).hostname == "127.0.0.1"
        assert port is not None and listening_address(port) == "127.0.0.1"


def test_fault_proxy_binds_loopback() -> None:
    from pytest_kmsconform.emulators.faults import FaultProxy, plan_from_dict

    with FaultProxy("http://127.0.0.1:9", plan_from_dict({"rules": []})) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        assert listening_address(port) == "127.0.0.1"


def test_keygen_output_never_contains_the_key(tmp_path: Path) -> None:
    for alg in ("ed25519", "hmac-sha256"):
        prefix = tmp_path / f"key-{alg}"
        result = subprocess.run(
            [*KMSCONFORM, "keygen", "--alg", alg, "--out", str(prefix)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        content = prefix.read_text()
        secret_forms = (
            {line for line in content.splitlines() if len(line) >= 40}
            if "PRIVATE" in content
            else forms(content.strip())
        )
        assert secret_forms
        assert leaks([result.stdout, result.stderr], secret_forms) == []


def test_emulate_does_not_echo_secrets_from_the_environment() -> None:
    """``emulate`` prints the dev credentials it made, never the caller's own secrets from env."""
    own = {
        "AWS_SECRET_ACCESS_KEY": "own-" + secrets.token_hex(16),
        "VAULT_TOKEN": "own-" + secrets.token_hex(16),
        "SIGNING_PROXY_API_KEY": "own-" + secrets.token_hex(16),
        "AUDIT_SIGNING_SECRET": "own-" + secrets.token_hex(16),
    }
    import os
    import signal

    proc = subprocess.Popen(
        [*KMSCONFORM, "emulate", "aws-kms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **own, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    text = "".join(lines) + out + err
    assert "AWS_" in text
    assert leaks([text], {v for v in own.values()}) == []
