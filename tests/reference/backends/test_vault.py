"""VaultTransitBackend against the real OpenBao dev server (one per session, shared).

Signatures are checked with the local primitives and the published JWKS (air-gapped) as well as by
Vault; rotation, retirement (``min_decryption_version``) and revocation (``min_encryption_version``)
are checked on Vault's side, not just in the key ring.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_kmsconform.emulators.vault.testing import shared_openbao
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.backends.vault import (
    VaultTransitBackend,
    signer_from_env,
)
from pytest_kmsconform.reference_impl.backends.vault_signer import VaultTransitSigner
from pytest_kmsconform.reference_impl.backends.vault_transit import (
    KeyRef,
    VersionRetired,
    format_value,
    parse_value,
    translate,
)
from pytest_kmsconform.reference_impl.errors import (
    BackendError,
    BackendErrorCode,
    ConfigurationError,
    InvalidSignature,
    KeyRevoked,
    KeyStateError,
    UnknownKey,
)
from pytest_kmsconform.reference_impl.jwk import jwk_to_public_key
from pytest_kmsconform.reference_impl.keyring import KeyRing, KeyStatus, RingSigner
from pytest_kmsconform.reference_impl.primitives import verify_digest
from pytest_kmsconform.reference_impl.signature import Signature
from pytest_kmsconform.reference_impl.signer import BackendKey

from pytest_kmsconform.backend_api import BackendHandle
from pytest_kmsconform.key_backends import key_backend_for

hvac = pytest.importorskip("hvac")
DIGEST = hashlib.sha256(b"audit record 1").digest()
OTHER = hashlib.sha256(b"audit record 2").digest()
_names = itertools.count(1)


@pytest.fixture(scope="session")
def openbao(request: pytest.FixtureRequest) -> BackendHandle:
    """The session's shared OpenBao dev server (see ``emulators/vault/testing.py``)."""
    return shared_openbao(request.config)


@pytest.fixture
def backend(openbao: BackendHandle) -> Iterator[VaultTransitBackend]:
    """A backend with the root token; key names get a per-test prefix so tests never share keys."""
    made = key_backend_for(openbao)
    assert isinstance(made, VaultTransitBackend)
    made.key_prefix = f"{made.key_prefix}t{next(_names)}-"
    yield made
    made.close()


@pytest.fixture
def root(openbao: BackendHandle) -> Iterator[Any]:
    client = hvac.Client(url=openbao.env["VAULT_ADDR"], token=openbao.env["VAULT_TOKEN"])
    yield client
    client.adapter.close()


def verify_from_jwks(jwks: dict[str, Any], digest: bytes, signature: Signature) -> None:
    """Air-gapped verification: only the published key set and the local primitives."""
    (member,) = [k for k in jwks["keys"] if k["kid"] == signature.kid]
    assert member["alg"] == signature.alg.value
    verify_digest(signature.alg, jwk_to_public_key(member), digest, signature.value)


# -- signing, all five algorithms ---------------------------------------------------------------
@pytest.mark.parametrize("alg", list(Algorithm), ids=str)
def test_ring_signs_and_verifies(backend: VaultTransitBackend, alg: Algorithm) -> None:
    ring = KeyRing(backend, alg, "audit")
    first = ring.rotate()
    name = backend.key_name("audit")
    assert first.kid == f"{name}:v1"
    signer = RingSigner(ring)
    sig = signer.sign_digest(DIGEST)
    assert (sig.kid, sig.alg) == (f"{name}:v1", alg)
    signer.verify_signature(DIGEST, sig)
    backend.verify(first.key, DIGEST, sig.value)  # Vault agrees
    with pytest.raises(InvalidSignature):
        backend.verify(first.key, OTHER, sig.value)  # Vault: valid false
    if alg.is_symmetric:
        assert ring.jwks() == {"keys": []}
        assert len(sig.value) == 32
        with pytest.raises(InvalidSignature):
            signer.verify_signature(OTHER, sig)
    else:
        verify_from_jwks(ring.jwks(), DIGEST, sig)
        with pytest.raises(InvalidSignature):
            verify_from_jwks(ring.jwks(), OTHER, sig)


