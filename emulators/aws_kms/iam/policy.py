"""IAM policy documents and their evaluation (pure): identity policies and role trust policies.

Evaluation follows AWS's logic for one account and identity-based policies: a matching ``Deny``
statement wins over everything (explicit deny), else a matching ``Allow`` allows, else the request
is denied (implicit, default deny). A statement matches when its ``Action`` (or ``NotAction``), its
``Resource`` (or ``NotResource``; ``Principal`` in a trust policy) and every ``Condition`` match.

* Actions match case-insensitively, resources and principals case-sensitively; ``*`` matches any
  run of characters (``/`` and ``:`` included) and ``?`` any one character, as in AWS.
* Conditions: the ``String*`` operators (``StringEquals``, ``StringNotEquals``,
  ``StringEqualsIgnoreCase``, ``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``),
  each also with ``IfExists``, and ``Bool``. A key absent from the request context fails a positive
  operator and satisfies a negated one (AWS's rule); ``...IfExists`` is true when the key is absent.
* Not modelled, and refused when a policy is parsed (:class:`~.errors.PolicyNotModelled`), never
  ignored: other condition operators, ``ForAnyValue:``/``ForAllValues:`` set operators and policy
  variables (``${aws:username}``).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MalformedPolicyDocument, PolicyNotModelled

VERSIONS = ("2012-10-17", "2008-10-17")
_STRING_OPERATORS = {
    "StringEquals": (False, False, False),  # (negated, ignore case, like)
    "StringNotEquals": (True, False, False),
    "StringEqualsIgnoreCase": (False, True, False),
    "StringNotEqualsIgnoreCase": (True, True, False),
    "StringLike": (False, False, True),
    "StringNotLike": (True, False, True),
    "Bool": (False, True, False),
}


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    # not fnmatch: it also gives [...] a meaning, and IAM has only * and ?
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts) + r"\Z", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcard matching: ``*`` any run of characters, ``?`` one character."""
    return _wildcard(pattern, ignore_case=ignore_case).match(value) is not None


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise MalformedPolicyDocument(f"{where} must be a string or a non-empty list of strings")
    for item in items:
        if "${" in item:
            raise PolicyNotModelled(f"{where}: policy variables ({item!r}) are not modelled")
    return tuple(items)


@dataclass(frozen=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]

    def holds(self, context: Mapping[str, str]) -> bool:
        base = self.operator.removesuffix("IfExists")
        negated, ignore_case, like = _STRING_OPERATORS[base]
        # condition keys are case-insensitive in AWS
        present = {k.lower(): v for k, v in context.items()}
        value = present.get(self.key.lower())
        if value is None:
            return self.operator.endswith("IfExists") or negated
        if like:
            hit = any(matches(v, value) for v in self.values)
        elif ignore_case:
            hit = any(v.lower() == value.lower() for v in self.values)
        else:
            hit = value in self.values
        return hit != negated


def _conditions(block: Any) -> tuple[Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, dict):
        raise MalformedPolicyDocument("Condition must be an object")
    found: list[Condition] = []
    for operator, entries in block.items():
        if ":" in operator:
            raise PolicyNotModelled(f"condition set operator {operator!r} is not modelled")
        if operator.removesuffix("IfExists") not in _STRING_OPERATORS:
            raise PolicyNotModelled(f"condition operator {operator!r} is not modelled")
        if not isinstance(entries, dict) or not entries:
            raise MalformedPolicyDocument(f"Condition {operator} must map condition keys to values")
        for key, values in entries.items():
            items = [values] if isinstance(values, str | bool) else values
            if not isinstance(items, list) or not items:
                raise MalformedPolicyDocument(f"Condition {operator} {key}: values must be a string or a list")
            texts = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in items)
            found.append(Condition(operator, str(key), _strings(list(texts), f"Condition {operator} {key}")))
    return tuple(found)


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: bool
    resources: tuple[str, ...] | None  # None: the statement has no Resource (trust policies)
    not_resources: bool
    principals: tuple[str, ...] | None  # "*" or "<type>:<value>"; None: identity policies
    conditions: tuple[Condition, ...]

    def covers_action(self, action: str) -> bool:
        hit = any(matches(p, action, ignore_case=True) for p in self.actions)
        return hit != self.not_actions

    def covers_resource(self, resource: str) -> bool:
        if self.resources is None:
            return True
        hit = any(matches(p, resource) for p in self.resources)
        return hit != self.not_resources

    def covers_principal(self, kind: str, value: str) -> bool:
        if self.principals is None:
            return True
        return any(
            p == "*" or (p.partition(":")[0] == kind and matches(p.partition(":")[2], value)) for p in self.principals
        )


