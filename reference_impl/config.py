"""Build the audit signer from environment variables (seed 001), with a fixed precedence.

When several backends are configured, the first of these wins (the others are ignored)::

    1. AWS KMS         AUDIT_SIGNING_KMS_KEY_ID                       (+ AWS_REGION, credentials)
    2. signing proxy   SIGNING_PROXY_URL                              (+ SIGNING_PROXY_API_KEY)
    3. Vault Transit   VAULT_ADDR + AUDIT_SIGNING_VAULT_KEY           (+ VAULT_TOKEN)
    4. YubiHSM 2       YUBIHSM_CONNECTOR_URL + AUDIT_SIGNING_YUBIHSM_KEY_ID
    5. Azure Key Vault AZURE_KEYVAULT_URL + A1_AZURE_KEY                  (+ credential variables)
    6. local key       AUDIT_SIGNING_PRIVATE_KEY > AUDIT_SIGNING_SECRET > AUDIT_SIGNING_KEY
    7. mock            MOCK_AUDIT_SIGNING_KEY

``AUDIT_SIGNING_ALG`` picks the algorithm (default: from the key type; ``hmac-sha256`` for
secrets). A variable set to an empty or blank string counts as unset. A backend that needs two
variables is selected only when both are set. Local and mock are *fallbacks*: the production guard
(:mod:`.guard`) refuses them. Remote backend modules are imported only when selected, so a missing
extra is reported by name.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_kmsconform import kinds

from .algorithms import Algorithm
from .backends.local import LocalKeyBackend
from .backends.mock import MockBackend
from .errors import ConfigurationError, KeyFormatError, KmsConformError
from .jwk import private_key_from_pem_or_der
from .keyring import KeyRing, RingSigner
from .primitives import PrivateKey, check_key_matches
from .signer import KeyBackend, Signer

DEFAULT_LABEL = "aureus-signer"
LABEL_VARIABLE = "AUDIT_SIGNING_KEY_LABEL"


LOCAL_VARIABLES = kinds.LOCAL_KEY_VARIABLES
MOCK_VARIABLE = kinds.MOCK_KEY_VARIABLE


def fallback_kinds() -> frozenset[str]:
    """Kinds the production guard refuses (the local-key fallback and the mock signer)."""
    return frozenset(kind.name for kind, selection in kinds.by_precedence() if selection.fallback)


def strong_selections() -> list[tuple[kinds.BackendKind, kinds.EnvSelection]]:
    """Kinds that select a KMS/HSM-backed signer, highest precedence first."""
    return [(kind, selection) for kind, selection in kinds.by_precedence() if not selection.fallback]


def fallback_variables() -> tuple[str, ...]:
    """Every variable that selects a fallback signer."""
    return tuple(v for _, selection in kinds.by_precedence() if selection.fallback for v in selection.variables)


@dataclass(frozen=True)
class SignerChoice:
    """Which backend the environment selects, and by which variables.

    :param backend: ``aws-kms``, ``signing-proxy``, ``vault``, ``yubihsm``, ``local`` or ``mock``.
    :param variables: the variables that selected it (``()`` for an ephemeral dev key).
    :param ignored: lower-precedence backends that are also configured (for diagnostics).
    :param incomplete: variables of a two-variable backend set without their companion.
    """

    backend: str
    variables: tuple[str, ...]
    ignored: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()

    @property
    def fallback(self) -> bool:
        """True for the local-key fallback and the mock signer (never allowed in production)."""
        return self.backend in fallback_kinds()

    @property
    def ephemeral(self) -> bool:
        return self.backend == kinds.LOCAL and not self.variables


def env_value(env: Mapping[str, str], name: str) -> str | None:
    """The value of ``name``, or ``None`` when unset, empty or blank."""
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value


def _configured(env: Mapping[str, str]) -> tuple[list[tuple[str, tuple[str, ...]]], list[str]]:
    found: list[tuple[str, tuple[str, ...]]] = []
    incomplete: list[str] = []
    for kind, selection in kinds.by_precedence():
        present = [v for v in selection.variables if env_value(env, v) is not None]
        if selection.any_of:
            if present:
                found.append((kind.name, (present[0],)))
        elif len(present) == len(selection.variables):
            found.append((kind.name, selection.variables))
        elif present:
            missing = [v for v in selection.variables if v not in present]
            incomplete.append(f"{' + '.join(present)} set without {' + '.join(missing)}")
    return found, incomplete


def choose_signer(env: Mapping[str, str]) -> SignerChoice | None:
    """The backend the environment selects (nothing is built or contacted), or ``None``."""
    found, incomplete = _configured(env)
    if not found:
        return None
    (backend, variables), rest = found[0], found[1:]
    return SignerChoice(backend, variables, tuple(name for name, _ in rest), tuple(incomplete))


def describe_incomplete(env: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(_configured(env)[1])


def _algorithm(env: Mapping[str, str]) -> Algorithm | None:
    name = env_value(env, "AUDIT_SIGNING_ALG")
    if name is None:
        return None
    try:
        return Algorithm.parse(name.strip())
    except KmsConformError as exc:
        raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None


def _load_private_key(text: str, variable: str) -> PrivateKey:
    data = text.strip().encode()
    if not data.startswith(b"-----"):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{variable} is neither PEM nor base64 DER") from None
    try:
        return private_key_from_pem_or_der(data)
    except KeyFormatError as exc:
        raise ConfigurationError(f"{variable}: {exc}") from None


def _default_alg(key: PrivateKey) -> Algorithm:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Algorithm.ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return Algorithm.ECDSA_P256_SHA256
    return Algorithm.RSA_SHA256


def _looks_like_private_key(text: str) -> bool:
    stripped = text.strip()
    if stripped.startswith("-----BEGIN") and "PRIVATE KEY" in stripped:
        return True
    try:
        private_key_from_pem_or_der(base64.b64decode(stripped, validate=True))
    except (binascii.Error, ValueError, KeyFormatError):
        return False
    return True


def _label(env: Mapping[str, str]) -> str:
    return (env_value(env, LABEL_VARIABLE) or DEFAULT_LABEL).strip()


def local_signer_from_env(env: Mapping[str, str]) -> RingSigner:
    """The local-key fallback: a private key (PEM or base64 DER PKCS#8) or an HMAC secret.

    With none of the variables set, an ephemeral key is generated (seed 000, dev only).
    """
    alg = _algorithm(env)
    material: PrivateKey | bytes
    private_text = env_value(env, "AUDIT_SIGNING_PRIVATE_KEY")
    secret_text = env_value(env, "AUDIT_SIGNING_SECRET")
    key_text = env_value(env, "AUDIT_SIGNING_KEY")
    if private_text is not None:
        material = _load_private_key(private_text, "AUDIT_SIGNING_PRIVATE_KEY")
    elif secret_text is not None:
        material = secret_text.encode("utf-8")
    elif key_text is not None:
        wants_private = alg is not None and not alg.is_symmetric
        if wants_private or _looks_like_private_key(key_text):
            material = _load_private_key(key_text, "AUDIT_SIGNING_KEY")
        else:
            material = key_text.encode("utf-8")
    else:
        backend = LocalKeyBackend()
        ring = KeyRing(backend, alg or Algorithm.ED25519, _label(env))
        ring.rotate()
        return RingSigner(ring)
    if isinstance(material, bytes):
        if alg is not None and not alg.is_symmetric:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG={alg.value} needs a private key, not a secret")
        alg = Algorithm.HMAC_SHA256
    else:
        alg = alg or _default_alg(material)
        if alg.is_symmetric:
            raise ConfigurationError("AUDIT_SIGNING_ALG=hmac-sha256 needs a secret, not a private key")
        try:
            check_key_matches(alg, material)
        except KmsConformError as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG={alg.value} does not fit the key: {exc}") from None
    ring = KeyRing(LocalKeyBackend(initial=material), alg, _label(env))
    ring.rotate()
    return RingSigner(ring)


def mock_signer_from_env(env: Mapping[str, str]) -> RingSigner:
    """The deterministic HMAC-SHA256 mock signer (dev/CI only)."""
    secret = env_value(env, MOCK_VARIABLE)
    if secret is None:
        raise ConfigurationError(f"{MOCK_VARIABLE} is not set")
    alg = _algorithm(env)
    if alg is not None and alg is not Algorithm.HMAC_SHA256:
        raise ConfigurationError(f"the mock signer only does hmac-sha256, AUDIT_SIGNING_ALG={alg.value}")
    ring = KeyRing(MockBackend(secret.encode("utf-8")), Algorithm.HMAC_SHA256, _label(env))
    ring.rotate()
    return RingSigner(ring)


def kind_signer_from_env(backend: str, env: Mapping[str, str]) -> Signer:
    """The signer of kind ``backend`` from ``env``: its selection's ``signer_from_env``, imported lazily."""
    kind = kinds.find(backend)
    if kind is None or kind.selection is None:
        raise ConfigurationError(f"unknown signer backend {backend!r}; known: {', '.join(_selectable())}")
    factory = _load(kind, kind.selection.signer, "signer")
    signer: Signer = factory(env)  # type: ignore[operator]
    return signer


def key_backend_from_env(kind_name: str, env: Mapping[str, str], namespace: str) -> KeyBackend:
    """The reference ``KeyBackend`` of kind ``kind_name`` built from a handle's env lines alone.

    :raises ConfigurationError: the kind has no reference key backend, or it cannot be loaded here.
    """
    kind = kinds.find(kind_name)
    if kind is None or kind.key_backend is None:
        raise ConfigurationError(f"the reference implementation has no key backend for kind {kind_name!r}")
    factory = _load(kind, kind.key_backend.from_env, "key backend")
    backend = factory(env, namespace)  # type: ignore[operator]
    if not isinstance(backend, KeyBackend):
        raise ConfigurationError(f"{kind.key_backend.from_env} did not return a KeyBackend")
    return backend


def _selectable() -> list[str]:
    return [kind.name for kind, _ in kinds.by_precedence()]


def _load(kind: kinds.BackendKind, ref: kinds.Ref, what: str) -> object:
    """``ref`` imported; a missing module or dependency becomes a :class:`ConfigurationError` naming the extra."""
    module_name = ref.partition(":")[0]
    try:
        return kinds.resolve(ref)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        if missing == module_name:
            raise ConfigurationError(
                f"the {kind.name} {what} is not part of this installation ({module_name})"
            ) from None
        extra = kind.selection.extra if kind.selection is not None and kind.selection.extra else ""
        hint = f"; install the extra with: pip install '{kind.distribution}[{extra}]'" if extra else ""
        raise ConfigurationError(f"the {kind.name} {what} cannot be loaded: {missing} is missing{hint}") from None
    except kinds.KindError as exc:
        raise ConfigurationError(str(exc)) from None


def build_signer(choice: SignerChoice | None, env: Mapping[str, str]) -> Signer:
    """Build the signer ``choice`` names (``None``: an ephemeral local dev key)."""
    if choice is None:
        return local_signer_from_env(env)
    return kind_signer_from_env(choice.backend, env)


def signer_from_env(env: Mapping[str, str] | None = None) -> Signer:
    """The signer the environment configures, by the precedence above.

    :raises ConfigurationError: nothing is configured, or a value is unusable. (Use
        :func:`.guard.start_service` at service start-up: it also applies the production guard.)
    """
    env = os.environ if env is None else env
    choice = choose_signer(env)
    if choice is None:
        wanted = ", ".join(
            (" | " if selection.any_of else " + ").join(selection.variables) for _, selection in kinds.by_precedence()
        )
        raise ConfigurationError(f"no audit signer is configured; set one of: {wanted}")
    return build_signer(choice, env)