@pytest.mark.parametrize("alg", list(Algorithm), ids=str)
def test_rotation_new_version_signs_old_still_verifies(backend: VaultTransitBackend, alg: Algorithm) -> None:
    ring = KeyRing(backend, alg, "rot")
    v1 = ring.rotate()
    signer = RingSigner(ring)
    old = signer.sign_digest(DIGEST)
    v2 = ring.rotate()
    new = signer.sign_digest(DIGEST)
    assert (old.kid.rsplit(":", 1)[1], new.kid.rsplit(":", 1)[1]) == ("v1", "v2")
    assert ring.get(v1.kid).status is KeyStatus.RETIRED and v2.status is KeyStatus.ACTIVE
    backend.verify(v1.key, DIGEST, old.value)
    backend.verify(v2.key, DIGEST, new.value)
    with pytest.raises(InvalidSignature):
        backend.verify(v2.key, DIGEST, old.value)  # the kid's version decides, not "latest"
    if not alg.is_symmetric:
        jwks = ring.jwks()
        assert [k["kid"] for k in jwks["keys"]] == [v1.kid, v2.kid]
        verify_from_jwks(jwks, DIGEST, old)
        verify_from_jwks(jwks, DIGEST, new)


def test_signing_names_the_version_explicitly(backend: VaultTransitBackend, root: Any) -> None:
    ring = KeyRing(backend, Algorithm.ED25519, "explicit")
    v1 = ring.rotate()
    root.secrets.transit.rotate_key(name=backend.key_name("explicit"))  # someone else rotates in Vault
    sig = RingSigner(ring).sign_digest(DIGEST)
    assert sig.kid == v1.kid  # still version 1, verified against v1's public key by RingSigner
    assert backend.sign(v1.key, DIGEST) == sig.value  # Ed25519 is deterministic


def test_ed25519_signs_the_digest_as_the_message(backend: VaultTransitBackend) -> None:
    key = KeyRing(backend, Algorithm.ED25519, "ed").rotate().key
    public = backend.public_key(key)
    assert public is not None
    public.verify(backend.sign(key, DIGEST), DIGEST)  # pure Ed25519 over the 32 bytes


def test_pss_uses_a_32_byte_salt_where_transit_default_would_not(backend: VaultTransitBackend, root: Any) -> None:
    key = KeyRing(backend, Algorithm.RSA_PSS_SHA256, "pss").rotate().key
    public = backend.public_key(key)
    assert public is not None
    verify_digest(Algorithm.RSA_PSS_SHA256, public, DIGEST, backend.sign(key, DIGEST))
    # Transit's default salt_length "auto" signs with the maximum salt (222 bytes for RSA-2048).
    default = root.secrets.transit.sign_data(
        name=KeyRef.parse(key.ref).name,
        hash_input=base64.b64encode(DIGEST).decode(),
        prehashed=True,
        hash_algorithm="sha2-256",
        signature_algorithm="pss",
    )["data"]["signature"]
    with pytest.raises(InvalidSignature):
        verify_digest(Algorithm.RSA_PSS_SHA256, public, DIGEST, parse_value(default, 1))


def test_pkcs1v15_and_pss_are_not_interchangeable(backend: VaultTransitBackend) -> None:
    key = KeyRing(backend, Algorithm.RSA_SHA256, "pkcs").rotate().key
    sig = backend.sign(key, DIGEST)
    as_pss = BackendKey(kid=key.kid, alg=Algorithm.RSA_PSS_SHA256, ref=key.ref)
    with pytest.raises(InvalidSignature):
        backend.verify(as_pss, DIGEST, sig)


# -- retirement: min_decryption_version -------------------------------------------------------
@pytest.mark.parametrize("alg", [Algorithm.ED25519, Algorithm.ECDSA_P256_SHA256, Algorithm.HMAC_SHA256], ids=str)
def test_retire_in_vault_refuses_verify_but_jwks_keeps_the_key(backend: VaultTransitBackend, alg: Algorithm) -> None:
    ring = KeyRing(backend, alg, "ret")
    v1 = ring.rotate()
    signer = RingSigner(ring)
    old = signer.sign_digest(DIGEST)
    ring.rotate()
    backend.retire(v1.key)
    info = backend.read_key(backend.key_name("ret"))
    assert info.min_decryption_version == 2
    assert 1 not in info.versions  # Vault hides the archived version
    with pytest.raises(VersionRetired) as raised:
        backend.verify(v1.key, DIGEST, old.value)  # HTTP 400 "too old", not valid:false
    assert raised.value.kid == v1.kid
    with pytest.raises(BackendError) as refused:
        backend.sign(v1.key, DIGEST)
    assert refused.value.code is BackendErrorCode.DISABLED
    assert not refused.value.retryable
    if not alg.is_symmetric:
        verify_from_jwks(ring.jwks(), DIGEST, old)  # published key kept: still air-gapped verifiable
        assert backend.public_key(v1.key) is not None


