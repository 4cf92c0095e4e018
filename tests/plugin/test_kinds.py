"""The table of kinds: every reference in it resolves to what it says, and the tables derived from
it keep seed 001's order and today's behaviour."""

from __future__ import annotations

import pytest
from pytest_kmsconform.emulators.faults.vocabulary import FaultVocabulary, vocabularies
from pytest_kmsconform.reference_impl.algorithms import Algorithm
from pytest_kmsconform.reference_impl.config import choose_signer, fallback_kinds

from pytest_kmsconform import backend_registry, kinds
from pytest_kmsconform.backend_api import BackendProvider
from pytest_kmsconform.capabilities import backend_algorithms

SEED_001 = ["aws-kms", "signing-proxy", "vault", "yubihsm", "local", "mock"]


def test_builtin_kinds() -> None:
    assert [n for n in kinds.names() if n in SEED_001] == SEED_001
    assert kinds.names()[:9] == [
        "aws-kms",
        "signing-proxy",
        "vault",
        "yubihsm",
        "gcp-kms",
        "azure-keyvault",
        "pkcs11",
        "local",
        "mock",
    ]
    assert backend_algorithms(kinds.MOCK) == frozenset({Algorithm.HMAC_SHA256})
    assert backend_algorithms(kinds.VAULT) == frozenset(Algorithm)
    assert [k.name for k in kinds.BUILTIN if k.dedicated] == [kinds.SIGNING_PROXY]


def test_seed_001_precedence() -> None:
    order = [kind.name for kind, _ in kinds.by_precedence()]
    assert [n for n in order if n in SEED_001] == SEED_001
    # seed 002's Cloud KMS (42) and Azure Key Vault (45), then PKCS#11 (47): after YubiHSM, before the fallbacks
    later = ["gcp-kms", "azure-keyvault", "pkcs11"]
    assert order[:9] == ["aws-kms", "signing-proxy", "vault", "yubihsm", *later, "local", "mock"]
    env = {
        "PKCS11_MODULE": "/usr/lib/softhsm/libsofthsm2.so",
        "PKCS11_TOKEN_LABEL": "t",
        "AUDIT_SIGNING_PKCS11_KEY_LABEL": "k",
        "MOCK_AUDIT_SIGNING_KEY": "m",
        "AUDIT_SIGNING_KEY": "k",
        "YUBIHSM_CONNECTOR_URL": "http://x",
        "AUDIT_SIGNING_YUBIHSM_KEY_ID": "1",
        "VAULT_ADDR": "http://v",
        "AUDIT_SIGNING_VAULT_KEY": "k",
        "SIGNING_PROXY_URL": "http://p",
        "AUDIT_SIGNING_KMS_KEY_ID": "alias/a",
    }
    choice = choose_signer(env)
    assert choice is not None
    ignored = ("signing-proxy", "vault", "yubihsm", "pkcs11", "local", "mock")
    assert (choice.backend, choice.ignored) == ("aws-kms", ignored)
    assert fallback_kinds() == {"local", "mock"}


@pytest.mark.parametrize("kind", kinds.BUILTIN, ids=lambda k: k.name)
def test_every_reference_resolves(kind: kinds.BackendKind) -> None:
    for backend in kind.backends:
        provider = backend_registry.get(backend.name)
        assert isinstance(provider, BackendProvider)
        assert (provider.name, provider.kind) == (backend.name, kind.name)
    refs = [kind.selection.signer] if kind.selection else []
    if kind.key_backend is not None:
        refs += [r for r in (kind.key_backend.from_env, kind.key_backend.from_handle) if r is not None]
    for ref in refs:
        assert callable(kinds.resolve(ref)), ref
    if kind.faults is not None:
        vocabulary = vocabularies()[kind.name]
        assert isinstance(vocabulary, FaultVocabulary) and vocabulary.errors
        assert (vocabulary.corrupt_signature is not None) == kind.faults.signatures_on_wire


def test_registration_errors() -> None:
    with pytest.raises(kinds.KindError, match="already registered"):
        kinds.register(kinds.BUILTIN[0])
    with pytest.raises(kinds.KindError, match="unknown kind 'nope'"):
        kinds.register(kinds.Backend("x", "m:a", kind="nope"))
    with pytest.raises(kinds.KindError, match="must name its kind"):
        kinds.register(kinds.Backend("x", "m:a"))
    with pytest.raises(kinds.KindError, match="unknown backend kind 'nope'; known: aws-kms, "):
        kinds.get("nope")
    with pytest.raises(kinds.KindError, match=r"not 'package\.module:attribute'"):
        kinds.resolve("no-colon")
