"""The JSON-lines implementation protocol, version 1.1 (``docs/protocol.md``): schemas and validation.

Every message is checked against ``schemas/<op>.json`` (``$defs/request`` / ``$defs/response``),
``schemas/error.json`` for failed requests and ``schemas/host.sign.json`` for the one callback.
A message that does not match raises :class:`MessageInvalid` naming the message and the first
schema error; the adapter turns that into a failed check.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from referencing import Registry, Resource

PROTOCOL_VERSION = 1
PROTOCOL_MINOR = 1
"""The highest minor version this host speaks. Minors are additive: a child answers ``hello`` with the
minor it speaks (``minor``, absent means 0) and the host uses only what that minor has (:data:`SINCE`)."""
PROTOCOL_ENV = "KMSCONFORM_PROTOCOL"
"""Set in every child's environment to ``<version>.<minor>`` (``1.1``): what the host understands, so a
child can answer with no newer minor than that (the ``hello`` request itself is unchanged since 1.0)."""
BASE_URI = "https://kmsconform.invalid/protocol/1/"

OPS = (
    "hello",
    "open_signer",
    "signer_info",
    "sign",
    "verify",
    "keyset",
    "rotate",
    "revoke",
    "close_signer",
    "audit.open",
    "audit.append",
    "audit.records",
    "audit.export",
    "audit.close",
    "verifier.verify",
    "verifier.verify_archive",
    "multisig.verify",
    "start_service",
    "stop_service",
    "shutdown",
    "policy.open",
    "policy.sign_hash",
    "policy.sign_canonical",
    "policy.kill_switch",
    "policy.audit",
    "policy.metrics",
    "policy.close",
    "delegation.issue",
    "delegation.verify",
)
"""Requests the host sends; each has ``schemas/<op>.json``."""

CALLBACKS = ("host.sign", "host.keyset")
"""Requests the child may send while one of the host's requests is in flight."""

SINCE: dict[str, int] = {
    **{op: 1 for op in OPS if op.startswith(("policy.", "delegation."))},
    "host.keyset": 1,
    "policy": 1,
    "delegation": 1,
}
"""The minor version that introduced an op, a callback or a capability (everything else: 1.0)."""


def capability_names() -> frozenset[str]:
    """Capability names ``hello`` may declare (the enum of ``schemas/hello.json``)."""
    items = schema("hello")["$defs"]["response"]["properties"]["capabilities"]["items"]
    return frozenset(items["enum"])


def since(name: str) -> int:
    """The minor version that introduced ``name`` (an op, a callback or a capability name)."""
    return SINCE.get(name, 0)


class MessageInvalid(ValueError):
    """A protocol message that does not match its schema."""


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    folder = resources.files(__package__).joinpath("schemas")
    names = ("common", "error", *OPS, *CALLBACKS)
    return {name: json.loads(folder.joinpath(f"{name}.json").read_text(encoding="utf-8")) for name in names}


@cache
def _registry() -> Registry:
    resources_ = [(BASE_URI + f"{name}.json", Resource.from_contents(doc)) for name, doc in _schemas().items()]
    registry: Registry = Registry().with_resources(resources_)
    return registry


@cache
def _validator(name: str, part: str | None) -> jsonschema.protocols.Validator:
    ref = BASE_URI + f"{name}.json" + (f"#/$defs/{part}" if part else "")
    validator: jsonschema.protocols.Validator = jsonschema.Draft202012Validator(
        {"$ref": ref}, registry=_registry(), format_checker=None
    )
    return validator


def schema(name: str) -> dict[str, Any]:
    """The schema document ``schemas/<name>.json`` (``common``, ``error``, an op or a callback)."""
    return _schemas()[name]


def _check(message: Any, name: str, part: str | None, what: str) -> None:
    error = jsonschema.exceptions.best_match(_validator(name, part).iter_errors(message))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(message)"
        raise MessageInvalid(f"{what} does not match schemas/{name}.json: at {where}: {error.message}")


def validate_request(message: Mapping[str, Any]) -> None:
    op = message.get("op")
    if op not in OPS:
        raise MessageInvalid(f"unknown op {op!r}")
    _check(message, str(op), "request", f"{op} request")


def validate_response(op: str, message: Any) -> None:
    """A response to ``op``: either its ``$defs/response`` (``ok: true``) or ``error.json``."""
    if isinstance(message, dict) and message.get("ok") is False:
        _check(message, "error", None, f"{op} error response")
    else:
        _check(message, op, "response", f"{op} response")


def validate_callback(message: Any) -> None:
    op = message.get("op") if isinstance(message, dict) else None
    if op not in CALLBACKS:
        raise MessageInvalid(f"callback with unknown op {op!r}; known: {', '.join(CALLBACKS)}")
    _check(message, str(op), "request", f"{op} callback")


def validate_callback_reply(op: str, message: Mapping[str, Any]) -> None:
    _check(message, op, "response", f"{op} callback reply")