def test_retire_latest_rotates_first(backend: VaultTransitBackend) -> None:
    key = KeyRing(backend, Algorithm.ED25519, "retlast").rotate().key
    backend.retire(key)
    info = backend.read_key(backend.key_name("retlast"))
    assert (info.latest_version, info.min_decryption_version) == (2, 2)


# -- revocation: KeyRing.revoke -> disable -> min_encryption_version ---------------------------
@pytest.mark.parametrize("alg", list(Algorithm), ids=str)
def test_revoke_active_makes_vault_refuse_to_sign(backend: VaultTransitBackend, alg: Algorithm) -> None:
    events: list[dict[str, Any]] = []
    ring = KeyRing(backend, alg, "rev", event_sink=events.append)
    v1 = ring.rotate()
    signer = RingSigner(ring)
    before = signer.sign_digest(DIGEST)
    ring.revoke(v1.kid, reason="key compromise")
    assert events[-1]["type"] == "key.revoked" and events[-1]["kid"] == v1.kid
    (revocation,) = backend.revocations
    assert (revocation.kid, revocation.min_encryption_version, revocation.rotated_to) == (v1.kid, 2, 2)
    with pytest.raises(BackendError) as refused:
        backend.sign(v1.key, DIGEST)  # Vault itself refuses, not only the ring
    assert refused.value.code is BackendErrorCode.DISABLED
    with pytest.raises(KeyRevoked):
        signer.verify_signature(DIGEST, before)
    with pytest.raises(KeyStateError):
        signer.sign_digest(DIGEST)  # no active key left
    v_next = ring.rotate()
    assert v_next.kid.endswith(":v3")  # v2 was made only to lift the floor and is never used
    signer.sign_digest(DIGEST)
    if not alg.is_symmetric:
        assert ring.jwks()["keys"][0]["status"] == "revoked"


def test_revoke_older_version_keeps_the_active_one(backend: VaultTransitBackend) -> None:
    ring = KeyRing(backend, Algorithm.ECDSA_P256_SHA256, "revold")
    v1 = ring.rotate()
    v2 = ring.rotate()
    ring.revoke(v1.kid)
    assert backend.revocations[-1].rotated_to is None
    info = backend.read_key(backend.key_name("revold"))
    assert (info.latest_version, info.min_encryption_version) == (2, 2)
    RingSigner(ring).sign_digest(DIGEST)
    with pytest.raises(BackendError, match="minimum encryption"):
        backend.sign(v1.key, DIGEST)
    assert v2.kid == RingSigner(ring).kid


def test_revocation_never_lowers_the_floor(backend: VaultTransitBackend) -> None:
    ring = KeyRing(backend, Algorithm.ED25519, "floor")
    v1, v2, v3 = ring.rotate(), ring.rotate(), ring.rotate()
    ring.revoke(v2.kid)
    ring.revoke(v1.kid)
    info = backend.read_key(backend.key_name("floor"))
    assert info.min_encryption_version == 3
    backend.sign(v3.key, DIGEST)


# -- errors ---------------------------------------------------------------------------------------
def test_existing_key_is_not_adopted(backend: VaultTransitBackend) -> None:
    KeyRing(backend, Algorithm.ED25519, "dup").rotate()
    with pytest.raises(BackendError) as info:
        KeyRing(backend, Algorithm.ED25519, "dup").rotate()
    assert info.value.code is BackendErrorCode.INVALID_STATE


def test_unknown_key_and_version(backend: VaultTransitBackend) -> None:
    ghost = BackendKey(kid="x", alg=Algorithm.ED25519, ref=f"{backend.key_name('ghost')}:v1")
    with pytest.raises(BackendError) as info:
        backend.sign(ghost, DIGEST)
    assert info.value.code is BackendErrorCode.NOT_FOUND
    key = KeyRing(backend, Algorithm.ED25519, "ver").rotate().key
    future = BackendKey(kid="x", alg=Algorithm.ED25519, ref=f"{KeyRef.parse(key.ref).name}:v7")
    with pytest.raises(BackendError) as info:
        backend.sign(future, DIGEST)
    assert info.value.code is BackendErrorCode.NOT_FOUND
    with pytest.raises(UnknownKey):
        backend.public_key(future)


def test_bad_token_is_access_denied(openbao: BackendHandle) -> None:
    backend = VaultTransitBackend.connect(openbao.env["VAULT_ADDR"], "not-a-token")
    with pytest.raises(BackendError) as info:
        backend.read_key("anything")
    assert (info.value.code, info.value.detail) == (BackendErrorCode.ACCESS_DENIED, "HTTP 403")
    backend.close()


