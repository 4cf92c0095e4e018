"""HashiCorp Vault Transit (or OpenBao) as a :class:`~..signer.KeyBackend`, through ``hvac``.

* A key ring is one Transit key; its versions are ring versions. kid = ``<name>:v<N>``, and every
  sign call names ``key_version=N`` explicitly (never "latest"), so a concurrent rotation cannot
  change which key a signature was made with. The ``vault:v<N>:`` prefix of every answer is checked.
* Rotation = ``POST keys/<name>/rotate`` (old versions keep verifying).
* Public keys are pinned the first time they are seen: Vault hides versions below
  ``min_decryption_version`` from read-key, and a published key must stay in the key set (and a
  version whose public key changes is a corrupt response).
* Retirement in Vault (:meth:`VaultTransitBackend.retire`) raises ``min_decryption_version`` above
  the version: Vault then refuses to verify it (HTTP 400 "too old", raised here as
  :class:`~.vault_transit.VersionRetired`) and to sign with it.
* Revocation (:meth:`VaultTransitBackend.disable`, called by ``KeyRing.revoke``) raises
  ``min_encryption_version`` above the version, so Vault refuses to sign with it (and, Vault's
  minimums being floors, with every older version); when the version is the latest, the key is
  rotated first, since the minimum may not exceed the latest version. Verification of signatures
  made before the revocation stays possible. Each revocation is recorded in :attr:`revocations`.

Errors are translated once, here, into :class:`~..errors.BackendError` (see
:func:`~.vault_transit.translate`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..algorithms import Algorithm
from ..errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyStateError,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedReason,
)
from ..primitives import PublicKey, check_key_matches, ml_dsa_parameters
from ..signer import BackendKey, KeyBackend, Signer
from .vault_transit import (
    BACKEND_NAME,
    HMAC_KEY_SIZE,
    KEY_TYPES,
    KeyInfo,
    KeyRef,
    Revocation,
    VersionRetired,
    algorithm_fits_key_type,
    b64,
    check_key_name,
    corrupt,
    format_value,
    key_name_for,
    load_public_key,
    parse_go_time,
    parse_value,
    response_data,
    sign_parameters,
    spki_der,
    status_of,
    translate,
)

if TYPE_CHECKING:
    import hvac


T = TypeVar("T")
DEFAULT_MOUNT = "transit"
_TOO_OLD = "too old"


class VaultTransitBackend:
    """Transit keys on one mount, reached with an ``hvac.Client``.

    :param client: an authenticated ``hvac.Client`` (its token needs the Transit paths it uses).
    :param mount: the Transit mount path.
    :param key_prefix: prepended to ring labels to form key names (namespace per run or worker).
    """

    name = BACKEND_NAME

    def __init__(self, client: hvac.Client, *, mount: str = DEFAULT_MOUNT, key_prefix: str = "") -> None:
        self.client = client
        self.mount = mount.strip("/")
        self.key_prefix = key_prefix
        self.revocations: list[Revocation] = []
        self._pinned: dict[KeyRef, PublicKey] = {}
        self._created: dict[KeyRef, datetime] = {}
        self._lock = threading.Lock()

    @classmethod
    def connect(
        cls, url: str, token: str, *, mount: str = DEFAULT_MOUNT, key_prefix: str = "", timeout: float = 30.0
    ) -> VaultTransitBackend:
        """Build the ``hvac.Client`` too (``hvac`` is imported only here: the ``vault`` extra)."""
        import hvac

        return cls(hvac.Client(url=url, token=token, timeout=timeout), mount=mount, key_prefix=key_prefix)

    # -- transport ------------------------------------------------------------------------
    def _call(self, operation: str, fn: Callable[[], T]) -> T:
        """Run one hvac call; every failure leaves as a :class:`BackendError`."""
        import hvac.exceptions
        import requests

        try:
            return fn()
        except hvac.exceptions.VaultError as exc:
            status = status_of(exc)
            raise translate(exc, status, operation) from None
        except requests.exceptions.RequestException as exc:
            raise translate(exc, None, operation) from None

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._call(path, lambda: self.client.adapter.post(f"/v1/{self.mount}/{path}", json=dict(body)))

    def algorithms(self) -> frozenset[Algorithm]:
        return frozenset(KEY_TYPES)

    def key_name(self, label: str) -> str:
        """The Transit key name of a ring label (``<key_prefix><label>``, made valid for Vault)."""
        return key_name_for(self.key_prefix, label)

    def read_key(self, name: str) -> KeyInfo:
        """Read-key; also pins the public key of every version it shows."""
        response = self._call(
            f"read key {name}", lambda: self.client.secrets.transit.read_key(name=name, mount_point=self.mount)
        )
        info = KeyInfo.from_response(response_data(response, "read key"))
        for version, entry in info.versions.items():
            self._pin(KeyRef(name, version), info.type, entry)
        return info

    def _pin(self, ref: KeyRef, key_type: str, entry: Mapping[str, Any]) -> None:
        text = entry.get("public_key")
        if not isinstance(text, str) or not text:
            return
        key = load_public_key(key_type, text)
        with self._lock:
            pinned = self._pinned.get(ref)
            if pinned is not None and spki_der(pinned) != spki_der(key):
                raise corrupt(f"Vault now gives a different public key for {ref}; the pinned one is kept")
            self._pinned.setdefault(ref, key)
            created = entry.get("creation_time")
            if isinstance(created, str) and ref not in self._created:
                self._created[ref] = parse_go_time(created)

    # -- KeyBackend -----------------------------------------------------------------------
    def create_key(self, alg: Algorithm, label: str, previous: BackendKey | None) -> BackendKey:
        """A new Transit key (``previous is None``) or a new version of ``previous``'s key (rotate).

        A new ring never adopts an existing key: if ``<prefix><label>`` exists, this raises
        ``BackendError(INVALID_STATE)``.
        """
        if alg not in KEY_TYPES:
            raise UnsupportedAlgorithm(f"vault cannot do {alg}", UnsupportedReason.BACKEND_CANNOT_DO_ALGORITHM)
        if previous is not None:
            if previous.alg is not alg:
                raise KeyStateError(f"cannot rotate {previous.kid} ({previous.alg.value}) to {alg.value}")
            name = KeyRef.parse(previous.ref).name
            self._call(
                f"rotate key {name}", lambda: self.client.secrets.transit.rotate_key(name=name, mount_point=self.mount)
            )
        else:
            name = self.key_name(label)
            if self._exists(name):
                raise BackendError(
                    f"Transit key {name!r} already exists; a new key ring needs a new key name",
                    code=BackendErrorCode.INVALID_STATE,
                    backend=self.name,
                )
            body: dict[str, Any] = {"type": KEY_TYPES[alg]}
            if alg is Algorithm.HMAC_SHA256:
                body["key_size"] = HMAC_KEY_SIZE  # OpenBao/Vault fail without it (500), despite the docs
            self._post(f"keys/{name}", body)
        info = self.read_key(name)
        if not algorithm_fits_key_type(alg, info.type):
            raise corrupt(f"Transit key {name!r} has type {info.type!r}, not one for {alg.value}")
        ref = KeyRef(name, info.latest_version)
        if not alg.is_symmetric:
            check_key_matches(alg, self._public(ref))
        return BackendKey(kid=str(ref), alg=alg, ref=str(ref))

    def _exists(self, name: str) -> bool:
        try:
            self.read_key(name)
        except BackendError as exc:
            if exc.code is BackendErrorCode.NOT_FOUND:
                return False
            raise
        return True

    def sign(self, key: BackendKey, digest: bytes) -> bytes:
        """Sign with exactly version N of the key (``key_version=N``); checks the ``vault:vN:`` answer."""
        ref = KeyRef.parse(key.ref)
        transit = self.client.secrets.transit
        if key.alg is Algorithm.HMAC_SHA256:
            response = self._call(
                f"hmac {ref}",
                lambda: transit.generate_hmac(
                    name=ref.name,
                    hash_input=b64(digest),
                    key_version=ref.version,
                    algorithm="sha2-256",
                    mount_point=self.mount,
                ),
            )
            value = parse_value(response_data(response, "hmac").get("hmac"), ref.version)
            expected = 32
        else:
            response = self._call(
                f"sign {ref}",
                lambda: transit.sign_data(
                    name=ref.name,
                    hash_input=b64(digest),
                    key_version=ref.version,
                    mount_point=self.mount,
                    **sign_parameters(key.alg),
                ),
            )
            value = parse_value(response_data(response, "sign").get("signature"), ref.version)
            expected = _signature_size(key.alg)
        if expected and len(value) != expected:
            raise corrupt(f"{key.alg.value} value from Vault is {len(value)} bytes, expected {expected}")
        return value

    def verify(self, key: BackendKey, digest: bytes, signature: bytes) -> None:
        """Ask Vault (``/verify``); ``valid: false`` raises :class:`InvalidSignature`, a version below
        ``min_decryption_version`` (Vault's HTTP 400 "too old") raises :class:`VersionRetired`."""
        ref = KeyRef.parse(key.ref)
        value = format_value(ref.version, signature)
        field = {"hmac": value} if key.alg is Algorithm.HMAC_SHA256 else {"signature": value}
        try:
            response = self._call(
                f"verify {ref}",
                lambda: self.client.secrets.transit.verify_signed_data(
                    name=ref.name,
                    hash_input=b64(digest),
                    mount_point=self.mount,
                    **field,
                    **sign_parameters(key.alg),
                ),
            )
        except BackendError as exc:
            if exc.detail == "HTTP 400" and _TOO_OLD in str(exc):
                raise VersionRetired(f"Vault no longer verifies {ref}: {exc}", str(ref)) from None
            if exc.detail == "HTTP 400" and exc.code is BackendErrorCode.INVALID_REQUEST:
                raise InvalidSignature(f"Vault rejected the {key.alg.value} signature for {ref}: {exc}") from None
            raise
        valid = response_data(response, "verify").get("valid")
        if valid is not True:
            if valid is not False:
                raise corrupt(f"verify answered valid={valid!r}")
            raise InvalidSignature(f"Vault says the {key.alg.value} signature does not verify under {ref}")

    def public_key(self, key: BackendKey) -> PublicKey | None:
        if key.alg.is_symmetric:
            return None
        return self._public(KeyRef.parse(key.ref))

    def _public(self, ref: KeyRef) -> PublicKey:
        with self._lock:
            pinned = self._pinned.get(ref)
        if pinned is None:
            self.read_key(ref.name)
            with self._lock:
                pinned = self._pinned.get(ref)
        if pinned is None:
            raise UnknownKey(f"Vault shows no public key for {ref} and none was pinned before")
        return pinned

    def pinned_versions(self, name: str) -> dict[int, PublicKey]:
        """Every public key pinned for ``name`` (including versions Vault now hides), by version."""
        with self._lock:
            return {ref.version: key for ref, key in self._pinned.items() if ref.name == name}

    def created_at(self, ref: KeyRef) -> datetime | None:
        with self._lock:
            return self._created.get(ref)

    def _configure(self, name: str, body: Mapping[str, int]) -> None:
        # Raw POST: hvac's update_key_configuration wrongly refuses min_encryption == min_decryption.
        self._post(f"keys/{name}/config", body)

    def _floor_above(self, ref: KeyRef) -> tuple[KeyInfo, int | None]:
        """Make ``ref.version + 1`` a valid minimum: rotate when ``ref`` is the latest version."""
        info = self.read_key(ref.name)
        if ref.version > info.latest_version:
            raise UnknownKey(f"Transit key {ref.name!r} has no version {ref.version}")
        rotated: int | None = None
        if ref.version == info.latest_version:
            self._call(
                f"rotate key {ref.name}",
                lambda: self.client.secrets.transit.rotate_key(name=ref.name, mount_point=self.mount),
            )
            info = self.read_key(ref.name)
            rotated = info.latest_version
        return info, rotated

    def disable(self, key: BackendKey) -> None:
        """Revoke: Vault must refuse to sign with this version (``min_encryption_version`` above it)."""
        ref = KeyRef.parse(key.ref)
        info, rotated = self._floor_above(ref)
        floor = max(info.min_encryption_version, info.min_decryption_version, ref.version + 1)
        if floor != info.min_encryption_version:
            self._configure(ref.name, {"min_encryption_version": floor})
        with self._lock:
            self.revocations.append(Revocation(kid=str(ref), min_encryption_version=floor, rotated_to=rotated))

    def retire(self, key: BackendKey) -> None:
        """Archive in Vault: ``min_decryption_version`` above this version (Vault stops verifying it
        and hides its public key; the pinned copy stays published). Rotates first when needed."""
        ref = KeyRef.parse(key.ref)
        if not key.alg.is_symmetric:
            self._public(ref)  # pin before Vault hides it
        info, _ = self._floor_above(ref)
        floor = max(info.min_decryption_version, ref.version + 1)
        body = {"min_decryption_version": floor}
        if info.min_encryption_version:
            body["min_encryption_version"] = max(info.min_encryption_version, floor)
        self._configure(ref.name, body)

    def close(self) -> None:
        """Close the HTTP session; the keys stay in Vault."""
        self.client.adapter.close()


def _signature_size(alg: Algorithm) -> int:
    """The fixed signature size of ``alg``, or 0 when it varies (DER ECDSA, RSA by modulus)."""
    if alg is Algorithm.ED25519:
        return 64
    if alg.is_ml_dsa:
        return ml_dsa_parameters(alg).signature_size
    return 0


# -- factories ----------------------------------------------------------------------------------
def key_backend_from_env(env: Mapping[str, str], namespace: str) -> KeyBackend:
    """A :class:`VaultTransitBackend` on ``VAULT_ADDR`` / ``VAULT_TOKEN`` / ``VAULT_TRANSIT_MOUNT``, key
    names prefixed by ``namespace``."""
    missing = [n for n in ("VAULT_ADDR", "VAULT_TOKEN") if not env.get(n)]
    if missing:
        raise ConfigurationError(f"Vault key backend needs {', '.join(missing)}")
    return VaultTransitBackend.connect(
        env["VAULT_ADDR"],
        env["VAULT_TOKEN"],
        mount=env.get("VAULT_TRANSIT_MOUNT") or DEFAULT_MOUNT,
        key_prefix=f"{namespace}-",
    )


def signer_from_env(env: Mapping[str, str]) -> Signer:
    """A signer over an existing Transit key: ``VAULT_ADDR``, ``VAULT_TOKEN``, ``AUDIT_SIGNING_VAULT_KEY``
    (required), ``VAULT_TRANSIT_MOUNT`` (default ``transit``), ``AUDIT_SIGNING_ALG`` (default: from the
    key type; RSA keys default to ``rsa-sha256``)."""
    from .vault_signer import VaultTransitSigner

    missing = [n for n in ("VAULT_ADDR", "VAULT_TOKEN", "AUDIT_SIGNING_VAULT_KEY") if not env.get(n)]
    if missing:
        raise ConfigurationError(f"Vault signer needs {', '.join(missing)}")
    alg = None
    if env.get("AUDIT_SIGNING_ALG"):
        try:
            alg = Algorithm.parse(env["AUDIT_SIGNING_ALG"])
        except UnsupportedAlgorithm as exc:
            raise ConfigurationError(f"AUDIT_SIGNING_ALG: {exc}") from None
    try:
        name = check_key_name(env["AUDIT_SIGNING_VAULT_KEY"])
    except ValueError as exc:
        raise ConfigurationError(f"AUDIT_SIGNING_VAULT_KEY: {exc}") from None
    backend = VaultTransitBackend.connect(
        env["VAULT_ADDR"], env["VAULT_TOKEN"], mount=env.get("VAULT_TRANSIT_MOUNT") or DEFAULT_MOUNT
    )
    try:
        return VaultTransitSigner(backend, name, alg)
    except BackendError as exc:
        backend.close()
        if exc.code is BackendErrorCode.NOT_FOUND:
            raise ConfigurationError(
                f"AUDIT_SIGNING_VAULT_KEY: no Transit key {name!r} on {env['VAULT_ADDR']}"
            ) from None
        raise
    except ConfigurationError:
        backend.close()
        raise