def _principals(value: Any) -> tuple[str, ...]:
    if value == "*":
        return ("*",)
    if not isinstance(value, dict) or not value:
        raise MalformedPolicyDocument('Principal must be "*" or an object such as {"Federated": ARN}')
    found: list[str] = []
    for kind, names in value.items():
        if kind not in ("AWS", "Federated", "Service"):
            raise MalformedPolicyDocument(f"unknown principal type {kind!r}")
        found.extend(f"{kind}:{name}" for name in _strings(names, f"Principal {kind}"))
    return tuple(found)


def _statement(raw: Any, *, trust: bool) -> Statement:
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument("every Statement must be an object")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyDocument(f"Effect must be Allow or Deny, not {effect!r}")
    if ("Action" in raw) == ("NotAction" in raw):
        raise MalformedPolicyDocument("a statement needs exactly one of Action and NotAction")
    actions = _strings(raw.get("Action", raw.get("NotAction")), "Action")
    for action in actions:
        if action != "*" and ":" not in action:
            raise MalformedPolicyDocument(f"Action {action!r} must be service:Action")
    resources: tuple[str, ...] | None = None
    if "Resource" in raw or "NotResource" in raw:
        if "Resource" in raw and "NotResource" in raw:
            raise MalformedPolicyDocument("a statement has Resource or NotResource, not both")
        resources = _strings(raw.get("Resource", raw.get("NotResource")), "Resource")
    elif not trust:
        raise MalformedPolicyDocument("an identity policy statement needs Resource or NotResource")
    if "NotPrincipal" in raw:
        raise PolicyNotModelled("NotPrincipal is not modelled")
    principals = None
    if trust:
        if "Principal" not in raw:
            raise MalformedPolicyDocument("a trust policy statement needs a Principal")
        principals = _principals(raw["Principal"])
    elif "Principal" in raw:
        raise MalformedPolicyDocument("an identity-based policy cannot name a Principal")
    return Statement(
        effect,
        actions,
        "NotAction" in raw,
        resources,
        "NotResource" in raw,
        principals,
        _conditions(raw.get("Condition")),
    )


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed policy; :meth:`parse` refuses what AWS refuses and what this model cannot evaluate."""

    text: str
    statements: tuple[Statement, ...]

    @classmethod
    def parse(cls, document: str | Mapping[str, Any], *, trust: bool = False) -> PolicyDocument:
        text = document if isinstance(document, str) else json.dumps(document)
        try:
            raw = json.loads(text)
        except ValueError:
            raise MalformedPolicyDocument("the policy is not valid JSON") from None
        if not isinstance(raw, dict):
            raise MalformedPolicyDocument("a policy document must be a JSON object")
        if raw.get("Version", "2008-10-17") not in VERSIONS:
            raise MalformedPolicyDocument(f"unknown policy Version {raw.get('Version')!r}")
        body = raw.get("Statement")
        items = [body] if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            raise MalformedPolicyDocument("a policy needs a Statement")
        return cls(text, tuple(_statement(s, trust=trust) for s in items))


def evaluate(
    policies: Sequence[PolicyDocument],
    action: str,
    resource: str,
    context: Mapping[str, str],
    *,
    principal: tuple[str, str] | None = None,
) -> Decision:
    """The decision for ``action`` on ``resource`` (``principal``: ``(type, value)`` for trust policies)."""
    allowed = False
    for policy in policies:
        for statement in policy.statements:
            if not (statement.covers_action(action) and statement.covers_resource(resource)):
                continue
            if principal is not None and not statement.covers_principal(*principal):
                continue
            if not all(c.holds(context) for c in statement.conditions):
                continue
            if statement.effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


__all__ = ["Decision", "PolicyDocument", "evaluate", "matches"]