def test_unreachable_server_is_unavailable_and_retryable() -> None:
    from pytest_kmsconform.emulators.vault.openbao import free_port_pair

    backend = VaultTransitBackend.connect(f"http://127.0.0.1:{free_port_pair()}", "t", timeout=2)
    with pytest.raises(BackendError) as info:
        backend.read_key("k")
    assert info.value.code is BackendErrorCode.UNAVAILABLE and info.value.retryable
    backend.close()


@pytest.mark.parametrize(
    ("exc_name", "status", "message", "code"),
    [
        ("VaultDown", 503, "Vault is sealed", BackendErrorCode.UNAVAILABLE),
        ("InternalServerError", 500, "1 error occurred:\n\t* storage unreachable\n\n", BackendErrorCode.UNAVAILABLE),
        ("InternalServerError", 500, "1 error occurred:\n\t* no such key version\n\n", BackendErrorCode.DISABLED),
        ("RateLimitExceeded", 429, "request path rate limit exceeded", BackendErrorCode.THROTTLED),
        ("Forbidden", 403, "1 error occurred:\n\t* permission denied\n\n", BackendErrorCode.ACCESS_DENIED),
        ("InvalidRequest", 400, "unable to decode input as base64", BackendErrorCode.INVALID_REQUEST),
        ("InvalidRequest", 400, "signing key not found", BackendErrorCode.NOT_FOUND),
        ("InvalidPath", 404, "", BackendErrorCode.NOT_FOUND),
    ],
)
def test_translate(exc_name: str, status: int, message: str, code: BackendErrorCode) -> None:
    exc = getattr(hvac.exceptions, exc_name)(errors=[message] if message else None, method="POST", url="/v1/x")
    error = translate(exc, status, "sign k:v1")
    assert error.code is code
    assert error.backend == "vault" and error.detail == f"HTTP {status}"
    assert "error occurred" not in str(error)


def test_values_must_carry_the_requested_version() -> None:
    assert parse_value(format_value(3, b"\x01\x02"), 3) == b"\x01\x02"
    for bad in ("vault:v2:AQI=", "AQI=", "vault:v3:!!", "vault:v0:AQI=", None):
        with pytest.raises(BackendError) as info:
            parse_value(bad, 3)
        assert info.value.code is BackendErrorCode.CORRUPT_RESPONSE


@pytest.mark.parametrize(
    ("prefix", "label", "name"),
    [
        ("kc-1-", "audit", "kc-1-audit"),
        ("", "a b/c", "a_b_c"),
        ("", "-x.", "_x_"),
        ("", "é", "_"),
        ("p.", "v1", "p.v1"),
    ],
)
def test_key_names_from_labels(prefix: str, label: str, name: str) -> None:
    from pytest_kmsconform.reference_impl.backends.vault_transit import key_name_for

    assert key_name_for(prefix, label) == name


def test_key_refs() -> None:
    assert str(KeyRef.parse("a-b.c:v12")) == "a-b.c:v12"
    for bad in ("abc", "abc:v", "abc:v0", "abc:vx", ":v1", "a b:v1"):
        with pytest.raises(ValueError):
            KeyRef.parse(bad)


# -- ACL: a token that may only sign ----------------------------------------------------------------
def test_sign_only_token(backend: VaultTransitBackend, root: Any, openbao: BackendHandle) -> None:
    key = KeyRing(backend, Algorithm.ECDSA_P256_SHA256, "acl").rotate().key
    other = KeyRing(backend, Algorithm.ECDSA_P256_SHA256, "acl-other").rotate().key
    name = KeyRef.parse(key.ref).name
    policy = f'path "{backend.mount}/sign/{name}" {{\n  capabilities = ["update"]\n}}\n'
    root.sys.create_or_update_acl_policy(name=f"sign-{name}", policy=policy)
    token = root.auth.token.create(policies=[f"sign-{name}"], ttl="10m")["auth"]["client_token"]
    limited = VaultTransitBackend.connect(openbao.env["VAULT_ADDR"], token, mount=backend.mount)
    try:
        value = limited.sign(key, DIGEST)
        public = backend.public_key(key)
        assert public is not None
        verify_digest(key.alg, public, DIGEST, value)
        denied = [
            lambda: limited.sign(other, DIGEST),
            lambda: limited.read_key(name),
            lambda: limited.verify(key, DIGEST, value),
            lambda: limited.disable(key),
            lambda: limited.create_key(Algorithm.ED25519, "new", None),
            lambda: limited.create_key(key.alg, "acl", key),  # rotate
        ]
        for call in denied:
            with pytest.raises(BackendError) as info:
                call()
            assert info.value.code is BackendErrorCode.ACCESS_DENIED
            assert not info.value.retryable
    finally:
        limited.close()


