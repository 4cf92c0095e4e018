"""What OpenBao 2.7.2's Transit really does with ML-DSA keys, probed on the embedded dev server.

These are the facts the vault backend's ML-DSA mapping rests on (shared notes ``vault.md`` and
``wave2-anchors.md`` section 6.1 record the same from an earlier probe): key types ``mldsa-44/65/87``,
public keys as raw base64 FIPS 204 encodings, signatures pure ML-DSA over the decoded input with an
empty context, and ``prehashed``/``hash_algorithm``/``context`` accepted silently and ignored.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa

from pytest_kmsconform.backend_api import BackendHandle

requests = pytest.importorskip("requests")
DIGEST = hashlib.sha256(b"kmsconform audit record").digest()
SIZES = {"mldsa-44": (1312, 2420), "mldsa-65": (1952, 3309), "mldsa-87": (2592, 4627)}
PUBLIC = {"mldsa-44": mldsa.MLDSA44PublicKey, "mldsa-65": mldsa.MLDSA65PublicKey, "mldsa-87": mldsa.MLDSA87PublicKey}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Transit:
    def __init__(self, handle: BackendHandle) -> None:
        self.base = f"{handle.env['VAULT_ADDR']}/v1/{handle.env['VAULT_TRANSIT_MOUNT']}/"
        self.session = requests.Session()
        self.session.headers["X-Vault-Token"] = handle.env["VAULT_TOKEN"]

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.session.post(self.base + path, json=body, timeout=30)
        return response.status_code, response.json() if response.text else {}

    def get(self, path: str) -> dict[str, Any]:
        response = self.session.get(self.base + path, timeout=30)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data


def _value(signature: bytes) -> str:
    return "vault:v1:" + _b64(signature)


def _signature(answer: dict[str, Any]) -> bytes:
    text = answer["data"]["signature"]
    assert text.startswith("vault:v1:")
    return base64.b64decode(text.removeprefix("vault:v1:"), validate=True)


@pytest.mark.parametrize("key_type", sorted(SIZES))
def test_mldsa_keys_sign_pure_ml_dsa_with_an_empty_context(openbao: BackendHandle, key_type: str) -> None:
    transit, name = Transit(openbao), f"probe-{key_type}-{openbao.namespace}"
    status, _ = transit.post(f"keys/{name}", {"type": key_type})
    assert status == 200
    data = transit.get(f"keys/{name}")
    assert data["type"] == key_type and data["supports_signing"] is True
    raw = base64.b64decode(data["keys"]["1"]["public_key"], validate=True)
    public_size, signature_size = SIZES[key_type]
    assert len(raw) == public_size  # the FIPS 204 encoding, base64 (no PEM, no SPKI)
    public = PUBLIC[key_type].from_public_bytes(raw)
    status, answer = transit.post(f"sign/{name}", {"input": _b64(DIGEST)})
    signature = _signature(answer)
    assert status == 200 and len(signature) == signature_size
    public.verify(signature, DIGEST)  # pure ML-DSA, the decoded input as the message, empty context
    status, answer = transit.post(f"verify/{name}", {"input": _b64(DIGEST), "signature": answer["data"]["signature"]})
    assert (status, answer["data"]) == (200, {"valid": True})
    other = _b64(hashlib.sha256(b"another").digest())
    status, answer = transit.post(f"verify/{name}", {"input": other, "signature": _value(signature)})
    assert (status, answer["data"]) == (200, {"valid": False})


@pytest.mark.parametrize(
    "extra",
    [{"prehashed": True}, {"hash_algorithm": "sha2-512"}, {"context": _b64(b"kmsconform")}],
    ids=["prehashed", "hash_algorithm", "context"],
)
def test_parameters_it_cannot_apply_are_accepted_silently_and_ignored(
    openbao: BackendHandle, extra: dict[str, Any]
) -> None:
    """Why the backend never sends them: the answer would claim what was not done."""
    transit, name = Transit(openbao), f"probe-ignored-{next(iter(extra))}-{openbao.namespace}"
    assert transit.post(f"keys/{name}", {"type": "mldsa-65"})[0] == 200
    public = mldsa.MLDSA65PublicKey.from_public_bytes(
        base64.b64decode(transit.get(f"keys/{name}")["keys"]["1"]["public_key"])
    )
    status, answer = transit.post(f"sign/{name}", {"input": _b64(DIGEST), **extra})
    assert status == 200 and not answer.get("warnings")
    signature = _signature(answer)
    public.verify(signature, DIGEST)  # as if the parameter had not been given
    with pytest.raises(InvalidSignature):
        public.verify(signature, DIGEST, b"kmsconform")
    with pytest.raises(InvalidSignature):
        public.verify(signature, hashlib.sha512(DIGEST).digest())


def test_unknown_mldsa_type_is_refused(openbao: BackendHandle) -> None:
    status, answer = Transit(openbao).post(f"keys/probe-bad-{openbao.namespace}", {"type": "mldsa-66"})
    assert (status, answer["errors"]) == (400, ["unknown key type mldsa-66"])
