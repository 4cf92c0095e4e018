"""The state of one key vault and the service's rules, with no wire and no sockets.

* Keys have versions (32-hex ids); creating or importing an existing name adds a version, and
  ``rotate`` adds one with the same type, size/curve and operations.
* ``enabled=false`` refuses sign, decrypt and unwrapKey (403, inner code ``KeyDisabled``); outside
  ``nbf``/``exp`` sign, encrypt and wrapKey are refused; verify is always allowed (the service's
  split, confirmed live in azure-sdk-for-python issue 45342 and stackshy/cloudemu PR 707).
* Soft delete: a deleted key keeps its name (409 ``ObjectIsDeletedButRecoverable`` on re-create)
  until it is recovered or purged, or until its scheduled purge date passes.
* Rotation policies rotate automatically when the model's clock passes their trigger
  (:meth:`KeyVault.time_shift` moves the clock, as Lowkey Vault's time-shift API does).

Every failure is a :class:`~.errors.KeyVaultError` with the service's status and codes. One lock
guards the state, so a threaded server may call in from any thread. What a vault holds (keys,
versions, attributes, decoded requests) is :mod:`.records`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from . import material
from .errors import BadParameter, Conflict, Forbidden, KeyNotFound, not_found
from .material import KeyOperation, KeyType, MaterialSource, PrivateKey, SignatureAlgorithm
from .policy import DEFAULT_POLICY, RotationPolicy, rotation_due_at
from .records import (
    ENCRYPTION_ALGORITHMS,
    RECOVERABLE_DAYS,
    Attributes,
    CreateSpec,
    KeyEntry,
    KeyVersion,
    Update,
    check_name,
)


class KeyVault:
    """One vault. :param source: where key material comes from; :param clock: seconds since the epoch."""

    def __init__(self, source: MaterialSource | None = None, clock: Callable[[], float] = time.time) -> None:
        self.source = source or MaterialSource()
        self._clock = clock
        self._shift = 0
        self._keys: dict[str, KeyEntry] = {}
        self._deleted: dict[str, KeyEntry] = {}
        self._lock = threading.RLock()
        self._counter = 0
        self.backup_secret = secrets.token_bytes(32) if self.source.seed is None else self.source.seed

    # -- time --------------------------------------------------------------------------------------
    def now(self) -> int:
        return int(self._clock()) + self._shift

    def time_shift(self, seconds: int) -> None:
        """Move the vault's clock forward; due rotations and purges happen on the next call."""
        if seconds < 0:
            raise BadParameter("The time can only be shifted forward.")
        with self._lock:
            self._shift += seconds
            self._tick()

    def _tick(self) -> None:
        now = self.now()
        for name in [n for n, e in self._deleted.items() if (e.scheduled_purge_date or now) <= now]:
            del self._deleted[name]
        for entry in self._keys.values():
            policy = entry.policy
            for _ in range(1000):  # bounded: one version per elapsed trigger period
                due = (
                    rotation_due_at(policy, entry.latest.attributes.created, entry.latest.attributes.expires)
                    if policy
                    else None
                )
                if due is None or due > now:
                    break
                self._add_rotated(entry, created=max(due, entry.latest.attributes.created + 1))

    # -- lookups -----------------------------------------------------------------------------------
    def _entry(self, name: str) -> KeyEntry:
        entry = self._keys.get(check_name(name).lower())
        if entry is None:
            raise not_found(name)
        return entry

    def _version(self, name: str, version: str | None) -> KeyVersion:
        entry = self._entry(name)
        if not version:
            return entry.latest
        found = entry.versions.get(version)
        if found is None:
            raise not_found(name, version)
        return found

    def _label(self, name: str) -> str:
        self._counter += 1
        return f"{name}/{self._counter}"

    # -- create, import, rotate ----------------------------------------------------------------------
    def _new_private(self, spec: CreateSpec, label: str) -> PrivateKey:
        if spec.kty.is_rsa:
            if spec.curve is not None:
                raise BadParameter("The parameter 'crv' is not allowed for RSA keys.")
            size = spec.size if spec.size is not None else material.DEFAULT_RSA_SIZE
            if size not in material.RSA_SIZES:
                raise BadParameter(f"RSA key size {size} is not supported; use 2048, 3072 or 4096.")
            if spec.public_exponent not in (None, material.RSA_EXPONENT):
                raise BadParameter(f"The public exponent {spec.public_exponent} is not supported; use 65537.")
            return self.source.rsa(size, label)
        if spec.size is not None and spec.curve is None:
            raise BadParameter("The parameter 'key_size' is not allowed for EC keys; give 'crv'.")
        return self.source.ec(spec.curve or material.DEFAULT_CURVE, label)

    def _check_not_deleted(self, name: str) -> None:
        if name.lower() in self._deleted:
            raise Conflict(
                f"Key {name} is currently in a deleted but recoverable state, and its name cannot be reused; "
                "in this state, the key can only be recovered or purged.",
                inner="ObjectIsDeletedButRecoverable",
            )

    def _store(
        self,
        name: str,
        kty: KeyType,
        private: PrivateKey,
        ops: Iterable[KeyOperation] | None,
        *,
        enabled: bool = True,
        not_before: int | None = None,
        expires: int | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> KeyVersion:
        self._check_not_deleted(name)
        now = self.now()
        version = KeyVersion(
            name=name,
            version=self.source.version_id(self._label(name)),
            kty=kty,
            private=private,
            key_ops=tuple(ops) if ops is not None else material.DEFAULT_OPS[kty.is_rsa],
            attributes=Attributes(enabled, now, now, not_before, expires),
            tags=dict(tags or {}),
        )
        entry = self._keys.setdefault(name.lower(), KeyEntry(name))
        entry.versions[version.version] = version
        return version

    def create_key(self, name: str, spec: CreateSpec) -> KeyVersion:
        with self._lock:
            self._tick()
            check_name(name)
            self._check_not_deleted(name)  # before the (slow) key generation
            private = self._new_private(spec, self._label(name))
            existing = self._keys.get(name.lower())
            policy = existing.policy if existing is not None else None
            expires = spec.expires
            if expires is None and policy is not None and policy.expiry_time is not None:
                expires = self.now() + policy.expiry_time.seconds
            return self._store(
                name, spec.kty, private, spec.key_ops,
                enabled=spec.enabled, not_before=spec.not_before, expires=expires, tags=spec.tags,
            )  # fmt: skip

    def import_key(self, name: str, kty: KeyType, members: dict[str, bytes | str], spec: CreateSpec) -> KeyVersion:
        with self._lock:
            self._tick()
            private = material.private_key_from_members(kty, members)
            return self._store(
                check_name(name), kty, private, spec.key_ops,
                enabled=spec.enabled, not_before=spec.not_before, expires=spec.expires, tags=spec.tags,
            )  # fmt: skip

    def _add_rotated(self, entry: KeyEntry, *, created: int | None = None) -> KeyVersion:
        latest = entry.latest
        if isinstance(latest.private, rsa.RSAPrivateKey):
            private: PrivateKey = self.source.rsa(latest.private.key_size, self._label(entry.name))
        else:
            private = self.source.ec(material.curve_of(latest.private), self._label(entry.name))
        policy = entry.policy
        when = created if created is not None else self.now()
        expires = when + policy.expiry_time.seconds if policy and policy.expiry_time else None
        version = self._store(
            entry.name, latest.kty, private, latest.key_ops, enabled=True, expires=expires, tags=latest.tags
        )
        version.attributes.created = version.attributes.updated = when
        return version

    def rotate_key(self, name: str) -> KeyVersion:
        with self._lock:
            self._tick()
            return self._add_rotated(self._entry(name))

    def get_rotation_policy(self, name: str) -> RotationPolicy:
        with self._lock:
            self._tick()
            return self._entry(name).policy or DEFAULT_POLICY

    def set_rotation_policy(
        self, name: str, build: Callable[[int, RotationPolicy | None], RotationPolicy]
    ) -> RotationPolicy:
        with self._lock:
            self._tick()
            entry = self._entry(name)
            entry.policy = build(self.now(), entry.policy)
            return entry.policy

    # -- read and update ---------------------------------------------------------------------------
    def get_key(self, name: str, version: str | None = None) -> KeyVersion:
        with self._lock:
            self._tick()
            return self._version(name, version)

    def list_keys(self) -> list[KeyVersion]:
        """The latest version of every key, by name."""
        with self._lock:
            self._tick()
            return [self._keys[n].latest for n in sorted(self._keys)]

    def list_versions(self, name: str) -> list[KeyVersion]:
        with self._lock:
            self._tick()
            return list(self._entry(name).versions.values())

    def update_key(self, name: str, version: str | None, update: Update) -> KeyVersion:
        with self._lock:
            self._tick()
            found = self._version(name, version)
            attrs = found.attributes
            if update.key_ops is not None:
                found.key_ops = update.key_ops
            if update.enabled is not None:
                attrs.enabled = update.enabled
            if update.not_before is not None:
                attrs.not_before = update.not_before
            if update.expires is not None:
                attrs.expires = update.expires
            if update.tags is not None:
                found.tags = dict(update.tags)
            attrs.updated = self.now()
            return found

    # -- soft delete -------------------------------------------------------------------------------
    def delete_key(self, name: str) -> KeyEntry:
        with self._lock:
            self._tick()
            entry = self._entry(name)
            del self._keys[name.lower()]
            now = self.now()
            entry.deleted_date, entry.scheduled_purge_date = now, now + RECOVERABLE_DAYS * 86_400
            self._deleted[name.lower()] = entry
            return entry

    def _deleted_entry(self, name: str) -> KeyEntry:
        entry = self._deleted.get(check_name(name).lower())
        if entry is None:
            raise KeyNotFound(f"Deleted Key not found: {name}")
        return entry

    def get_deleted_key(self, name: str) -> KeyEntry:
        with self._lock:
            self._tick()
            return self._deleted_entry(name)

    def list_deleted_keys(self) -> list[KeyEntry]:
        with self._lock:
            self._tick()
            return [self._deleted[n] for n in sorted(self._deleted)]

    def purge_deleted_key(self, name: str) -> None:
        with self._lock:
            self._tick()
            self._deleted_entry(name)
            del self._deleted[name.lower()]

    def recover_deleted_key(self, name: str) -> KeyVersion:
        with self._lock:
            self._tick()
            entry = self._deleted_entry(name)
            del self._deleted[name.lower()]
            entry.deleted_date = entry.scheduled_purge_date = None
            self._keys[name.lower()] = entry
            return entry.latest

    # -- cryptography ------------------------------------------------------------------------------
    def _usable(self, found: KeyVersion, op: KeyOperation, *, needs_enabled: bool, needs_window: bool) -> None:
        attrs = found.attributes
        if needs_enabled and not attrs.enabled:
            raise Forbidden(f"Operation {op.value} is not allowed on a disabled key.", inner="KeyDisabled")
        if op not in found.key_ops:
            raise Forbidden(f"Operation {op.value} is not permitted on this key.", inner="KeyOperationForbidden")
        now = self.now()
        if needs_window and attrs.not_before is not None and now < attrs.not_before:
            raise Forbidden(
                f"Operation {op.value} is not allowed on a key that is not yet valid.", inner="KeyNotYetValid"
            )
        if needs_window and attrs.expires is not None and now >= attrs.expires:
            raise Forbidden(f"Operation {op.value} is not allowed on an expired key.", inner="KeyExpired")

    def sign(self, name: str, version: str | None, alg: SignatureAlgorithm, digest: bytes) -> tuple[KeyVersion, bytes]:
        with self._lock:
            self._tick()
            found = self._version(name, version)
            self._usable(found, KeyOperation.SIGN, needs_enabled=True, needs_window=True)
            key = found.private
        return found, material.sign_digest(key, alg, digest)  # outside the lock: RSA signing takes time

    def verify(self, name: str, version: str | None, alg: SignatureAlgorithm, digest: bytes, signature: bytes) -> bool:
        with self._lock:
            self._tick()
            found = self._version(name, version)
            self._usable(found, KeyOperation.VERIFY, needs_enabled=False, needs_window=False)
        return material.verify_digest(found.private, alg, digest, signature)

    def cipher(
        self, name: str, version: str | None, op: KeyOperation, alg: str, value: bytes
    ) -> tuple[KeyVersion, bytes]:
        """encrypt/decrypt/wrapKey/unwrapKey with RSA-OAEP, RSA-OAEP-256 or RSA1_5 (RSA keys only)."""
        forward = op in (KeyOperation.ENCRYPT, KeyOperation.WRAP_KEY)
        with self._lock:
            self._tick()
            found = self._version(name, version)
            self._usable(found, op, needs_enabled=not forward, needs_window=forward)
        key = found.private
        if not isinstance(key, rsa.RSAPrivateKey) or alg not in ENCRYPTION_ALGORITHMS:
            raise BadParameter(f"Algorithm {alg} is not supported for a {found.kty.value} key.")
        pad: padding.AsymmetricPadding = (
            padding.PKCS1v15()
            if alg == "RSA1_5"
            else padding.OAEP(
                mgf=padding.MGF1(hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()),
                algorithm=hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1(),
                label=None,
            )
        )
        try:
            return found, key.public_key().encrypt(value, pad) if forward else key.decrypt(value, pad)
        except ValueError as exc:
            raise BadParameter(f"The {op.value} operation failed: {exc}") from None

    def random_bytes(self, count: int) -> bytes:
        if not 1 <= count <= 128:
            raise BadParameter("The 'count' parameter must be between 1 and 128.")
        return secrets.token_bytes(count)

    # -- backup and restore --------------------------------------------------------------------------
    def backup_entry(self, name: str) -> KeyEntry:
        with self._lock:
            self._tick()
            return replace(self._entry(name))

    def restore_entry(self, entry: KeyEntry) -> KeyVersion:
        with self._lock:
            self._tick()
            if entry.name.lower() in self._keys or entry.name.lower() in self._deleted:
                raise Conflict(f"There was a conflict restoring the key {entry.name}: a key with that name exists.")
            self._keys[entry.name.lower()] = entry
            return entry.latest