# -- signer_from_env over an operator-managed key --------------------------------------------------
def _env(openbao: BackendHandle, key: str, **extra: str) -> dict[str, str]:
    return {**openbao.env, "AUDIT_SIGNING_VAULT_KEY": key, **extra}


def test_signer_from_env_follows_operator_rotation(openbao: BackendHandle, root: Any) -> None:
    name = f"ops-key-{next(_names)}"
    root.secrets.transit.create_key(name=name, key_type="ecdsa-p256")
    signer = signer_from_env(_env(openbao, name))
    assert isinstance(signer, VaultTransitSigner)
    assert (signer.backend, signer.alg, signer.kid) == ("vault", Algorithm.ECDSA_P256_SHA256, f"{name}:v1")
    first = signer.sign_digest(DIGEST)
    root.secrets.transit.rotate_key(name=name)
    assert signer.sign_digest(DIGEST).kid == f"{name}:v1"  # until refreshed
    assert [k["status"] for k in signer.jwks()["keys"]] == ["active", "pending"]
    signer.refresh()
    second = signer.sign_digest(DIGEST)
    assert second.kid == f"{name}:v2"
    jwks = signer.jwks()
    assert [(k["kid"], k["status"]) for k in jwks["keys"]] == [(f"{name}:v1", "retired"), (f"{name}:v2", "active")]
    # The operator archives v1: Vault hides it, the key set keeps it.
    root.write_data(f"transit/keys/{name}/config", data={"min_decryption_version": 2})
    jwks = signer.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [f"{name}:v1", f"{name}:v2"]
    for sig in (first, second):
        verify_from_jwks(jwks, DIGEST, sig)
        signer.verify_signature(DIGEST, sig)
    with pytest.raises(UnknownKey):
        signer.verify_signature(DIGEST, Signature(kid="other:v1", alg=first.alg, value=first.value))
    signer.close()


def test_signer_from_env_hmac(openbao: BackendHandle, root: Any) -> None:
    name = f"ops-hmac-{next(_names)}"
    root.write_data(f"transit/keys/{name}", data={"type": "hmac", "key_size": 32})
    signer = signer_from_env(_env(openbao, name, AUDIT_SIGNING_ALG="hmac-sha256"))
    sig = signer.sign_digest(DIGEST)
    signer.verify_signature(DIGEST, sig)
    with pytest.raises(InvalidSignature):
        signer.verify_signature(OTHER, sig)
    assert signer.jwks() == {"keys": []}
    signer.close()


def test_signer_from_env_rsa_defaults_to_pkcs1(openbao: BackendHandle, root: Any) -> None:
    name = f"ops-rsa-{next(_names)}"
    root.secrets.transit.create_key(name=name, key_type="rsa-3072")
    signer = signer_from_env(_env(openbao, name))
    assert signer.alg is Algorithm.RSA_SHA256
    verify_from_jwks(signer.jwks(), DIGEST, signer.sign_digest(DIGEST))
    pss = signer_from_env(_env(openbao, name, AUDIT_SIGNING_ALG="rsa-pss-sha256"))
    verify_from_jwks(pss.jwks(), DIGEST, pss.sign_digest(DIGEST))
    signer.close()
    pss.close()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"VAULT_ADDR": ""}, "VAULT_ADDR"),
        ({"VAULT_TOKEN": ""}, "VAULT_TOKEN"),
        ({"AUDIT_SIGNING_VAULT_KEY": ""}, "AUDIT_SIGNING_VAULT_KEY"),
        ({"AUDIT_SIGNING_VAULT_KEY": "bad name"}, "not a valid Transit key name"),
        ({"AUDIT_SIGNING_VAULT_KEY": "no-such-key"}, "no Transit key 'no-such-key'"),
        ({"AUDIT_SIGNING_ALG": "rsa-sha1"}, "unknown algorithm"),
        ({"AUDIT_SIGNING_ALG": "hmac-sha256"}, "cannot sign hmac-sha256"),
    ],
)
def test_signer_from_env_configuration_errors(
    openbao: BackendHandle, root: Any, overrides: dict[str, str], match: str
) -> None:
    name = "ops-config-ed25519"
    root.secrets.transit.create_key(name=name, key_type="ed25519")
    with pytest.raises(ConfigurationError, match=match):
        signer_from_env({**_env(openbao, name), **overrides})
