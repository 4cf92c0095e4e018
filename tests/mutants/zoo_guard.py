"""Mutants of the production guard (seed 001, Runtime Behavior & Guards; docs/spec.md section 10).
They reach the service process of KC-GRD-002 too: it is launched through the mutation injector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_kmsconform.mutation import mutant

GUARD = "pytest_kmsconform.reference_impl.guard"
SELECT = "guard"


@mutant(
    f"{GUARD}:kms_required",
    bug="guard: REQUIRE_KMS compared with the seed's literal 'true' (case-sensitive, untrimmed)",
    violates="docs/spec.md section 10 (true, 1, yes, on; any case; blanks ignored)",
    select="guard_in_process and mock",
    fast=True,
)
def require_kms_literal_true(original: Any) -> Any:
    def kms_required(env: Mapping[str, str]) -> bool:
        return env.get("REQUIRE_KMS") == "true"

    return kms_required


@mutant(
    f"{GUARD}:kms_required",
    bug="guard: REQUIRE_KMS is on whenever it is set (so 'false' and '0' turn strict mode on)",
    violates="docs/spec.md section 10 (anything but true, 1, yes, on is off)",
    select=SELECT,
)
def require_kms_truthy(original: Any) -> Any:
    def kms_required(env: Mapping[str, str]) -> bool:
        return bool(env.get("REQUIRE_KMS", "").strip())

    return kms_required


@mutant(
    f"{GUARD}:TRUE_VALUES",
    bug="guard: only 'true' and '1' count for REQUIRE_KMS ('yes' and 'on' are ignored)",
    violates="docs/spec.md section 10 (true, 1, yes, on)",
    select=SELECT,
)
def require_kms_two_words(original: Any) -> Any:
    return frozenset({"true", "1"})


@mutant(
    f"{GUARD}:is_production",
    bug="guard: NODE_ENV lower-cased but not trimmed",
    violates="seed 001 (NODE_ENV=production); docs/spec.md section 10 (blanks ignored)",
    select=SELECT,
)
def node_env_untrimmed(original: Any) -> Any:
    def is_production(env: Mapping[str, str]) -> bool:
        return env.get("NODE_ENV", "").lower() == "production"

    return is_production


@mutant(
    f"{GUARD}:is_production",
    bug="guard: any NODE_ENV starting with 'prod' is production",
    violates="docs/spec.md section 10 (exactly production; prod does not count)",
    select=SELECT,
)
def node_env_prefix(original: Any) -> Any:
    def is_production(env: Mapping[str, str]) -> bool:
        return env.get("NODE_ENV", "").strip().lower().startswith("prod")

    return is_production


@mutant(
    f"{GUARD}:strict_reason",
    bug="guard: strict mode read from the process environment, not the configuration it is given",
    violates="seed 001 (a valid signer must be configured: the service's own configuration decides)",
    select="guard_in_process",
)
def guard_reads_process_environment(original: Any) -> Any:
    import os

    def strict_reason(env: Mapping[str, str]) -> Any:
        return original(os.environ)

    return strict_reason


@mutant(
    f"{GUARD}:check_startup",
    bug="guard: refuses, but with a message that does not begin 'Audit signing is required'",
    violates="seed 001 (Troubleshooting: Service refuses to start: 'Audit signing is required...')",
    select="guard_in_process",
)
def refusal_without_prefix(original: Any) -> Any:
    from pytest_kmsconform.reference_impl.errors import GuardError

    def check_startup(env: Mapping[str, str]) -> Any:
        try:
            return original(env)
        except GuardError as exc:
            raise GuardError(str(exc).replace("Audit signing is required", "KMS signer required")) from None

    return check_startup


@mutant(
    f"{GUARD}:start_service",
    bug="fail open: when the guard refuses and a mock key is set, the service starts on the mock ('CI convenience')",
    violates="seed 001 (Dev/CI only: the mock; in production refuse to start); docs/spec.md section 10",
    select="guard_process and mock",
    fast=True,
)
def mock_fallback_in_production(original: Any) -> Any:
    from pytest_kmsconform.reference_impl.config import build_signer, choose_signer
    from pytest_kmsconform.reference_impl.errors import GuardError

    def start_service(env: Mapping[str, str]) -> Any:
        try:
            return original(env)
        except GuardError:
            choice = choose_signer(env)
            if choice is None or choice.backend != "mock":
                raise
            return build_signer(choice, env)

    return start_service
