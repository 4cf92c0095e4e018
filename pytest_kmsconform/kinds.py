"""The one table of backend kinds: what each kind of signing backend is, in one typed record.

A *kind* is a protocol family (``aws-kms``, ``vault``...); a *backend* is one way to get a running
instance of a kind (``aws-kms`` is moto here, ``localstack`` a LocalStack container and ``aws`` the
real service, all three of kind ``aws-kms``). Everything else that used to be a table of kind names
(the backend registry, algorithms per kind, the signer's environment precedence, the fault
vocabularies) is derived from :data:`BUILTIN` plus what third-party packages register.

Ground floor: this module imports only the standard library and
:mod:`pytest_kmsconform.reference_impl.algorithms`, so the reference implementation, the emulators
and the plugin may all import it. Everything heavy is named by a lazy ``"module:attribute"``
reference (:func:`resolve`) and imported only when used.

Third-party kinds and backends are registered through the entry point group
``pytest_kmsconform.backends`` (docs/adapter.md, "A new backend kind"); each entry point names a
:class:`BackendKind` (a new kind with its backends) or a :class:`Backend` with ``kind=`` (one more
backend of a known kind). They are loaded once, on the first look-up.

Longer than our ~400-line rule on purpose: a third of it is the table itself (data, one record per
kind), and the record types, the table and its registry are read together when adding a kind;
split, a reader would jump between three files for one registration.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from pytest_kmsconform.reference_impl.algorithms import CLASSIC, ML_DSA, Algorithm

ENTRY_POINT_GROUP: Final = "pytest_kmsconform.backends"

LOCAL: Final = "local"
MOCK: Final = "mock"
AWS_KMS: Final = "aws-kms"
VAULT: Final = "vault"
YUBIHSM: Final = "yubihsm"
PKCS11: Final = "pkcs11"
SIGNING_PROXY: Final = "signing-proxy"
GCP_KMS: Final = "gcp-kms"
AZURE_KEYVAULT: Final = "azure-keyvault"

ALL_ALGORITHMS: Final = frozenset(Algorithm)
CLASSIC_ALGORITHMS: Final = CLASSIC
"""Contract version 1's five algorithms: the set of a kind that declares none. ML-DSA came later
and is never assumed: a kind (or an implementation) offers it only by listing it."""
WITH_ML_DSA: Final = CLASSIC | ML_DSA

Ref = str
"""A lazy reference ``"package.module:attribute"``, imported by :func:`resolve` on first use."""


class KindError(Exception):
    """An unknown kind, a duplicate registration, or a reference or entry point that cannot be loaded."""


@dataclass(frozen=True)
class Backend:
    """One way to get a running instance of a kind.

    :param name: what users select (``--kmsconform-backend``, ``kmsconform emulate NAME``).
    :param provider: reference to its :class:`~pytest_kmsconform.backend_api.BackendProvider`.
    :param kind: the kind it serves; leave it out inside :attr:`BackendKind.backends`, give it when
        an entry point adds a backend to a kind registered elsewhere.
    """

    name: str
    provider: Ref
    kind: str | None = None


@dataclass(frozen=True)
class EnvSelection:
    """How the reference signer (``reference_impl.config``) selects this kind from environment
    variables (seed 001). The configured kind with the lowest ``precedence`` wins.

    :param variables: the variables that select it: all of them must be set, or with ``any_of``
        one of them (the first set one, in this order, is the one that selects it).
    :param precedence: rank among the kinds (seed 001: AWS KMS 10 > signing proxy 20 > Vault 30 >
        YubiHSM 40 > local 50 > mock 60; seed 002's Cloud KMS 42, Azure Key Vault 45); a third-party kind picks a
        free number.
    :param signer: reference to ``signer_from_env(env: Mapping[str, str]) -> Signer``.
    :param extra: the pip extra that installs what ``signer`` imports (named in the error when missing).
    :param fallback: a development fallback that the production guard refuses (local, mock).
    """

    variables: tuple[str, ...]
    precedence: int
    signer: Ref
    extra: str = ""
    any_of: bool = False
    fallback: bool = False


@dataclass(frozen=True)
class KeyBackendSource:
    """Which reference ``KeyBackend`` serves a kind (a key ring per signer, over the backend).

    :param from_env: reference to ``(env: Mapping[str, str], namespace: str) -> KeyBackend`` in the
        reference implementation: the key backend built from a handle's env lines alone (any
        language's client would need no more), key names prefixed by ``namespace``.
    :param from_handle: optional plugin-side bridge ``(handle: BackendHandle) -> KeyBackend | None``
        that uses the handle's typed in-process details (a bound client, an in-process device) as
        an accelerator; ``None`` from it (no such details, e.g. behind the fault proxy) falls back
        to ``from_env``.
    """

    from_env: Ref
    from_handle: Ref | None = None


@dataclass(frozen=True)
class FaultSupport:
    """How the fault proxy (``emulators.faults``) stands in front of a kind reached over HTTP.

    :param vocabulary: reference to its ``FaultVocabulary`` (realistic errors, operation names,
        where the signature sits in an answer).
    :param signatures_on_wire: whether an answer's signature can be flipped on the wire (not for
        the YubiHSM, whose signatures travel encrypted and MACed); the reliability checks that flip
        a signature (KC-REL-007/008) run only on kinds where this holds, the others on every kind
        with fault support.
    :param ca_bundle_env: for a kind served over HTTPS, the env variable naming the CA bundle its
        clients trust: the proxy verifies the backend with it and hands clients its own CA instead.
    """

    vocabulary: Ref
    signatures_on_wire: bool = True
    ca_bundle_env: str | None = None


@dataclass(frozen=True)
class BackendKind:
    """One kind of signing backend.

    :param name: the kind's name (also the name of its default backend, when it has one).
    :param description: one line for listings.
    :param algorithms: algorithms it can sign with (default: :data:`CLASSIC_ALGORITHMS`, never ML-DSA);
        a backend x algorithm pair outside it is never generated, unless the backend's provider lists the
        algorithm in ``unsupported_algorithms`` (name -> reason): those pairs are reported not applicable
        with the reason. A backend of the kind that cannot do one of these algorithms declares it there.
    :param backends: its backends, the default one first.
    :param key_backend: the reference key backend that serves it, or ``None`` when the signer is
        not a key ring over a ``KeyBackend`` (the signing proxy holds its own keys).
    :param selection: how ``signer_from_env`` selects it, or ``None`` when env variables cannot.
    :param faults: its fault vocabulary, or ``None`` when it is not reached over HTTP (the fault
        proxy cannot stand in front of it).
    :param client_env: the env variables a client needs (what a handle's env carries).
    :param dedicated: each signer needs its own running instance (the instance holds one key ring
        for one algorithm, so rotating or revoking would disturb other checks).
    """

    name: str
    description: str
    algorithms: frozenset[Algorithm] = CLASSIC_ALGORITHMS
    backends: tuple[Backend, ...] = ()
    key_backend: KeyBackendSource | None = None
    selection: EnvSelection | None = None
    faults: FaultSupport | None = None
    client_env: tuple[str, ...] = ()
    dedicated: bool = False
    distribution: str = field(default="pytest-kmsconform", compare=False)
    """The distribution that registered it (for error messages)."""


def _ref(module: str, attr: str) -> Ref:
    return f"pytest_kmsconform.{module}:{attr}"


LOCAL_KEY_VARIABLES: Final = ("AUDIT_SIGNING_PRIVATE_KEY", "AUDIT_SIGNING_SECRET", "AUDIT_SIGNING_KEY")
"""Seed 001's local-key variables, in their order of precedence."""
MOCK_KEY_VARIABLE: Final = "MOCK_AUDIT_SIGNING_KEY"

BUILTIN: Final[tuple[BackendKind, ...]] = (
    BackendKind(
        name=AWS_KMS,
        description="AWS KMS (moto with kmsconform's fidelity layer, LocalStack, or the real service)",
        algorithms=WITH_ML_DSA,  # ML_DSA_44/65/87 since 2025-06; LocalStack declares them unsupported
        backends=(
            Backend(AWS_KMS, _ref("emulators.aws_kms.provider", "PROVIDER")),
            Backend("localstack", _ref("emulators.aws_kms.localstack", "PROVIDER")),
            Backend("aws", _ref("emulators.aws_kms.real", "PROVIDER")),
        ),
        key_backend=KeyBackendSource(
            _ref("reference_impl.backends.aws_kms", "key_backend_from_env"),
            "pytest_kmsconform.key_backends:aws_kms_from_handle",
        ),
        selection=EnvSelection(
            variables=("AUDIT_SIGNING_KMS_KEY_ID",),
            precedence=10,
            signer=_ref("reference_impl.backends.aws_kms", "signer_from_env"),
            extra="aws",
        ),
        faults=FaultSupport(_ref("emulators.faults.vocabularies.aws_kms", "VOCABULARY")),
        client_env=("AWS_REGION", "AWS_ENDPOINT_URL_KMS", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ),
    BackendKind(
        name=SIGNING_PROXY,
        description="a signing proxy speaking seed 001's API (the reference proxy here)",
        algorithms=WITH_ML_DSA,  # a key ring over any backend: what the wrapped backend signs with
        backends=(Backend(SIGNING_PROXY, _ref("emulators.signing_proxy.provider", "PROVIDER")),),
        selection=EnvSelection(
            variables=("SIGNING_PROXY_URL",),
            precedence=20,
            signer=_ref("reference_impl.backends.signing_proxy", "signer_from_env"),
            extra="all",
        ),
        faults=FaultSupport(_ref("emulators.faults.vocabularies.signing_proxy", "VOCABULARY")),
        client_env=("SIGNING_PROXY_URL", "SIGNING_PROXY_API_KEY", "SIGNING_PROXY_KEYS_PIN"),
        dedicated=True,
    ),
    BackendKind(
        name=VAULT,
        description="HashiCorp Vault / OpenBao Transit",
        # mldsa-44/65/87: OpenBao >= 2.7 and Vault Enterprise; the Vault CE container declares them unsupported
        algorithms=WITH_ML_DSA,
        backends=(
            Backend(VAULT, _ref("emulators.vault", "PROVIDER")),
            Backend("vault-container", _ref("emulators.vault", "CONTAINER_PROVIDER")),
            Backend("vault-external", _ref("emulators.vault", "EXTERNAL_PROVIDER")),
        ),
        key_backend=KeyBackendSource(_ref("reference_impl.backends.vault", "key_backend_from_env")),
        selection=EnvSelection(
            variables=("VAULT_ADDR", "AUDIT_SIGNING_VAULT_KEY"),
            precedence=30,
            signer=_ref("reference_impl.backends.vault", "signer_from_env"),
            extra="vault",
        ),
        faults=FaultSupport(_ref("emulators.faults.vocabularies.vault", "VOCABULARY")),
        client_env=("VAULT_ADDR", "VAULT_TOKEN", "VAULT_TRANSIT_MOUNT"),
    ),
    BackendKind(
        name=YUBIHSM,
        description="YubiHSM 2 (the simulator behind a connector shim, or a device behind yubihsm-connector)",
        algorithms=CLASSIC_ALGORITHMS,  # YubiHSM 2 (firmware 2.4, simulated 2.5) has no ML-DSA
        backends=(
            Backend(YUBIHSM, _ref("emulators.yubihsm.provider", "PROVIDER")),
            Backend("yubihsm-connector", _ref("emulators.yubihsm.provider", "CONNECTOR_PROVIDER")),
        ),
        key_backend=KeyBackendSource(
            _ref("reference_impl.backends.yubihsm", "key_backend_from_env"),
            "pytest_kmsconform.key_backends:yubihsm_from_handle",
        ),
        selection=EnvSelection(
            variables=("YUBIHSM_CONNECTOR_URL", "AUDIT_SIGNING_YUBIHSM_KEY_ID"),
            precedence=40,
            signer=_ref("reference_impl.backends.yubihsm", "signer_from_env"),
            extra="yubihsm",
        ),
        faults=FaultSupport(_ref("emulators.faults.vocabularies.yubihsm", "VOCABULARY"), signatures_on_wire=False),
        client_env=("YUBIHSM_CONNECTOR_URL", "YUBIHSM_AUTH_KEY_ID", "YUBIHSM_PASSWORD"),
    ),
    BackendKind(
        name=GCP_KMS,
        description="Google Cloud KMS (kmsconform's emulator: REST and gRPC fronts over one model)",
        algorithms=WITH_ML_DSA,  # PQ_SIGN_ML_DSA_44/65/87
        backends=(Backend(GCP_KMS, _ref("emulators.gcp_kms.provider", "PROVIDER")),),
        key_backend=KeyBackendSource(_ref("reference_impl.backends.gcp_kms", "key_backend_from_env")),
        selection=EnvSelection(
            variables=("A1_GCP_PROJECT", "A1_GCP_KEY_RING", "A1_GCP_KEY", "A1_GCP_KEY_VERSION"),  # seed 002
            precedence=42,
            signer=_ref("reference_impl.backends.gcp_kms", "signer_from_env"),
            extra="gcp",
        ),
        faults=FaultSupport(_ref("emulators.gcp_kms.fault_vocabulary", "VOCABULARY")),
        client_env=("KMS_EMULATOR_HOST", "A1_GCP_PROJECT", "A1_GCP_LOCATION", "A1_GCP_KEY_RING"),
    ),
    BackendKind(
        name=AZURE_KEYVAULT,
        description="Azure Key Vault keys (kmsconform's HTTPS emulator, or a real vault)",
        # ed25519 and hmac-sha256: the provider declares them unsupported, with the reason
        algorithms=frozenset({Algorithm.RSA_SHA256, Algorithm.RSA_PSS_SHA256, Algorithm.ECDSA_P256_SHA256}),
        backends=(Backend(AZURE_KEYVAULT, _ref("emulators.azure_keyvault.provider", "PROVIDER")),),
        key_backend=KeyBackendSource(_ref("reference_impl.backends.azure_keyvault", "key_backend_from_env")),
        selection=EnvSelection(
            variables=("AZURE_KEYVAULT_URL", "A1_AZURE_KEY"),
            precedence=45,
            signer=_ref("reference_impl.backends.azure_keyvault", "signer_from_env"),
            extra="azure",
        ),
        faults=FaultSupport(
            _ref("emulators.azure_keyvault.fault_vocabulary", "VOCABULARY"), ca_bundle_env="AZURE_KEYVAULT_CA_BUNDLE"
        ),
        client_env=(
            "AZURE_KEYVAULT_URL",
            "AZURE_KEYVAULT_CA_BUNDLE",
            "AZURE_KEYVAULT_ACCESS_TOKEN",
            "AZURE_KEYVAULT_VERIFY_CHALLENGE_RESOURCE",
        ),
    ),
    BackendKind(
        name=PKCS11,
        description="a PKCS#11 token (a real SoftHSM2 token made for the run, or any module, e.g. an HSM's)",
        algorithms=CLASSIC_ALGORITHMS,  # SoftHSM2 2.6 has no ML-DSA (PKCS#11 3.2's CKM_ML_DSA is newer)
        backends=(
            Backend(PKCS11, _ref("emulators.pkcs11.provider", "PROVIDER")),
            Backend("pkcs11-module", _ref("emulators.pkcs11.provider", "MODULE_PROVIDER")),
        ),
        key_backend=KeyBackendSource(_ref("reference_impl.backends.pkcs11", "key_backend_from_env")),
        selection=EnvSelection(
            variables=("PKCS11_MODULE", "PKCS11_TOKEN_LABEL", "AUDIT_SIGNING_PKCS11_KEY_LABEL"),
            precedence=47,
            signer=_ref("reference_impl.backends.pkcs11_signer", "signer_from_env"),
            extra="pkcs11",
        ),
        client_env=("PKCS11_MODULE", "PKCS11_TOKEN_LABEL", "PKCS11_PIN", "SOFTHSM2_CONF"),
    ),
    BackendKind(
        name=LOCAL,
        description="local-key fallback: keys in the signer's memory",
        algorithms=WITH_ML_DSA,
        backends=(Backend(LOCAL, _ref("emulators.local", "PROVIDER")),),
        key_backend=KeyBackendSource(_ref("reference_impl.backends.local", "key_backend_from_env")),
        selection=EnvSelection(
            variables=LOCAL_KEY_VARIABLES,
            precedence=50,
            signer=_ref("reference_impl.config", "local_signer_from_env"),
            any_of=True,
            fallback=True,
        ),
        client_env=(*LOCAL_KEY_VARIABLES, "AUDIT_SIGNING_ALG"),
    ),
    BackendKind(
        name=MOCK,
        description="deterministic HMAC-SHA256 mock signer (dev/CI only)",
        algorithms=frozenset({Algorithm.HMAC_SHA256}),
        backends=(Backend(MOCK, _ref("emulators.local", "MOCK_PROVIDER")),),
        key_backend=KeyBackendSource(_ref("reference_impl.backends.mock", "key_backend_from_env")),
        selection=EnvSelection(
            variables=(MOCK_KEY_VARIABLE,),
            precedence=60,
            signer=_ref("reference_impl.config", "mock_signer_from_env"),
            fallback=True,
        ),
        client_env=(MOCK_KEY_VARIABLE,),
    ),
)
"""The kinds built in, in seed 001's precedence order."""


# -- the registry ---------------------------------------------------------------------------------
class _Registry:
    """Built-in kinds, plus what entry points and :func:`register` add (entry points load once)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._kinds: dict[str, BackendKind] = {}
        self._backends: dict[str, tuple[Backend, str]] = {}  # backend name -> (backend, kind name)
        self._loaded = False
        for kind in BUILTIN:
            self._add_kind(kind, replace=False)

    def _add_kind(self, kind: BackendKind, *, replace: bool) -> None:
        if not replace and kind.name in self._kinds:
            raise KindError(f"backend kind {kind.name!r} is already registered")
        for backend in kind.backends:
            if backend.kind not in (None, kind.name):
                raise KindError(f"kind {kind.name!r} lists backend {backend.name!r} of kind {backend.kind!r}")
            self._add_backend(backend, kind.name, replace=replace)
        self._kinds[kind.name] = kind

    def _add_backend(self, backend: Backend, kind: str, *, replace: bool) -> None:
        if not replace and backend.name in self._backends:
            raise KindError(f"backend {backend.name!r} is already registered (kind {self._backends[backend.name][1]})")
        self._backends[backend.name] = (backend, kind)

    def register(self, item: BackendKind | Backend, *, replace: bool = False) -> None:
        with self._lock:
            if isinstance(item, BackendKind):
                self._add_kind(item, replace=replace)
            elif isinstance(item, Backend):
                if item.kind is None:
                    raise KindError(f"backend {item.name!r} registered alone must name its kind (kind=...)")
                self._ensure_loaded()
                if item.kind not in self._kinds:
                    raise KindError(f"backend {item.name!r}: unknown kind {item.kind!r}; known: {self._known()}")
                self._add_backend(item, item.kind, replace=replace)
            else:
                raise KindError(
                    f"cannot register {type(item).__name__}: a BackendKind or a Backend(kind=...) is needed"
                )

    def _known(self) -> str:
        return ", ".join(self._kinds)

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            pending: list[tuple[importlib.metadata.EntryPoint, Backend]] = []
            for entry_point in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=_entry_key):
                item = _load_entry_point(entry_point)
                if isinstance(item, Backend):
                    pending.append((entry_point, item))  # after every kind, so it may name a third-party kind
                    continue
                self._register_entry(entry_point, item)
            for entry_point, item in pending:
                self._register_entry(entry_point, item)

    def _register_entry(self, entry_point: importlib.metadata.EntryPoint, item: BackendKind | Backend) -> None:
        try:
            self.register(item)
        except KindError as exc:
            raise KindError(f"{_describe(entry_point)}: {exc}") from None

    def kinds(self) -> list[BackendKind]:
        self._ensure_loaded()
        with self._lock:
            return list(self._kinds.values())

    def kind(self, name: str) -> BackendKind:
        self._ensure_loaded()
        with self._lock:
            found = self._kinds.get(name)
            if found is None:
                raise KindError(f"unknown backend kind {name!r}; known: {self._known()}")
            return found

    def backends(self) -> list[tuple[Backend, str]]:
        self._ensure_loaded()
        with self._lock:
            return list(self._backends.values())


def _entry_key(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    return (entry_point.name, entry_point.value)


def _describe(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"entry point {entry_point.name} = {entry_point.value} (group {ENTRY_POINT_GROUP}, from {where})"


def _load_entry_point(entry_point: importlib.metadata.EntryPoint) -> BackendKind | Backend:
    try:
        item: object = entry_point.load()
    except Exception as exc:  # a broken third-party package: name it, never a bare traceback
        raise KindError(f"{_describe(entry_point)} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(item, BackendKind | Backend):
        raise KindError(
            f"{_describe(entry_point)} gives a {type(item).__name__}; it must name a "
            "pytest_kmsconform.kinds.BackendKind or a Backend(kind=...)"
        )
    if isinstance(item, BackendKind) and entry_point.dist is not None:
        item = _with_distribution(item, entry_point.dist.name)
    return item


def _with_distribution(kind: BackendKind, distribution: str) -> BackendKind:
    return dataclasses.replace(kind, distribution=distribution)


_REGISTRY = _Registry()


def register(item: BackendKind | Backend, *, replace: bool = False) -> None:
    """Register a kind (with its backends) or one more backend of a known kind, at run time.

    Packages normally use the ``pytest_kmsconform.backends`` entry point group instead.
    :raises KindError: a duplicate name (unless ``replace``), or a backend of an unknown kind.
    """
    _REGISTRY.register(item, replace=replace)


def all_kinds() -> list[BackendKind]:
    """Every kind: the built-in ones in :data:`BUILTIN` order, then the registered ones."""
    return _REGISTRY.kinds()


def get(name: str) -> BackendKind:
    """The kind called ``name``. :raises KindError: unknown (the message lists the known ones)."""
    return _REGISTRY.kind(name)


def find(name: str) -> BackendKind | None:
    """The kind called ``name``, or ``None``."""
    try:
        return get(name)
    except KindError:
        return None


def names() -> list[str]:
    return [k.name for k in all_kinds()]


def backends() -> dict[str, tuple[Backend, str]]:
    """Backend name -> (its :class:`Backend`, its kind's name), every kind's backends."""
    return {backend.name: (backend, kind) for backend, kind in _REGISTRY.backends()}


def algorithms(kind: str) -> frozenset[Algorithm]:
    """Algorithms of ``kind``; an unknown kind is tried with contract version 1's five (never ML-DSA)."""
    found = find(kind)
    return found.algorithms if found is not None else CLASSIC_ALGORITHMS


def dedicated(kind: str) -> bool:
    """Whether each signer of ``kind`` needs its own running instance."""
    found = find(kind)
    return found is not None and found.dedicated


def by_precedence() -> list[tuple[BackendKind, EnvSelection]]:
    """Kinds that env variables select, highest precedence first (seed 001's order)."""
    chosen = [(k, k.selection) for k in all_kinds() if k.selection is not None]
    return sorted(chosen, key=lambda pair: pair[1].precedence)


def with_faults() -> Iterator[tuple[BackendKind, FaultSupport]]:
    """Kinds the fault proxy can stand in front of, with their fault support."""
    for kind in all_kinds():
        if kind.faults is not None:
            yield kind, kind.faults


def resolve(ref: Ref) -> object:
    """Import the object ``ref`` (``"package.module:attribute"``) names.

    :raises ImportError: its module (or something that module needs) cannot be imported.
    :raises KindError: malformed, or the module has no such attribute.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise KindError(f"reference {ref!r} is not 'package.module:attribute'")
    module = importlib.import_module(module_name)
    target: object = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise KindError(f"reference {ref!r}: {module_name} has no attribute {attr!r}") from None
    return target
