"""The production guard (seed 001, "Runtime Behavior & Guards").

Strict mode is on when ``NODE_ENV`` is ``production`` or when ``REQUIRE_KMS`` is one of ``true``,
``1``, ``yes``, ``on``; both compared case-insensitively after removing leading and trailing ASCII
whitespace (space, tab, LF, CR, VT, FF): `` Production `` and ``TRUE`` count, ``prod``, ``false``,
``0``, ``no``, ``off``, empty and anything else do not (``docs/spec.md`` section 10).

In strict mode the service refuses to start, with a :class:`GuardError` whose message begins
``Audit signing is required``, when no signer is configured, when the selected signer is the mock
or the local-key fallback, or when the selected backend cannot be built. It never falls back to a
weaker signer. Outside strict mode any configured signer is accepted, and with none configured an
ephemeral local key is generated (development only).
"""

from __future__ import annotations

from collections.abc import Mapping

from pytest_kmsconform import kinds

from .config import (
    SignerChoice,
    build_signer,
    choose_signer,
    describe_incomplete,
    fallback_kinds,
    fallback_variables,
    strong_selections,
)
from .errors import GuardError, KmsConformError
from .signer import Signer

TRUE_VALUES = frozenset({"true", "1", "yes", "on"})
PREFIX = "Audit signing is required"
ASCII_WHITESPACE = " \t\n\r\x0b\x0c"


def _word(env: Mapping[str, str], name: str) -> str:
    # ASCII whitespace only (str.strip() would also drop NBSP and other Unicode spaces), ASCII case:
    # no non-ASCII letter lower-cases into "production", "true", "yes" or "on".
    return env.get(name, "").strip(ASCII_WHITESPACE).lower()


def is_production(env: Mapping[str, str]) -> bool:
    return _word(env, "NODE_ENV") == "production"


def kms_required(env: Mapping[str, str]) -> bool:
    return _word(env, "REQUIRE_KMS") in TRUE_VALUES


def strict_reason(env: Mapping[str, str]) -> str | None:
    """Why strict mode is on (``NODE_ENV=production``, ``REQUIRE_KMS=true``), or ``None``."""
    reasons = []
    if is_production(env):
        reasons.append(f"NODE_ENV={env['NODE_ENV'].strip(ASCII_WHITESPACE)}")
    if kms_required(env):
        reasons.append(f"REQUIRE_KMS={env['REQUIRE_KMS'].strip(ASCII_WHITESPACE)}")
    return " and ".join(reasons) or None


def _what_to_set() -> str:
    options = "; ".join(" + ".join(s.variables) + f" ({kind.name})" for kind, s in strong_selections())
    return f"Configure a KMS/HSM-backed signer: {options}"


def check_startup(env: Mapping[str, str]) -> SignerChoice:
    """Apply the guard to the configuration (nothing is contacted) and return the choice.

    :raises GuardError: in strict mode, when no signer, the mock or the local fallback is selected.
    """
    choice = choose_signer(env)
    reason = strict_reason(env)
    if reason is None:
        return choice if choice is not None else SignerChoice(kinds.LOCAL, ())
    incomplete = describe_incomplete(env)
    hint = f" (incomplete: {'; '.join(incomplete)})" if incomplete else ""
    if choice is None:
        raise GuardError(f"{PREFIX} ({reason}) but no audit signer is configured{hint}. {_what_to_set()}.")
    if choice.fallback:
        kind = "the mock signer" if choice.backend == kinds.MOCK else "the local-key fallback signer"
        raise GuardError(
            f"{PREFIX} ({reason}) but {kind} was selected by {', '.join(choice.variables)}; "
            f"it is not allowed in production{hint}. {_what_to_set()}, and unset "
            f"{', '.join(fallback_variables())}."
        )
    return choice


def start_service(env: Mapping[str, str]) -> Signer:
    """Run the guard, then build the signer.

    :raises GuardError: in strict mode, if the guard refuses or the selected backend cannot be built
        (for example missing credentials or an unreachable endpoint): the service must not start.
    :raises ConfigurationError: outside strict mode, if the configured signer cannot be built.
    """
    choice = check_startup(env)
    reason = strict_reason(env)
    try:
        signer = build_signer(choice, env)
    except KmsConformError as exc:
        if reason is None:
            raise
        raise GuardError(f"{PREFIX} ({reason}) but the {choice.backend} signer could not be started: {exc}") from exc
    if reason is not None and _is_fallback_signer(signer):
        name = signer.backend
        signer.close()
        raise GuardError(f"{PREFIX} ({reason}) but the {choice.backend} configuration produced a {name} signer")
    return signer


def _is_fallback_signer(signer: Signer) -> bool:
    """A fallback or emulator-internal signer, whatever the configuration claimed."""
    module = type(signer).__module__
    if module.startswith("pytest_kmsconform.emulators"):
        return True
    return signer.backend in fallback_kinds()
