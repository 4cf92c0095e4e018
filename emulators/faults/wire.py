"""Just enough of each backend's HTTP protocol to name an operation and to corrupt a signature.

Operation names (what a rule's ``operation`` matches):

* AWS KMS: the ``X-Amz-Target`` action (``Sign``, ``Verify``, ``GenerateMac``, ``VerifyMac``,
  ``GetPublicKey``, ``CreateKey``, ...).
* Vault / OpenBao: ``transit/<verb>`` for a transit path whatever the mount is called
  (``transit/sign``, ``transit/verify``, ``transit/hmac``, ``transit/keys``, ``transit/rotate``...),
  else the first two path segments after ``/v1/`` (``sys/health``, ``auth/token``).
* YubiHSM connector: the outer command of the frame posted to ``/connector/api``
  (``SESSION_MESSAGE``, ``CREATE_SESSION``, ``AUTHENTICATE_SESSION``, ``ECHO``, ``DEVICE_INFO``) and
  ``connector/status``; inner commands are encrypted (SCP03), so name them through the in-process hook.
* Signing proxy: the path (``/sign/hash``, ``/sign/canonical``, ``/verify``, ``/keys``, ``/health``).

Signature fields corrupted (one bit flipped, the response otherwise unchanged and still valid JSON):
KMS ``Signature`` / ``Mac`` (base64), Vault ``data.signature`` / ``data.hmac`` (``vault:vN:`` +
base64), signing proxy ``signature`` (base64url or base64, or an object with ``sig``). A YubiHSM
signature travels encrypted and MACed inside ``SESSION_MESSAGE``; it cannot be flipped on the wire
without breaking the MAC, so ``corrupt_signature`` there is left to the in-process hook.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .catalog import AWS_KMS, SIGNING_PROXY, VAULT, YUBIHSM

YUBIHSM_PLAIN_COMMANDS = {
    0x01: "ECHO",
    0x03: "CREATE_SESSION",
    0x04: "AUTHENTICATE_SESSION",
    0x05: "SESSION_MESSAGE",
    0x06: "DEVICE_INFO",
    0x0A: "GET_DEVICE_PUBLIC_KEY",
    0x40: "CLOSE_SESSION",
}
TRANSIT_VERBS = frozenset(
    {"sign", "verify", "hmac", "keys", "rotate", "export", "encrypt", "decrypt", "rewrap", "datakey", "random", "hash"}
)


@dataclass(frozen=True)
class Call:
    """One request as a rule sees it."""

    kind: str | None
    operation: str


def classify(method: str, path: str, headers: Mapping[str, str], body: bytes, default_kind: str | None) -> Call:
    """Name the backend kind and operation of one HTTP request."""
    lower = {k.lower(): v for k, v in headers.items()}
    target = lower.get("x-amz-target")
    clean = path.split("?", 1)[0]
    if target is not None:
        return Call(AWS_KMS, target.rpartition(".")[2])
    if clean.startswith("/v1/"):
        parts = [p for p in clean[4:].split("/") if p]
        if len(parts) >= 2 and parts[1] in TRANSIT_VERBS and parts[0] not in ("sys", "auth"):
            return Call(VAULT, f"transit/{parts[1]}")
        return Call(VAULT, "/".join(parts[:2]))
    if clean.startswith("/connector/"):
        if clean == "/connector/api" and body:
            return Call(YUBIHSM, YUBIHSM_PLAIN_COMMANDS.get(body[0], f"0x{body[0]:02X}"))
        return Call(YUBIHSM, clean.lstrip("/"))
    if default_kind == AWS_KMS and method == "POST":
        return Call(AWS_KMS, "unknown")
    return Call(default_kind if default_kind is not None else SIGNING_PROXY, clean)


FlipBit = Callable[[int], int]
"""Given a length in bits, which bit to flip (seeded)."""


def _flip(raw: bytes, choose: FlipBit) -> bytes:
    bit = choose(len(raw) * 8)
    out = bytearray(raw)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _b64_flip(text: str, choose: FlipBit, *, standard: bool = True) -> str | None:
    """Flip a bit under base64; ``standard=False`` keeps a base64url value (no padding) as it was."""
    urlsafe = not standard and ("-" in text or "_" in text or ("+" not in text and "/" not in text))
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw:
        return None
    flipped = _flip(raw, choose)
    if urlsafe:
        encoded = base64.urlsafe_b64encode(flipped).decode()
        return encoded if text.endswith("=") else encoded.rstrip("=")
    return base64.b64encode(flipped).decode()


_VAULT_SIG = re.compile(r"^(vault:v\d+:)(.+)$")


def _vault_flip(text: str, choose: FlipBit) -> str | None:
    m = _VAULT_SIG.match(text)
    if m is None:
        return None
    flipped = _b64_flip(m.group(2), choose)
    return None if flipped is None else m.group(1) + flipped


def corrupt_signature(kind: str | None, status: int, body: bytes, choose: FlipBit) -> bytes | None:
    """``body`` with one bit of its signature flipped, or ``None`` when it carries no signature."""
    if status != 200 or kind == YUBIHSM:
        return None
    try:
        doc: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    if kind == AWS_KMS:
        for name in ("Signature", "Mac"):
            if isinstance(doc.get(name), str) and (new := _b64_flip(doc[name], choose)) is not None:
                doc[name] = new
                return json.dumps(doc).encode()
        return None
    if kind == VAULT:
        data = doc.get("data")
        if isinstance(data, dict):
            for name in ("signature", "hmac"):
                if isinstance(data.get(name), str) and (new := _vault_flip(data[name], choose)) is not None:
                    data[name] = new
                    return json.dumps(doc).encode()
        return None
    if kind == SIGNING_PROXY:
        sig = doc.get("signature")
        if isinstance(sig, str) and (new := _b64_flip(sig, choose, standard=False)) is not None:
            doc["signature"] = new
            return json.dumps(doc).encode()
        if (
            isinstance(sig, dict)
            and isinstance(sig.get("sig"), str)
            and (new := _b64_flip(sig["sig"], choose, standard=False))
        ):
            sig["sig"] = new
            return json.dumps(doc).encode()
    return None
