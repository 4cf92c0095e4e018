"""The Cloud KMS state model: key rings, crypto keys and versions, and the rules between them.

Pure and synchronous: no sockets, no threads of its own; time comes from an injected clock. It
keeps the service's resources as the ``google.cloud.kms_v1`` message classes (so field presence
matches the service) and hands out copies. The rules enforced (``docs/emulators/gcp-kms.md``):

* ids ``[a-zA-Z0-9_-]{1,63}``; duplicates are ALREADY_EXISTS; key rings are never deleted;
* versions are numbered 1, 2, ... per key; a new asymmetric version is ``PENDING_GENERATION``
  for ``pending_generation_s`` seconds, then ``ENABLED`` (clients must poll);
* ``UpdateCryptoKeyVersion`` toggles ENABLED <-> DISABLED only; ``Destroy`` (from ENABLED or
  DISABLED) -> ``DESTROY_SCHEDULED`` with ``destroy_time = now + destroy_scheduled_duration``,
  then ``DESTROYED`` (material erased); ``Restore`` -> ``DISABLED``;
* only ``ENCRYPT_DECRYPT`` keys have a primary version and a rotation schedule.

Cryptographic operations are in :mod:`.operations`; listing filters in :mod:`.listing`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from google.cloud.kms_v1 import CryptoKey, CryptoKeyVersion, CryptoKeyVersionTemplate, KeyRing, ProtectionLevel

from . import names
from .algorithms import DEFAULT_ALGORITHM, EMULATED_PURPOSES, Alg, AlgorithmSpec, Purpose, spec_of
from .errors import EmulatorGap, already_exists, enum_value, invalid, not_found, precondition
from .material import Material

State = CryptoKeyVersion.CryptoKeyVersionState
# typed members: proto-plus enum members read as plain ints to mypy
ENABLED, DISABLED = State(State.ENABLED), State(State.DISABLED)
PENDING, SCHEDULED, DESTROYED = State(State.PENDING_GENERATION), State(State.DESTROY_SCHEDULED), State(State.DESTROYED)
DEFAULT_DESTROY_SCHEDULED = timedelta(days=30)
MIN_ROTATION_PERIOD = timedelta(hours=24)
EMULATED_PROTECTION = frozenset({ProtectionLevel.SOFTWARE, ProtectionLevel.HSM})
UPDATABLE_KEY_FIELDS = frozenset(
    {"labels", "rotation_period", "next_rotation_time", "version_template.algorithm", "destroy_scheduled_duration"}
)


@dataclass
class Version:
    """One key version: its public resource, its secret material, and pending deadlines."""

    resource: CryptoKeyVersion
    spec: AlgorithmSpec
    material: Material | None
    ready_at: float | None = None
    destroy_at: float | None = None


@dataclass
class Key:
    resource: CryptoKey
    versions: dict[int, Version] = field(default_factory=dict)
    primary: int | None = None

    @property
    def purpose(self) -> Purpose:
        return Purpose(self.resource.purpose)


def _ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class KmsModel:
    """All resources of one emulator instance.

    :param seed: derive key material from this seed and the version name (reproducible runs).
    :param pending_generation_s: how long a new asymmetric version stays ``PENDING_GENERATION``.
    :param clock: seconds since the epoch (injectable for tests).
    """

    def __init__(
        self,
        *,
        seed: bytes | None = None,
        pending_generation_s: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if pending_generation_s < 0:
            raise ValueError("pending_generation_s must not be negative")
        self.seed = seed
        self.pending_generation_s = pending_generation_s
        self.clock = clock
        self.lock = threading.RLock()
        self.key_rings: dict[str, KeyRing] = {}
        self.keys: dict[str, Key] = {}

    # -- key rings ---------------------------------------------------------------------------
    def create_key_ring(self, parent: str, key_ring_id: str) -> KeyRing:
        names.location(parent)
        names.check_id("key_ring_id", key_ring_id)
        name = f"{parent}/keyRings/{key_ring_id}"
        with self.lock:
            if name in self.key_rings:
                raise already_exists("KeyRing", name)
            ring = KeyRing(name=name, create_time=_ts(self.clock()))
            self.key_rings[name] = ring
            return KeyRing(ring)

    def get_key_ring(self, name: str) -> KeyRing:
        names.key_ring(name)
        with self.lock:
            ring = self.key_rings.get(name)
            if ring is None:
                raise not_found("KeyRing", name)
            return KeyRing(ring)

    def list_key_rings(self, parent: str) -> list[KeyRing]:
        names.location(parent)
        with self.lock:
            return [KeyRing(r) for n, r in sorted(self.key_rings.items()) if names.parent_of(n) == parent]

    # -- crypto keys -------------------------------------------------------------------------
    def create_crypto_key(
        self, parent: str, crypto_key_id: str, template: CryptoKey, *, skip_initial: bool
    ) -> CryptoKey:
        self.get_key_ring(parent)
        names.check_id("crypto_key_id", crypto_key_id)
        purpose = enum_value(template, "purpose", Purpose)
        if purpose == Purpose.CRYPTO_KEY_PURPOSE_UNSPECIFIED:
            raise invalid("The value of field crypto_key.purpose must be specified.")
        if purpose not in EMULATED_PURPOSES:
            raise EmulatorGap(f"crypto key purpose {purpose.name}")
        if template.import_only:
            raise EmulatorGap("key import (import_only keys)")
        version_template = self._version_template(purpose, template.version_template)
        if purpose != Purpose.ENCRYPT_DECRYPT and (template.rotation_period or template.next_rotation_time):
            raise invalid("Rotation is only supported for crypto keys with purpose ENCRYPT_DECRYPT.")
        if template.primary:
            raise invalid("The field crypto_key.primary is output only.")
        name = f"{parent}/cryptoKeys/{crypto_key_id}"
        key_msg = CryptoKey(
            name=name,
            purpose=purpose,
            create_time=_ts(self.clock()),
            version_template=version_template,
            labels=dict(template.labels),
            destroy_scheduled_duration=template.destroy_scheduled_duration or DEFAULT_DESTROY_SCHEDULED,
        )
        self._check_rotation(template.rotation_period, template.next_rotation_time)
        if template.rotation_period:
            key_msg.rotation_period = template.rotation_period
        if template.next_rotation_time:
            key_msg.next_rotation_time = template.next_rotation_time
        with self.lock:
            if name in self.keys:
                raise already_exists("CryptoKey", name)
            key = Key(key_msg)
            self.keys[name] = key
            if not skip_initial:
                self._new_version(key, version_template)
            return self._key_view(key)

    def _version_template(self, purpose: Purpose, given: CryptoKeyVersionTemplate) -> CryptoKeyVersionTemplate:
        alg = enum_value(given, "algorithm", Alg) or DEFAULT_ALGORITHM.get(purpose)
        if not alg:
            raise invalid("The value of field crypto_key.version_template.algorithm must be specified.")
        spec = spec_of(alg)
        if spec is None:
            raise EmulatorGap(f"algorithm {Alg(alg).name}")
        if spec.purpose != purpose:
            raise invalid(f"Algorithm {spec.name} is not compatible with purpose {purpose.name}.")
        level = enum_value(given, "protection_level", ProtectionLevel) or ProtectionLevel.SOFTWARE
        if level not in EMULATED_PROTECTION:
            raise EmulatorGap(f"protection level {ProtectionLevel(level).name}")
        if spec.hsm_only and level != ProtectionLevel.HSM:
            raise invalid(f"Algorithm {spec.name} is only supported at protection level HSM.")
        return CryptoKeyVersionTemplate(algorithm=spec.alg, protection_level=level)

    def _check_rotation(self, period: timedelta | None, next_time: datetime | None) -> None:
        if period and period < MIN_ROTATION_PERIOD:
            raise invalid("The rotation_period must be at least 24 hours.")
        if next_time and next_time.timestamp() < self.clock() - 1:
            raise invalid("The next_rotation_time must be in the future.")

    def key(self, name: str) -> Key:
        names.crypto_key(name)
        with self.lock:
            key = self.keys.get(name)
            if key is None:
                raise not_found("CryptoKey", name)
            return key

    def get_crypto_key(self, name: str) -> CryptoKey:
        with self.lock:
            return self._key_view(self.key(name))

    def list_crypto_keys(self, parent: str) -> list[CryptoKey]:
        self.get_key_ring(parent)
        with self.lock:
            return [self._key_view(k) for n, k in sorted(self.keys.items()) if names.parent_of(n) == parent]

    def _key_view(self, key: Key) -> CryptoKey:
        out = CryptoKey(key.resource)
        if key.primary is not None and key.primary in key.versions:
            out.primary = self._version_view(key.versions[key.primary])
        return out

    def update_crypto_key(self, update: CryptoKey, paths: list[str]) -> CryptoKey:
        if not paths:
            raise invalid("The update_mask must name at least one field.")
        unknown = sorted(set(paths) - UPDATABLE_KEY_FIELDS)
        if unknown:
            raise invalid(f"Unsupported update_mask path(s): {', '.join(unknown)}.")
        with self.lock:
            key = self.key(update.name)
            res = CryptoKey(key.resource)
            for path in paths:
                if path == "labels":
                    res.labels = dict(update.labels)
                elif path == "version_template.algorithm":
                    template = self._version_template(
                        key.purpose,
                        CryptoKeyVersionTemplate(
                            algorithm=CryptoKeyVersionTemplate.pb(update.version_template).algorithm,
                            protection_level=res.version_template.protection_level,
                        ),
                    )
                    res.version_template = template
                elif path == "destroy_scheduled_duration":
                    raise invalid("destroy_scheduled_duration cannot be changed after creation.")
                elif key.purpose != Purpose.ENCRYPT_DECRYPT and (update.rotation_period or update.next_rotation_time):
                    raise invalid("Rotation is only supported for crypto keys with purpose ENCRYPT_DECRYPT.")
                elif path == "rotation_period":
                    self._check_rotation(update.rotation_period, None)
                    _set_or_clear(res, "rotation_period", update.rotation_period)
                else:
                    self._check_rotation(None, update.next_rotation_time)
                    _set_or_clear(res, "next_rotation_time", update.next_rotation_time)
            key.resource = res
            return self._key_view(key)

    def update_primary_version(self, name: str, version_id: str) -> CryptoKey:
        with self.lock:
            key = self.key(name)
            if key.purpose != Purpose.ENCRYPT_DECRYPT:
                raise precondition(
                    f"CryptoKey {name} has purpose {key.purpose.name}; "
                    "only ENCRYPT_DECRYPT keys have a primary version."
                )
            if not version_id.isdigit() or int(version_id) not in key.versions:
                raise not_found("CryptoKeyVersion", f"{name}/cryptoKeyVersions/{version_id}")
            version = self._refresh(key.versions[int(version_id)])
            if version.resource.state != State.ENABLED:
                raise self.not_enabled(version)
            key.primary = int(version_id)
            return self._key_view(key)

    # -- versions ----------------------------------------------------------------------------
    def _new_version(self, key: Key, template: CryptoKeyVersionTemplate) -> Version:
        number = max(key.versions, default=0) + 1
        spec = spec_of(template.algorithm)
        assert spec is not None
        name = f"{key.resource.name}/cryptoKeyVersions/{number}"
        now = self.clock()
        material = Material.generate(spec, self.seed, name)
        resource = CryptoKeyVersion(
            name=name,
            algorithm=spec.alg,
            protection_level=template.protection_level,
            create_time=_ts(now),
        )
        version = Version(resource, spec, material)
        if spec.is_asymmetric and self.pending_generation_s > 0:
            resource.state = PENDING
            version.ready_at = now + self.pending_generation_s
        else:
            resource.state = ENABLED
            resource.generate_time = _ts(now)
        key.versions[number] = version
        if key.purpose == Purpose.ENCRYPT_DECRYPT:
            key.primary = number  # a new symmetric version becomes primary, as on rotation
        return version

    def create_version(self, parent: str) -> CryptoKeyVersion:
        with self.lock:
            key = self.key(parent)
            return self._version_view(self._new_version(key, key.resource.version_template))

    def version(self, name: str) -> Version:
        """The live version record (refreshed against the clock)."""
        parsed = names.version(name)
        with self.lock:
            key = self.keys.get(parsed.key)
            version = key.versions.get(parsed.number) if key is not None else None
            if version is None:
                raise not_found("CryptoKeyVersion", name)
            return self._refresh(version)

    def get_version(self, name: str) -> CryptoKeyVersion:
        with self.lock:
            return self._version_view(self.version(name))

    def list_versions(self, parent: str) -> list[CryptoKeyVersion]:
        with self.lock:
            key = self.key(parent)
            return [self._version_view(self._refresh(key.versions[n])) for n in sorted(key.versions)]

    def _refresh(self, version: Version) -> Version:
        now = self.clock()
        res = version.resource
        if res.state == State.PENDING_GENERATION and version.ready_at is not None and now >= version.ready_at:
            res.state = ENABLED
            res.generate_time = _ts(version.ready_at)
            version.ready_at = None
        if res.state == State.DESTROY_SCHEDULED and version.destroy_at is not None and now >= version.destroy_at:
            res.state = DESTROYED
            res.destroy_event_time = _ts(version.destroy_at)
            version.material = None
            version.destroy_at = None
        return version

    def _version_view(self, version: Version) -> CryptoKeyVersion:
        return CryptoKeyVersion(version.resource)

    def not_enabled(self, version: Version) -> Exception:
        state = State(version.resource.state)
        name = version.resource.name
        violation_type = "KEY_PENDING_GENERATION" if state == State.PENDING_GENERATION else "KEY_NOT_ENABLED"
        from .errors import Violation

        return precondition(
            f"{name} is not enabled, current state is: {state.name}.",
            Violation(violation_type, name, f"The key version is in state {state.name}."),
        )

    def update_version_state(self, name: str, state: int) -> CryptoKeyVersion:
        try:
            wanted = State(state)
        except ValueError:
            raise invalid(f"Invalid value at 'crypto_key_version.state', {state}") from None
        if wanted not in (State.ENABLED, State.DISABLED):
            raise invalid(f"Unsupported state in update: {wanted.name}; only ENABLED and DISABLED can be set.")
        with self.lock:
            version = self.version(name)
            current = State(version.resource.state)
            if current not in (State.ENABLED, State.DISABLED):
                raise precondition(
                    f"{name} is in state {current.name}; only ENABLED and DISABLED versions can change state."
                )
            version.resource.state = wanted
            return self._version_view(version)

    def destroy_version(self, name: str) -> CryptoKeyVersion:
        with self.lock:
            version = self.version(name)
            current = State(version.resource.state)
            if current not in (State.ENABLED, State.DISABLED):
                raise precondition(
                    f"{name} is in state {current.name}; only ENABLED or DISABLED versions can be destroyed."
                )
            key = self.keys[names.version(name).key]
            duration = key.resource.destroy_scheduled_duration or DEFAULT_DESTROY_SCHEDULED
            version.destroy_at = self.clock() + duration.total_seconds()
            version.resource.state = SCHEDULED
            version.resource.destroy_time = _ts(version.destroy_at)
            return self._version_view(self._refresh(version))

    def restore_version(self, name: str) -> CryptoKeyVersion:
        with self.lock:
            version = self.version(name)
            current = State(version.resource.state)
            if current != State.DESTROY_SCHEDULED:
                raise precondition(
                    f"{name} is in state {current.name}; only DESTROY_SCHEDULED versions can be restored."
                )
            version.destroy_at = None
            version.resource.state = DISABLED
            version.resource.destroy_time = None
            return self._version_view(version)

    def enabled(self, name: str, purpose: int, operation: str) -> Version:
        """The ENABLED version ``name`` of a ``purpose`` key, or the service's error."""
        with self.lock:
            version = self.version(name)
            if version.spec.purpose != purpose:
                raise precondition(f"{version.spec.name} keys may not be used for {operation}.")
            if version.resource.state != State.ENABLED or version.material is None:
                raise self.not_enabled(version)
            return version


def _set_or_clear(message: CryptoKey, field_name: str, value: object) -> None:
    if value:
        setattr(message, field_name, value)
    else:
        CryptoKey.pb(message).ClearField(field_name)
