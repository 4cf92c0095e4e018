"""Request validation from AWS's own KMS service model (shipped in botocore), as AWS's front end does
it before any key is looked up.

A body that is not a JSON object, or a member of the wrong JSON type, is a ``SerializationException``;
constraint violations (required, enum, length, range, pattern) are one ``ValidationException`` in
AWS's words: ``1 validation error detected: Value 'X' at 'keySpec' failed to satisfy constraint:
Member must satisfy enum value set: [...]``, ``Value null at 'keyId' ... Member must not be null``,
``Value at 'plaintext' ...`` (blob values are never echoed), list members as ``tags.1.member.tagKey``.
AWS lists enum values in the iteration order of a Java ``HashSet``; :func:`java_set_order`
reproduces it (LocalStack's AWS-validated ``test_invalid_generate_mac`` records
``[HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]``, exactly this order).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any

from .errors import SerializationException, ValidationException


@functools.cache
def service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("kms")


def operation_names() -> list[str]:
    return list(service_model().operation_names)


def java_set_order(values: list[str]) -> list[str]:
    """Iteration order of a ``java.util.HashSet`` filled with ``values`` (String.hashCode, spread, buckets)."""
    capacity = 16
    while len(values) > capacity * 0.75:
        capacity *= 2
    buckets: dict[int, list[str]] = {}
    for value in values:
        h = 0
        for char in value:
            h = (31 * h + ord(char)) & 0xFFFFFFFF
        buckets.setdefault((h ^ (h >> 16)) & (capacity - 1), []).append(value)
    return [value for index in sorted(buckets) for value in buckets[index]]


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str, echo: bool = True) -> None:
        shown = "null" if value is None else (f"'{value}'" if echo else "")
        where = f"Value {shown} at '{path}'" if shown else f"Value at '{path}'"
        self.errors.append(f"{where} failed to satisfy constraint: Member must {constraint}")

    def structure(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise SerializationException(f"Expected an object at '{path or 'body'}'")
        required = set(shape.required_members)
        for name, member in shape.members.items():
            member_path = f"{path}.{_camel(name)}" if path else _camel(name)
            if value.get(name) is None:
                if name in required:
                    self.fail(None, member_path, "not be null")
                continue
            self.value(member, value[name], member_path)

    def value(self, shape: Any, value: Any, path: str) -> None:
        kind, meta = shape.type_name, shape.metadata
        if kind == "structure":
            self.structure(shape, value, path)
        elif kind == "list":
            if not isinstance(value, list):
                raise SerializationException(f"Expected a list at '{path}'")
            self._length(value, len(value), meta, path, echo=False)
            for index, item in enumerate(value, 1):
                self.value(shape.member, item, f"{path}.{index}.member")
        elif kind == "map":
            if not isinstance(value, dict):
                raise SerializationException(f"Expected a map at '{path}'")
            for item in value.values():
                self.value(shape.value, item, path)
        elif kind == "string":
            if not isinstance(value, str):
                raise SerializationException(f"Expected a string at '{path}'")
            if shape.enum and value not in shape.enum:
                self.fail(value, path, f"satisfy enum value set: [{', '.join(java_set_order(list(shape.enum)))}]")
                return
            self._length(value, len(value), meta, path)
            pattern = meta.get("pattern")
            if pattern and not _matches(pattern, value):
                self.fail(value, path, f"satisfy regular expression pattern: {pattern}")
        elif kind == "blob":
            if not isinstance(value, str):
                raise SerializationException(f"Expected a base64 string at '{path}'")
            try:
                size = len(base64.b64decode(value, validate=True))
            except (binascii.Error, ValueError):
                raise SerializationException(f"'{path}' is not valid base64") from None
            self._length(value, size, meta, path, echo=False)
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise SerializationException(f"Expected an integer at '{path}'")
            if "min" in meta and value < meta["min"]:
                self.fail(value, path, f"have value greater than or equal to {meta['min']}")
            elif "max" in meta and value > meta["max"]:
                self.fail(value, path, f"have value less than or equal to {meta['max']}")
        elif kind == "boolean":
            if not isinstance(value, bool):
                raise SerializationException(f"Expected a boolean at '{path}'")
        elif kind == "timestamp" and (isinstance(value, bool) or not isinstance(value, int | float | str)):
            raise SerializationException(f"Expected a timestamp at '{path}'")

    def _length(self, value: Any, size: int, meta: dict[str, Any], path: str, echo: bool = True) -> None:
        if "min" in meta and size < meta["min"]:
            self.fail(value, path, f"have length greater than or equal to {meta['min']}", echo)
        elif "max" in meta and size > meta["max"]:
            self.fail(value, path, f"have length less than or equal to {meta['max']}", echo)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:  # a Java-only construct: AWS checks it, we cannot
        return None


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.search(value) is not None


def validate(operation: str, params: Any) -> None:
    """Raise AWS's SerializationException / ValidationException for a request body of ``operation``."""
    checker = _Checker()
    shape = service_model().operation_model(operation).input_shape
    if shape is None:
        if not isinstance(params, dict):
            raise SerializationException("Expected an object")
        return
    checker.structure(shape, params, "")
    if checker.errors:
        count = len(checker.errors)
        raise ValidationException(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(checker.errors)
        )
