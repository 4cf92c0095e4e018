"""Key rotation policies: ISO 8601 durations, the service's validation rules, and when a policy
says the next rotation is due. Pure functions and frozen values; the model applies them.

Rules (Microsoft Learn, "Configure cryptographic key auto-rotation in Azure Key Vault"): at most
one ``Rotate`` and one ``Notify`` action; ``Notify`` triggers only ``timeBeforeExpiry``; a trigger
names exactly one of ``timeAfterCreate``/``timeBeforeExpiry``; both are at least 7 days;
``expiryTime`` is at least 28 days. A key without a policy answers the default policy: notify
30 days before expiry.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from .errors import BadParameter

DAY = 86_400
MIN_TRIGGER = 7 * DAY
MIN_EXPIRY = 28 * DAY
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
# Calendar units as fixed lengths (a month is 30 days, a year 365): the service does not say more.
_UNIT_SECONDS = {"y": 365 * DAY, "mo": 30 * DAY, "w": 7 * DAY, "d": DAY, "h": 3600, "mi": 60, "s": 1}


@dataclass(frozen=True)
class Duration:
    text: str
    seconds: int


def parse_duration(text: object, field: str) -> Duration:
    if not isinstance(text, str) or (m := _DURATION.match(text)) is None:
        raise BadParameter(f"The value of '{field}' is not a valid ISO 8601 duration: {text!r}")
    seconds = sum(int(v) * _UNIT_SECONDS[k] for k, v in m.groupdict().items() if v)
    return Duration(text, seconds)


class ActionType(enum.StrEnum):
    ROTATE = "Rotate"
    NOTIFY = "Notify"


@dataclass(frozen=True)
class LifetimeAction:
    action: ActionType
    time_after_create: Duration | None = None
    time_before_expiry: Duration | None = None


@dataclass(frozen=True)
class RotationPolicy:
    actions: tuple[LifetimeAction, ...]
    expiry_time: Duration | None = None
    created: int | None = None
    updated: int | None = None

    @property
    def rotate(self) -> LifetimeAction | None:
        return next((a for a in self.actions if a.action is ActionType.ROTATE), None)


DEFAULT_POLICY = RotationPolicy(
    actions=(LifetimeAction(ActionType.NOTIFY, time_before_expiry=Duration("P30D", 30 * DAY)),)
)


def _action(raw: object, index: int) -> LifetimeAction:
    if not isinstance(raw, dict):
        raise BadParameter(f"lifetimeActions[{index}] must be an object.")
    action, trigger = raw.get("action"), raw.get("trigger")
    kind = action.get("type") if isinstance(action, dict) else None
    matched = next((t for t in ActionType if isinstance(kind, str) and t.value.lower() == kind.lower()), None)
    if matched is None:
        raise BadParameter(f"lifetimeActions[{index}].action.type must be Rotate or Notify, not {kind!r}.")
    if not isinstance(trigger, dict):
        raise BadParameter(f"lifetimeActions[{index}].trigger is required.")
    after, before = trigger.get("timeAfterCreate"), trigger.get("timeBeforeExpiry")
    if (after is None) == (before is None):
        raise BadParameter(f"lifetimeActions[{index}].trigger needs exactly one of timeAfterCreate, timeBeforeExpiry.")
    if matched is ActionType.NOTIFY and after is not None:
        raise BadParameter("A Notify action can only be triggered by timeBeforeExpiry.")
    result = LifetimeAction(
        matched,
        parse_duration(after, "timeAfterCreate") if after is not None else None,
        parse_duration(before, "timeBeforeExpiry") if before is not None else None,
    )
    for duration in (result.time_after_create, result.time_before_expiry):
        if duration is not None and duration.seconds < MIN_TRIGGER:
            raise BadParameter(f"The trigger {duration.text} is shorter than the minimum of 7 days.")
    return result


def policy_from_json(doc: object, now: int, previous: RotationPolicy | None) -> RotationPolicy:
    """Validate a PUT body (``lifetimeActions``, ``attributes.expiryTime``)."""
    if not isinstance(doc, dict):
        raise BadParameter("The rotation policy must be a JSON object.")
    raw_actions = doc.get("lifetimeActions") or []
    if not isinstance(raw_actions, list):
        raise BadParameter("lifetimeActions must be a list.")
    actions = tuple(_action(a, i) for i, a in enumerate(raw_actions))
    kinds = [a.action for a in actions]
    if len(kinds) != len(set(kinds)):
        raise BadParameter("A rotation policy has at most one Rotate and one Notify action.")
    attributes = doc.get("attributes") or {}
    expiry = attributes.get("expiryTime") if isinstance(attributes, dict) else None
    expiry_time = parse_duration(expiry, "expiryTime") if expiry is not None else None
    if expiry_time is not None and expiry_time.seconds < MIN_EXPIRY:
        raise BadParameter(f"The expiryTime {expiry_time.text} is shorter than the minimum of 28 days.")
    created = previous.created if previous is not None and previous.created is not None else now
    return RotationPolicy(actions, expiry_time, created, now)


def policy_to_json(policy: RotationPolicy, policy_id: str) -> dict[str, object]:
    actions = []
    for a in policy.actions:
        trigger = (
            {"timeAfterCreate": a.time_after_create.text}
            if a.time_after_create is not None
            else {"timeBeforeExpiry": a.time_before_expiry.text if a.time_before_expiry else None}
        )
        actions.append({"trigger": trigger, "action": {"type": a.action.value}})
    attributes: dict[str, object] = {}
    if policy.expiry_time is not None:
        attributes["expiryTime"] = policy.expiry_time.text
    if policy.created is not None:
        attributes["created"] = policy.created
    if policy.updated is not None:
        attributes["updated"] = policy.updated
    return {"id": policy_id, "lifetimeActions": actions, "attributes": attributes}


def rotation_due_at(policy: RotationPolicy, created: int, expires: int | None) -> int | None:
    """When the policy's Rotate action fires for a version created at ``created`` (``None``: never)."""
    rotate = policy.rotate
    if rotate is None:
        return None
    if rotate.time_after_create is not None:
        return created + rotate.time_after_create.seconds
    if rotate.time_before_expiry is not None and expires is not None:
        return expires - rotate.time_before_expiry.seconds
    return None
