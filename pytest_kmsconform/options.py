"""Options of the plugin and their resolution (rule 3: factory argument > CLI > ini > env > default).

Every ``--kmsconform-*`` option has a ``kmsconform_*`` ini twin and a ``KMSCONFORM_*`` environment
variable. :func:`resolve_config` reads them once, tests with ``is None`` (so ``0`` and ``""`` are
real values), validates, and returns a frozen :class:`KmsconformConfig` that records where each
value came from; ``pytest_configure`` stores it in ``config.stash`` and the report header shows it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_kmsconform import backend_registry

DEFAULT_IMPL = "reference"
DEFAULT_REVOCATION_WINDOW_S = 10.0
DEFAULT_AUDIT_RECORDS = 6
DEFAULT_IMPL_TIMEOUT_S = 30.0

_HELP = {
    "enable": "run the bundled kmsconform conformance suites",
    "impl": "implementation under test: 'reference', 'package.module:factory', 'http://host:port' or 'cmd:<command>'",
    "backend": "backend(s) to run on; repeatable or comma list (default: every embedded backend); "
    "a named backend that cannot start makes its checks errors",
    "report": "write the JSON report to PATH (and a Markdown summary beside it)",
    "revocation_window": "seconds to keep retrying before revocation must have taken effect (eventual consistency)",
    "audit_records": "records appended per audit-chain check",
    "api_key": "API key sent to an http(s):// implementation (never printed)",
    "admin_key": "admin key for the optional /admin/* endpoints of an http(s):// implementation",
    "impl_timeout": "seconds to wait for each answer of an http(s):// or cmd: implementation",
    "yubihsm_url": "yubihsm-connector URL of a real YubiHSM 2 for the opt-in 'yubihsm-connector' backend",
    "pkcs11_module": "PKCS#11 module (.so) of a real token for the opt-in 'pkcs11-module' backend "
    "(token label and PIN from KMSCONFORM_PKCS11_TOKEN_LABEL and KMSCONFORM_PKCS11_PIN)",
    "policy": "kmsconform-policy/1 file (TOML) of the policy an http(s):// implementation enforces, with "
    "token_file tokens the suite may present (docs/policy.md)",
}

INI_KEYS: dict[str, str] = {
    "enable": "kmsconform",
    "impl": "kmsconform_impl",
    "backend": "kmsconform_backend",
    "report": "kmsconform_report",
    "revocation_window": "kmsconform_revocation_window",
    "audit_records": "kmsconform_audit_records",
    "api_key": "kmsconform_api_key",
    "admin_key": "kmsconform_admin_key",
    "impl_timeout": "kmsconform_impl_timeout",
    "yubihsm_url": "kmsconform_yubihsm_url",
    "pkcs11_module": "kmsconform_pkcs11_module",
    "policy": "kmsconform_policy",
}
ENV_KEYS: dict[str, str] = {
    "enable": "KMSCONFORM",
    "impl": "KMSCONFORM_IMPL",
    "backend": "KMSCONFORM_BACKEND",
    "report": "KMSCONFORM_REPORT",
    "revocation_window": "KMSCONFORM_REVOCATION_WINDOW",
    "audit_records": "KMSCONFORM_AUDIT_RECORDS",
    # the seed's own variable names (seed 001), so a proxy's environment can be reused as is
    "api_key": "SIGNING_PROXY_API_KEY",
    "admin_key": "SIGNING_PROXY_ADMIN_KEY",
    "impl_timeout": "KMSCONFORM_IMPL_TIMEOUT",
    "yubihsm_url": "KMSCONFORM_YUBIHSM_URL",
    "pkcs11_module": "KMSCONFORM_PKCS11_MODULE",
    "policy": "KMSCONFORM_POLICY",
}


@dataclass(frozen=True)
class KmsconformConfig:
    """The resolved settings of one run.

    :param enabled: whether the bundled suites are collected.
    :param impl: the implementation spec (see :mod:`pytest_kmsconform.loader`).
    :param backends: backend names, in the order given, without duplicates.
    :param backends_named: ``True`` when the user named them (CLI, ini or env), ``False`` for the
        default selection; a named backend that cannot start is an error, never a skip.
    :param report: JSON report path, or ``None``.
    :param revocation_window_s: longest wait for a revocation to take effect.
    :param audit_records: records appended by the audit-chain checks.
    :param sources: for each setting, where its value came from (``cli``, ``ini``, ``env``, ``default``, ``factory``).
    :param api_key: API key for ``http(s)://`` implementations (secret: never in reprs or headers).
    :param admin_key: admin key for their optional ``/admin/*`` endpoints (secret).
    :param impl_timeout_s: longest wait for one answer of an ``http(s)://`` or ``cmd:`` implementation.
    :param backend_options: provider options per backend name (``yubihsm-connector``: ``url``).
    :param policy_file: the policy an ``http(s)://`` implementation enforces (``docs/policy.md``).
    """

    enabled: bool
    impl: str
    backends: tuple[str, ...]
    report: Path | None
    revocation_window_s: float
    audit_records: int
    sources: Mapping[str, str] = field(default_factory=dict)
    api_key: str | None = field(default=None, repr=False)
    admin_key: str | None = field(default=None, repr=False)
    impl_timeout_s: float = DEFAULT_IMPL_TIMEOUT_S
    backend_options: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    backends_named: bool = False
    policy_file: Path | None = None

    def header_lines(self) -> list[str]:
        src = self.sources
        return [
            f"kmsconform: impl={self.impl} ({src.get('impl', '?')}), "
            f"backends={','.join(self.backends) or '-'} ({src.get('backend', '?')})",
            f"kmsconform: revocation_window={self.revocation_window_s:g}s, audit_records={self.audit_records}, "
            f"report={self.report or '-'}",
        ]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kmsconform", "kmsconform conformance suites")
    group.addoption("--kmsconform", action="store_true", default=None, dest="kmsconform", help=_HELP["enable"])
    group.addoption("--kmsconform-impl", dest="kmsconform_impl", metavar="SPEC", default=None, help=_HELP["impl"])
    group.addoption(
        "--kmsconform-backend",
        dest="kmsconform_backend",
        metavar="NAME[,NAME]",
        action="append",
        default=None,
        help=_HELP["backend"],
    )
    group.addoption("--kmsconform-report", dest="kmsconform_report", metavar="PATH", default=None, help=_HELP["report"])
    group.addoption(
        "--kmsconform-revocation-window",
        dest="kmsconform_revocation_window",
        metavar="SECONDS",
        default=None,
        help=_HELP["revocation_window"],
    )
    group.addoption(
        "--kmsconform-audit-records",
        dest="kmsconform_audit_records",
        metavar="N",
        default=None,
        help=_HELP["audit_records"],
    )
    for key, metavar in (
        ("api_key", "KEY"),
        ("admin_key", "KEY"),
        ("impl_timeout", "SECONDS"),
        ("yubihsm_url", "URL"),
        ("pkcs11_module", "PATH"),
        ("policy", "FILE"),
    ):
        group.addoption(
            f"--kmsconform-{key.replace('_', '-')}",
            dest=f"kmsconform_{key}",
            metavar=metavar,
            default=None,
            help=_HELP[key],
        )
    parser.addini(INI_KEYS["enable"], _HELP["enable"], type="bool", default=None)
    parser.addini(INI_KEYS["impl"], _HELP["impl"], type="string", default=None)
    parser.addini(INI_KEYS["backend"], _HELP["backend"], type="args", default=None)
    parser.addini(INI_KEYS["report"], _HELP["report"], type="string", default=None)
    parser.addini(INI_KEYS["revocation_window"], _HELP["revocation_window"], type="string", default=None)
    parser.addini(INI_KEYS["audit_records"], _HELP["audit_records"], type="string", default=None)
    for key in ("api_key", "admin_key", "impl_timeout", "yubihsm_url", "pkcs11_module", "policy"):
        parser.addini(INI_KEYS[key], _HELP[key], type="string", default=None)


def _pick(key: str, factory: Any, cli: Any, ini: Any, env: Mapping[str, str], default: Any) -> tuple[Any, str]:
    if factory is not None:
        return factory, "factory"
    if cli is not None:
        return cli, "cli"
    if ini is not None and ini != [] and ini != "":
        return ini, "ini"
    if ENV_KEYS[key] in env:
        return env[ENV_KEYS[key]], "env"
    return default, "default"


def _split_names(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value]
    names: list[str] = []
    for item in items:
        for part in str(item).split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    return names


def _as_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise pytest.UsageError(f"{what}: expected a boolean, got {value!r}")


def _as_number(value: Any, what: str, convert: Callable[[str], float | int], minimum: float) -> Any:
    try:
        number = convert(str(value).strip())
    except ValueError:
        raise pytest.UsageError(f"{what}: expected a number, got {value!r}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise pytest.UsageError(f"{what}: expected a finite number, got {value!r}")
    if number < minimum:
        raise pytest.UsageError(f"{what}: must be >= {minimum:g}, got {value!r}")
    return number


def resolve_config(config: pytest.Config, env: Mapping[str, str] | None = None, **factory: Any) -> KmsconformConfig:
    """Resolve every setting once; bad values raise :class:`pytest.UsageError`.

    ``factory`` keyword arguments (``impl=``, ``backends=``, ...) win over everything else.
    """
    environ = os.environ if env is None else env
    sources: dict[str, str] = {}

    def get(key: str, default: Any, factory_key: str | None = None) -> Any:
        cli = config.getoption(f"kmsconform_{key}" if key != "enable" else "kmsconform")
        ini = config.getini(INI_KEYS[key])
        value, source = _pick(key, factory.get(factory_key or key), cli, ini, environ, default)
        sources[key] = source
        return value

    enabled = _as_bool(get("enable", False, "enabled"), "--kmsconform")
    impl = str(get("impl", DEFAULT_IMPL)).strip()
    if impl == "":
        raise pytest.UsageError("--kmsconform-impl: empty implementation spec")
    if not enabled:  # importing every backend provider costs time: only when the suites run
        return KmsconformConfig(False, impl, (), None, DEFAULT_REVOCATION_WINDOW_S, DEFAULT_AUDIT_RECORDS, sources)
    raw_backends = get("backend", None, "backends")
    backends = _split_names(raw_backends) if raw_backends is not None else backend_registry.default_selection()
    known = backend_registry.names()
    unknown = [b for b in backends if b not in known]
    if unknown:
        raise pytest.UsageError(
            f"--kmsconform-backend: unknown backend(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    if not backends:
        raise pytest.UsageError("--kmsconform-backend: no backend selected")
    report_raw = get("report", None)
    report = Path(str(report_raw)) if report_raw is not None and str(report_raw) != "" else None
    if report is not None and report.suffix != ".json":
        raise pytest.UsageError(f"--kmsconform-report: expected a PATH ending in .json, got {str(report)!r}")
    window = _as_number(
        get("revocation_window", DEFAULT_REVOCATION_WINDOW_S), "--kmsconform-revocation-window", float, 0.0
    )
    records = _as_number(get("audit_records", DEFAULT_AUDIT_RECORDS), "--kmsconform-audit-records", int, 3)
    api_key, admin_key = get("api_key", None), get("admin_key", None)
    timeout = _as_number(get("impl_timeout", DEFAULT_IMPL_TIMEOUT_S), "--kmsconform-impl-timeout", float, 0.001)
    backend_options: dict[str, dict[str, str]] = {}
    yubihsm_url = get("yubihsm_url", None)
    if yubihsm_url is not None and str(yubihsm_url).strip():
        url = str(yubihsm_url).strip()
        if not url.startswith(("http://", "https://")):
            raise pytest.UsageError(f"--kmsconform-yubihsm-url: expected an http(s):// URL, got {url!r}")
        backend_options["yubihsm-connector"] = {"url": url}
    pkcs11_module = get("pkcs11_module", None)
    if pkcs11_module is not None and str(pkcs11_module).strip():
        module = str(pkcs11_module).strip()
        if not Path(module).is_file():
            raise pytest.UsageError(f"--kmsconform-pkcs11-module: no PKCS#11 module (shared library) at {module!r}")
        backend_options["pkcs11-module"] = {"module": module}
    policy_raw = get("policy", None)
    policy_file = Path(str(policy_raw).strip()) if policy_raw is not None and str(policy_raw).strip() else None
    if policy_file is not None and not policy_file.is_file():
        raise pytest.UsageError(f"--kmsconform-policy: no policy file at {str(policy_file)!r}")
    return KmsconformConfig(
        enabled=enabled,
        impl=impl,
        backends=tuple(backends),
        report=report,
        revocation_window_s=float(window),
        audit_records=int(records),
        sources=sources,
        api_key=None if api_key is None else str(api_key),
        admin_key=None if admin_key is None else str(admin_key),
        impl_timeout_s=float(timeout),
        backend_options=backend_options,
        backends_named=raw_backends is not None,
        policy_file=policy_file,
    )


CONFIG_KEY = pytest.StashKey[KmsconformConfig]()


def get_config(config: pytest.Config) -> KmsconformConfig:
    """The resolved settings (resolved in ``pytest_configure``)."""
    return config.stash[CONFIG_KEY]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.stash[CONFIG_KEY] = resolve_config(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    kc = config.stash.get(CONFIG_KEY, None)
    if kc is None or not kc.enabled:
        return []
    return kc.header_lines()
